//! The implementation of each catalog id, in one exhaustive table: every goal's
//! module answers for its own ids, and nothing else dispatches on probe names.

use breakout_wire::protocol::split_step;

use crate::ctx::{Ctx, Impl, Verdict};
use crate::{exec, fs, ipc, kernel, namespace, net, spawn};

/// The implementation of each catalog id: every goal's module answers for its own ids.
fn implementation(id: &str) -> Option<Impl> {
    exec::implementation(id)
        .or_else(|| spawn::implementation(id))
        .or_else(|| namespace::implementation(id))
        .or_else(|| fs::implementation(id))
        .or_else(|| net::implementation(id))
        .or_else(|| kernel::implementation(id))
        .or_else(|| ipc::implementation(id))
}

/// What a step says of the payload it started, where the payload's running is not the
/// escape by itself (see `payload::Judge`).
pub fn payload_judge(ctx: &Ctx, step: &str) -> Option<Verdict> {
    match split_step(step) {
        ("fs.setuid", Some(dst)) => Some(fs::setuid_payload(ctx, dst)),
        _ => None,
    }
}

pub const NO_MOUNTS: &str = "no volume or tmpfs mounts in the container settings";

/// Runs one step and returns its verdict (exec probes may not return at all).
pub fn run_step(ctx: &Ctx, step: &str) -> Verdict {
    let (id, target) = split_step(step);
    match (implementation(id), target) {
        (None, _) => Verdict::error(None, format!("unknown probe {id}")),
        (Some(Impl::Once(f)), None) => f(ctx),
        (Some(Impl::Once(_)), Some(_)) => {
            Verdict::error(None, format!("probe {id} does not run per mount"))
        }
        (Some(Impl::PerMount(f)), Some(mount)) => f(ctx, mount),
        (Some(Impl::PerMount(_)), None) => Verdict::not_applicable(None, NO_MOUNTS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ctx::Out;
    use breakout_wire::catalog;
    use breakout_wire::protocol::{Invocation, ProbeOutcome};

    #[test]
    fn every_catalog_probe_is_implemented_with_its_shape() {
        for info in catalog::CATALOG {
            match implementation(info.id) {
                Some(Impl::Once(_)) => assert!(!info.per_mount, "{}", info.id),
                Some(Impl::PerMount(_)) => assert!(info.per_mount, "{}", info.id),
                None => panic!("{} has no implementation", info.id),
            }
        }
    }

    fn ctx() -> Ctx {
        Ctx {
            inv: Invocation {
                nonce: "n".into(),
                ..Invocation::default()
            },
            payload: "/nonexistent".to_string(),
            out: Out::new(),
            key: None,
        }
    }

    #[test]
    fn steps_that_cannot_run_say_why() {
        let ctx = ctx();
        let v = run_step(&ctx, "fs.write-mount");
        assert_eq!(v.outcome, ProbeOutcome::NotApplicable);
        assert_eq!(v.detail, NO_MOUNTS);
        assert_eq!(run_step(&ctx, "no.such").outcome, ProbeOutcome::Error);
        assert_eq!(run_step(&ctx, "spawn.fork@/x").outcome, ProbeOutcome::Error);
        let v = run_step(&ctx, "net.tcp-connect");
        assert_eq!(v.outcome, ProbeOutcome::NotApplicable);
        assert_eq!(v.detail, "no canary address given");
    }
}
