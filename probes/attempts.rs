//! A probe's routes tried one after another, and the verdict they add up to: escaped by
//! the first route that got through, blocked only when every route was stopped (the
//! truth rule: a technique is blocked only when every known route to its goal is).
//!
//! Routes through another system call entry (i386, x32) run in a child process where
//! one can be made: a filter that does not list that architecture kills the caller
//! (SIGSYS), and the runner must live on to try the next route and the next probe.

use breakout_wire::catalog::ProbeId;
use breakout_wire::routes::{self, Route};

use crate::ctx::Verdict;
use crate::sys::{self, ChildEnd, Errno};

/// What one route came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tried {
    /// It got through; the text says what shows it.
    Through(String),
    /// It was stopped: an errno or a signal name, and the call that was stopped.
    Stopped { mechanism: String, detail: String },
    /// It does not exist here (a kernel without the x32 ABI): nothing to stop.
    Absent(String),
    /// It could not be judged (the child vanished, an unexpected answer).
    Unclear(String),
}

impl Tried {
    pub fn stopped(errno: Errno, what: &str) -> Tried {
        Tried::Stopped {
            mechanism: errno.name(),
            detail: format!("{what}: {errno}"),
        }
    }
}

/// The routes of `id` in catalog order; a probe tries them in this order.
pub fn of(id: ProbeId) -> &'static [Route] {
    routes::routes(id)
}

/// Tries the routes of `id` in catalog order (`tries[k]` is route k) until one gets
/// through, and gives the verdict of what was tried.
pub fn try_in_order(id: ProbeId, tries: &[&dyn Fn() -> Tried]) -> Verdict {
    let routes = of(id);
    debug_assert_eq!(routes.len(), tries.len(), "{}", id.as_str());
    let mut results = Vec::with_capacity(routes.len());
    for (route, attempt) in routes.iter().zip(tries) {
        let tried = attempt();
        let through = matches!(tried, Tried::Through(_));
        results.push((route, tried));
        if through {
            break;
        }
    }
    verdict(results)
}

/// The verdict of routes tried in order (the results are in the same order as the
/// probe's catalog routes). Escaped names the first route through; blocked carries the
/// first route's mechanism and every route's reason; unclear routes beside stopped
/// ones make it an error, never a block.
pub fn verdict(results: Vec<(&'static Route, Tried)>) -> Verdict {
    if let Some((route, Tried::Through(detail))) =
        results.iter().find(|(_, t)| matches!(t, Tried::Through(_)))
    {
        let mut v = Verdict::escaped(format!("{}: {detail}", route.name));
        v.route = Some(route.name);
        return v;
    }
    let said: Vec<String> = results
        .iter()
        .map(|(route, tried)| match tried {
            Tried::Through(_) => unreachable!("handled above"),
            Tried::Stopped { detail, .. } => format!("{} stopped ({detail})", route.name),
            Tried::Absent(why) => format!("{} absent ({why})", route.name),
            Tried::Unclear(why) => format!("{} unclear ({why})", route.name),
        })
        .collect();
    let detail = said.join("; ");
    if results.iter().any(|(_, t)| matches!(t, Tried::Unclear(_))) {
        return Verdict::error(None, format!("not every route could be judged: {detail}"));
    }
    let first_stop = results.iter().find_map(|(route, t)| match t {
        Tried::Stopped { mechanism, .. } => Some((route, mechanism)),
        _ => None,
    });
    match first_stop {
        Some((route, mechanism)) => {
            let mut v = Verdict::blocked_as(mechanism.clone(), detail);
            if results.len() == 1 {
                v.route = Some(route.name);
            }
            v
        }
        None => Verdict::not_applicable(None, format!("no route exists here: {detail}")),
    }
}

/// What an attempt in a child came to, as its exit code carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Came {
    Through,
    Stopped(Errno),
    /// The call said it succeeded, but the kernel shows nothing came of it: the filter
    /// answered with a success of its own (`errnoRet` 0).
    Faked,
    /// The route does not exist on this kernel.
    Absent,
}

impl Came {
    /// Exit codes: 0 through, an errno (Linux defines none above 133), 250 and 251.
    fn code(self) -> i32 {
        match self {
            Came::Through => 0,
            Came::Stopped(Errno(e)) => e.clamp(1, 249),
            Came::Faked => 250,
            Came::Absent => 251,
        }
    }

    fn of_code(code: i32) -> Came {
        match code {
            0 => Came::Through,
            250 => Came::Faked,
            251 => Came::Absent,
            e => Came::Stopped(Errno(e)),
        }
    }

    /// The route's result; `what` names the call.
    pub fn tried(self, what: &str) -> Tried {
        match self {
            Came::Through => Tried::Through(what.to_string()),
            Came::Stopped(errno) => Tried::stopped(errno, what),
            Came::Faked => Tried::Stopped {
                mechanism: FAKE_SUCCESS.to_string(),
                detail: format!("{what} returned success, but nothing came of it"),
            },
            Came::Absent => Tried::Absent(format!("{what}: not in this kernel")),
        }
    }
}

/// The mechanism of a success the filter made up.
pub const FAKE_SUCCESS: &str = "fake-success";

/// Runs `attempt` in a child process and reads what it came to from the child's end: a
/// signal stopped it (SIGSYS: the filter killed it). Without a child (fork and clone
/// both denied) the attempt runs in the runner itself: a kill then ends the step, and
/// the harness records the SIGSYS that did it.
pub fn in_child(what: &str, attempt: impl FnOnce() -> Came) -> Tried {
    let pid = match sys::raw_fork().or_else(|_| sys::raw_clone_sigchld()) {
        Ok(0) => sys::exit_now_with(attempt().code()),
        Ok(pid) => pid,
        Err(_) => {
            return attempt().tried(&format!("{what} (in the runner: no child could be made)"))
        }
    };
    match sys::wait_child(pid) {
        Ok(ChildEnd::Exited(0)) => Tried::Through(format!("got through in child {pid}")),
        Ok(ChildEnd::Exited(code)) => Came::of_code(code).tried(&format!("{what} in child {pid}")),
        Ok(ChildEnd::Signaled(sig)) => Tried::Stopped {
            mechanism: signal_name(sig),
            detail: format!("{what}: child {pid} killed by {}", signal_name(sig)),
        },
        Err(errno) => Tried::Unclear(format!("{what}: waiting for child {pid} failed: {errno}")),
    }
}

fn signal_name(sig: i32) -> String {
    match sig {
        libc::SIGSYS => "SIGSYS".to_string(),
        libc::SIGKILL => "SIGKILL".to_string(),
        libc::SIGSEGV => "SIGSEGV".to_string(),
        other => format!("signal {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use breakout_wire::protocol::ProbeOutcome;

    fn routes() -> &'static [Route] {
        of(ProbeId::NetVsock)
    }

    #[test]
    fn the_first_route_through_decides_and_is_named() {
        let r = routes();
        let v = verdict(vec![
            (&r[0], Tried::stopped(Errno(libc::EPERM), "socket")),
            (&r[1], Tried::Through("fd 5".into())),
        ]);
        assert_eq!(v.outcome, ProbeOutcome::Escaped);
        assert_eq!(v.route, Some(r[1].name));
    }

    #[test]
    fn blocked_only_when_every_route_is_stopped_or_absent() {
        let r = routes();
        let v = verdict(vec![
            (&r[0], Tried::stopped(Errno(libc::EPERM), "socket")),
            (&r[1], Tried::Absent("no x32".into())),
        ]);
        assert_eq!(v.outcome, ProbeOutcome::Blocked);
        assert_eq!(v.mechanism.as_deref(), Some("EPERM"));
        assert!(v.detail.contains("absent (no x32)"), "{}", v.detail);
        let v = verdict(vec![
            (&r[0], Tried::stopped(Errno(libc::EPERM), "socket")),
            (&r[1], Tried::Unclear("child vanished".into())),
        ]);
        assert_eq!(v.outcome, ProbeOutcome::Error);
        let v = verdict(vec![(&r[0], Tried::Absent("none".into()))]);
        assert_eq!(v.outcome, ProbeOutcome::NotApplicable);
    }
}
