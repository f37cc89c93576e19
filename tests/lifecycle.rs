//! The index's life cycle as users meet it, on the real model: the notes-folder workflow (`index .`
//! from the folder that holds the index, under every spelling of that folder), and a run that
//! cannot open the index for a reason other than damage (too few open files) changing nothing.

use crate::common;

use common::{json_lines, model_location, ok_stdout};
use std::path::Path;

/// `semsearch` run from `cwd` with the default index (`.semsearch` there).
fn in_folder(cwd: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("semsearch").unwrap();
    cmd.env("SEMSEARCH_MODEL_DIR", &model_location().dir).env_remove("SEMSEARCH_INDEX").current_dir(cwd);
    cmd
}

fn write_notes(notes: &Path) {
    std::fs::create_dir_all(notes).unwrap();
    for (name, text) in [
        ("lighthouse.txt", "The lighthouse keeper trims the lamp wick every evening at dusk.\n"),
        ("bees.txt", "Honey bee colonies swarm in late spring when the hive gets crowded.\n"),
        ("glacier.txt", "Glacier melt raises the river level every July in the valley.\n"),
        ("trams.txt", "The tram lines reopen on Monday after the storm damage is repaired.\n"),
    ] {
        std::fs::write(notes.join(name), text).unwrap();
    }
}

fn summary(cmd: &mut assert_cmd::Command) -> serde_json::Value {
    serde_json::from_slice(&ok_stdout(cmd)).unwrap()
}

#[test]
fn notes_folder_index_dot_sees_deletes_renames_and_changes_under_every_spelling() {
    for spelling in [".", "./", "absolute", "symlink"] {
        let tmp = tempfile::tempdir().unwrap();
        let notes = tmp.path().join("notes");
        write_notes(&notes);
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&notes, &link).unwrap();
        let arg = match spelling {
            "absolute" => notes.display().to_string(),
            "symlink" => link.display().to_string(),
            s => s.to_string(),
        };
        let first = summary(in_folder(&notes).args(["index", "--json", &arg]));
        assert_eq!((first["documents"].as_u64(), first["documents_added"].as_u64()), (Some(4), Some(4)), "{spelling}: {first}");

        std::fs::remove_file(notes.join("lighthouse.txt")).unwrap();
        std::fs::rename(notes.join("bees.txt"), notes.join("honey-bees.txt")).unwrap();
        std::fs::write(notes.join("glacier.txt"), "Glacier melt now floods the valley road every July.\n").unwrap();
        // `status` predicts it, then `index` does it.
        let status = summary(in_folder(&notes).args(["status", "--json", &arg]));
        assert_eq!(status["would"]["removed"], serde_json::json!(["bees.txt", "lighthouse.txt"]), "{spelling}: {status}");
        let s = summary(in_folder(&notes).args(["index", "--json", &arg]));
        let counts = ["documents_removed", "documents_renamed", "documents_updated", "documents_unchanged", "documents_added"].map(|k| s[k].as_u64().unwrap());
        assert_eq!(counts, [1, 1, 1, 1, 0], "{spelling}: {s}");
        assert_eq!(s["passages_embedded"], 1, "{spelling}: only the changed note is embedded");
        assert_eq!(s["documents"], 3);

        // The deleted note's text is never returned, however it is asked for.
        let hits = json_lines(&ok_stdout(in_folder(&notes).args(["ask", "--all", "lighthouse keeper lamp wick at dusk", "--json", "-k", "10"])));
        assert_eq!(hits.len(), 3, "{spelling}");
        assert!(hits.iter().all(|h| h["path"] != "lighthouse.txt" && !h["text"].as_str().unwrap().contains("lighthouse")), "{spelling}: {hits:?}");
        let bees = json_lines(&ok_stdout(in_folder(&notes).args(["ask", "when do bee colonies swarm?", "--json", "-k", "1"])));
        assert_eq!(bees[0]["path"], "honey-bees.txt", "{spelling}");
        // From a subfolder's point of view nothing changes: the same keys, the same answers.
        let again = summary(in_folder(&notes).args(["index", "--json", &arg]));
        assert_eq!((again["documents_unchanged"].as_u64(), again["passages_embedded"].as_u64()), (Some(3), Some(0)), "{spelling}");
    }
}

/// `semsearch index one` with the open-files limit lowered to `limit` in the child.
fn index_with_open_files(index: &Path, limit: u32, folder: &Path) -> std::process::Output {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
        .arg(assert_cmd::cargo::cargo_bin("semsearch"))
        .args(["--index"])
        .arg(index)
        .args(["-q", "index"])
        .arg(folder)
        .env("SEMSEARCH_MODEL_DIR", &model_location().dir)
        .env_remove("SEMSEARCH_INDEX")
        .output()
        .unwrap()
}

#[test]
fn too_few_open_files_fails_cleanly_and_keeps_every_document() {
    let tmp = tempfile::tempdir().unwrap();
    let (one, two) = (tmp.path().join("one"), tmp.path().join("two"));
    for (dir, topic) in [(&one, "harbour cranes"), (&two, "orchard apples")] {
        std::fs::create_dir_all(dir).unwrap();
        for i in 0..12 {
            std::fs::write(dir.join(format!("{i:02}.txt")), format!("Report {i} on {topic}: item {i} of the {topic} survey.\n")).unwrap();
        }
    }
    let index = tmp.path().join("idx");
    common::semsearch(&index).arg("index").arg(&one).assert().success();
    common::semsearch(&index).arg("index").arg(&two).assert().success();
    let question = ["ask", "orchard apples survey", "--json", "-k", "30", "--per-doc", "0", "--no-fold"];
    let before = ok_stdout(common::semsearch(&index).args(question));
    assert_eq!(json_lines(&before).len(), 24);
    let meta_before = std::fs::read(index.join("meta.json")).unwrap();

    // From a limit too low to do anything up to one that suffices: every run either fails with a
    // clear error and exit 2, or succeeds; the index answers as before after each.
    let mut failed = 0;
    let mut succeeded_at = None;
    for limit in 4..=64u32 {
        let out = index_with_open_files(&index, limit, &one);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked") && !stderr.contains("rebuilding"), "limit {limit}: {stderr}");
        match out.status.code() {
            Some(0) => {
                succeeded_at = Some(limit);
            }
            code => {
                assert_eq!(code, Some(2), "limit {limit}: {stderr}");
                assert!(stderr.starts_with("semsearch: error: ") && stderr.lines().count() == 1, "limit {limit}: one clear line: {stderr}");
                failed += 1;
            }
        }
        assert_eq!(std::fs::read(index.join("meta.json")).unwrap(), meta_before, "limit {limit}: nothing changed (nothing to change)");
        assert_eq!(ok_stdout(common::semsearch(&index).args(question)), before, "limit {limit}: {stderr}");
        if succeeded_at.is_some() {
            break;
        }
    }
    assert!(failed > 0, "some limit was low enough to fail");
    assert!(succeeded_at.is_some(), "a limit of 64 open files suffices");
}

#[test]
fn from_a_subfolder_the_index_above_is_found_and_status_lists_what_is_indexed() {
    let tmp = tempfile::tempdir().unwrap();
    let notes = tmp.path().join("notes");
    write_notes(&notes);
    let sub = notes.join("drafts");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("ferry.txt"), "The night ferry to the island was cancelled because of fog.\n").unwrap();
    in_folder(&notes).args(["-q", "index", "."]).assert().success();
    // From the subfolder: the index in the folder above answers, with its paths.
    let hits = json_lines(&ok_stdout(in_folder(&sub).args(["ask", "why was the ferry cancelled?", "--json", "-k", "1"])));
    assert_eq!(hits[0]["path"], "drafts/ferry.txt");
    // PATH:LINE relative to the subfolder names the same document.
    let rel = json_lines(&ok_stdout(in_folder(&sub).args(["related", "ferry.txt:1", "--json", "-k", "2"])));
    assert!(rel.iter().all(|h| h["path"] != "drafts/ferry.txt") && rel.len() == 2, "{rel:?}");
    assert!(!sub.join(".semsearch").exists(), "nothing is created in the subfolder");
    // status --files lists every indexed document.
    let s: serde_json::Value = serde_json::from_slice(&ok_stdout(in_folder(&sub).args(["status", "--json", "--files"]))).unwrap();
    assert!(s["index"].as_str().unwrap().ends_with("notes/.semsearch"), "{s}");
    let mut paths: Vec<&str> = s["files"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    paths.sort();
    assert_eq!(paths, ["bees.txt", "drafts/ferry.txt", "glacier.txt", "lighthouse.txt", "trams.txt"]);
    let human = String::from_utf8(ok_stdout(in_folder(&sub).args(["status", "--files"]))).unwrap();
    assert!(human.contains("  drafts/ferry.txt  \"The night ferry to the island was cancelled because of fog.\"  1 passages"), "{human}");
    // Where no folder above holds an index, the current one is used (and `ask` says there is none).
    let elsewhere = tempfile::tempdir().unwrap();
    in_folder(elsewhere.path()).args(["ask", "anything"]).assert().code(2).stderr(predicates::str::contains("no index in .semsearch"));
}
