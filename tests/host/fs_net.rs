//! Host cases for `fs.*` and `net.*` (those whose effect stays off the host).

use super::{Case, Deny, Expect};

pub fn cases() -> Vec<Case> {
    vec![
        Case::unfiltered("net.tcp-connect", Expect::Escaped),
        Case::denied(
            "net.tcp-connect",
            "deny-connect",
            vec![Deny::errno(libc::SYS_connect, libc::EACCES)],
            Expect::Blocked("EACCES"),
        ),
    ]
}
