//! Integrity: every file a manifest names is checked against its recorded size and checksum
//! before it is parsed or mapped, so a damaged file is an error naming it, never a wrong answer;
//! `verified.json` spares re-hashing files whose stat fields have not changed.

use super::manifest::{FileSum, Meta};
use crate::error::Error;
use anyhow::{Context, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::path::Path;

/// Size and XXH3-64 of a file, read through a 1 MiB buffer: hashing a large vector file through a
/// memory map would count every page of it in the process's resident memory.
pub fn file_sum(path: &Path) -> Result<FileSum> {
    use std::io::Read;
    let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = xxhash_rust::xxh3::Xxh3::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let got = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(got) => got,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        hasher.update(&buf[..got]);
        bytes += got as u64;
    }
    Ok(FileSum { bytes, xxh3: format!("{:016x}", hasher.digest()) })
}

/// `verified.json`: files whose content was hashed and matched the manifest, each with the stat
/// fields that change whenever its content does (device, inode, size, mtime, ctime), as git's
/// index does. While a file's stat fields are unchanged it is not hashed again, so opening a large
/// index costs a `stat` per file instead of reading hundreds of megabytes. ctime cannot be set from
/// user space, and a file is recorded only once its ctime is `STAMP_AFTER` in the past, so a write
/// landing within the same clock tick as the recording cannot go unnoticed ("racy git"). A missing,
/// unreadable or unwritable stamp only means hashing again.
const VERIFIED: &str = "verified.json";
pub(super) const STAMP_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Stamp {
    xxh3: String,
    dev: u64,
    ino: u64,
    bytes: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    #[cfg(unix)]
    fn of(path: &Path, xxh3: &str) -> Option<Stamp> {
        use std::os::unix::fs::MetadataExt;
        let m = fs::metadata(path).ok()?;
        Some(Stamp {
            xxh3: xxh3.to_string(),
            dev: m.dev(),
            ino: m.ino(),
            bytes: m.size(),
            mtime_ns: m.mtime() as i128 * 1_000_000_000 + m.mtime_nsec() as i128,
            ctime_ns: m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128,
        })
    }

    #[cfg(not(unix))]
    fn of(_path: &Path, _xxh3: &str) -> Option<Stamp> {
        None
    }

    /// Old enough to be recorded: its ctime is `settle` or more before now.
    fn settled(&self, settle: std::time::Duration) -> bool {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i128).unwrap_or(0);
        self.ctime_ns + (settle.as_nanos() as i128) <= now
    }
}

/// Checks every file of `meta` against its size and checksum, hashing only those whose stat fields
/// changed since they were last found good. Returns the names of the files it hashed (the others
/// were found good before, unchanged since).
pub(super) fn verify_files(dir: &Path, meta: &Meta, settle: std::time::Duration) -> Result<BTreeSet<String>> {
    let known = read_stamps(dir);
    let checked: Vec<(String, Option<Stamp>, bool)> = meta
        .files
        .par_iter()
        .map(|(name, want)| {
            let path = dir.join(name);
            let before = Stamp::of(&path, &want.xxh3);
            if before.is_some() && before.as_ref() == known.get(name) {
                return Ok((name.clone(), before, false));
            }
            verify_file(dir, name, want)?;
            let after = Stamp::of(&path, &want.xxh3);
            // Recorded only if nothing touched the file while it was hashed.
            let stamp = after.filter(|a| Some(a) == before.as_ref() && a.settled(settle));
            Ok((name.clone(), stamp, true))
        })
        .collect::<Result<_>>()?;
    let hashed: BTreeSet<String> = checked.iter().filter(|c| c.2).map(|c| c.0.clone()).collect();
    let stamps: BTreeMap<String, Stamp> = checked.into_iter().filter_map(|(name, s, _)| s.map(|s| (name, s))).collect();
    if stamps != known {
        write_stamps(dir, &stamps);
    }
    Ok(hashed)
}

/// The files found good, by name (none when the file is missing or does not parse).
fn read_stamps(dir: &Path) -> BTreeMap<String, Stamp> {
    fs::read(dir.join(VERIFIED)).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// Replaces `verified.json` (through a file of this process's own, renamed over it).
fn write_stamps(dir: &Path, stamps: &BTreeMap<String, Stamp>) {
    let tmp = dir.join(format!("{VERIFIED}.tmp.{}", std::process::id()));
    if let Ok(json) = serde_json::to_vec(stamps) {
        // Best effort (it only saves the next reader some hashing), but never a stray file:
        // on a full disk the write fails after creating it.
        if fs::write(&tmp, json).is_err() || fs::rename(&tmp, dir.join(VERIFIED)).is_err() {
            let _ = fs::remove_file(&tmp);
        }
    }
}

/// The size and checksum of a vectors file the writer has just finished, recorded in
/// `verified.json` as found good when its stat fields held still while it was read and are old
/// enough (the rule `verify_files` follows), so the first open after a large run does not read
/// the vectors again (1.5 s of 1.9 at a million passages). Only vectors files: a store is checked
/// against the manifest's counts when a reader hashes it, and graphs are written just before.
/// The record is best effort: a lost one only means hashing again.
pub(super) fn sum_and_vouch(dir: &Path, name: &str, settle: std::time::Duration) -> Result<FileSum> {
    let path = dir.join(name);
    let before = Stamp::of(&path, "");
    let sum = file_sum(&path)?;
    if let (Some(mut before), Some(after)) = (before, Stamp::of(&path, &sum.xxh3)) {
        before.xxh3 = sum.xxh3.clone();
        if after == before && after.settled(settle) {
            let mut known = read_stamps(dir);
            known.insert(name.to_string(), after);
            write_stamps(dir, &known);
        }
    }
    Ok(sum)
}

/// Forgets every file found good (best effort): a check after hashing failed, so a file the stamp
/// vouches for must be looked at again by the next reader, not trusted by its stat fields.
pub(super) fn forget_verified(dir: &Path) {
    let _ = fs::remove_file(dir.join(VERIFIED));
}

/// A file of a committed index matches what the manifest recorded: same size, same checksum.
fn verify_file(dir: &Path, name: &str, want: &FileSum) -> Result<()> {
    let path = dir.join(name);
    let got = match file_sum(&path) {
        Ok(s) => s,
        Err(e) if e.root_cause().downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) => {
            return Err(e.context(Missing(path.display().to_string())));
        }
        Err(e) => return Err(e),
    };
    if got.bytes != want.bytes {
        return Err(Error::damaged(&path, format!("{} bytes, the manifest says {} (truncated or overwritten)", got.bytes, want.bytes)));
    }
    if got.xxh3 != want.xxh3 {
        return Err(Error::damaged(&path, format!("checksum {} differs from the manifest's {} (the file was altered)", got.xxh3, want.xxh3)));
    }
    Ok(())
}

/// A file the manifest names is gone: a writer may have committed twice while this reader opened.
#[derive(Debug, thiserror::Error)]
#[error("{0} is missing")]
pub(super) struct Missing(pub String);

#[cfg(test)]
mod tests {
    use super::super::manifest::{tests::meta_with, SegmentMeta};
    use super::*;

    /// A manifest of one segment whose three files are written in `dir` (their sums left to the
    /// test).
    fn one_segment(dir: &Path) -> Meta {
        let m = meta_with(vec![SegmentMeta { id: 0, documents: 1, rows: 2, deleted: vec![] }], 2);
        for (i, name) in m.segments[0].files().iter().enumerate() {
            fs::write(dir.join(name), vec![i as u8 + 1; 5000]).unwrap();
        }
        m
    }

    #[test]
    fn verified_files_are_not_hashed_again_until_they_change() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = one_segment(dir.path());
        for name in m.segments[0].files() {
            let sum = file_sum(&dir.path().join(&name)).unwrap();
            m.files.insert(name, sum);
        }
        let settle = std::time::Duration::ZERO;
        assert_eq!(verify_files(dir.path(), &m, settle).unwrap().len(), 3, "first open hashes every file");
        assert_eq!(verify_files(dir.path(), &m, settle).unwrap().len(), 0, "unchanged files are trusted by their stat fields");
        // Same size, one byte altered, a clock tick later: the stat fields change, the hash catches it.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let victim = dir.path().join(m.segments[0].vectors_file());
        let mut bytes = fs::read(&victim).unwrap();
        bytes[2500] ^= 0xff;
        fs::write(&victim, &bytes).unwrap();
        let err = verify_files(dir.path(), &m, settle).unwrap_err();
        assert!(matches!(Error::find(&err), Some(Error::Damaged { .. })) && format!("{err:#}").contains("seg-0.f32"), "{err:#}");
        // A stamp that does not parse is ignored, never trusted.
        bytes[2500] ^= 0xff;
        fs::write(&victim, &bytes).unwrap();
        fs::write(dir.path().join(VERIFIED), b"{not json").unwrap();
        assert_eq!(verify_files(dir.path(), &m, settle).unwrap().len(), 3);
        // Files too fresh to be recorded are hashed every time.
        fs::remove_file(dir.path().join(VERIFIED)).unwrap();
        assert_eq!(verify_files(dir.path(), &m, std::time::Duration::from_secs(3600)).unwrap().len(), 3);
        assert_eq!(verify_files(dir.path(), &m, std::time::Duration::from_secs(3600)).unwrap().len(), 3);
    }

    #[test]
    fn a_vectors_file_the_writer_hashed_is_not_hashed_again_by_the_first_reader() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = one_segment(dir.path());
        let settle = std::time::Duration::ZERO;
        let vectors = m.segments[0].vectors_file();
        for name in m.segments[0].files() {
            let sum = if name == vectors { sum_and_vouch(dir.path(), &name, settle).unwrap() } else { file_sum(&dir.path().join(&name)).unwrap() };
            m.files.insert(name, sum);
        }
        let hashed = verify_files(dir.path(), &m, settle).unwrap();
        assert!(hashed.len() == 2 && !hashed.contains(&vectors), "{hashed:?}");
        // Too fresh to vouch for: nothing recorded, the reader hashes it.
        fs::remove_file(dir.path().join(VERIFIED)).unwrap();
        sum_and_vouch(dir.path(), &vectors, std::time::Duration::from_secs(3600)).unwrap();
        assert!(verify_files(dir.path(), &m, settle).unwrap().contains(&vectors));
        // Altered after the writer vouched for it: the stat fields differ, the hash catches it.
        fs::remove_file(dir.path().join(VERIFIED)).unwrap();
        sum_and_vouch(dir.path(), &vectors, settle).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        fs::write(dir.path().join(&vectors), vec![9u8; 5000]).unwrap();
        let err = verify_files(dir.path(), &m, settle).unwrap_err();
        assert!(matches!(Error::find(&err), Some(Error::Damaged { .. })), "{err:#}");
    }
}
