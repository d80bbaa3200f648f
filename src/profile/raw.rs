//! The profile file as serde reads it, with every value checked while it is read.
//!
//! Checks live in `Deserialize` impls rather than in a pass after parsing because
//! serde_json only knows where in the file it is while it reads: an error raised
//! here carries the line and column of the offending value, and serde_path_to_error
//! adds the key path (`syscalls[3].action`).
//!
//! Key names follow moby's `Seccomp`, `Architecture`, `Syscall` and `Filter` types
//! (which embed the runtime-spec `LinuxSeccomp`/`LinuxSyscall`). Unknown keys are
//! rejected where Docker ignores them: a typo such as `syscals` would otherwise
//! silently drop every rule. JSON `null` is accepted wherever Go's decoder accepts
//! it, and means "absent".

use std::fmt;
use std::marker::PhantomData;

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

pub(crate) use crate::json::{Obj, Object};

use super::names::{docker_arch_hint, is_known_syscall, syscall_suggestion, Named, DOCKER_ARCHES};

/// Highest syscall argument index: the kernel passes six arguments (0 to 5).
const MAX_ARG_INDEX: u64 = 5;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawProfile {
    pub default_action: Known<LinuxSeccompAction>,
    #[serde(default)]
    pub default_errno_ret: Option<Errno>,
    /// Podman's profiles (containers/common) also name the errno; it is used only
    /// where no number is given, as containers/common does.
    #[serde(default)]
    pub default_errno: Option<ErrnoName>,
    #[serde(default, deserialize_with = "architectures")]
    pub architectures: Vec<Known<Arch>>,
    #[serde(default, deserialize_with = "arch_map")]
    pub arch_map: Vec<Obj<RawArchMap>>,
    #[serde(default, deserialize_with = "flags")]
    pub flags: Vec<Known<LinuxSeccompFilterFlag>>,
    #[serde(default)]
    pub listener_path: Option<String>,
    #[serde(default)]
    pub listener_metadata: Option<String>,
    #[serde(default, deserialize_with = "rules")]
    pub syscalls: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawArchMap {
    pub architecture: Known<Arch>,
    #[serde(default, deserialize_with = "architectures")]
    pub sub_architectures: Vec<Known<Arch>>,
}

/// One entry of `syscalls`, checked as a whole once its keys are read.
pub(crate) struct RawRule {
    pub names: Vec<String>,
    pub action: LinuxSeccompAction,
    pub errno_ret: Option<u32>,
    pub args: Vec<RawArg>,
    pub comment: Option<String>,
    pub includes: RawFilter,
    pub excludes: RawFilter,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRuleFields {
    #[serde(default)]
    name: Option<SyscallName>,
    #[serde(default, deserialize_with = "names")]
    names: Vec<SyscallName>,
    action: Known<LinuxSeccompAction>,
    #[serde(default)]
    errno_ret: Option<Errno>,
    /// containers/common's errno name, used where `errnoRet` is absent.
    #[serde(default)]
    errno: Option<ErrnoName>,
    #[serde(default, deserialize_with = "args")]
    args: Vec<Obj<RawArg>>,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    includes: Option<Obj<RawFilter>>,
    #[serde(default)]
    excludes: Option<Obj<RawFilter>>,
}

impl<'de> Deserialize<'de> for RawRule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // The whole-rule checks run inside the map visit, not after it (as
        // `#[serde(try_from)]` would): serde_json then still knows the rule's
        // position and attaches it to the error.
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawRule;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a syscall rule object with \"names\" and \"action\"")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawRule, A::Error> {
                let fields = RawRuleFields::deserialize(MapAccessDeserializer::new(map))?;
                RawRule::try_from(fields).map_err(de::Error::custom)
            }
        }
        d.deserialize_map(V)
    }
}

impl TryFrom<RawRuleFields> for RawRule {
    type Error = String;

    fn try_from(raw: RawRuleFields) -> Result<RawRule, String> {
        let names = match (raw.name, raw.names.is_empty()) {
            (Some(_), false) => {
                return Err(
                    "both \"name\" and \"names\" are given; docker refuses this: \
                            use \"names\" alone"
                        .to_string(),
                )
            }
            (Some(name), true) => vec![name.0],
            (None, false) => raw.names.into_iter().map(|n| n.0).collect(),
            (None, true) => {
                return Err("the rule names no syscall: give \"names\": [...]".to_string())
            }
        };
        Ok(RawRule {
            names,
            action: raw.action.0,
            errno_ret: raw.errno_ret.map(|e| e.0).or(raw.errno.map(|e| e.0)),
            args: raw.args.into_iter().map(|a| a.0).collect(),
            comment: raw.comment,
            includes: raw.includes.map(|f| f.0).unwrap_or_default(),
            excludes: raw.excludes.map(|f| f.0).unwrap_or_default(),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawArg {
    /// Go's decoder leaves a missing index or value at 0, and so does this.
    #[serde(default)]
    pub index: ArgIndex,
    #[serde(default)]
    pub value: ArgValue,
    #[serde(default)]
    pub value_two: Option<ArgValue>,
    pub op: Known<LinuxSeccompOperator>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawFilter {
    #[serde(default, deserialize_with = "caps")]
    pub caps: Vec<Cap>,
    #[serde(default, deserialize_with = "docker_arches")]
    pub arches: Vec<DockerArch>,
    #[serde(default)]
    pub min_kernel: Option<MinKernel>,
}

impl Object for RawProfile {
    const EXPECTING: &'static str = "a seccomp profile object";
}

impl Object for RawArchMap {
    const EXPECTING: &'static str =
        "an archMap entry: {\"architecture\": ..., \"subArchitectures\": [...]}";
}

impl Object for RawArg {
    const EXPECTING: &'static str =
        "an argument comparison: {\"index\", \"value\", \"valueTwo\", \"op\"}";
}

impl Object for RawFilter {
    const EXPECTING: &'static str = "a condition object with \"caps\", \"arches\" or \"minKernel\"";
}

/// A value from one of the closed name tables in `names`.
#[derive(Clone, Copy)]
pub(crate) struct Known<T>(pub T);

impl<'de, T: Named> Deserialize<'de> for Known<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<T: Named> Visitor<'_> for V<T> {
            type Value = Known<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(T::EXPECTING)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Known<T>, E> {
                T::from_name(v).map(Known).ok_or_else(|| {
                    let hint = T::suggestion(v)
                        .map(|s| format!(" (did you mean {s}?)"))
                        .unwrap_or_default();
                    E::custom(format!(
                        "unknown {} {:?}{hint}, expected one of {}",
                        T::WHAT,
                        v,
                        T::all_names()
                    ))
                })
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

/// Reads an unsigned integer no larger than `max`, as Go's decoder does for `uint`
/// fields: negative numbers, fractions and exponents are refused.
struct Unsigned {
    expecting: &'static str,
    max: u64,
    too_big: fn(u64) -> String,
}

impl Visitor<'_> for Unsigned {
    type Value = u64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        if v > self.max {
            return Err(E::custom((self.too_big)(v)));
        }
        Ok(v)
    }
}

/// An errno name as containers/common writes it (`"errno": "EPERM"`), read as its
/// number.
pub(crate) struct ErrnoName(pub u32);

/// The errno names a seccomp profile plausibly returns, with their x86_64 numbers.
const ERRNO_NAMES: &[(&str, u32)] = &[
    ("EPERM", 1),
    ("ENOENT", 2),
    ("EINTR", 4),
    ("EIO", 5),
    ("ENXIO", 6),
    ("E2BIG", 7),
    ("EBADF", 9),
    ("EAGAIN", 11),
    ("ENOMEM", 12),
    ("EACCES", 13),
    ("EFAULT", 14),
    ("EBUSY", 16),
    ("EEXIST", 17),
    ("ENODEV", 19),
    ("EINVAL", 22),
    ("EROFS", 30),
    ("ENOSYS", 38),
    ("EOPNOTSUPP", 95),
    ("EAFNOSUPPORT", 97),
];

impl<'de> Deserialize<'de> for ErrnoName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        ERRNO_NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, number)| ErrnoName(*number))
            .ok_or_else(|| {
                de::Error::custom(format!(
                    "unknown errno name {name:?}, expected one of {}",
                    ERRNO_NAMES
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }
}

/// An errno value for `errnoRet`/`defaultErrnoRet`.
#[derive(Clone, Copy)]
pub(crate) struct Errno(pub u32);

impl<'de> Deserialize<'de> for Errno {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = d.deserialize_u64(Unsigned {
            expecting: "an errno number (a non-negative integer such as 1)",
            max: u64::from(u32::MAX),
            too_big: |v| format!("errno {v} is too large"),
        })?;
        // The visitor has bounded v by u32::MAX.
        Ok(Errno(u32::try_from(v).unwrap_or(u32::MAX)))
    }
}

#[derive(Clone, Copy, Default)]
pub(crate) struct ArgIndex(pub usize);

impl<'de> Deserialize<'de> for ArgIndex {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = d.deserialize_u64(Unsigned {
            expecting: "an argument index (an integer from 0 to 5)",
            max: MAX_ARG_INDEX,
            too_big: |v| {
                format!("argument index {v} is out of range: syscalls take arguments 0 to 5")
            },
        })?;
        // The visitor has bounded v by 5.
        Ok(ArgIndex(usize::try_from(v).unwrap_or(0)))
    }
}

#[derive(Clone, Copy, Default)]
pub(crate) struct ArgValue(pub u64);

impl<'de> Deserialize<'de> for ArgValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_u64(Unsigned {
            expecting: "an argument value (an integer from 0 to 2^64-1)",
            max: u64::MAX,
            too_big: |v| format!("value {v} is too large"),
        })
        .map(ArgValue)
    }
}

/// A syscall name that some architecture's kernel or libseccomp knows.
///
/// runc and crun skip a name libseccomp cannot resolve, so a misspelt name in a rule
/// silently denies (or allows) nothing.
pub(crate) struct SyscallName(pub String);

impl<'de> Deserialize<'de> for SyscallName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Checked in the visitor, while serde_json still knows where the string is;
        // after `String::deserialize` returns, a list has read on to the next element.
        struct V;
        impl Visitor<'_> for V {
            type Value = SyscallName;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a syscall name such as \"execve\"")
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<SyscallName, E> {
                if name.is_empty() {
                    return Err(E::custom("syscall name is empty"));
                }
                if !is_known_syscall(name) {
                    let hint = match syscall_suggestion(name) {
                        Some(known) => format!(" (did you mean {known:?}?)"),
                        None => String::new(),
                    };
                    return Err(E::custom(format!("unknown syscall {name:?}{hint}")));
                }
                Ok(SyscallName(name.to_string()))
            }
        }
        d.deserialize_str(V)
    }
}

/// A capability name in `includes.caps`/`excludes.caps`.
///
/// Docker compares these with the container's bounding set by exact string, so a
/// name that is not a capability, or is spelled "SYS_ADMIN" or "cap_sys_admin",
/// silently never matches. oci-spec's `Capability` knows every capability and
/// accepts loose spellings, so the exact spelling is whatever it writes back.
pub(crate) struct Cap(pub String);

impl<'de> Deserialize<'de> for Cap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        let canonical =
            serde_json::from_value::<Capability>(serde_json::Value::String(name.clone()))
                .ok()
                .and_then(|c| serde_json::to_value(c).ok())
                .and_then(|v| v.as_str().map(str::to_string));
        match canonical {
            Some(c) if c == name => Ok(Cap(name)),
            Some(c) => Err(de::Error::custom(format!(
                "capability {name:?} never matches: docker compares names exactly, write {c:?}"
            ))),
            None => Err(de::Error::custom(format!(
                "unknown capability {name:?}, expected a name such as \"CAP_SYS_ADMIN\""
            ))),
        }
    }
}

/// An architecture name in `includes.arches`/`excludes.arches` (Docker's spelling).
pub(crate) struct DockerArch(pub String);

impl<'de> Deserialize<'de> for DockerArch {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        if DOCKER_ARCHES.contains(&name.as_str()) {
            return Ok(DockerArch(name));
        }
        let hint = match docker_arch_hint(&name) {
            Some(docker) => format!(" (docker spells it {docker:?})"),
            None => String::new(),
        };
        Err(de::Error::custom(format!(
            "unknown architecture {name:?} in a condition{hint}, expected one of {}",
            DOCKER_ARCHES.join(", ")
        )))
    }
}

/// `minKernel`: "<kernel>.<major>", parsed as moby's `KernelVersion` does: each part
/// a decimal number up to 255, not both zero; an empty string means no condition.
pub(crate) struct MinKernel(pub Option<(u32, u32)>);

impl<'de> Deserialize<'de> for MinKernel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = MinKernel;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a kernel version string such as \"4.8\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<MinKernel, E> {
                if v.is_empty() {
                    return Ok(MinKernel(None));
                }
                parse_min_kernel(v).map(|k| MinKernel(Some(k))).ok_or_else(|| {
                    E::custom(format!(
                        "invalid kernel version {v:?}, expected \"<kernel>.<major>\" such as \"4.8\""
                    ))
                })
            }
        }
        d.deserialize_str(V)
    }
}

fn parse_min_kernel(v: &str) -> Option<(u32, u32)> {
    let (kernel, major) = v.split_once('.')?;
    let part = |s: &str| -> Option<u32> {
        // u8::from_str would also take a leading '+', which Go's ParseUint refuses.
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<u8>().ok().map(u32::from)
    };
    let version = (part(kernel)?, part(major)?);
    (version != (0, 0)).then_some(version)
}

/// Reads a JSON list, or `null` as an empty one, naming what the list holds when the
/// value is something else.
fn list<'de, D, T>(d: D, expecting: &'static str) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct V<T> {
        expecting: &'static str,
        item: PhantomData<T>,
    }
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str(self.expecting)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Vec<T>, D2::Error> {
            d.deserialize_seq(self)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            while let Some(item) = seq.next_element()? {
                out.push(item);
            }
            Ok(out)
        }
    }
    d.deserialize_option(V {
        expecting,
        item: PhantomData,
    })
}

fn architectures<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Known<Arch>>, D::Error> {
    list(
        d,
        "a list of architecture names such as [\"SCMP_ARCH_X86_64\"]",
    )
}

fn arch_map<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Obj<RawArchMap>>, D::Error> {
    list(d, "a list of archMap entries")
}

fn flags<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Known<LinuxSeccompFilterFlag>>, D::Error> {
    list(d, "a list of filter flag names")
}

fn rules<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<RawRule>, D::Error> {
    list(d, "a list of syscall rules")
}

fn names<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<SyscallName>, D::Error> {
    list(d, "a list of syscall names such as [\"execve\"]")
}

fn args<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Obj<RawArg>>, D::Error> {
    list(d, "a list of argument comparisons")
}

fn caps<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Cap>, D::Error> {
    list(d, "a list of capability names such as [\"CAP_SYS_ADMIN\"]")
}

fn docker_arches<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DockerArch>, D::Error> {
    list(d, "a list of architecture names such as [\"amd64\"]")
}

#[cfg(test)]
mod tests {
    use super::parse_min_kernel;

    #[test]
    fn min_kernel_parses_like_moby() {
        assert_eq!(parse_min_kernel("4.8"), Some((4, 8)));
        assert_eq!(parse_min_kernel("0.5"), Some((0, 5)));
        assert_eq!(parse_min_kernel("50.0"), Some((50, 0)));
        for bad in [
            "0.0", "3", ".3", "3.", "true", "3.12.1", "4.15abc", "+4.8", "256.1",
        ] {
            assert_eq!(parse_min_kernel(bad), None, "{bad:?} should be refused");
        }
    }
}
