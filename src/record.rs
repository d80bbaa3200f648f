//! `breakout record`: what a workload calls, recorded under the runtime it will run
//! on, written as a Docker-format profile: deny by default, allow what was recorded
//! plus what the runtime's own start needs (with and without no-new-privileges).
//!
//! The mechanism is [`crate::trace`]: the container runs under a profile whose default
//! action is `SCMP_ACT_TRACE`, and breakout's tracer, the runtime's parent, sees each
//! call as the kernel's filter hands it over (with its arguments) and lets it go on.
//! Seccomp user notification would need a listener the runtime hands its descriptor to
//! (runc 1.1.5 wants a `listenerPath` per rule, and refuses notify as a default);
//! `SCMP_ACT_LOG` writes to a rate-limited audit log without arguments; strace would
//! stop twice on every call of every process, the runtime's own included. Under
//! gVisor the application talks to gVisor's kernel, which a host tracer does not see:
//! there gVisor's own `--strace` reports each call the application makes to it, in the
//! sandbox's debug log, which is read instead ([`Recording::add_gvisor_strace`]). Engines
//! are refused: their runtime is not ours to trace.
//!
//! Argument rules are written where the recording shows one is safe: `clone` only
//! without namespace flags when no recorded clone asked for one (and `clone3`, whose
//! flags a filter cannot read, answered ENOSYS so that C libraries fall back to
//! `clone`); `socket` only for the families recorded; `personality` only for the
//! values recorded. Recordings merge: a file written by `record` is read back and its
//! calls, families and values joined with a new run's.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{json, Value};

use crate::trace::{Entry, Traced};

/// Every namespace flag of `clone` (`CLONE_NEWNS` to `CLONE_NEWNET`, with
/// `CLONE_NEWCGROUP`): Docker's mask.
pub const CLONE_NAMESPACES: u64 = 0x7E02_0000;
const ENOSYS: u64 = 38;

/// What was recorded, joined over runs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Recording {
    /// Each call by entry (`x86_64`, `i386`, `x32`), with how often it was seen.
    pub calls: BTreeMap<String, BTreeMap<String, u64>>,
    /// `clone`'s namespace flags seen (0 when none asked for one).
    pub clone_namespace_flags: BTreeSet<u64>,
    pub socket_families: BTreeSet<u64>,
    pub personalities: BTreeSet<u64>,
    /// Recorded for review: rules on them are not written.
    pub ioctl_requests: BTreeSet<u64>,
    pub prctl_options: BTreeSet<u64>,
    /// `unshare`'s flags seen, for review (unshare is allowed whole when recorded).
    pub unshare_flags: BTreeSet<u64>,
    pub runs: u32,
}

impl Recording {
    /// Joins what a traced run recorded: the runtime's calls under the filter and the
    /// workload's.
    pub fn add(&mut self, traced: &Traced) {
        self.runs += 1;
        for call in &traced.calls {
            let (Some(entry), Some(name)) = (call.entry, call.name) else {
                continue;
            };
            *self
                .calls
                .entry(entry.as_str().to_string())
                .or_default()
                .entry(name.to_string())
                .or_default() += 1;
            let arg = |i: usize| call.args[i];
            match name {
                "clone" if entry == Entry::X86_64 => {
                    self.clone_namespace_flags.insert(arg(0) & CLONE_NAMESPACES);
                }
                "socket" => {
                    self.socket_families.insert(arg(0));
                }
                "personality" => {
                    self.personalities.insert(arg(0));
                }
                "ioctl" => {
                    self.ioctl_requests.insert(arg(1) & 0xffff_ffff);
                }
                "prctl" => {
                    self.prctl_options.insert(arg(0));
                }
                "unshare" => {
                    self.unshare_flags.insert(arg(0));
                }
                _ => {}
            }
        }
        // Past the record's bound only the summary counts: its calls count too.
        for s in &traced.summary {
            if let (Some(entry), Some(name)) = (s.entry, s.name) {
                self.calls
                    .entry(entry.as_str().to_string())
                    .or_default()
                    .entry(name.to_string())
                    .or_insert(s.before_exec + s.after_exec);
            }
        }
    }

    /// Joins what gVisor's `--strace` wrote to its sandbox's debug log: one `E` line
    /// per call the application made to gVisor's kernel (`[   1:   1] sh E
    /// clone(...)`). Names only, and the arguments a rule needs where gVisor prints
    /// them by name: clone's namespace flags, socket's family.
    pub fn add_gvisor_strace(&mut self, log: &str) {
        self.runs += 1;
        for line in log.lines() {
            // The log's own prefix (`I1202 ... strace.go:561] `), then the task ids.
            let Some((_, tasks)) = line.split_once("] ") else {
                continue;
            };
            let Some((_, call)) = tasks.strip_prefix('[').and_then(|t| t.split_once("] ")) else {
                continue;
            };
            // `[   1:   1] sh E name(args)`: after the task ids, the command, E, the call.
            let mut words = call.splitn(3, ' ');
            let (Some(_comm), Some("E"), Some(rest)) = (words.next(), words.next(), words.next())
            else {
                continue;
            };
            let Some((name, args)) = rest.split_once('(') else {
                continue;
            };
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                continue;
            }
            *self
                .calls
                .entry(Entry::X86_64.as_str().to_string())
                .or_default()
                .entry(name.to_string())
                .or_default() += 1;
            match name {
                "clone" => {
                    let flags = if args.contains("CLONE_NEW") {
                        CLONE_NAMESPACES
                    } else {
                        0
                    };
                    self.clone_namespace_flags.insert(flags);
                }
                "socket" => {
                    let family = args.split(',').next().unwrap_or("").trim();
                    let number = match family {
                        "AF_UNIX" => Some(1),
                        "AF_INET" => Some(2),
                        "AF_INET6" => Some(10),
                        "AF_NETLINK" => Some(16),
                        "AF_PACKET" => Some(17),
                        other => other.parse().ok(),
                    };
                    // A family not known by name: socket is allowed whole.
                    self.socket_families.insert(number.unwrap_or(u64::MAX));
                }
                _ => {}
            }
        }
    }

    /// Reads a profile `record` wrote back into a recording, to join a new run with.
    pub fn from_profile(profile: &Value) -> Recording {
        let mut rec = Recording::default();
        for rule in profile["syscalls"].as_array().into_iter().flatten() {
            if rule["action"] != "SCMP_ACT_ALLOW" {
                continue;
            }
            let names: Vec<&str> = rule["names"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let first_arg = rule["args"][0]["value"].as_u64();
            for name in names {
                *rec.calls
                    .entry(Entry::X86_64.as_str().to_string())
                    .or_default()
                    .entry(name.to_string())
                    .or_default() += 1;
                match (name, first_arg) {
                    ("clone", _) => {
                        rec.clone_namespace_flags.insert(if first_arg.is_some() {
                            0
                        } else {
                            CLONE_NAMESPACES
                        });
                    }
                    ("socket", Some(family)) => {
                        rec.socket_families.insert(family);
                    }
                    ("personality", Some(value)) => {
                        rec.personalities.insert(value);
                    }
                    _ => {}
                }
            }
        }
        for arch in profile["architectures"].as_array().into_iter().flatten() {
            let entry = match arch.as_str() {
                Some("SCMP_ARCH_X86") => Entry::I386,
                Some("SCMP_ARCH_X32") => Entry::X32,
                _ => continue,
            };
            rec.calls.entry(entry.as_str().to_string()).or_default();
        }
        rec
    }

    /// Joins another recording.
    pub fn join(&mut self, other: Recording) {
        for (entry, calls) in other.calls {
            let mine = self.calls.entry(entry).or_default();
            for (name, n) in calls {
                *mine.entry(name).or_default() += n;
            }
        }
        self.clone_namespace_flags
            .extend(other.clone_namespace_flags);
        self.socket_families.extend(other.socket_families);
        self.personalities.extend(other.personalities);
        self.ioctl_requests.extend(other.ioctl_requests);
        self.prctl_options.extend(other.prctl_options);
        self.unshare_flags.extend(other.unshare_flags);
        self.runs += other.runs;
    }

    /// The profile: deny by default (EPERM), allow what was recorded and what
    /// `runtime_needs` names, with argument rules where the recording shows they are
    /// safe.
    pub fn profile(&self, runtime_needs: &[&str]) -> Value {
        let mut names: BTreeSet<String> = self
            .calls
            .values()
            .flat_map(|calls| calls.keys().cloned())
            .chain(runtime_needs.iter().map(|n| n.to_string()))
            .collect();
        let mut rules = Vec::new();
        let ruled = |name: &str| ["clone", "clone3", "socket", "personality"].contains(&name);
        let plain: Vec<String> = names.iter().filter(|n| !ruled(n)).cloned().collect();
        rules.push(json!({"names": plain, "action": "SCMP_ACT_ALLOW"}));
        let clone_recorded = names.contains("clone") || names.contains("clone3");
        if clone_recorded {
            if self.clone_namespace_flags.iter().all(|f| *f == 0) {
                rules.push(json!({"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": CLONE_NAMESPACES, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}]}));
                rules.push(
                    json!({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS}),
                );
            } else {
                // The workload makes namespaces itself: a rule could not keep them out.
                rules.push(json!({"names": ["clone", "clone3"], "action": "SCMP_ACT_ALLOW"}));
            }
        }
        if self.socket_families.contains(&u64::MAX) {
            rules.push(json!({"names": ["socket"], "action": "SCMP_ACT_ALLOW"}));
        }
        for family in self.socket_families.iter().filter(|f| **f != u64::MAX) {
            rules.push(json!({"names": ["socket"], "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": family, "op": "SCMP_CMP_EQ"}]}));
        }
        for value in &self.personalities {
            rules.push(json!({"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}]}));
        }
        names.retain(|n| !ruled(n));
        let mut architectures = vec!["SCMP_ARCH_X86_64"];
        for (entry, arch) in [
            (Entry::I386, "SCMP_ARCH_X86"),
            (Entry::X32, "SCMP_ARCH_X32"),
        ] {
            if self
                .calls
                .get(entry.as_str())
                .is_some_and(|c| !c.is_empty())
            {
                architectures.push(arch);
            }
        }
        json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 1,
            "architectures": architectures,
            "syscalls": rules,
        })
    }

    /// The distinct calls recorded, over every entry.
    pub fn distinct(&self) -> usize {
        self.calls.values().map(BTreeMap::len).sum()
    }
}

/// The text report: what was recorded, what was written, and what a recording cannot
/// know.
pub fn summary(rec: &Recording, runtime: &str, written: &std::path::Path) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "record: {} run(s) under {runtime}: {} distinct calls; wrote {}\n",
        rec.runs,
        rec.distinct(),
        written.display()
    );
    for (entry, calls) in &rec.calls {
        if !calls.is_empty() {
            let names: Vec<&str> = calls.keys().map(String::as_str).collect();
            let _ = writeln!(out, "  {entry}: {}", names.join(" "));
        }
    }
    let flags = |set: &BTreeSet<u64>| {
        set.iter()
            .map(|v| format!("{v:#x}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !rec.clone_namespace_flags.is_empty() {
        let _ = writeln!(
            out,
            "  clone namespace flags: {} ({})",
            flags(&rec.clone_namespace_flags),
            if rec.clone_namespace_flags.iter().all(|f| *f == 0) {
                "none: clone is allowed only without them, clone3 answers ENOSYS"
            } else {
                "the workload makes namespaces: clone stays whole"
            }
        );
    }
    if !rec.socket_families.is_empty() {
        let _ = writeln!(
            out,
            "  socket families: {} (only these)",
            flags(&rec.socket_families)
        );
    }
    if !rec.personalities.is_empty() {
        let _ = writeln!(
            out,
            "  personality values: {} (only these)",
            flags(&rec.personalities)
        );
    }
    if !rec.ioctl_requests.is_empty() {
        let _ = writeln!(
            out,
            "  ioctl requests (allowed whole): {}",
            flags(&rec.ioctl_requests)
        );
    }
    if !rec.unshare_flags.is_empty() {
        let _ = writeln!(
            out,
            "  unshare flags (allowed whole): {}",
            flags(&rec.unshare_flags)
        );
    }
    if !rec.prctl_options.is_empty() {
        let _ = writeln!(
            out,
            "  prctl options (allowed whole): {}",
            flags(&rec.prctl_options)
        );
    }
    out.push_str("  what a recording cannot know: calls on paths the runs did not take (an error path, other input, a later phase of a service); record those too (--runs, --merge)\n\n");
    out
}

/// The profile a recording runs under: every call goes to the tracer, on every entry.
pub fn recording_profile() -> Value {
    json!({
        "defaultAction": "SCMP_ACT_TRACE",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(calls: &[&str]) -> Recording {
        let mut r = Recording::default();
        let x86 = r.calls.entry("x86_64".into()).or_default();
        for c in calls {
            x86.insert(c.to_string(), 1);
        }
        r
    }

    #[test]
    fn clone_without_namespaces_gets_docker_s_rule_and_clone3_enosys() {
        let mut r = rec(&["clone", "read", "socket"]);
        r.clone_namespace_flags.insert(0);
        r.socket_families.insert(1);
        let p = r.profile(&["execve"]);
        let rules = p["syscalls"].as_array().unwrap();
        assert_eq!(rules[0]["names"], json!(["execve", "read"]));
        assert_eq!(rules[1]["args"][0]["value"], CLONE_NAMESPACES);
        assert_eq!(rules[2]["names"], json!(["clone3"]));
        assert_eq!(rules[2]["errnoRet"], 38);
        assert_eq!(rules[3]["args"][0]["value"], 1);
        assert_eq!(p["architectures"], json!(["SCMP_ARCH_X86_64"]));
        // Read back, it is the same recording's profile.
        let again = Recording::from_profile(&p);
        assert_eq!(again.profile(&["execve"]), p);
    }

    #[test]
    fn a_workload_that_makes_namespaces_keeps_clone_whole() {
        let mut r = rec(&["clone"]);
        r.clone_namespace_flags.insert(0x1000_0000);
        let p = r.profile(&[]);
        assert_eq!(p["syscalls"][1]["names"], json!(["clone", "clone3"]));
        assert!(p["syscalls"][1].get("args").is_none());
    }

    #[test]
    fn gvisor_strace_lines_become_calls() {
        let log = "I1202 09:24:18.643882   32718 strace.go:561] [   1:   1] sh E brk(0x0)\n\
I1202 09:24:18.643919   32718 strace.go:599] [   1:   1] sh X brk(0x0) = 6209536 (0x5ec000)\n\
I1202 09:24:18.7   32718 strace.go:561] [   1:   1] sh E socket(AF_INET, SOCK_STREAM, 0)\n\
I1202 09:24:18.7   32718 strace.go:561] [   1:   1] sh E clone(CLONE_VM|SIGCHLD, 0x0)\n\
I1202 09:24:18.7   32718 main.go:217] Args: [runsc boot]\n";
        let mut r = Recording::default();
        r.add_gvisor_strace(log);
        let names: Vec<&String> = r.calls["x86_64"].keys().collect();
        assert_eq!(names, ["brk", "clone", "socket"]);
        assert_eq!(r.socket_families, BTreeSet::from([2]));
        assert_eq!(r.clone_namespace_flags, BTreeSet::from([0]));
    }

    #[test]
    fn joined_recordings_add_up() {
        let mut a = rec(&["read"]);
        a.socket_families.insert(2);
        let mut b = rec(&["write"]);
        b.socket_families.insert(10);
        b.runs = 1;
        a.join(b);
        assert_eq!(a.distinct(), 2);
        assert_eq!(a.socket_families, BTreeSet::from([2, 10]));
    }
}
