//! The implementation of each catalog id, in one exhaustive table: every goal's
//! module answers for its own ids, and nothing else dispatches on probe names.

use breakout_wire::catalog::ProbeId;
use breakout_wire::protocol::split_step;

use crate::ctx::{Ctx, Impl, Verdict};
use crate::{
    exec, exec_mount, exec_routes, fs, fs_mount, fs_setuid, host, host_device, ipc, kernel,
    kernel_load, kernel_ptrace, namespace, net, net_i386, net_socket, net_uring, spawn,
};

/// The implementation of each catalog id: every goal's module answers for its own ids.
fn implementation(id: ProbeId) -> Impl {
    match id {
        ProbeId::KernelIoUring => Impl::Once(kernel::io_uring),
        ProbeId::KernelBpf => Impl::Once(kernel::bpf),
        ProbeId::KernelKeyctl => Impl::Once(kernel::keyctl),
        ProbeId::KernelUserfaultfd => Impl::Once(kernel::userfaultfd),
        ProbeId::KernelPerfEventOpen => Impl::Once(kernel::perf_event_open),
        ProbeId::KernelPtrace => Impl::Once(kernel_ptrace::ptrace),
        ProbeId::KernelProcessVmWritev => Impl::Once(kernel::process_vm_writev),
        ProbeId::KernelPersonality => Impl::Once(kernel::personality),
        ProbeId::KernelUselib => Impl::Once(kernel_load::uselib),
        ProbeId::KernelInitModule => Impl::Once(kernel_load::init_module),
        ProbeId::KernelKexecLoad => Impl::Once(kernel_load::kexec_load),
        ProbeId::KernelReboot => Impl::Once(kernel_load::reboot),
        ProbeId::IpcSysvShm => Impl::Once(ipc::sysv_shm),
        ProbeId::IpcWriteDevShm => Impl::Once(ipc::write_dev_shm),
        ProbeId::HostPidNamespace => Impl::Once(host::pid_namespace),
        ProbeId::HostIpcNamespace => Impl::Once(host::ipc_namespace),
        ProbeId::HostUtsNamespace => Impl::Once(host::uts_namespace),
        ProbeId::HostDevice => Impl::Once(host_device::device),
        ProbeId::HostMemory => Impl::Once(host::memory),
        ProbeId::SpawnFork => Impl::Once(spawn::fork),
        ProbeId::SpawnVfork => Impl::Once(spawn::vfork),
        ProbeId::SpawnClone => Impl::Once(spawn::clone),
        ProbeId::SpawnClone3 => Impl::Once(spawn::clone3),
        ProbeId::SpawnThread => Impl::Once(spawn::thread),
        ProbeId::SpawnI386Fork => Impl::Once(spawn::i386_fork),
        ProbeId::SpawnX32 => Impl::Once(spawn::x32),
        ProbeId::NamespaceCloneNewuser => Impl::Once(namespace::clone_newuser),
        ProbeId::NamespaceClone3Newuser => Impl::Once(namespace::clone3_newuser),
        ProbeId::NamespaceSetns => Impl::Once(namespace::setns),
        ProbeId::FsWriteRootfs => Impl::Once(fs::write_rootfs),
        ProbeId::FsWriteMount => Impl::PerMount(fs::write_mount),
        ProbeId::FsRemountRw => Impl::Once(fs_mount::remount_rw),
        ProbeId::FsMountNew => Impl::Once(fs_mount::mount_new),
        ProbeId::FsMknod => Impl::PerMount(fs::mknod),
        ProbeId::FsSetuid => Impl::PerMount(fs_setuid::setuid),
        ProbeId::FsSetuidBinary => Impl::Once(fs_setuid::setuid_binary),
        ProbeId::FsProcSys => Impl::Once(fs::proc_sys),
        ProbeId::FsSysfs => Impl::Once(fs::sysfs),
        ProbeId::FsOpenByHandle => Impl::Once(fs::open_by_handle),
        ProbeId::NetTcpConnect => Impl::Once(net::tcp_connect),
        ProbeId::NetUdpSend => Impl::Once(net::udp_send),
        ProbeId::NetRawSocket => Impl::Once(net_socket::raw_socket),
        ProbeId::NetPacketSocket => Impl::Once(net_socket::packet_socket),
        ProbeId::NetVsock => Impl::Once(net_socket::vsock),
        ProbeId::NetIoUringConnect => Impl::Once(net_uring::io_uring_connect),
        ProbeId::NetI386Socketcall => Impl::Once(net_i386::i386_socketcall),
        ProbeId::ExecExecve => Impl::Once(exec::execve),
        ProbeId::ExecExecveat => Impl::Once(exec::execveat),
        ProbeId::ExecShell => Impl::Once(exec::shell),
        ProbeId::ExecMemfd => Impl::Once(exec_routes::memfd),
        ProbeId::ExecI386 => Impl::Once(exec_routes::i386),
        ProbeId::ExecPosixSpawn => Impl::Once(exec_routes::posix_spawn),
        ProbeId::ExecInterpreter => Impl::PerMount(exec_mount::interpreter),
        ProbeId::ExecMmapExec => Impl::PerMount(exec_mount::mmap_exec),
        ProbeId::FsExecMount => Impl::PerMount(fs::exec_mount),
        ProbeId::NamespaceUnshareMount => Impl::Once(namespace::unshare_mount),
        ProbeId::NamespaceUnshareUser => Impl::Once(namespace::unshare_user),
    }
}

/// What a step says of the payload it started, where the payload's running is not the
/// escape by itself (see `payload::Judge`).
pub fn payload_judge(ctx: &Ctx, step: &str) -> Option<Verdict> {
    match ProbeId::of_step(step) {
        (Some(ProbeId::FsSetuid), Some(dst)) => Some(fs::setuid_payload(ctx, dst)),
        (Some(ProbeId::FsSetuidBinary), None) => Some(fs::setuid_payload(
            ctx,
            breakout_wire::names::SETUID_BINARY_PATH,
        )),
        _ => None,
    }
}

pub const NO_MOUNTS: &str = "no volume or tmpfs mounts in the container settings";

/// Runs one step and returns its verdict (exec probes may not return at all).
pub fn run_step(ctx: &Ctx, step: &str) -> Verdict {
    let (id, target) = split_step(step);
    match (ProbeId::parse(id).map(implementation), target) {
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
            let id = ProbeId::parse(info.id).expect("every catalog id is a ProbeId");
            match implementation(id) {
                Impl::Once(_) => assert!(!info.per_mount, "{}", info.id),
                Impl::PerMount(_) => assert!(info.per_mount, "{}", info.id),
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
