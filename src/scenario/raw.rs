//! The scenario file as serde reads it, with every value checked while it is read.
//!
//! As in the profile module, checks live in `Deserialize` impls because serde_json
//! only knows where in the file it is while it reads: an error raised here carries
//! the line and column of the offending key or value, and serde_path_to_error adds
//! the key path. Checks that need several values at once run in `super::build`.

use std::fmt;
use std::marker::PhantomData;

use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

pub(crate) use crate::json::{Obj, Object};

use super::expect::{goal_named, goal_names, Expected, StartExpectation};
use crate::catalog::{self, Goal};
use crate::runtime::{RuntimeKind, RUNTIMES};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    #[serde(default)]
    pub name: Option<Name>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub profile: Option<RawProfile>,
    #[serde(default)]
    pub settings: Option<Obj<RawSettings>>,
    /// A Kubernetes manifest whose container's security context is the sandbox, in
    /// place of `profile` and `settings`.
    #[serde(default)]
    pub pod: Option<Obj<RawPod>>,
    pub runtimes: RuntimeList,
    #[serde(default)]
    pub probes: Option<Vec<Pattern>>,
    #[serde(default)]
    pub timeout: Option<Timeout>,
    #[serde(default)]
    pub expect: Option<Obj<RawExpect>>,
    /// The application to run after the probes in the same sandbox, and whether it
    /// should work.
    #[serde(default)]
    pub workload: Option<Obj<RawWorkload>>,
}

/// `workload`: `command` (absent: the image's entrypoint and command), `check` (a
/// service's), `expect` (`works`, the default, or `fails`), `deadline` in seconds.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawWorkload {
    #[serde(default)]
    pub command: Option<Vec<String>>,
    #[serde(default)]
    pub check: Option<Vec<String>>,
    #[serde(default)]
    pub expect: Option<crate::workload::Status>,
    #[serde(default)]
    pub deadline: Option<Timeout>,
}

impl Object for RawWorkload {
    const EXPECTING: &'static str = "a workload object such as {\"command\": [\"/app\"], \"check\": [\"wget\", \"-q\", \"http://127.0.0.1:8080/\"], \"expect\": \"works\"}";
}

/// `settings`: the `run` flags, in `docker run` vocabulary. `null` means absent.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSettings {
    #[serde(default)]
    pub read_only: Option<bool>,
    #[serde(default)]
    pub cap_add: Option<Vec<String>>,
    #[serde(default)]
    pub cap_drop: Option<Vec<String>>,
    #[serde(default)]
    pub volumes: Option<Vec<String>>,
    #[serde(default)]
    pub tmpfs: Option<Vec<String>>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub network: Option<String>,
    #[serde(default)]
    pub security_opt: Option<Vec<String>>,
    #[serde(default)]
    pub rootfs: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub privileged: Option<bool>,
    #[serde(default)]
    pub pid: Option<String>,
    #[serde(default)]
    pub ipc: Option<String>,
    #[serde(default)]
    pub uts: Option<String>,
    #[serde(default)]
    pub pids_limit: Option<i64>,
    #[serde(default)]
    pub memory: Option<String>,
    #[serde(default)]
    pub sysctls: Option<Vec<String>>,
    #[serde(default)]
    pub devices: Option<Vec<String>>,
    #[serde(default)]
    pub userns: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExpect {
    #[serde(default)]
    pub start: Option<StartExpectation>,
    #[serde(default)]
    pub default: Option<Expected>,
    #[serde(default)]
    pub goals: Option<UniqueMap<GoalKey, Expected>>,
    #[serde(default)]
    pub probes: Option<UniqueMap<StepKey, Expected>>,
    #[serde(default)]
    pub runtimes: Option<UniqueMap<String, Obj<RawRuntimeExpect>>>,
}

/// `expect.runtimes.NAME`: the same as `expect` without `runtimes`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRuntimeExpect {
    #[serde(default)]
    pub start: Option<StartExpectation>,
    #[serde(default)]
    pub default: Option<Expected>,
    #[serde(default)]
    pub goals: Option<UniqueMap<GoalKey, Expected>>,
    #[serde(default)]
    pub probes: Option<UniqueMap<StepKey, Expected>>,
}

impl Object for RawScenario {
    const EXPECTING: &'static str = "a scenario object";
}

impl Object for RawSettings {
    const EXPECTING: &'static str = "a settings object such as {\"read_only\": true}";
}

impl Object for RawPod {
    const EXPECTING: &'static str =
        "a pod object such as {\"file\": \"deployment.yaml\", \"container\": \"app\"}";
}

impl Object for RawExpect {
    const EXPECTING: &'static str =
        "an expect object with \"start\", \"default\", \"goals\", \"probes\" or \"runtimes\"";
}

impl Object for RawRuntimeExpect {
    const EXPECTING: &'static str =
        "an object with \"start\", \"default\", \"goals\" or \"probes\"";
}

/// A scenario's name: it becomes part of trial names (`NAME::RUNTIME`).
pub(crate) struct Name(pub String);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        check_name(&name).map_err(de::Error::custom)?;
        Ok(Name(name))
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.contains("::")
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "scenario name {name:?} must be non-empty, without whitespace and without \"::\" \
             (trials are named NAME::RUNTIME)"
        ));
    }
    Ok(())
}

/// `profile`: a path, a list of paths (the first that exists wins), `"unconfined"`,
/// or `{"inline": {...}}`. `null` (as `Option`) means no filter.
/// `pod`: the manifest (relative to the scenario file) and how to read it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPod {
    pub file: String,
    #[serde(default)]
    pub container: Option<String>,
    #[serde(default)]
    pub seccomp_root: Option<String>,
}

pub(crate) enum RawProfile {
    Unconfined,
    Path(String),
    Paths(Vec<String>),
    /// The profile object; validated against the text once the scenario is read.
    Inline(serde_json::Value),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InlineProfile {
    inline: ProfileObject,
}

struct ProfileObject(serde_json::Value);

impl<'de> Deserialize<'de> for ProfileObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(d)? {
            v @ serde_json::Value::Object(_) => Ok(ProfileObject(v)),
            _ => Err(de::Error::custom(
                "expected a seccomp profile object such as {\"defaultAction\": \"SCMP_ACT_ALLOW\"}",
            )),
        }
    }
}

struct ProfilePath(String);

impl<'de> Deserialize<'de> for ProfilePath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let path = String::deserialize(d)?;
        if path.is_empty() {
            return Err(de::Error::custom("the profile path is empty"));
        }
        Ok(ProfilePath(path))
    }
}

impl<'de> Deserialize<'de> for RawProfile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawProfile;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a profile path, a list of paths (the first that exists is used), \
                     \"unconfined\", or {\"inline\": {...}}",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawProfile, E> {
                match v {
                    "unconfined" => Ok(RawProfile::Unconfined),
                    "" => Err(E::custom("the profile path is empty")),
                    _ => Ok(RawProfile::Path(v.to_string())),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawProfile, A::Error> {
                let mut paths = Vec::new();
                while let Some(ProfilePath(p)) = seq.next_element()? {
                    paths.push(p);
                }
                if paths.is_empty() {
                    return Err(de::Error::custom(
                        "the list of profile paths is empty: name at least one, or leave \
                         \"profile\" out for no filter",
                    ));
                }
                Ok(RawProfile::Paths(paths))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawProfile, A::Error> {
                let inline = InlineProfile::deserialize(MapAccessDeserializer::new(map))?;
                Ok(RawProfile::Inline(inline.inline.0))
            }
        }
        d.deserialize_any(V)
    }
}

/// `runtimes`: a non-empty list of runtime specs.
pub(crate) struct RuntimeList(pub Vec<String>);

impl<'de> Deserialize<'de> for RuntimeList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RuntimeList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of runtimes such as [\"runc\", \"runsc-oci\"]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RuntimeList, A::Error> {
                let mut specs = Vec::new();
                while let Some(RuntimeSpec(s)) = seq.next_element()? {
                    specs.push(s);
                }
                if specs.is_empty() {
                    return Err(de::Error::custom(format!(
                        "the list of runtimes is empty: name at least one of {}",
                        runtime_names()
                    )));
                }
                Ok(RuntimeList(specs))
            }
        }
        d.deserialize_seq(V)
    }
}

pub(crate) fn runtime_names() -> String {
    RUNTIMES
        .iter()
        .map(|k| k.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One runtime: a name from the quirks table, or `NAME=PATH[,FLAG...]` for a binary
/// of one of its families (as `--runtime` takes it). Nothing is looked up on the
/// host: a scenario is valid on a machine that lacks the runtime.
struct RuntimeSpec(String);

impl<'de> Deserialize<'de> for RuntimeSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spec = String::deserialize(d)?;
        check_runtime_spec(&spec).map_err(de::Error::custom)?;
        Ok(RuntimeSpec(spec))
    }
}

fn check_runtime_spec(spec: &str) -> Result<(), String> {
    let Some((name, rest)) = spec.split_once('=') else {
        if RuntimeKind::named(spec).is_some() {
            return Ok(());
        }
        if spec.contains(',') {
            return Err(format!(
                "{spec:?}: write one runtime per list entry, e.g. [\"runc\", \"crun\"]"
            ));
        }
        return Err(format!(
            "unknown runtime {spec:?} (known: {}; or NAME=PATH[,FLAG...] for a binary of one \
             of those families)",
            runtime_names()
        ));
    };
    if name.is_empty() || name.contains(',') || name.chars().any(char::is_whitespace) {
        return Err(format!(
            "{spec:?}: expected NAME=PATH[,FLAG...] with a NAME of its own"
        ));
    }
    let mut parts = rest.split(',');
    let path = parts.next().unwrap_or_default();
    if path.is_empty() {
        return Err(format!(
            "{spec:?}: expected NAME=PATH[,FLAG...]: the path is empty"
        ));
    }
    let flags: Vec<String> = parts
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect();
    let file_name = std::path::Path::new(path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if RuntimeKind::named(name)
        .or_else(|| RuntimeKind::infer(&file_name, &flags))
        .is_none()
    {
        return Err(format!(
            "{spec:?}: cannot tell which runtime family {path} belongs to; name the file after \
             runc, crun, runsc or youki"
        ));
    }
    Ok(())
}

/// A probe glob pattern that matches at least one catalog probe.
pub(crate) struct Pattern(pub String);

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let pattern = String::deserialize(d)?;
        let glob = globset::Glob::new(&pattern)
            .map_err(|e| de::Error::custom(format!("invalid probe pattern {pattern:?}: {e}")))?
            .compile_matcher();
        if !catalog::CATALOG.iter().any(|p| glob.is_match(p.id)) {
            return Err(de::Error::custom(format!(
                "probe pattern {pattern:?} matches no probe (see `breakout probes`)"
            )));
        }
        Ok(Pattern(pattern))
    }
}

/// Seconds each container may run, as `--timeout` takes them.
pub(crate) struct Timeout(pub u64);

impl<'de> Deserialize<'de> for Timeout {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Timeout;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("seconds, an integer from 1 to 3600")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timeout, E> {
                if (1..=3600).contains(&v) {
                    Ok(Timeout(v))
                } else {
                    Err(E::custom(format!(
                        "timeout {v} is out of range: expected seconds from 1 to 3600"
                    )))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timeout, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!(
                        "timeout {v} is out of range: expected seconds from 1 to 3600"
                    ))),
                }
            }
        }
        d.deserialize_u64(V)
    }
}

/// A goal name as a key of `goals`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct GoalKey(pub Goal);

impl<'de> Deserialize<'de> for GoalKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        goal_named(&name).map(GoalKey).ok_or_else(|| {
            de::Error::custom(format!(
                "unknown goal {name:?}, expected one of {}",
                goal_names().join(", ")
            ))
        })
    }
}

/// A key of `probes`: a catalog probe id, or a step `id@/target` of a per-mount
/// probe. A trailing `/` on the target is dropped, as mount points are written
/// without it.
pub(crate) struct StepKey {
    /// `id` or `id@/target`, the target without a trailing `/`.
    pub key: String,
    /// As written in the file, to find it there again.
    pub written: String,
}

impl PartialEq for StepKey {
    fn eq(&self, other: &StepKey) -> bool {
        self.key == other.key
    }
}

impl<'de> Deserialize<'de> for StepKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let key = String::deserialize(d)?;
        let (id, target) = crate::protocol::split_step(&key);
        let Some(info) = catalog::find(id) else {
            let hint = match catalog::CATALOG.iter().find(|p| p.technique == id) {
                Some(p) => format!(" (did you mean {:?}?)", p.id),
                None => String::new(),
            };
            return Err(de::Error::custom(format!(
                "unknown probe {id:?}{hint}: expected a probe id from `breakout probes`, \
                 or ID@/MOUNT for a per-mount probe"
            )));
        };
        let Some(target) = target else {
            return Ok(StepKey {
                key: key.clone(),
                written: key,
            });
        };
        if !info.per_mount {
            return Err(de::Error::custom(format!(
                "{key:?}: {id} does not run once per mount, so it has no @target steps; \
                 write {id:?}"
            )));
        }
        let trimmed = target.trim_end_matches('/');
        if !target.starts_with('/') || trimmed.is_empty() {
            return Err(de::Error::custom(format!(
                "{key:?}: the target after '@' must be a volume or tmpfs mount point such as \
                 /scratch"
            )));
        }
        Ok(StepKey {
            key: format!("{id}@{trimmed}"),
            written: key.clone(),
        })
    }
}

impl KeyText for StepKey {
    fn text(&self) -> String {
        self.key.clone()
    }
}

impl KeyText for GoalKey {
    fn text(&self) -> String {
        self.0.as_str().to_string()
    }
}

impl KeyText for String {
    fn text(&self) -> String {
        self.clone()
    }
}

/// How a map key names itself in a duplicate-key message.
pub(crate) trait KeyText {
    fn text(&self) -> String;
}

/// A JSON object read as a list of entries, in file order, refusing a key given
/// twice (serde_json would keep the last one silently).
pub(crate) struct UniqueMap<K, V>(pub Vec<(K, V)>);

impl<'de, K, V> Deserialize<'de> for UniqueMap<K, V>
where
    K: Deserialize<'de> + PartialEq + KeyText,
    V: Deserialize<'de>,
{
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<K, V>(PhantomData<(K, V)>);
        impl<'de, K, V> Visitor<'de> for Vis<K, V>
        where
            K: Deserialize<'de> + PartialEq + KeyText,
            V: Deserialize<'de>,
        {
            type Value = UniqueMap<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(K, V)> = Vec::new();
                while let Some(key) = map.next_key_seed(NewKey(&entries))? {
                    let value = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(UniqueMap(entries))
            }
        }
        d.deserialize_map(Vis(PhantomData))
    }
}

/// Reads a key and refuses it if `.0` already has it. Raised while the key is
/// read, so the error points at the second occurrence.
struct NewKey<'a, K, V>(&'a [(K, V)]);

impl<'de, K, V> DeserializeSeed<'de> for NewKey<'_, K, V>
where
    K: Deserialize<'de> + PartialEq + KeyText,
{
    type Value = K;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<K, D::Error> {
        let key = K::deserialize(d)?;
        if self.0.iter().any(|(k, _)| *k == key) {
            return Err(de::Error::custom(format!(
                "{:?} is given twice",
                key.text()
            )));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::check_runtime_spec;

    #[test]
    fn runtime_specs_follow_the_runtime_flag() {
        for ok in [
            "runc",
            "runsc-oci",
            "my=/opt/runc-1.2",
            "x=./bin/runsc,--oci-seccomp",
        ] {
            assert_eq!(check_runtime_spec(ok), Ok(()), "{ok}");
        }
        for (bad, problem) in [
            ("kata", "unknown runtime \"kata\""),
            ("runc,crun", "one runtime per list entry"),
            ("=/opt/runc", "a NAME of its own"),
            ("my=", "the path is empty"),
            ("my=/opt/kata-runtime", "cannot tell which runtime family"),
        ] {
            let err = check_runtime_spec(bad).unwrap_err();
            assert!(err.contains(problem), "{bad}: {err}");
        }
    }
}
