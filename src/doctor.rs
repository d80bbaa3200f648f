//! `breakout doctor`: what this host can run, and what will be skipped and why.
//!
//! It only looks: it changes nothing on the host (a fix it knows of, such as crun's
//! cgroup layout, is printed for the user to apply).

use std::path::Path;
use std::process::Command;

use serde::Serialize;

use crate::bundle;
use crate::report::environment::Environment;
use crate::report::format::{Format, Unsupported};
use crate::runtime::diagnose::runtime_problem;
use crate::runtime::{Runtime, RUNTIMES};

/// One runtime row as found on this host.
#[derive(Debug, Clone, Serialize)]
pub struct RuntimeStatus {
    pub name: String,
    pub installed: bool,
    pub binary: Option<String>,
    pub flags: Vec<String>,
    pub version: Option<String>,
    pub libseccomp: Option<String>,
    /// Why it will not work here even though it is installed, with the fix.
    pub problem: Option<String>,
}

/// Everything doctor found.
#[derive(Debug, Clone, Serialize)]
pub struct Doctor {
    pub environment: Environment,
    pub root: bool,
    pub runtimes: Vec<RuntimeStatus>,
    /// Architectures the kernel runs system calls for.
    pub architectures: Vec<String>,
    pub busybox: Option<String>,
    /// What will be skipped or cannot work, one sentence each.
    pub skipped: Vec<String>,
}

/// Does the kernel answer a system call through this ABI? Asked in a child process
/// (`breakout abi-check ABI`), because without IA32 emulation `int 0x80` kills the caller.
fn abi_runs(abi: &str) -> bool {
    let Ok(exe) = std::env::current_exe() else {
        return false;
    };
    Command::new(exe)
        .args(["abi-check", abi])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The body of `breakout abi-check ABI`: exit 0 if a getpid through that ABI works.
pub fn abi_check(abi: &str) -> bool {
    let ret: i64;
    match abi {
        // SAFETY: getpid through the 32-bit entry reads no memory and writes only rax.
        "i386" => unsafe {
            std::arch::asm!("int 0x80", inlateout("rax") 20i64 => ret);
        },
        // SAFETY: getpid through the x32 ABI; `syscall` clobbers rcx and r11.
        "x32" => unsafe {
            std::arch::asm!(
                "syscall",
                inlateout("rax") (39i64 | 0x4000_0000) => ret,
                out("rcx") _,
                out("r11") _,
            );
        },
        _ => return false,
    }
    // A pid, as the kernel sees it for this process, means the ABI ran the call.
    let pid = i64::from(std::process::id());
    (ret & 0xffff_ffff) == pid
}

pub fn examine() -> Doctor {
    let environment = Environment::probe();
    let root = environment.euid == 0;
    let mut skipped = Vec::new();
    if !root {
        skipped.push("not running as root: no container can be started (breakout run, compare and the container tests need root)".to_string());
    }
    let mut runtimes = Vec::new();
    for kind in RUNTIMES {
        let status = match Runtime::lookup(kind.name) {
            Ok(rt) => {
                let version = rt.version().ok();
                let problem = runtime_problem(&rt);
                if let Some(p) = &problem {
                    skipped.push(format!("{}: containers will not start: {p}", kind.name));
                }
                RuntimeStatus {
                    name: kind.name.to_string(),
                    installed: true,
                    binary: Some(rt.binary.display().to_string()),
                    flags: rt.flags.clone(),
                    version: version.as_ref().map(|v| v.version.clone()),
                    libseccomp: version.and_then(|v| v.libseccomp),
                    problem,
                }
            }
            Err(e) => {
                skipped.push(format!(
                    "{}: not installed; compare leaves it out ({e})",
                    kind.name
                ));
                RuntimeStatus {
                    name: kind.name.to_string(),
                    installed: false,
                    binary: None,
                    flags: kind.flags.iter().map(|f| f.to_string()).collect(),
                    version: None,
                    libseccomp: None,
                    problem: None,
                }
            }
        };
        runtimes.push(status);
    }
    let mut architectures = vec![environment.arch.clone()];
    if environment.arch == "x86_64" {
        for (abi, probes) in [
            ("i386", "exec.i386, spawn.i386-fork and net.i386-socketcall"),
            ("x32", "spawn.x32"),
        ] {
            if abi_runs(abi) {
                architectures.push(abi.to_string());
            } else {
                skipped.push(format!(
                    "the kernel runs no {abi} system calls: {probes} will be not-applicable"
                ));
            }
        }
    }
    let busybox = bundle::find_static_busybox()
        .ok()
        .map(|p| p.display().to_string());
    if busybox.is_none() {
        skipped.push("no static busybox: the default rootfs cannot be built (apt-get install busybox-static, or pass --rootfs)".to_string());
    }
    if !Path::new("/sys/kernel/security/lsm").exists() {
        skipped.push("securityfs is not mounted: the active LSMs are unknown".to_string());
    }
    Doctor {
        environment,
        root,
        runtimes,
        architectures,
        busybox,
        skipped,
    }
}

impl Doctor {
    /// Usable: root and at least one runtime that can start containers.
    pub fn ready(&self) -> bool {
        self.root
            && self
                .runtimes
                .iter()
                .any(|r| r.installed && r.problem.is_none())
    }

    /// The doctor's findings as a table or as JSON.
    pub fn render(&self, format: Format) -> Result<String, Unsupported> {
        match format {
            Format::Table => Ok(self.to_table()),
            Format::Json => {
                Ok(serde_json::to_string_pretty(self).expect("doctor serialises") + "\n")
            }
            Format::Junit | Format::Sarif | Format::Markdown | Format::Html => Err(Unsupported {
                report: "doctor's findings",
                format,
            }),
        }
    }

    pub fn to_table(&self) -> String {
        let e = &self.environment;
        let mut out = String::new();
        out.push_str(&format!(
            "kernel        {} ({})\narchitectures {}\ncgroups       {}\nLSMs          {}\nroot          {}\nbusybox       {}\n\nruntimes\n",
            e.kernel,
            e.arch,
            self.architectures.join(", "),
            e.cgroup,
            if e.lsm.is_empty() { "none reported".to_string() } else { e.lsm.join(", ") },
            if self.root { "yes" } else { "no" },
            self.busybox.as_deref().unwrap_or("missing"),
        ));
        for r in &self.runtimes {
            let state = match (&r.version, r.installed, &r.problem) {
                (_, false, _) => "not installed".to_string(),
                (v, true, problem) => format!(
                    "{}{}{}",
                    v.as_deref().unwrap_or("version unknown"),
                    r.libseccomp
                        .as_deref()
                        .map(|l| format!(", libseccomp {l}"))
                        .unwrap_or_default(),
                    if problem.is_some() {
                        " (cannot start containers here)"
                    } else {
                        ""
                    }
                ),
            };
            let flags = if r.flags.is_empty() {
                String::new()
            } else {
                format!(" {}", r.flags.join(" "))
            };
            out.push_str(&format!(
                "  {:<10} {state}{}\n",
                r.name,
                if r.installed { flags } else { String::new() }
            ));
        }
        if !self.skipped.is_empty() {
            out.push_str("\nwhat will be skipped or cannot work\n");
            for s in &self.skipped {
                out.push_str(&format!("  - {s}\n"));
            }
        }
        out
    }
}
