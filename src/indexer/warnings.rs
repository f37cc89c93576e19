//! The last `index` run's warnings, kept beside the index (`warnings.json`): the next run prints
//! only new ones (a file unchanged since is not warned about again) and `status --warnings` shows
//! them all. Advisory: written after the run commits, replaced atomically; a missing or unreadable
//! file means every warning is printed, never an error.

use crate::ingest::Warning;
use anyhow::{Context, Result};
use std::collections::HashSet;
use std::path::Path;

const FILE: &str = "warnings.json";

/// The last run's warnings, in the order they were found (none if there is no record).
pub fn read(dir: &Path) -> Vec<Warning> {
    std::fs::read(dir.join(FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// The last run's warnings as `Warning::key`s.
pub fn known(dir: &Path) -> HashSet<String> {
    read(dir).iter().map(Warning::key).collect()
}

/// Records a committed run's warnings (replacing the last run's; none: no file).
pub fn write(dir: &Path, warnings: &[Warning]) -> Result<()> {
    if warnings.is_empty() {
        return match std::fs::remove_file(dir.join(FILE)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e).with_context(|| format!("cannot remove {}", dir.join(FILE).display())),
            _ => Ok(()),
        };
    }
    let tmp = dir.join(format!("{FILE}.tmp"));
    std::fs::write(&tmp, serde_json::to_vec(warnings)?).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join(FILE)).with_context(|| format!("cannot replace {}", dir.join(FILE).display()))
}
