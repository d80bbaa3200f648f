use super::*;

fn runtime(name: &str) -> &'static RuntimeKind {
    crate::runtime::RUNTIMES
        .iter()
        .find(|k| k.name == name)
        .expect("a runtime of the quirks table")
}

/// A profile file of a test's own, removed on drop.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A predictor for runc under `json`, written to a file so that places resolve.
fn predictor(json: &str) -> (Predictor, TempFile) {
    let path = std::env::temp_dir().join(format!(
        "breakout-predict-{}.json",
        crate::names::unique_token()
    ));
    let dir = TempFile(path.clone());
    std::fs::write(&path, json).unwrap();
    let seccomp: LinuxSeccomp = serde_json::from_str(json).unwrap();
    let n = seccomp.syscalls().as_ref().map_or(0, Vec::len);
    let sources: Vec<usize> = (0..n).collect();
    let p = Predictor::new(runtime("runc"), Some(&seccomp), &sources, Some(&path));
    (p, dir)
}

#[test]
fn a_family_rule_leaves_the_socketcall_route_open() {
    let (p, _dir) = predictor(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  "syscalls": [
    {"names": ["socket"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_NE"}]},
    {"names": ["socketcall", "fork", "wait4"], "action": "SCMP_ACT_ALLOW"}
  ]}"#,
    );
    let vsock = p.predict("net.vsock").unwrap();
    assert_eq!(vsock.filter, "open");
    assert_eq!(vsock.route.as_deref(), Some("i386 socketcall(SYS_SOCKET)"));
    let inet = p.predict("net.raw-socket").unwrap();
    assert_eq!(inet.route.as_deref(), Some("socket"));
}

#[test]
fn a_closed_filter_names_the_rule_and_where_it_is_written() {
    let (p, _dir) = predictor(
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"syscalls\": [\n  {\"names\": [\"fork\", \"clone\", \"clone3\", \"vfork\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 13}\n ]}",
    );
    let fork = p.predict("spawn.fork").unwrap();
    assert_eq!(fork.filter, "closed");
    assert_eq!(fork.mechanism.as_deref(), Some("EACCES"));
    assert!(fork.rule.contains("syscalls[0]"), "{}", fork.rule);
    let place = fork.place.unwrap();
    assert_eq!((place.line, place.column), (3, 3));
}

#[test]
fn a_trace_rule_is_open_to_a_process_that_may_ptrace() {
    let trace = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_TRACE"}]}"#;
    let (p, _dir) = predictor(trace);
    let exec = p.predict("exec.execve").unwrap();
    assert_eq!(exec.filter, "open");
    assert!(exec.rule.contains("SCMP_ACT_TRACE"), "{}", exec.rule);
    let no_ptrace = r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["execve"], "action": "SCMP_ACT_TRACE"}, {"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"}]}"#;
    let (p, _dir) = predictor(no_ptrace);
    let exec = p.predict("exec.execve").unwrap();
    assert_eq!(
        (exec.filter, exec.mechanism.as_deref()),
        ("closed", Some("ENOSYS"))
    );
}

#[test]
fn a_call_newer_than_the_profile_gets_the_default_answer_here() {
    // runc 1.1.5 as measured (the quirks table): no ENOSYS stub.
    let (p, _dir) = predictor(
        r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "write", "clone"], "action": "SCMP_ACT_ALLOW"}]}"#,
    );
    let clone3 = p.predict("spawn.clone3").unwrap();
    assert_eq!(clone3.mechanism.as_deref(), Some("EPERM"));
    assert!(
        clone3.rule.contains("the default action"),
        "{}",
        clone3.rule
    );
}

#[test]
fn observations_are_compared_with_the_filter_alone() {
    let (p, _dir) = predictor(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["fork"], "action": "SCMP_ACT_ERRNO"}]}"#,
    );
    let seen = |step: &str, outcome, mechanism: Option<&str>| {
        let v = Verdict::new("runc", step, outcome, "").mechanism(mechanism);
        p.judge(&v).unwrap().agreement
    };
    assert_eq!(
        seen("spawn.fork", Outcome::Blocked, Some("EPERM")),
        Agreement::Agrees
    );
    assert!(matches!(
        seen("spawn.fork", Outcome::Escaped, None),
        Agreement::Unexplained(_)
    ));
    assert!(matches!(
        seen("spawn.fork", Outcome::Blocked, Some("EACCES")),
        Agreement::Unexplained(_)
    ));
    assert_eq!(
        seen("spawn.vfork", Outcome::Escaped, None),
        Agreement::Agrees
    );
    assert!(matches!(
        seen("fs.write-rootfs", Outcome::Blocked, Some("EROFS")),
        Agreement::Beyond(_)
    ));
    assert!(matches!(
        seen("spawn.vfork", Outcome::Blocked, Some("SIGSYS")),
        Agreement::Unexplained(_)
    ));
    assert_eq!(
        seen("spawn.vfork", Outcome::NotApplicable, None),
        Agreement::NotCompared
    );
}

#[test]
fn without_a_filter_nothing_is_the_filters_doing() {
    let p = Predictor::new(runtime("runc"), None, &[], None);
    assert_eq!(p.predict("spawn.fork").unwrap().filter, "none");
    let seccomp: LinuxSeccomp =
        serde_json::from_str(r#"{"defaultAction": "SCMP_ACT_KILL"}"#).unwrap();
    let p = Predictor::new(runtime("runsc"), Some(&seccomp), &[], None);
    let fork = p.predict("spawn.fork").unwrap();
    assert_eq!(fork.filter, "none");
    assert!(fork.rule.contains("ignores the profile"), "{}", fork.rule);
    // Without a filter an escape agrees and a block is past the filter.
    let seen = |outcome, mechanism: Option<&str>| {
        let v = Verdict::new("runsc", "spawn.fork", outcome, "").mechanism(mechanism);
        p.judge(&v).unwrap().agreement
    };
    assert_eq!(seen(Outcome::Escaped, None), Agreement::Agrees);
    assert!(matches!(
        seen(Outcome::Blocked, Some("EPERM")),
        Agreement::Beyond(_)
    ));
}

#[test]
fn a_profile_libseccomp_refuses_gives_no_prediction() {
    // errnoRet 4095 and above does not fit libseccomp's action (runc cannot install it).
    let seccomp: LinuxSeccomp = serde_json::from_str(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["keyctl"], "action": "SCMP_ACT_ERRNO", "errnoRet": 100000}]}"#,
    )
    .unwrap();
    let p = Predictor::new(runtime("runc"), Some(&seccomp), &[0], None);
    assert!(p.predict("kernel.keyctl").is_none());
}

#[test]
fn gvisor_answering_an_entry_it_lacks_is_a_named_quirk() {
    let seccomp: LinuxSeccomp = serde_json::from_str(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"], "syscalls": [{"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"}]}"#,
    )
    .unwrap();
    let p = Predictor::new(runtime("runsc-oci"), Some(&seccomp), &[0], None);
    // runsc ignores the architectures: its filter of the native one alone kills the
    // x32 fork, but gVisor's own kernel answers it (EPERM here).
    let v = Verdict::new("runsc-oci", "spawn.x32", Outcome::Blocked, "").mechanism(Some("EPERM"));
    let judged = p.judge(&v).unwrap();
    assert!(
        matches!(&judged.agreement, Agreement::Quirk(why) if why.contains("gVisor")),
        "{judged:?}"
    );
    // The same answer under runc is a contradiction nothing explains.
    let p = Predictor::new(runtime("runc"), Some(&seccomp), &[0], None);
    let v = Verdict::new("runc", "spawn.x32", Outcome::Blocked, "").mechanism(Some("EPERM"));
    assert!(matches!(
        p.judge(&v).unwrap().agreement,
        Agreement::Unexplained(_)
    ));
}

#[test]
fn each_route_is_judged_on_its_own() {
    // execve denied, execveat allowed: exec.memfd stays open through execveat, and its
    // route through execve is closed by the rule that denies it.
    let (p, _dir) = predictor(
        "{\"defaultAction\": \"SCMP_ACT_ALLOW\",\n \"syscalls\": [\n  {\"names\": [\"execve\"], \"action\": \"SCMP_ACT_ERRNO\"}\n ]}",
    );
    let routes = p.predict_routes("exec.memfd").unwrap();
    let seen: Vec<(&str, &str)> = routes
        .iter()
        .map(|r| (r.route.as_deref().unwrap(), r.filter))
        .collect();
    assert_eq!(
        seen,
        [
            ("execveat(memfd, \"\", AT_EMPTY_PATH)", "open"),
            ("execve(/proc/self/fd/N)", "closed"),
        ]
    );
    let closed = &routes[1];
    assert_eq!(closed.mechanism.as_deref(), Some("EPERM"));
    assert!(
        closed.rule.contains("syscalls[0] (execve)"),
        "{}",
        closed.rule
    );
    let place = closed.place.as_ref().unwrap();
    assert_eq!((place.line, place.column), (3, 3));
    // The step's own prediction is its first open route.
    assert_eq!(p.predict("exec.memfd").unwrap(), routes[0]);
    // Without a filter every route is the runtime's, not the filter's.
    let none = Predictor::new(runtime("runc"), None, &[], None);
    let routes = none.predict_routes("exec.memfd").unwrap();
    assert_eq!(routes.len(), 2);
    assert!(routes.iter().all(|r| r.filter == "none"));
    assert_eq!(routes[1].route.as_deref(), Some("execve(/proc/self/fd/N)"));
}
