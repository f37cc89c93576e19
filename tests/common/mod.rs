//! Shared by the integration tests: the real model (fetched once into the user cache if missing)
//! and a `semsearch` command bound to it.
#![allow(dead_code)]

pub mod http;
pub mod pg;

use semsearch::model::{ModelInfo, ModelLocation};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub fn model_location() -> ModelLocation {
    static LOC: OnceLock<ModelLocation> = OnceLock::new();
    LOC.get_or_init(|| {
        let explicit = std::env::var_os("SEMSEARCH_MODEL_DIR").map(PathBuf::from);
        let loc = ModelLocation::resolve(explicit.as_deref()).expect("model location");
        loc.ensure(true).expect("the model must be present or fetchable: run `semsearch model fetch`");
        loc
    })
    .clone()
}

pub fn model_info() -> ModelInfo {
    ModelInfo::read(&model_location()).expect("model info")
}

pub fn semsearch(index: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("semsearch").unwrap();
    cmd.env("SEMSEARCH_MODEL_DIR", &model_location().dir).env_remove("SEMSEARCH_INDEX").arg("--index").arg(index);
    cmd
}

/// A `semsearch` child process on `index` (std's Command, for tests that kill it or run two at
/// once; assert_cmd's waits for the process).
pub fn spawn_semsearch(index: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("semsearch"));
    cmd.env("SEMSEARCH_MODEL_DIR", &model_location().dir).env_remove("SEMSEARCH_INDEX").arg("--index").arg(index);
    cmd
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copy the sample articles into `dir/news` and return that path.
pub fn sample_corpus(dir: &Path) -> PathBuf {
    let dest = dir.join("news");
    std::fs::create_dir_all(&dest).unwrap();
    for e in std::fs::read_dir(repo().join("examples/news")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dest.join(e.file_name())).unwrap();
    }
    dest
}

/// Copy a folder tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Copy the analyst's folder (`examples/analyst`: Markdown notes, saved web pages, a JSONL export,
/// one-line briefs) into `dir/analyst` and return that path.
pub fn analyst_folder(dir: &Path) -> PathBuf {
    let dest = dir.join("analyst");
    copy_dir(&repo().join("examples/analyst"), &dest);
    dest
}

pub fn json_lines(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out).lines().map(|l| serde_json::from_str(l).expect("stdout line is JSON")).collect()
}

/// Runs `cmd`, asserts it exited 0 (a failed run must never compare equal to another failed
/// run's empty output), and returns its stdout.
pub fn ok_stdout(cmd: &mut assert_cmd::Command) -> Vec<u8> {
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// A search's outcome is one of two, never an error: exit 0 with results (JSON lines), or exit 1
/// with nothing on stdout and the reason on stderr.
pub fn results_or_a_reason(out: &std::process::Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => assert!(!json_lines(&out.stdout).is_empty(), "{what}: exit 0 without results"),
        Some(1) => {
            assert!(out.stdout.is_empty(), "{what}: exit 1 with output");
            assert!(stderr.lines().any(|l| l.starts_with("semsearch: ") && l.len() > 20), "{what}: exit 1 without a reason: {stderr:?}");
        }
        code => panic!("{what}: exit {code:?}: {stderr}"),
    }
}

/// A shared labeled set beside the repository (`../shared/data/NAME`; CI always has them, a
/// user's clone may not: then the caller skips, and this says so).
pub fn shared(name: &str) -> Option<PathBuf> {
    let p = repo().join("..").join("shared").join("data").join(name);
    if p.is_dir() {
        Some(p)
    } else if std::env::var_os("CI").is_some() {
        // CI always has shared/ beside the clone: its absence there is a failure, not a skip.
        panic!("{} is absent under CI; the labeled sets must be beside the repository", p.display());
    } else {
        eprintln!("SKIPPED: {} is absent (it is only beside the repository on the project's machines)", p.display());
        None
    }
}

/// Chromium, for the page tests and for making PDFs; `None` (skipped, saying so) only outside CI.
pub fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("SEMSEARCH_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| ["/usr/bin/chromium", "/usr/bin/chromium-browser"].iter().map(PathBuf::from).find(|p| p.exists()));
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI needs Chromium for the page test: apt-get install chromium");
        eprintln!("skipped: no Chromium (install it with `apt-get install chromium`, or set SEMSEARCH_CHROMIUM)");
    }
    found
}

/// Chromium, headless, on `url` with enough virtual time for the page's own requests; `extra`
/// says what to produce (`--dump-dom`, `--screenshot=…`). Returns stdout.
pub fn headless(browser: &Path, profile: &Path, url: &str, extra: &[&str]) -> String {
    let out = std::process::Command::new(browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"])
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--virtual-time-budget=15000", "--window-size=900,1100"])
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs");
    assert!(out.status.success(), "chromium failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
