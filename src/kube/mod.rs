//! Kubernetes manifests as input (`--pod FILE`): a Pod, or a workload that holds a pod
//! template (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob), in a YAML
//! file of one or more documents. One container is picked (`--container NAME`, or the
//! only one) and its security context, with the pod's, becomes the sandbox
//! ([`map`]); what cannot be honoured on one machine is listed, never dropped.
//!
//! Reading: the API's own types (`k8s-openapi`), so a field is read exactly as the
//! API server defines it. YAML: `yaml_serde`, the YAML organisation's maintained fork
//! of the deprecated `serde_yaml`, with the same multi-document reader and a serde
//! `Value`. Not `serde_yml` (unmaintained and unsound), `serde_norway` and
//! `serde_yaml_ng` (forks without a release for over a year), nor `serde-saphyr`
//! (maintained, but no `Value` to look at a document's `kind` before choosing its
//! type).

pub mod map;

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Container, PodSpec};
use serde_json::Value;

/// Why a manifest could not be used: exit 2, naming the file and the place.
#[derive(Debug, thiserror::Error)]
#[error("{}: {problem}", path.display())]
pub struct KubeError {
    pub path: PathBuf,
    pub problem: String,
}

/// The pod template found, where it came from, and the container picked.
#[derive(Debug, Clone)]
pub struct PodInput {
    pub path: PathBuf,
    /// `Deployment/web`, `Pod/agent`.
    pub source: String,
    pub spec: PodSpec,
    pub container: Container,
}

/// The pod template of one document, by its kind.
fn pod_template(doc: &Value) -> Option<(String, Value)> {
    let kind = doc.get("kind")?.as_str()?;
    let name = doc
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("(unnamed)");
    let spec = match kind {
        "Pod" => doc.get("spec")?,
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" => {
            doc.pointer("/spec/template/spec")?
        }
        "CronJob" => doc.pointer("/spec/jobTemplate/spec/template/spec")?,
        _ => return None,
    };
    Some((format!("{kind}/{name}"), spec.clone()))
}

/// Every document of a YAML file, as JSON values.
pub fn documents(path: &Path) -> Result<Vec<Value>, KubeError> {
    let err = |problem: String| KubeError {
        path: path.to_path_buf(),
        problem,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(format!("cannot read: {e}")))?;
    let mut docs = Vec::new();
    for (i, doc) in yaml_serde::Deserializer::from_str(&text).enumerate() {
        let value: yaml_serde::Value = serde::Deserialize::deserialize(doc)
            .map_err(|e| err(format!("document {}: {e}", i + 1)))?;
        let json = serde_json::to_value(&value)
            .map_err(|e| err(format!("document {}: not a JSON-shaped value: {e}", i + 1)))?;
        if !json.is_null() {
            docs.push(json);
        }
    }
    Ok(docs)
}

/// Reads the manifest at `path` and picks the container named `container` (or the
/// only one of the only pod template).
pub fn load(path: &Path, container: Option<&str>) -> Result<PodInput, KubeError> {
    let err = |problem: String| KubeError {
        path: path.to_path_buf(),
        problem,
    };
    let templates: Vec<(String, Value)> =
        documents(path)?.iter().filter_map(pod_template).collect();
    let wanted = |spec: &Value| -> bool {
        container.is_none_or(|name| {
            spec["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| c["name"] == name)
        })
    };
    let matching: Vec<&(String, Value)> = templates.iter().filter(|(_, s)| wanted(s)).collect();
    let (source, spec) = match matching.as_slice() {
        [one] => (*one).clone(),
        [] if templates.is_empty() => {
            return Err(err(
                "no Pod or workload with a pod template (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob) in it".into(),
            ))
        }
        [] => {
            return Err(err(format!(
                "no container named {:?} (containers: {})",
                container.unwrap_or_default(),
                container_names(&templates).join(", ")
            )))
        }
        _ => {
            return Err(err(format!(
                "{} pod templates hold it ({}): give a file with one, or --container NAME of a container only one has",
                matching.len(),
                matching.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>().join(", ")
            )))
        }
    };
    let spec: PodSpec = serde_path_to_error::deserialize(spec)
        .map_err(|e| err(format!("{source}: spec.{}: {}", e.path(), e.inner())))?;
    let picked = match container {
        Some(name) => spec.containers.iter().find(|c| c.name == name),
        None if spec.containers.len() == 1 => spec.containers.first(),
        None => {
            return Err(err(format!(
                "{source} has {} containers ({}): pick one with --container NAME",
                spec.containers.len(),
                spec.containers
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )))
        }
    };
    let picked = picked
        .cloned()
        .ok_or_else(|| err(format!("{source} has no containers")))?;
    Ok(PodInput {
        path: path.to_path_buf(),
        source,
        spec,
        container: picked,
    })
}

fn container_names(templates: &[(String, Value)]) -> Vec<String> {
    templates
        .iter()
        .flat_map(|(source, spec)| {
            spec["containers"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(move |c| c["name"].as_str().map(|n| format!("{n} ({source})")))
        })
        .collect()
}

/// A security-profiles-operator `SeccompProfile` object's `spec` as a Docker-format
/// profile (JSON), if `path` holds one: it is accepted wherever a profile is.
pub fn seccomp_profile_spec(path: &Path) -> Option<Value> {
    let docs = documents(path).ok()?;
    let doc = docs.iter().find(|d| d["kind"] == "SeccompProfile")?;
    let mut spec = doc.get("spec")?.clone();
    // The operator's own keys, which are not the profile's.
    if let Some(obj) = spec.as_object_mut() {
        obj.remove("baseProfileName");
        obj.remove("disabled");
    }
    Some(spec)
}
