//! Predicted against observed: what the profile's filter does to each route of each
//! step, decided by the filter the runtime would load (compiled with libseccomp,
//! [`compile`], run on each call, [`bpf`]), with the rule that decided it and where it
//! is written ([`source`]); and how that prediction compares with what the container
//! showed.
//!
//! A prediction is about the filter alone: "open" means some route's gating calls all
//! pass it, "closed" that every route has a call it stops, with the answer the first
//! such route gets. What else may stop an open route (a capability, a mount option, a
//! sandbox kernel) is the observation's to show; only a contradiction the filter alone
//! decides (an escape through a closed filter, a kill or another answer than the
//! filter's where it is closed) is a disagreement, and one the quirks table does not
//! explain is shown loudly: it is a runtime bug or a harness bug.

pub mod bpf;
pub mod compile;
pub mod refusals;
pub mod source;
pub mod start;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSyscall};
use serde::Serialize;

use crate::report::{Mechanism, Outcome, Verdict};
use crate::runtime::RuntimeKind;
use breakout_wire::routes::{Call, Entry, Route};
use compile::{Action, Compiled, AUDIT_ARCH_I386, AUDIT_ARCH_X86_64, X32_SYSCALL_BIT};
use source::{Place, RulePlaces};

/// What the filter does to a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prediction {
    /// `open`: a route gets past the filter; `closed`: none does; `none`: no filter
    /// applies (no profile, or a runtime that ignores it), which `rule` says.
    pub filter: &'static str,
    /// The open route, or the route whose answer a closed filter gives.
    pub route: Option<String>,
    /// That route's system call entry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry: Option<Entry>,
    /// The filter's answer to the deciding call (`allow`, `errno(EPERM)`, `kill`, ...).
    pub action: String,
    /// What the probe would see of a closed filter (`EPERM`, `SIGSYS`, `ENOSYS`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mechanism: Option<String>,
    /// The rule that decided it, in words.
    pub rule: String,
    /// Where that rule is written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub place: Option<Place>,
    /// How the observation compares.
    pub agreement: Agreement,
}

/// What the filter does to one call (see [`Predictor::decide_call`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallDecision {
    /// The filter's answer (`allow`, `errno(EPERM)`, `kill`).
    pub action: String,
    /// Whether the call is stopped (any answer but allow and log).
    pub stops: bool,
    pub rule: String,
    pub place: Option<Place>,
}

/// How an observed verdict compares with its prediction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "why", rename_all = "kebab-case")]
pub enum Agreement {
    /// The observation is what the filter decides.
    Agrees,
    /// The filter lets a route through; something else stopped it (named).
    Beyond(String),
    /// They differ in a way a known runtime quirk explains.
    Quirk(String),
    /// They differ and nothing known explains it.
    Unexplained(String),
    /// The observation says nothing the filter decides (not applicable, an error).
    NotCompared,
}

/// The filter a runtime applies to the container's process, ready to judge calls.
pub struct Predictor {
    filter: Option<Filter>,
    /// The sandbox kernel that serves the calls, if any (gVisor implements the filter
    /// and the calls itself).
    sandbox: Option<&'static str>,
    /// Why there is no filter to judge by (no profile, a runtime that ignores it).
    none_because: &'static str,
    x32_present: bool,
}

struct Filter {
    /// Compiled at the first call judged: a start failure judges none.
    compiled: std::sync::OnceLock<Result<Compiled, String>>,
    /// The whole filter, every rule, for calls of any name (a workload's): compiled
    /// only when one is judged.
    whole: std::sync::OnceLock<Result<Compiled, String>>,
    style: compile::Style,
    seccomp: LinuxSeccomp,
    /// For each resolved rule, its index among the profile file's `syscalls`.
    sources: Vec<usize>,
    places: RulePlaces,
    errno_honoured: bool,
    architectures_honoured: bool,
    i386_listed: bool,
}

/// How one call fares.
struct Judged {
    action: Action,
    call: &'static str,
    entry: Entry,
    args: Vec<(u8, u64)>,
}

/// The calls i386 multiplexes through `socketcall` and `ipc`: libseccomp turns a rule
/// on any of them into checks of the multiplexer, so they decide its routes too.
const MULTIPLEXED: &[&str] = &[
    "socket",
    "bind",
    "connect",
    "listen",
    "accept",
    "accept4",
    "getsockname",
    "getpeername",
    "socketpair",
    "send",
    "recv",
    "sendto",
    "recvfrom",
    "shutdown",
    "setsockopt",
    "getsockopt",
    "sendmsg",
    "recvmsg",
    "recvmmsg",
    "sendmmsg",
    "semop",
    "semget",
    "semctl",
    "semtimedop",
    "msgsnd",
    "msgrcv",
    "msgget",
    "msgctl",
    "shmat",
    "shmdt",
    "shmget",
    "shmctl",
];

/// `seccomp` with only the rules' names a route calls (or that decide a multiplexer a
/// route calls). libseccomp decides each system call by its own rules alone, so the
/// programs answer every route's call as the whole filter does, and cost a fraction to
/// build: Docker's default profile names some 370 calls, the routes about 70. What
/// only the whole program shows (its size) is [`refusals`]' to measure.
fn routes_only(seccomp: &LinuxSeccomp) -> LinuxSeccomp {
    static NAMES: std::sync::OnceLock<std::collections::BTreeSet<&'static str>> =
        std::sync::OnceLock::new();
    let names = NAMES.get_or_init(|| {
        let mut names: std::collections::BTreeSet<&'static str> =
            MULTIPLEXED.iter().copied().collect();
        for probe in crate::catalog::CATALOG {
            if let Some(id) = breakout_wire::probe_id::ProbeId::of_step(probe.id).0 {
                for route in breakout_wire::routes::routes(id) {
                    names.extend(route.calls.iter().map(|c| c.syscall));
                }
            }
        }
        names
    });
    let mut out = seccomp.clone();
    let rules = seccomp
        .syscalls()
        .iter()
        .flatten()
        .filter_map(|rule| {
            let kept: Vec<String> = rule
                .names()
                .iter()
                .filter(|n| names.contains(n.as_str()))
                .cloned()
                .collect();
            (!kept.is_empty()).then(|| {
                let mut rule = rule.clone();
                rule.set_names(kept);
                rule
            })
        })
        .collect();
    out.set_syscalls(Some(rules));
    out
}

/// `seccomp` with every errno libseccomp cannot encode lowered to the largest it can,
/// for a runtime that ignores `errnoRet` (runsc answers EPERM whatever it says, and
/// loads a profile libseccomp would refuse for it).
fn encodable_errnos(seccomp: &LinuxSeccomp) -> LinuxSeccomp {
    use refusals::MAX_ERRNO;
    let mut out = seccomp.clone();
    if seccomp.default_errno_ret().is_some_and(|e| e > MAX_ERRNO) {
        out.set_default_errno_ret(Some(MAX_ERRNO));
    }
    if let Some(rules) = seccomp.syscalls() {
        let rules = rules
            .iter()
            .map(|rule| {
                let mut rule = rule.clone();
                if rule.errno_ret().is_some_and(|e| e > MAX_ERRNO) {
                    rule.set_errno_ret(Some(MAX_ERRNO));
                }
                rule
            })
            .collect();
        out.set_syscalls(Some(rules));
    }
    out
}

impl Predictor {
    /// The predictor for `kind` under the resolved `seccomp` (with each resolved rule's
    /// source index and the profile's path); an error if libseccomp refuses it.
    pub fn new(
        kind: &RuntimeKind,
        seccomp: Option<&LinuxSeccomp>,
        sources: &[usize],
        path: Option<&std::path::Path>,
    ) -> Predictor {
        let x32_present = x32_present();
        let Some(seccomp) = seccomp else {
            return Predictor {
                filter: None,
                none_because: "no profile: no filter",
                x32_present,
                sandbox: kind.sandbox_kernel,
            };
        };
        if !kind.applies_profile {
            return Predictor {
                filter: None,
                none_because: "the runtime ignores the profile: no filter",
                x32_present,
                sandbox: kind.sandbox_kernel,
            };
        }
        let style = compile::Style {
            enosys_stub: kind.enosys_stub,
            architectures: kind.honours_architectures,
        };
        let i386_listed = kind.honours_architectures
            && seccomp
                .architectures()
                .iter()
                .flatten()
                .any(|a| *a == oci_spec::runtime::Arch::ScmpArchX86);
        Predictor {
            filter: Some(Filter {
                compiled: std::sync::OnceLock::new(),
                whole: std::sync::OnceLock::new(),
                style,
                seccomp: if kind.honours_errno_ret {
                    seccomp.clone()
                } else {
                    encodable_errnos(seccomp)
                },
                sources: sources.to_vec(),
                places: path.map(RulePlaces::of).unwrap_or_default(),
                errno_honoured: kind.honours_errno_ret,
                architectures_honoured: kind.honours_architectures,
                i386_listed,
            }),
            none_because: "",
            x32_present,
            sandbox: kind.sandbox_kernel,
        }
    }

    /// The prediction for `step`, not yet compared (see [`Predictor::judge`]); none for a
    /// step of no probe or a profile libseccomp refuses.
    pub fn predict(&self, step: &str) -> Option<Prediction> {
        let (id, _) = breakout_wire::probe_id::ProbeId::of_step(step);
        let routes = breakout_wire::routes::routes(id?);
        let Some(filter) = &self.filter else {
            return Some(self.no_filter(routes));
        };
        // A profile libseccomp refuses: the container does not start, nothing to judge.
        filter.compiled().as_ref().ok()?;
        self.predict_with(filter, routes)
    }

    /// What the whole filter does to one call of any name (a call a workload made, a
    /// call a runtime's start needs), with the rule that decides it; `None` without a
    /// filter, for a profile libseccomp refuses, or a name the entry lacks.
    pub fn decide_call(
        &self,
        entry: Entry,
        syscall: &'static str,
        args: &[(u8, u64)],
    ) -> Option<CallDecision> {
        let filter = self.filter.as_ref()?;
        let compiled = filter.whole().as_ref().ok()?;
        let (arch, x32) = match entry {
            Entry::X86_64 => (AUDIT_ARCH_X86_64, false),
            Entry::I386 => (AUDIT_ARCH_I386, false),
            Entry::X32 => (AUDIT_ARCH_X86_64, true),
        };
        let nr = compile::syscall_number(syscall, arch, x32)?;
        let mut values = [0u64; 6];
        for (i, v) in args {
            if let Some(slot) = values.get_mut(usize::from(*i)) {
                *slot = *v;
            }
        }
        let action = compiled
            .action(arch, nr, values)
            .unwrap_or(Action::KillProcess);
        let judged = Judged {
            action,
            call: syscall,
            entry,
            args: args.to_vec(),
        };
        let (rule, place) = filter.deciding_rule(&judged);
        Some(CallDecision {
            action: filter.answer_name(action),
            stops: !action.lets_through(),
            rule,
            place,
        })
    }

    fn no_filter(&self, routes: &[Route]) -> Prediction {
        Prediction {
            filter: "none",
            route: routes.first().map(|r| r.name.to_string()),
            entry: routes.first().map(|r| r.entry),
            action: "allow".into(),
            mechanism: None,
            rule: self.none_because.to_string(),
            place: None,
            agreement: Agreement::NotCompared,
        }
    }

    /// What the filter does to each route of `step`, in the probe's order: each open or
    /// closed on its own, with the rule that decides it (an open route names the rule
    /// that lets it through, a closed one the rule that stops it). None for a step of no
    /// probe or a profile libseccomp refuses, like [`Predictor::predict`].
    pub fn predict_routes(&self, step: &str) -> Option<Vec<Prediction>> {
        let (id, _) = breakout_wire::probe_id::ProbeId::of_step(step);
        let routes = breakout_wire::routes::routes(id?);
        let Some(filter) = &self.filter else {
            let none = self.no_filter(routes);
            return Some(
                routes
                    .iter()
                    .map(|r| Prediction {
                        route: Some(r.name.to_string()),
                        entry: Some(r.entry),
                        ..none.clone()
                    })
                    .collect(),
            );
        };
        filter.compiled().as_ref().ok()?;
        Some(
            routes
                .iter()
                .map(|route| match filter.route(route) {
                    Ok(()) => self.open_route(filter, route),
                    Err(judged) => filter.closed(route, &judged),
                })
                .collect(),
        )
    }

    fn predict_with(&self, filter: &Filter, routes: &'static [Route]) -> Option<Prediction> {
        // The filter judges a call before the kernel does, so every route counts, also
        // one through an entry this kernel lacks (x32); an open route the kernel then
        // refuses is said so.
        let mut first_closed: Option<(&Route, Judged)> = None;
        let mut open_absent: Option<&Route> = None;
        for route in routes {
            match filter.route(route) {
                Ok(()) if self.absent(route) => {
                    open_absent = open_absent.or(Some(route));
                }
                Ok(()) => return Some(self.open_route(filter, route)),
                Err(judged) => {
                    if first_closed.is_none() {
                        first_closed = Some((route, judged));
                    }
                }
            }
        }
        if let Some(route) = open_absent {
            return Some(self.open_route(filter, route));
        }
        let (route, judged) = first_closed?;
        Some(filter.closed(route, &judged))
    }

    /// Whether `route` goes through an entry this kernel lacks.
    fn absent(&self, route: &Route) -> bool {
        route.entry == Entry::X32 && !self.x32_present
    }

    /// The prediction for a route every gating call of which passes the filter.
    fn open_route(&self, filter: &Filter, route: &Route) -> Prediction {
        let mut why = filter.open_reason(route);
        if self.absent(route) {
            why.push_str(", but this kernel has no x32 ABI");
        }
        let mut p = open(route, why);
        p.place = filter.open_place(route);
        p
    }
}

fn open(route: &Route, rule: String) -> Prediction {
    Prediction {
        filter: "open",
        route: Some(route.name.to_string()),
        entry: Some(route.entry),
        action: "allow".into(),
        mechanism: None,
        rule,
        place: None,
        agreement: Agreement::NotCompared,
    }
}

/// Whether this kernel has the x32 ABI: an x32 `getpid` answers ENOSYS without it.
fn x32_present() -> bool {
    // SAFETY: getpid takes no arguments; an unknown number only returns an error.
    unsafe { libc::syscall(libc::SYS_getpid | libc::c_long::from(X32_SYSCALL_BIT)) >= 0 }
}

fn action_name(action: Action) -> String {
    match action {
        Action::Allow => "allow".into(),
        Action::Log => "log".into(),
        Action::Notify => "notify".into(),
        Action::Trace => "trace".into(),
        Action::Errno(e) => format!("errno({})", errno_name(e)),
        Action::Trap => "trap".into(),
        Action::KillThread => "kill-thread".into(),
        Action::KillProcess => "kill-process".into(),
    }
}

fn errno_name(e: u16) -> String {
    if e == 0 {
        return "0".into();
    }
    let errno = nix::errno::Errno::from_raw(i32::from(e));
    if errno == nix::errno::Errno::UnknownErrno {
        format!("E{e}")
    } else {
        format!("{errno:?}")
    }
}

impl Filter {
    /// Every gating call of `route` passes, or the first one that does not.
    fn route(&self, route: &Route) -> Result<(), Judged> {
        for call in route.calls {
            let judged = self.call(route.entry, call);
            if !self.passes(judged.action) {
                return Err(judged);
            }
        }
        Ok(())
    }

    /// A trace rule lets a call through to a process that may ptrace a child of its
    /// own (the runner retries under its own tracer).
    fn passes(&self, action: Action) -> bool {
        action.lets_through() || (action == Action::Trace && self.may_trace())
    }

    fn may_trace(&self) -> bool {
        ["ptrace", "fork"].iter().all(|name| {
            let call = Call {
                syscall: name,
                args: &[],
            };
            self.call(Entry::X86_64, &call).action.lets_through()
        })
    }

    /// The whole filter, compiled at the first call of any name judged.
    fn whole(&self) -> &Result<Compiled, String> {
        self.whole.get_or_init(|| {
            compile::compile_parts(&self.seccomp, &self.seccomp, self.style)
                .map_err(|e| e.to_string())
        })
    }

    /// The compiled filter, compiled at the first call; an error where libseccomp
    /// refuses the profile (the runtime's own libseccomp will too).
    fn compiled(&self) -> &Result<Compiled, String> {
        self.compiled.get_or_init(|| {
            compile::compile_parts(&routes_only(&self.seccomp), &self.seccomp, self.style)
                .map_err(|e| e.to_string())
        })
    }

    fn call(&self, entry: Entry, call: &Call) -> Judged {
        let (arch, x32) = match entry {
            Entry::X86_64 => (AUDIT_ARCH_X86_64, false),
            Entry::I386 => (AUDIT_ARCH_I386, false),
            Entry::X32 => (AUDIT_ARCH_X86_64, true),
        };
        let mut args = [0u64; 6];
        for (i, v) in call.args {
            if let Some(slot) = args.get_mut(usize::from(*i)) {
                *slot = *v;
            }
        }
        let action = match (
            compile::syscall_number(call.syscall, arch, x32),
            self.compiled(),
        ) {
            (Some(nr), Ok(compiled)) => compiled
                .action(arch, nr, args)
                .unwrap_or(Action::KillProcess),
            // Not reached: `predict` makes no prediction from a refused profile.
            (Some(_), Err(_)) => Action::KillProcess,
            // The entry has no such call: nothing gets through it.
            (None, _) => Action::Errno(libc::ENOSYS.unsigned_abs() as u16),
        };
        Judged {
            action,
            call: call.syscall,
            entry,
            args: call.args.to_vec(),
        }
    }

    /// The prediction for a route the filter stops at the call `judged`.
    fn closed(&self, route: &Route, judged: &Judged) -> Prediction {
        let (rule, place) = self.deciding_rule(judged);
        Prediction {
            filter: "closed",
            route: Some(route.name.to_string()),
            entry: Some(route.entry),
            action: action_name(judged.action),
            mechanism: Some(self.seen_as(judged.action)),
            rule,
            place,
            agreement: Agreement::NotCompared,
        }
    }

    /// What the probe sees of `action`.
    fn seen_as(&self, action: Action) -> String {
        match action {
            Action::Errno(0) => "fake-success".into(),
            Action::Errno(_) if !self.errno_honoured => "EPERM".into(),
            Action::Errno(e) => errno_name(e),
            Action::Trace => "ENOSYS".into(),
            Action::Trap | Action::KillThread | Action::KillProcess => "SIGSYS".into(),
            Action::Allow | Action::Log | Action::Notify => "none".into(),
        }
    }

    /// Where the line that leaves `route` open is written: the rule that lets one of
    /// its calls through by name (the first such call), else the default action.
    fn open_place(&self, route: &Route) -> Option<Place> {
        let decided: Vec<(String, Option<Place>)> = route
            .calls
            .iter()
            .map(|c| self.deciding_rule_of(&self.call(route.entry, c)))
            .collect();
        decided
            .iter()
            .find(|(rule, place)| place.is_some() && rule.contains("syscalls["))
            .or_else(|| decided.iter().find(|(_, place)| place.is_some()))
            .and_then(|(_, place)| place.clone())
    }

    fn open_reason(&self, route: &Route) -> String {
        let traced = route
            .calls
            .iter()
            .any(|c| self.call(route.entry, c).action == Action::Trace);
        let calls: Vec<&str> = route.calls.iter().map(|c| c.syscall).collect();
        if traced {
            format!(
                "SCMP_ACT_TRACE on the way, which a process that may ptrace passes: {} ({})",
                calls.join(", "),
                route.entry.as_str()
            )
        } else {
            format!(
                "the filter lets {} through ({})",
                calls.join(", "),
                route.entry.as_str()
            )
        }
    }

    /// The rule whose action the filter returned for this call, in words, with where
    /// it is written; or the default action, or the architecture the profile lacks.
    fn deciding_rule(&self, judged: &Judged) -> (String, Option<Place>) {
        self.deciding_rule_of(judged)
    }

    /// The filter's answer in words; an errno this runtime replaces says so.
    fn answer_name(&self, action: Action) -> String {
        match action {
            Action::Errno(e) if !self.errno_honoured && i32::from(e) != libc::EPERM => {
                "errno(EPERM): this runtime ignores errnoRet".into()
            }
            _ => action_name(action),
        }
    }

    /// Where the profile lists its architectures (`archMap` or `architectures`).
    fn architectures_place(&self) -> Option<Place> {
        self.places
            .key("archMap")
            .or_else(|| self.places.key("architectures"))
            .cloned()
    }

    fn deciding_rule_of(&self, judged: &Judged) -> (String, Option<Place>) {
        let on = format!("{} on {}", judged.call, judged.entry.as_str());
        if judged.entry != Entry::X86_64 && !self.architectures_honoured && is_kill(judged.action) {
            return (
                format!("{on}: this runtime ignores the profile's architectures, and a filter of the native one alone kills calls from another entry"),
                self.architectures_place(),
            );
        }
        if judged.entry == Entry::I386 && !self.i386_listed && is_kill(judged.action) {
            return (
                format!("{on}: the profile does not list the x86 architecture, so libseccomp's filter kills any call from it"),
                self.architectures_place(),
            );
        }
        let found = self
            .seccomp
            .syscalls()
            .iter()
            .flatten()
            .enumerate()
            .find(|(_, rule)| {
                rule.names().iter().any(|n| n == judged.call)
                    && self.rule_action(rule) == judged.action
                    && conditions_hold(rule, &judged.args)
            });
        match found {
            Some((i, rule)) => {
                let source = self.sources.get(i).copied().unwrap_or(i);
                let place = self.places.rules.get(source).cloned();
                let args = describe_args(rule);
                (
                    format!(
                        "{on}: syscalls[{source}] ({}{args}) answers {}",
                        rule.names().join(", "),
                        self.answer_name(judged.action)
                    ),
                    place,
                )
            }
            None if self.default_action() == judged.action => (
                format!(
                    "{on}: no rule lets it through; the default action answers {}",
                    self.answer_name(judged.action)
                ),
                self.places.default_action.clone(),
            ),
            None if judged.action == Action::Errno(libc::ENOSYS.unsigned_abs() as u16) => (
                format!("{on}: newer than any call the profile names, so the runtime answers ENOSYS (or the entry has no such call)"),
                None,
            ),
            None => (
                format!("{on}: the filter answers {}", action_name(judged.action)),
                None,
            ),
        }
    }

    fn rule_action(&self, rule: &LinuxSyscall) -> Action {
        to_action(
            rule.action(),
            rule.errno_ret().or(self.seccomp.default_errno_ret()),
        )
    }

    fn default_action(&self) -> Action {
        to_action(
            self.seccomp.default_action(),
            self.seccomp.default_errno_ret(),
        )
    }
}

fn is_kill(action: Action) -> bool {
    matches!(
        action,
        Action::KillThread | Action::KillProcess | Action::Trap
    )
}

fn to_action(action: LinuxSeccompAction, errno: Option<u32>) -> Action {
    use LinuxSeccompAction as A;
    match action {
        A::ScmpActKill | A::ScmpActKillThread => Action::KillThread,
        A::ScmpActKillProcess => Action::KillProcess,
        A::ScmpActTrap => Action::Trap,
        A::ScmpActErrno => Action::Errno(errno.map_or(libc::EPERM.unsigned_abs() as u16, |e| {
            u16::try_from(e).unwrap_or(u16::MAX)
        })),
        A::ScmpActTrace => Action::Trace,
        A::ScmpActAllow => Action::Allow,
        A::ScmpActLog => Action::Log,
        A::ScmpActNotify => Action::Notify,
    }
}

/// Whether the rule's argument conditions hold for a call with these argument values
/// (arguments the route does not name are 0). Conditions are ANDed, unless two name
/// the same argument (then each is a rule of its own: ORed), as runc adds them.
fn conditions_hold(rule: &LinuxSyscall, given: &[(u8, u64)]) -> bool {
    let Some(args) = rule.args().as_ref().filter(|a| !a.is_empty()) else {
        return true;
    };
    let value = |i: usize| {
        given
            .iter()
            .find(|(k, _)| usize::from(*k) == i)
            .map_or(0, |(_, v)| *v)
    };
    let holds = |a: &oci_spec::runtime::LinuxSeccompArg| {
        use oci_spec::runtime::LinuxSeccompOperator as O;
        let v = value(a.index());
        match a.op() {
            O::ScmpCmpNe => v != a.value(),
            O::ScmpCmpLt => v < a.value(),
            O::ScmpCmpLe => v <= a.value(),
            O::ScmpCmpEq => v == a.value(),
            O::ScmpCmpGe => v >= a.value(),
            O::ScmpCmpGt => v > a.value(),
            O::ScmpCmpMaskedEq => v & a.value() == a.value_two().unwrap_or(0),
        }
    };
    let mut indices: Vec<usize> = args.iter().map(|a| a.index()).collect();
    indices.sort_unstable();
    if indices.windows(2).any(|w| w[0] == w[1]) {
        args.iter().any(holds)
    } else {
        args.iter().all(holds)
    }
}

fn describe_args(rule: &LinuxSyscall) -> String {
    let Some(args) = rule.args().as_ref().filter(|a| !a.is_empty()) else {
        return String::new();
    };
    let parts: Vec<String> = args
        .iter()
        .map(|a| {
            use oci_spec::runtime::LinuxSeccompOperator as O;
            let op = match a.op() {
                O::ScmpCmpNe => "!=",
                O::ScmpCmpLt => "<",
                O::ScmpCmpLe => "<=",
                O::ScmpCmpEq => "==",
                O::ScmpCmpGe => ">=",
                O::ScmpCmpGt => ">",
                O::ScmpCmpMaskedEq => {
                    return format!(
                        "arg{} & {:#x} == {:#x}",
                        a.index(),
                        a.value(),
                        a.value_two().unwrap_or(0)
                    )
                }
            };
            format!("arg{} {op} {}", a.index(), a.value())
        })
        .collect();
    format!(", {}", parts.join(", "))
}

impl Predictor {
    /// The prediction for the step of `observed`, compared with it.
    pub fn judge(&self, observed: &Verdict) -> Option<Prediction> {
        let mut p = self.predict(&observed.step())?;
        p.agreement = match (agreement(&p, observed), self.sandbox) {
            // gVisor serves no i386 or x32 entry: its kernel answers such a call
            // whatever the filter says.
            (Agreement::Unexplained(why), Some(kernel)) if p.entry != Some(Entry::X86_64) => {
                Agreement::Quirk(format!(
                    "{kernel} has no {} entry; its kernel answers the call, not the filter ({why})",
                    p.entry.map_or("such", Entry::as_str)
                ))
            }
            (a, _) => a,
        };
        Some(p)
    }
}

fn agreement(p: &Prediction, v: &Verdict) -> Agreement {
    let seen = v.mechanism.as_ref().map(Mechanism::to_string);
    match (p.filter, v.outcome) {
        ("open" | "none", Outcome::Escaped | Outcome::Contained) => Agreement::Agrees,
        ("open" | "none", Outcome::Blocked) if seen.as_deref() == Some("SIGSYS") => {
            Agreement::Unexplained("killed by SIGSYS, though no filter stops every route".into())
        }
        ("open" | "none", Outcome::Blocked) => Agreement::Beyond(format!(
            "the filter lets it through; {} stopped it",
            seen.unwrap_or_else(|| "something else".into())
        )),
        ("closed", Outcome::Escaped) => Agreement::Unexplained(format!(
            "escaped via {}, though the filter stops every route ({})",
            v.route.as_deref().unwrap_or("a route"),
            p.rule
        )),
        ("closed", Outcome::Contained) => {
            Agreement::Quirk("reached inside the sandbox kernel, past the filter".into())
        }
        ("closed", Outcome::Blocked) if seen == p.mechanism => Agreement::Agrees,
        // A host.* probe finds nothing of the host's to reach (a namespace of the
        // container's own, no device, a memory limit) before it makes its call.
        ("closed", Outcome::Blocked)
            if matches!(
                seen.as_deref(),
                Some("private-namespace" | "not-exposed" | "memory-limit")
            ) =>
        {
            Agreement::Beyond(format!(
                "{} stopped it before its call reached the filter, which stops it too",
                seen.unwrap_or_default()
            ))
        }
        ("closed", Outcome::Blocked) => Agreement::Unexplained(format!(
            "blocked with {}, where the filter answers {}",
            seen.unwrap_or_else(|| "no mechanism".into()),
            p.mechanism.as_deref().unwrap_or("?")
        )),
        _ => Agreement::NotCompared,
    }
}

#[cfg(test)]
mod tests;
