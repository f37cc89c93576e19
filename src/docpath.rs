//! Paths as the index stores them, in one place: every path a user types (to `index`, `status`,
//! `related PATH:LINE`) becomes a stored key here, and nowhere else.
//!
//! A key is the path relative to the folder that holds the index directory (`notes/a.md`), with
//! `/` separators, so an index answers with the same paths whatever the current directory; that
//! folder itself is `.`; a path outside it is kept absolute; stdin is `<stdin>`. A path is
//! resolved through symbolic links first, so `./notes`, `/abs/notes` and a link to it are one key.

use std::path::{Component, Path, PathBuf};

/// The key of the folder holding the index: every relative key lies under it.
pub const ROOT: &str = ".";
/// The key of a document read from standard input.
pub const STDIN: &str = "<stdin>";

/// Turns filesystem paths into stored keys for one index.
#[derive(Debug, Clone)]
pub struct PathKeys {
    /// The folder holding the index directory, absolute and resolved.
    root: PathBuf,
}

impl PathKeys {
    /// Keys for the index in `index_dir` (which need not exist yet).
    pub fn for_index(index_dir: &Path) -> PathKeys {
        let abs = resolve(index_dir);
        PathKeys { root: abs.parent().map(Path::to_path_buf).unwrap_or(abs) }
    }

    /// The folder keys are relative to.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The stored key of a path as the user or a directory walk gave it.
    pub fn key(&self, path: &Path) -> String {
        if path.as_os_str() == "-" {
            return STDIN.to_string();
        }
        let abs = resolve(path);
        match abs.strip_prefix(&self.root) {
            Ok(rel) if rel.as_os_str().is_empty() => ROOT.to_string(),
            Ok(rel) => slashed(rel),
            Err(_) => abs.to_string_lossy().into_owned(),
        }
    }

    /// Where a stored key lives on disk.
    pub fn path_of(&self, key: &str) -> PathBuf {
        if key == ROOT {
            self.root.clone()
        } else {
            self.root.join(key)
        }
    }
}

/// Whether the document stored under `key` lies under the path stored as `root` (whole path
/// components: `news` covers `news/a.txt`, not `newsletter/a.txt`; `.` covers every relative key).
pub fn covers(root: &str, key: &str) -> bool {
    if root == ROOT {
        return key != STDIN && !Path::new(key).is_absolute();
    }
    key == root || key.strip_prefix(root).is_some_and(|rest| rest.starts_with('/'))
}

/// `path` made absolute and resolved through symbolic links; a path that does not exist (a
/// deleted file named in `related PATH:LINE`) is resolved as far as it exists, the rest kept
/// lexically (`.` and `..` folded).
fn resolve(path: &Path) -> PathBuf {
    if let Ok(p) = std::fs::canonicalize(path) {
        return p;
    }
    let abs = if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir().map(|c| c.join(path)).unwrap_or_else(|_| path.to_path_buf()) };
    let mut out = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    // The longest prefix that exists, resolved; the rest appended.
    let mut existing = out.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name().map(|n| n.to_os_string()), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name);
                existing = parent.to_path_buf();
            }
            _ => return out,
        }
    }
    let mut resolved = std::fs::canonicalize(&existing).unwrap_or(existing);
    for name in rest.into_iter().rev() {
        resolved.push(name);
    }
    resolved
}

fn slashed(rel: &Path) -> String {
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_cover_whole_path_components() {
        assert!(covers("news", "news/x.txt"));
        assert!(covers("a.txt", "a.txt"));
        assert!(!covers("news", "newsletter/x.txt"));
        assert!(!covers("a.txt", "b.txt"));
        assert!(covers(".", "news/x.txt"));
        assert!(covers(".", "a.txt"));
        assert!(!covers(".", "/elsewhere/a.txt"));
        assert!(!covers(".", STDIN));
        assert!(covers("/elsewhere", "/elsewhere/a.txt"));
    }

    #[test]
    fn every_spelling_of_a_folder_is_one_key() {
        let tmp = tempfile::tempdir().unwrap();
        let notes = tmp.path().join("notes");
        std::fs::create_dir_all(notes.join("sub")).unwrap();
        std::fs::write(notes.join("sub/a.txt"), "x").unwrap();
        let keys = PathKeys::for_index(&notes.join(".semsearch"));
        assert_eq!(keys.key(&notes), ROOT);
        assert_eq!(keys.key(&notes.join(".")), ROOT);
        assert_eq!(keys.key(&notes.join("sub/../sub/a.txt")), "sub/a.txt");
        #[cfg(unix)]
        {
            let link = tmp.path().join("link");
            std::os::unix::fs::symlink(&notes, &link).unwrap();
            assert_eq!(keys.key(&link), ROOT);
            assert_eq!(keys.key(&link.join("sub/a.txt")), "sub/a.txt");
            // An index reached through the link stores the same keys.
            assert_eq!(PathKeys::for_index(&link.join(".semsearch")).key(&notes.join("sub/a.txt")), "sub/a.txt");
        }
        // A deleted file still has its key (related PATH:LINE on a file removed since).
        assert_eq!(keys.key(&notes.join("sub/gone.txt")), "sub/gone.txt");
        assert_eq!(keys.key(Path::new("-")), STDIN);
        let outside = keys.key(tmp.path());
        assert!(Path::new(&outside).is_absolute(), "{outside}");
        assert_eq!(keys.path_of("sub/a.txt"), keys.root().join("sub/a.txt"));
    }
}
