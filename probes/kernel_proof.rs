//! What turns a kernel probe's answer into proof. A seccomp rule can return any errno,
//! 0 included, so neither "EINVAL: the kernel saw it" nor "a descriptor: it worked" is
//! taken on the return value alone:
//!
//! - an error the kernel gives for bad arguments must survive a second call, invalid in
//!   another way, that the kernel answers with another errno (a fixed `errnoRet`
//!   answers both the same);
//! - an error must be one the kernel could give at all here: without the capability it
//!   checks first, or built without the call, the kernel answers something else;
//! - a descriptor must be what the call makes (`/proc/self/fd/N` names its anonymous
//!   inode), and is closed only then: a faked 0 is the runner's stdin.

use crate::attempts::FAKE_SUCCESS;
use crate::ctx::Verdict;
use crate::facts::{syscall_built, sysctl};
use crate::sys::Errno;

/// What `/proc/self/fd/N` shows of a descriptor: the anonymous inode it refers to
/// (`io_uring`, `userfaultfd`, `perf_event`), something else (a pipe, a file), or
/// nothing (no /proc, or a link that cannot be read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdView {
    AnonInode(String),
    Other(String),
    Unseen,
}

fn fd_view(fd: libc::c_long) -> FdView {
    match std::fs::read_link(format!("/proc/self/fd/{fd}")) {
        Ok(link) => {
            let text = link.to_string_lossy();
            match text.strip_prefix("anon_inode:") {
                Some(name) => FdView::AnonInode(
                    name.trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_string(),
                ),
                None => FdView::Other(text.into_owned()),
            }
        }
        Err(_) => FdView::Unseen,
    }
}

/// A descriptor the call returned, proven to be `kind` before anything is done with it.
/// `Err` is the verdict when it is not: a success the filter made up. Where /proc
/// cannot show it, the call's word stands only if no filter is installed that could
/// have made it up; otherwise the verdict is indeterminate.
pub fn proven_fd(fd: libc::c_long, kind: &str, what: &str) -> Result<Option<String>, Verdict> {
    let view = fd_view(fd);
    let filtered = match view {
        FdView::Unseen => crate::facts::seccomp_filtered(),
        _ => None,
    };
    judge_fd(fd, &view, filtered, kind, what)
}

/// [`proven_fd`]'s decision, from what /proc showed and (where it showed nothing)
/// whether a filter is installed (`None`: unknown).
fn judge_fd(
    fd: libc::c_long,
    view: &FdView,
    filtered: Option<bool>,
    kind: &str,
    what: &str,
) -> Result<Option<String>, Verdict> {
    match view {
        FdView::AnonInode(name) if name == kind => Ok(None),
        FdView::AnonInode(other) => Err(fake(fd, kind, what, &format!("a {other}"))),
        FdView::Other(other) => Err(fake(fd, kind, what, other)),
        FdView::Unseen => match filtered {
            Some(false) => Ok(Some(format!(
                "/proc does not show what fd {fd} is, but no filter is installed to make a success up"
            ))),
            _ => Err(Verdict::indeterminate(
                None,
                format!("{what} returned {fd}, and /proc does not show whether it is a {kind} or a success a filter made up"),
            )),
        },
    }
}

fn fake(fd: libc::c_long, kind: &str, what: &str, is: &str) -> Verdict {
    Verdict::blocked_as(
        FAKE_SUCCESS.to_string(),
        format!("{what} returned {fd}, which is no {kind} ({is}): the filter made the success up"),
    )
}

/// The second opinion on an error that would mean "reached the kernel": `second` is
/// the answer to a call the kernel refuses with another errno. The same errno twice is
/// the filter answering whatever the arguments.
pub enum Second {
    /// The kernel answered both, each as it does.
    Confirmed,
    /// Both calls got the same answer: a fixed errno, the filter's.
    SameAnswer,
    /// The second call was answered otherwise than either way (text says how).
    Odd(String),
}

pub fn second_opinion(first: Errno, second: Result<libc::c_long, Errno>, expect: &[i32]) -> Second {
    match second {
        Err(e) if e == first => Second::SameAnswer,
        Err(Errno(e)) if expect.contains(&e) => Second::Confirmed,
        Err(e) => Second::Odd(format!("the second call got {e}")),
        Ok(v) => Second::Odd(format!("the second call returned {v}")),
    }
}

/// The verdict of a first answer `first` that reads as "reached the kernel", given the
/// second opinion; `reached` makes the escaped verdict.
pub fn judged(
    what: &str,
    first: Errno,
    second: Second,
    reached: impl FnOnce() -> Verdict,
) -> Verdict {
    match second {
        Second::Confirmed => {
            let mut v = reached();
            v.detail.push_str("; a differently invalid second call got the kernel's other answer");
            v
        }
        Second::SameAnswer => Verdict::blocked(
            first,
            &format!(
                "{what}: a differently invalid second call got {first} too, which the kernel would not answer: the filter's fixed errno"
            ),
        ),
        Second::Odd(how) => Verdict::indeterminate(
            Some(first),
            format!("{what}: {first}, then a second opinion that fits neither the kernel nor a fixed errno ({how})"),
        ),
    }
}

/// An error the kernel cannot give here, because it would refuse earlier with another:
/// the capability it checks first is missing, or the call is not built in. `because`
/// says which.
pub fn not_the_kernel(what: &str, errno: Errno, because: &str) -> Verdict {
    Verdict::blocked(
        errno,
        &format!("{what}: {because}, so the kernel would not answer {errno}: the filter did"),
    )
}

// The verdicts and notes every kernel probe words the same way.

/// A success the kernel never gives: the filter made it up (`errnoRet` 0).
pub fn faked(what: &str) -> Verdict {
    Verdict::blocked_as(
        FAKE_SUCCESS.to_string(),
        format!("{what}, which the kernel never answers: the filter made the success up"),
    )
}

pub fn with_note(mut verdict: Verdict, note: Option<String>) -> Verdict {
    if let Some(note) = note {
        verdict.detail.push_str("; ");
        verdict.detail.push_str(&note);
    }
    verdict
}

/// Escaped as far as the attack surface goes (`reachable`): the call reached the
/// kernel's own argument checks. That is not the feature being usable: the kernel may
/// still refuse what a real attempt asks for (a map under unprivileged_bpf_disabled).
pub fn reached(what: &str, errno: Errno) -> Verdict {
    let mut v = Verdict::escaped(format!(
        "{what} reached the kernel: {errno} is the kernel refusing the arguments, past the seccomp and capability checks"
    ));
    v.mechanism = Some(REACHABLE.to_string());
    v
}

/// The mechanism of an escape that reached the kernel's surface without using it.
pub const REACHABLE: &str = "reachable";

/// A kernel without `syscall` answers ENOSYS before any check of its own, so any other
/// refusal came from the filter.
pub fn not_built_note(syscall: &str, option: &str) -> Option<String> {
    (syscall_built(syscall) == Some(false)).then(|| {
        format!(
            "this kernel is built without {option} and would answer ENOSYS, so the filter answered"
        )
    })
}

/// The running kernel's (major, minor) version.
pub fn kernel_version() -> Option<(u32, u32)> {
    let release = sysctl("kernel/osrelease")?;
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// Appends a note on who refused to a verdict's detail. With no filter installed no note
/// may blame one: the kernel (or the sandbox's) refused it itself.
pub fn noted(mut verdict: Verdict, note: Option<String>) -> Verdict {
    let note = match (note, crate::facts::seccomp_filtered()) {
        (Some(n), Some(false)) if n.contains("the filter") => Some(format!(
            "no seccomp filter is installed: {} refused it itself",
            crate::facts::sandbox().unwrap_or("the kernel")
        )),
        (note, _) => note,
    };
    if let Some(note) = note {
        verdict.detail.push_str("; ");
        verdict.detail.push_str(&note);
    }
    verdict
}

pub fn close(fd: libc::c_long) {
    // SAFETY: `fd` was returned by the kernel to this probe and is closed exactly once.
    unsafe {
        libc::close(fd as libc::c_int);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakout_wire::protocol::ProbeOutcome;

    fn judge(view: FdView, filtered: Option<bool>) -> Result<Option<String>, Verdict> {
        judge_fd(5, &view, filtered, "io_uring", "io_uring_setup")
    }

    #[test]
    fn a_descriptor_counts_only_as_what_proc_shows() {
        assert_eq!(judge(FdView::AnonInode("io_uring".into()), None), Ok(None));
        // A faked 0 is the runner's stdin: a pipe, no ring.
        let pipe = judge(FdView::Other("pipe:[77]".into()), Some(true)).unwrap_err();
        assert_eq!(pipe.mechanism.as_deref(), Some(FAKE_SUCCESS));
        let other = judge(FdView::AnonInode("[eventfd]".into()), None).unwrap_err();
        assert_eq!(other.outcome, ProbeOutcome::Blocked);
        // Nothing shown: the call's word stands only without a filter to fake it.
        assert!(matches!(judge(FdView::Unseen, Some(false)), Ok(Some(_))));
        for filtered in [Some(true), None] {
            let v = judge(FdView::Unseen, filtered).unwrap_err();
            assert_eq!(v.outcome, ProbeOutcome::Indeterminate, "{filtered:?}");
        }
    }

    #[test]
    fn a_second_opinion_that_fits_neither_is_indeterminate() {
        let einval = Errno(libc::EINVAL);
        let reached = || Verdict::escaped("reached");
        let same = second_opinion(einval, Err(einval), &[libc::EFAULT]);
        assert_eq!(
            judged("x", einval, same, reached).outcome,
            ProbeOutcome::Blocked
        );
        let kernel = second_opinion(einval, Err(Errno(libc::EFAULT)), &[libc::EFAULT]);
        assert_eq!(
            judged("x", einval, kernel, reached).outcome,
            ProbeOutcome::Escaped
        );
        for odd in [Err(Errno(libc::ENOENT)), Ok(0)] {
            let second = second_opinion(einval, odd, &[libc::EFAULT]);
            assert_eq!(
                judged("x", einval, second, reached).outcome,
                ProbeOutcome::Indeterminate
            );
        }
    }
}
