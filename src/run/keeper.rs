//! The network namespace of a bridge run under docker, which joins a namespace only by
//! container (`--network container:NAME`), never by path as the OCI runtimes and
//! podman (`ns:PATH`) do. A keeper container of the run's image holds it: started
//! detached with no network, its only process waits (`breakout-probe keep`). The run
//! builds its bridge in that namespace and every probe container joins the keeper.
//!
//! The keeper is listed in the run's ledger like any container, so a harness that dies
//! leaves it to the next run's sweep; otherwise dropping [`Keeper`] removes it.

use std::path::{Path, PathBuf};

use crate::runtime::{Runtime, RuntimeError};

#[derive(Debug)]
pub struct Keeper {
    runtime: Runtime,
    state_root: PathBuf,
    id: String,
    pid: u32,
}

impl Keeper {
    /// Starts the keeper as container `id` of `image`; `hostname` gives it the name
    /// the probe containers would have had (docker allows none beside a joined
    /// network).
    pub fn start(
        runtime: &Runtime,
        state_root: &Path,
        id: String,
        image: &str,
        probe_bin: &Path,
        hostname: bool,
    ) -> Result<Keeper, RuntimeError> {
        let mut keeper = Keeper {
            runtime: runtime.clone(),
            state_root: state_root.to_path_buf(),
            id,
            pid: 0,
        };
        // From here the guard removes what the engine may have made, also when the
        // start or the pid lookup fails.
        keeper.pid = runtime.engine_keeper(state_root, &keeper.id, image, probe_bin, hostname)?;
        Ok(keeper)
    }

    /// The container's name, for `--network container:NAME`.
    pub fn name(&self) -> &str {
        &self.id
    }

    /// The host pid of its process, whose network namespace the bridge is built in.
    pub fn pid(&self) -> u32 {
        self.pid
    }
}

impl Drop for Keeper {
    fn drop(&mut self) {
        self.runtime
            .remove_leftover_container(&self.state_root, &self.id);
    }
}
