//! Killing `index` with SIGKILL at 20 points leaves an index that opens and answers exactly as
//! before the run or as after it, and a follow-up `index` completes with no passage lost or
//! duplicated.

use crate::common;

use common::{copy_dir, json_lines, sample_corpus, semsearch};
use std::path::Path;
use std::time::Instant;

fn passages(index: &Path) -> u64 {
    let out = semsearch(index).args(["status", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["passages"].as_u64().unwrap()
}

#[test]
fn sigkill_at_twenty_points_never_leaves_a_half_index() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = sample_corpus(dir.path());
    // 2,000 one-line snippets: 2,000 documents of one short passage each.
    let briefs = dir.path().join("briefs.txt");
    let lines: String = (0..2000).map(|i| format!("Harbour {i} reports cargo ship number {} arriving.\n", i * 7)).collect();
    std::fs::write(&briefs, lines).unwrap();

    let before = dir.path().join("before");
    semsearch(&before).arg("index").arg(&corpus).assert().success();
    let query = ["ask", "--all", "cargo ship arriving at the harbour", "--json", "-k", "5"];
    let answers = |index: &Path| {
        let out = semsearch(index).args(query).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "the index must open and answer: {}", String::from_utf8_lossy(&out.stderr));
        json_lines(&out.stdout)
    };
    let before_answers = answers(&before);
    let before_passages = passages(&before);

    // The uninterrupted run, timed, gives the after-state.
    let after = dir.path().join("after");
    copy_dir(&before, &after);
    let t = Instant::now();
    semsearch(&after).args(["-q", "index"]).arg(&briefs).assert().success();
    let full = t.elapsed();
    let after_answers = answers(&after);
    let after_passages = passages(&after);
    assert_eq!(after_passages, before_passages + 2000);
    assert_ne!(before_answers, after_answers);

    let (mut saw_before, mut saw_after) = (0, 0);
    for point in 0..20u32 {
        let index = dir.path().join(format!("kill{point}"));
        copy_dir(&before, &index);
        // Sixteen kills spread over the uninterrupted run's length, then four well past it, so that
        // some land after the commit even when a loaded machine makes this run slower than that one.
        let fraction = if point < 16 { point as f64 / 16.0 } else { [1.25, 1.5, 2.0, 3.0][point as usize - 16] };
        let delay = full.mul_f64(fraction);
        let mut child = common::spawn_semsearch(&index).args(["-q", "index"]).arg(&briefs).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        child.wait().unwrap();

        let now = answers(&index);
        if now == before_answers {
            saw_before += 1;
            assert_eq!(passages(&index), before_passages);
        } else {
            assert_eq!(now, after_answers, "kill at {delay:?}: answers are neither the before- nor the after-state");
            saw_after += 1;
            assert_eq!(passages(&index), after_passages);
        }
        // The next run finishes the work: nothing lost, nothing twice.
        semsearch(&index).args(["-q", "index"]).arg(&briefs).assert().success();
        assert_eq!(passages(&index), after_passages, "kill at {delay:?}");
        assert_eq!(answers(&index), after_answers);
        // No leftovers of the killed run beyond the kept previous generation (verified.json, the
        // cache of files already checked, and warnings.json, the last run's warnings, are not part
        // of a generation).
        let names: Vec<String> = std::fs::read_dir(&index).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        let files = names.iter().filter(|n| !["verified.json", "warnings.json"].contains(&n.as_str())).count();
        assert!(files <= 8, "kill at {delay:?}: {files} files in the index directory: {names:?}");
        assert!(!names.iter().any(|n| n.contains(".tmp")), "kill at {delay:?}: temporary files left: {names:?}");
    }
    assert!(saw_before > 0 && saw_after > 0, "kills landed before ({saw_before}) and after ({saw_after}) the commit");
}
