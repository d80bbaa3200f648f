//! Host cases for `kernel.*`, `namespace.*` and `ipc.*`.

use super::Case;

pub fn cases() -> Vec<Case> {
    Vec::new()
}
