//! Kubernetes manifests as input (`--pod`): every mapped field beside its control (the
//! same probe under a manifest without it), each workload kind that holds a pod
//! template, a security-profiles-operator SeccompProfile read as the profile it holds,
//! and the manifests the kubelet would refuse refused with the reason (exit 2).

mod common;

use common::needs::{Host, RUNC};
use common::*;
use libtest_mimic::{Arguments, Failed, Trial};
use serde_json::Value;

/// A Deployment whose container is locked down: RuntimeDefault seccomp, a non-root
/// user without privilege escalation, a read-only root with a memory emptyDir, the
/// IPC namespace's sysctl set so no shared memory can be made, and a config map the
/// harness cannot mount (listed, not dropped).
const LOCKED: &str = r#"apiVersion: v1
kind: ConfigMap
metadata: {name: unrelated}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      securityContext:
        runAsUser: 1000
        runAsGroup: 1000
        seccompProfile: {type: RuntimeDefault}
        sysctls: [{name: kernel.shmmni, value: "0"}]
      volumes:
      - {name: cache, emptyDir: {medium: Memory}}
      - {name: cfg, configMap: {name: x}}
      containers:
      - name: app
        image: nginx:1.27
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}
        resources: {limits: {memory: 128Mi}}
        volumeMounts:
        - {name: cache, mountPath: /cache}
        - {name: cfg, mountPath: /etc/app}
      - {name: sidecar, image: busybox}
"#;

/// The control: the same container with none of it.
const OPEN: &str = r#"apiVersion: v1
kind: Pod
metadata: {name: open}
spec:
  containers:
  - name: app
    image: nginx:1.27
"#;

/// The control of allowPrivilegeEscalation: the same user, escalation allowed.
const OPEN_USER: &str = r#"apiVersion: v1
kind: Pod
metadata: {name: open}
spec:
  securityContext: {runAsUser: 1000}
  containers:
  - name: app
"#;

const PROBES: &[&str] = &[
    "--probe",
    "ipc.sysv-shm",
    "--probe",
    "fs.write-rootfs",
    "--probe",
    "fs.setuid-binary",
    "--probe",
    "kernel.keyctl",
    "--probe",
    "net.raw-socket",
    "--probe",
    "fs.write-mount",
];

fn run_pod(manifest: &str, extra: &[&str]) -> Result<Value, Failed> {
    run_pod_probes(manifest, extra, PROBES)
}

fn run_pod_probes(manifest: &str, extra: &[&str], probes: &[&str]) -> Result<Value, Failed> {
    let scratch = Scratch::new("pod");
    let path = scratch.path().join("manifest.yaml");
    std::fs::write(&path, manifest).map_err(|e| e.to_string())?;
    let path = path.display().to_string();
    let mut args = vec!["--pod", path.as_str()];
    args.extend_from_slice(extra);
    args.extend_from_slice(probes);
    let (_, report) = run_json(&args)?;
    Ok(report)
}

/// A pod in the host's pid and IPC namespaces, with a memory limit: the probes see the
/// host's namespaces (the harness confirms each link) and the limit holds. The control
/// is the open pod: private namespaces.
const HOST_SHARING: &str = r#"apiVersion: v1
kind: Pod
metadata: {name: shares}
spec:
  hostPID: true
  hostIPC: true
  containers:
  - name: app
    resources: {limits: {memory: 96Mi}}
"#;

const HOST_PROBES: &[&str] = &[
    "--probe",
    "host.pid-namespace",
    "--probe",
    "host.ipc-namespace",
    "--probe",
    "host.uts-namespace",
    "--probe",
    "host.memory",
];

fn host_namespaces_and_memory_from_the_pod() -> TestResult {
    let report = run_pod_probes(HOST_SHARING, &[], HOST_PROBES)?;
    expect(
        &report,
        "host.pid-namespace",
        "escaped",
        None,
        Some("witnessed"),
    )?;
    expect(
        &report,
        "host.ipc-namespace",
        "escaped",
        None,
        Some("witnessed"),
    )?;
    // Kubernetes has no hostUTS: the UTS namespace stays the pod's.
    expect(
        &report,
        "host.uts-namespace",
        "blocked",
        Some("private-namespace"),
        None,
    )?;
    expect(
        &report,
        "host.memory",
        "blocked",
        Some("memory-limit"),
        Some("witnessed"),
    )?;
    let report = run_pod_probes(OPEN, &[], HOST_PROBES)?;
    for probe in ["host.pid-namespace", "host.ipc-namespace"] {
        expect(&report, probe, "blocked", Some("private-namespace"), None)?;
    }
    Ok(())
}

/// A pod's network is the default bridge, as a pod network lets traffic out: the
/// canary is reached. `hostNetwork: true` is the host's network, and the report names
/// each.
fn pod_network_is_the_bridge() -> TestResult {
    let probes = &["--probe", "net.tcp-connect"];
    let report = run_pod_probes(OPEN, &[], probes)?;
    expect(
        &report,
        "net.tcp-connect",
        "escaped",
        None,
        Some("witnessed"),
    )?;
    assert_eq!(report["subject"]["settings"]["network"], "bridge");
    let host = "apiVersion: v1\nkind: Pod\nmetadata: {name: hn}\nspec:\n  hostNetwork: true\n  containers:\n  - name: app\n";
    let report = run_pod_probes(host, &[], probes)?;
    assert_eq!(report["subject"]["settings"]["network"], "host");
    let said = report["subject"]["network"].as_str().unwrap_or_default();
    assert!(said.starts_with("host: "), "{said}");
    Ok(())
}

/// `procMount: Unmasked` leaves /proc/sys writable, as Docker's systempaths=unconfined;
/// its control, `Default`, keeps it read-only.
fn proc_mount_unmasked_opens_proc_sys() -> TestResult {
    let pod = |mount: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: pm}}\nspec:\n  containers:\n  - name: app\n    securityContext: {{procMount: {mount}}}\n"
        )
    };
    let probes = &["--probe", "fs.proc-sys"];
    let report = run_pod_probes(&pod("Unmasked"), &[], probes)?;
    expect(&report, "fs.proc-sys", "escaped", None, None)?;
    let report = run_pod_probes(&pod("Default"), &[], probes)?;
    expect(&report, "fs.proc-sys", "blocked", Some("EROFS"), None)?;
    Ok(())
}

fn locked_down_deployment() -> TestResult {
    let report = run_pod(LOCKED, &["--container", "app"])?;
    expect(&report, "ipc.sysv-shm", "blocked", Some("ENOSPC"), None)?;
    expect(&report, "fs.write-rootfs", "blocked", Some("EROFS"), None)?;
    expect(
        &report,
        "fs.setuid-binary",
        "blocked",
        Some("no-new-privileges"),
        None,
    )?;
    expect(&report, "kernel.keyctl", "blocked", Some("EPERM"), None)?;
    // NET_RAW dropped with ALL: no raw socket.
    expect(&report, "net.raw-socket", "blocked", Some("EPERM"), None)?;
    expect(&report, "fs.write-mount@/cache", "escaped", None, None)?;
    let settings = &report["subject"]["settings"];
    let notes = settings["notes"].to_string();
    for needle in [
        "Deployment/web",
        "\\\"cfg\\\"",
        "RuntimeDefault",
        "nginx:1.27",
    ] {
        if !notes.contains(needle) {
            return Err(format!("the notes do not name {needle}: {notes}").into());
        }
    }
    if settings["user"] != "1000:1000" || settings["run"]["memory"] != 128 << 20 {
        return Err(format!("settings: {settings:#}").into());
    }
    // The same manifest in the spec runc is given.
    let scratch = Scratch::new("pod-spec");
    let manifest = scratch.path().join("locked.yaml");
    std::fs::write(&manifest, LOCKED)?;
    let bundle = scratch.path().join("bundle");
    let out = breakout(&[
        "run",
        "--pod",
        &manifest.display().to_string(),
        "--container",
        "app",
        "--emit-bundle",
        &bundle.display().to_string(),
    ]);
    out.expect_code(0)?;
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(bundle.join("config.json"))?)?;
    let process = &spec["process"];
    let checks = [
        (
            "user",
            process["user"]["uid"] == 1000 && process["user"]["gid"] == 1000,
        ),
        ("no-new-privileges", process["noNewPrivileges"] == true),
        (
            "capabilities",
            process["capabilities"]["bounding"] == serde_json::json!(["CAP_NET_BIND_SERVICE"]),
        ),
        ("read-only root", spec["root"]["readonly"] == true),
        ("sysctl", spec["linux"]["sysctl"]["kernel.shmmni"] == "0"),
        (
            "memory",
            spec["linux"]["resources"]["memory"]["limit"] == 128 << 20,
        ),
        (
            "RuntimeDefault",
            spec["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO",
        ),
        (
            "emptyDir",
            spec["mounts"].as_array().is_some_and(|m| {
                m.iter()
                    .any(|m| m["destination"] == "/cache" && m["type"] == "tmpfs")
            }),
        ),
    ];
    for (what, ok) in checks {
        if !ok {
            return Err(format!("{what} is not in the spec: {spec:#}").into());
        }
    }
    // The control: every one of those escapes.
    let report = run_pod(OPEN, &[])?;
    expect(&report, "ipc.sysv-shm", "escaped", None, None)?;
    expect(&report, "fs.write-rootfs", "escaped", None, None)?;
    expect(&report, "kernel.keyctl", "escaped", None, None)?;
    expect(&report, "net.raw-socket", "escaped", None, None)?;
    let report = run_pod(OPEN_USER, &[])?;
    expect(&report, "fs.setuid-binary", "escaped", None, None)?;
    Ok(())
}

/// Localhost profiles come from --seccomp-root, as the kubelet takes them; a
/// SeccompProfile object there is read for its spec, with the verdicts of the same
/// profile in JSON.
fn localhost_profile_and_seccompprofile_yaml() -> TestResult {
    let root = Scratch::new("seccomp-root");
    std::fs::write(
        root.path().join("deny-fork.yaml"),
        "apiVersion: security-profiles-operator.x-k8s.io/v1beta1\nkind: SeccompProfile\nmetadata: {name: deny-fork}\nspec:\n  defaultAction: SCMP_ACT_ALLOW\n  syscalls:\n  - {action: SCMP_ACT_ERRNO, names: [fork]}\n",
    )?;
    std::fs::write(
        root.path().join("deny-fork.json"),
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ERRNO", "names": ["fork"]}]}"#,
    )?;
    let manifest = |profile: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec:\n  containers:\n  - name: app\n    securityContext:\n      seccompProfile: {{type: Localhost, localhostProfile: {profile}}}\n")
    };
    let root_arg = root.path().display().to_string();
    let mut verdicts = Vec::new();
    for profile in ["deny-fork.yaml", "deny-fork.json"] {
        let scratch = Scratch::new("pod");
        let path = scratch.path().join("pod.yaml");
        std::fs::write(&path, manifest(profile))?;
        let path = path.display().to_string();
        let (_, report) = run_json(&[
            "--pod",
            &path,
            "--seccomp-root",
            &root_arg,
            "--probe",
            "spawn.fork",
        ])?;
        expect(&report, "spawn.fork", "blocked", Some("EPERM"), None)?;
        verdicts.push(verdict(&report, "spawn.fork")?["outcome"].clone());
    }
    if verdicts[0] != verdicts[1] {
        return Err(format!("YAML and JSON differ: {verdicts:?}").into());
    }
    Ok(())
}

/// Every kind with a pod template is read; what the kubelet would refuse, or what the
/// harness cannot tell apart, is refused with the reason.
fn kinds_and_refusals() -> TestResult {
    let scratch = Scratch::new("kinds");
    let container = "containers: [{name: app, image: x}]";
    let kinds = [
        ("Pod", format!("spec: {{{container}}}")),
        (
            "Deployment",
            format!("spec: {{template: {{spec: {{{container}}}}}}}"),
        ),
        (
            "StatefulSet",
            format!("spec: {{template: {{spec: {{{container}}}}}}}"),
        ),
        (
            "DaemonSet",
            format!("spec: {{template: {{spec: {{{container}}}}}}}"),
        ),
        (
            "Job",
            format!("spec: {{template: {{spec: {{{container}}}}}}}"),
        ),
        (
            "CronJob",
            format!("spec: {{jobTemplate: {{spec: {{template: {{spec: {{{container}}}}}}}}}}}"),
        ),
    ];
    for (kind, body) in &kinds {
        let path = scratch.path().join(format!("{kind}.yaml"));
        std::fs::write(
            &path,
            format!("kind: {kind}\nmetadata: {{name: w}}\n{body}\n"),
        )?;
        let path = path.display().to_string();
        let out = breakout(&[
            "run",
            "--pod",
            &path,
            "--emit-bundle",
            &scratch
                .path()
                .join(format!("b-{kind}"))
                .display()
                .to_string(),
        ]);
        if out.code != 0 {
            return Err(format!("{kind}: exit {}: {}", out.code, out.stderr).into());
        }
    }
    let refused = [
        (
            "two containers",
            "kind: Pod\nspec: {containers: [{name: a}, {name: b}]}\n",
            &[][..],
            "--container",
        ),
        (
            "non-root without a user",
            "kind: Pod\nspec: {securityContext: {runAsNonRoot: true}, containers: [{name: a}]}\n",
            &[],
            "runAsNonRoot",
        ),
        (
            "localhost without a root",
            "kind: Pod\nspec: {containers: [{name: a, securityContext: {seccompProfile: {type: Localhost, localhostProfile: p.json}}}]}\n",
            &[],
            "--seccomp-root",
        ),
        (
            "unknown runtime class",
            "kind: Pod\nspec: {runtimeClassName: kata, containers: [{name: a}]}\n",
            &[],
            "--runtime-class kata=",
        ),
        (
            "no pod template",
            "kind: Service\nspec: {}\n",
            &[],
            "no Pod or workload",
        ),
        (
            "flags beside the manifest",
            "kind: Pod\nspec: {containers: [{name: a}]}\n",
            &["--read-only"],
            "leave out the container-setting flags",
        ),
    ];
    for (what, text, extra, needle) in refused {
        let path = scratch.path().join("refused.yaml");
        std::fs::write(&path, text)?;
        let path = path.display().to_string();
        let mut args = vec!["run", "--pod", path.as_str()];
        args.extend_from_slice(extra);
        let out = breakout(&args);
        if out.code != 2 || !out.stderr.contains(needle) {
            return Err(format!("{what}: exit {}: {}", out.code, out.stderr).into());
        }
    }
    Ok(())
}

/// `pod` in a scenario file: the same mapping, and `breakout test` holds the
/// manifest's expectations (and their opposites under the open manifest).
fn scenario_with_a_pod() -> TestResult {
    let dir = Scratch::new("pod-scenario");
    std::fs::write(dir.path().join("locked.yaml"), LOCKED)?;
    std::fs::write(dir.path().join("open.yaml"), OPEN)?;
    let scenario = |name: &str, file: &str, outcome: &str| {
        format!(
            r#"{{"name": "{name}", "runtimes": ["runc"], "pod": {{"file": "{file}", "container": "app"}},
 "probes": ["ipc.sysv-shm", "kernel.keyctl", "fs.write-rootfs"],
 "expect": {{"default": "{outcome}"}}}}"#
        )
    };
    std::fs::write(
        dir.path().join("locked.json"),
        scenario("locked", "locked.yaml", "blocked"),
    )?;
    std::fs::write(
        dir.path().join("open.json"),
        scenario("open", "open.yaml", "escaped"),
    )?;
    let out = breakout(&["test", &dir.path().display().to_string()]);
    if out.code != 0 {
        return Err(format!("exit {}: {}{}", out.code, out.stdout, out.stderr).into());
    }
    if !out.stderr.contains("Deployment/web") {
        return Err(format!("no note names the manifest: {}", out.stderr).into());
    }
    // The opposite expectations fail: the mapping decides the verdicts.
    std::fs::write(
        dir.path().join("locked.json"),
        scenario("locked", "locked.yaml", "escaped"),
    )?;
    let out = breakout(&[
        "test",
        &dir.path().join("locked.json").display().to_string(),
    ]);
    if out.code != 1 {
        return Err(format!("the wrong expectation passed: exit {}", out.code).into());
    }
    // A pod beside a profile is refused.
    std::fs::write(
        dir.path().join("both.json"),
        r#"{"runtimes": ["runc"], "pod": {"file": "open.yaml"}, "profile": "unconfined"}"#,
    )?;
    let out = breakout(&["test", &dir.path().join("both.json").display().to_string()]);
    if out.code != 2 || !out.stderr.contains("leave out") {
        return Err(format!("pod with profile: exit {}: {}", out.code, out.stderr).into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let mut host = Host::default();
    let trials: Vec<Trial> = vec![
        host.trial("locked_down_deployment", RUNC, locked_down_deployment),
        host.trial(
            "localhost_profile_and_seccompprofile_yaml",
            RUNC,
            localhost_profile_and_seccompprofile_yaml,
        ),
        host.trial("kinds_and_refusals", RUNC, kinds_and_refusals),
        host.trial(
            "proc_mount_unmasked_opens_proc_sys",
            RUNC,
            proc_mount_unmasked_opens_proc_sys,
        ),
        host.trial(
            "host_namespaces_and_memory_from_the_pod",
            RUNC,
            host_namespaces_and_memory_from_the_pod,
        ),
        host.trial("scenario_with_a_pod", RUNC, scenario_with_a_pod),
        host.trial("pod_network_is_the_bridge", RUNC, pod_network_is_the_bridge),
    ];
    libtest_mimic::run(&args, trials).exit();
}
