//! Outside evidence: what the harness sees of an escape from outside the container
//! (a marker file on the host side, the canary's receipt, the payload's nonce), which
//! turns a probe's own word into a witnessed verdict.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::bundle;
use crate::container::Settings;
use crate::protocol::{self, Key, Purpose};
use crate::report::{Evidence, Outcome, Verdict};
use breakout_wire::catalog::WitnessKind;
use breakout_wire::names::Leftover;

use super::canary::Canary;
use super::netns::{self, BridgeNet};
use super::RunError;

/// Starts the canary where the container's network reaches it (loopback, or the
/// bridge's far namespace), expecting this run's network steps' tokens and nothing else.
/// Without network steps there is none to start.
pub(super) fn start_canary(
    bridge: Option<&BridgeNet>,
    key: &Key,
    all_steps: &[String],
) -> Result<Option<Canary>, RunError> {
    let expected: std::collections::HashSet<String> = all_steps
        .iter()
        .filter(|step| {
            crate::catalog::find(protocol::split_step(step).0).is_some_and(|p| {
                matches!(
                    p.witness,
                    WitnessKind::CanaryStream | WitnessKind::CanaryDatagram
                )
            })
        })
        .map(|step| protocol::canary_token(key, step))
        .collect();
    if expected.is_empty() {
        return Ok(None);
    }
    let canary = match bridge {
        Some(net) => {
            let (tcp, udp) = net.in_canary_ns(|| Canary::bind(netns::CANARY_IP))?;
            Canary::from_sockets(tcp, udp, expected)
        }
        None => Canary::start(expected),
    };
    canary.map(Some).map_err(RunError::Canary)
}

/// Host-side witness places of one run; removes what the probes left there on drop.
pub(super) struct Witness<'a> {
    /// The nonce of each container so far: each container gets its own, so that what a
    /// program of the image learns in one container (the nonce is on its command line)
    /// names nothing in the next one, on the rootfs or a volume it could tamper with.
    pub(super) nonces: std::cell::RefCell<Vec<String>>,
    /// The run's secret: witnesses are made from it (see `protocol::Key`).
    pub(super) key: Key,
    pub(super) rootfs_writes: PathBuf,
    pub(super) settings: &'a Settings,
    pub(super) canary: Option<Canary>,
}

impl Witness<'_> {
    fn marker_name(nonce: &str) -> String {
        Leftover::Marker.name(nonce)
    }

    /// Takes the marker of `step` out of `dir` (the container's, so through
    /// [`bundle::inroot`]: a link, FIFO or device there is never followed or read);
    /// true if it was a regular file holding the step's marker token.
    fn take_marker(&self, dir: &Path, nonce: &str, step: &str) -> bool {
        let expected = self.key.token(Purpose::Marker, step);
        bundle::inroot::take_witness_file(dir, &Self::marker_name(nonce))
            .is_some_and(|content| content == expected.as_bytes())
    }

    /// Takes the marker of `step` out of `dir` inside the running container, through the
    /// held runner's root on the host (`/proc/PID/root`, resolved in that root).
    fn take_marker_in(
        &self,
        init: super::nsview::Init,
        dir: &str,
        nonce: &str,
        step: &str,
    ) -> bool {
        let expected = self.key.token(Purpose::Marker, step);
        let root = Path::new("/proc").join(init.pid.to_string()).join("root");
        bundle::inroot::take_witness_file_in_root(&root, dir, &Self::marker_name(nonce))
            .is_some_and(|content| content == expected.as_bytes())
    }

    /// Upgrades an escape the probe reported to witnessed where we can see its effect.
    /// What the canary must confirm is settled later ([`Witness::settle`]), by a
    /// deadline counted from when the verdict arrived: the wait overlaps with the rest
    /// of the suite instead of holding up the reading of its output.
    pub(super) fn judge(
        &self,
        verdict: Verdict,
        nonce: &str,
        payload_nonce: Option<&str>,
        arrived: Instant,
        init: Option<super::nsview::Init>,
    ) -> Judged {
        if verdict.outcome != Outcome::Escaped {
            // What the host saw where the line came in stays (a memory limit it read).
            let evidence = verdict.evidence.unwrap_or(Evidence::Reported);
            return Judged::Final(verdict.evidence(evidence));
        }
        if let Some(payload) = payload_nonce {
            return Judged::Final(if payload == nonce {
                verdict.evidence(Evidence::Witnessed)
            } else {
                Verdict {
                    outcome: Outcome::Error,
                    detail: format!(
                        "a payload printed a nonce that is not this container's: {}",
                        verdict.detail
                    ),
                    ..verdict
                }
            });
        }
        let kind =
            crate::catalog::find(&verdict.probe).map_or(WitnessKind::Reported, |p| p.witness);
        let witnessed = match (kind, verdict.target.as_deref()) {
            (WitnessKind::CanaryStream | WitnessKind::CanaryDatagram, _) => {
                // A connection the probe made has reached the canary already. The UDP
                // probe reports escaped after the canary's answer (recorded before it
                // is sent) or after 500 ms of silence (the datagram had that long), so
                // the short wait only covers the canary's thread catching up.
                let patience = if kind == WitnessKind::CanaryDatagram {
                    Duration::from_millis(10)
                } else {
                    Duration::from_secs(2)
                };
                let token = protocol::canary_token(&self.key, &verdict.step());
                if self
                    .canary
                    .as_ref()
                    .is_some_and(|c| c.saw(&token, Duration::ZERO))
                {
                    true
                } else if self.canary.is_some() {
                    return Judged::Pending(PendingWitness {
                        verdict,
                        token,
                        deadline: arrived + patience,
                    });
                } else {
                    false
                }
            }
            (WitnessKind::RootfsMarker, _) => {
                self.take_marker(&self.rootfs_writes, nonce, &verdict.step())
            }
            // Seen on the host already, where the line came in (`follow::namespace_witness`).
            (WitnessKind::Namespace | WitnessKind::HostNamespace | WitnessKind::MemoryLimit, _) => {
                verdict.evidence == Some(Evidence::Witnessed)
            }
            // Through the runner's root, or for a volume on its host side, so that a
            // node the runner left for us is never left on the host.
            (WitnessKind::MountDevice, Some(target)) => {
                let name = Leftover::Dev.name(nonce);
                let seen = match (init, self.settings.host_source(target)) {
                    (Some(init), _) => bundle::inroot::take_char_device_in_root(
                        &Path::new("/proc").join(init.pid.to_string()).join("root"),
                        target,
                        &name,
                    ),
                    (None, Some(source)) => {
                        bundle::inroot::take_char_device_in_root(source, "/", &name)
                    }
                    (None, None) => None,
                };
                seen == Some((1, 3))
            }
            (WitnessKind::DevShmMarker, _) => init
                .is_some_and(|init| self.take_marker_in(init, "/dev/shm", nonce, &verdict.step())),
            (WitnessKind::MountMarker, Some(target)) => match self.settings.host_source(target) {
                Some(source) => self.take_marker(source, nonce, &verdict.step()),
                // A tmpfs exists only in the container: seen through the held runner's
                // root on the host, where there is one.
                None => init
                    .is_some_and(|init| self.take_marker_in(init, target, nonce, &verdict.step())),
            },
            _ => false,
        };
        Judged::Final(Self::conclude(verdict, witnessed))
    }

    /// Waits for the canary until the pending verdict's deadline, and concludes it.
    pub(super) fn settle(&self, pending: PendingWitness) -> Verdict {
        let left = pending.deadline.saturating_duration_since(Instant::now());
        let witnessed = self
            .canary
            .as_ref()
            .is_some_and(|c| c.saw(&pending.token, left));
        Self::conclude(pending.verdict, witnessed)
    }

    fn conclude(verdict: Verdict, witnessed: bool) -> Verdict {
        if witnessed {
            verdict.evidence(Evidence::Witnessed)
        } else if crate::catalog::find(&verdict.probe).is_some_and(|p| {
            matches!(
                p.witness,
                WitnessKind::CanaryDatagram | WitnessKind::CanaryStream
            )
        }) {
            // Sending a datagram succeeds whether or not anything can receive it, and a
            // filter can fake a connect's success: only the canary's receipt of the
            // token makes either an escape.
            Verdict {
                outcome: Outcome::Blocked,
                mechanism: Some("not-received".into()),
                detail: format!("{}; the canary never received it", verdict.detail),
                ..verdict
            }
            .evidence(Evidence::Witnessed)
        } else {
            verdict.evidence(Evidence::Reported)
        }
    }
}

/// A verdict the harness has judged, or one waiting for the canary's word.
pub(super) enum Judged {
    Final(Verdict),
    Pending(PendingWitness),
}

/// An escape the canary has not confirmed yet, to settle by `deadline`.
pub(super) struct PendingWitness {
    verdict: Verdict,
    token: String,
    deadline: Instant,
}

impl Drop for Witness<'_> {
    fn drop(&mut self) {
        // Everything a probe may leave on a mount when its container dies mid-step.
        for nonce in self.nonces.borrow().iter() {
            for volume in &self.settings.volumes {
                for kind in Leftover::ON_MOUNTS {
                    let _ = std::fs::remove_file(kind.path(&volume.source, nonce));
                }
            }
        }
    }
}
