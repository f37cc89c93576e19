//! The built binary on the sample corpus: questions and their expected passages, `related`,
//! `embed`, and bad input (errors name the file and line, exit 2, nothing corrupted).

use crate::common;

use common::{json_lines, sample_corpus, semsearch};
use predicates::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One index of the sample corpus shared by the read-only tests of this file, in f32 (the
/// reference: its rankings are the model's own).
fn sample_index() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| sample_index_in("f32")).1
}

/// The same in int8.
fn sample_index_int8() -> &'static Path {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(|| sample_index_in("int8")).1
}

fn sample_index_in(precision: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let corpus = sample_corpus(dir.path());
    let index = dir.path().join(".semsearch");
    semsearch(&index).args(["index", "--precision", precision]).arg(&corpus).assert().success();
    (dir, index)
}

/// `ask --json` in semantic mode (through `SEMSEARCH_MODE`): these questions check the model's
/// ranking of the sample articles; the default mode (hybrid) has its own tests in `search`.
fn ask(question: &str, k: usize) -> Vec<serde_json::Value> {
    ask_in(sample_index(), question, k)
}

fn ask_in(index: &Path, question: &str, k: usize) -> Vec<serde_json::Value> {
    let out = semsearch(index).env("SEMSEARCH_MODE", "semantic").args(["ask", question, "--json", "-k", &k.to_string()]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    json_lines(&out.stdout)
}

#[test]
fn questions_rank_the_answering_passage_first() {
    let cases = [
        ("How much will Alibaba invest in AI and cloud over the next three years?", "US$52.4 billion"),
        ("Which hospital put DeepSeek into its electronic medical records?", "Second Affiliated Hospital of Fujian Medical University"),
        ("Where is DeepSeek based?", "Based in Hangzhou"),
        ("How much have Alibaba shares risen this year?", "up 70%"),
        ("Who founded DeepSeek?", "Liang Wenfeng"),
        ("What AI app did Alibaba Cloud launch for iPhone users?", "QWen"),
        ("What did the Everbright Securities strategist expect other companies to do?", "Kenny Ng"),
        ("Why did the Chinese chatbot draw attention?", "fraction of the cost"),
    ];
    for (q, expected) in cases {
        let hits = ask(q, 3);
        assert_eq!(hits.len(), 3);
        let top = hits[0]["text"].as_str().unwrap();
        assert!(top.contains(expected), "{q:?}: top passage should contain {expected:?}, got {top:?}");
        // int8 moves near ties (here the founder's passage for "Who founded DeepSeek?" is second,
        // behind another DeepSeek passage); the answering passage stays in its first three.
        let hits = ask_in(sample_index_int8(), q, 3);
        assert!(hits.iter().any(|h| h["text"].as_str().unwrap().contains(expected)), "{q:?} in int8: {expected:?} not in the first three");
    }
}

#[test]
fn json_results_carry_every_field_and_point_at_the_file() {
    let hits = ask("How much will Alibaba invest in AI and cloud over the next three years?", 5);
    assert_eq!(hits.len(), 5);
    for (i, h) in hits.iter().enumerate() {
        assert_eq!(h["rank"], i + 1);
        for key in ["score", "id", "doc_id", "path", "line_start", "line_end", "title", "text", "answer"] {
            assert!(!h[key].is_null(), "missing {key}: {h}");
        }
        if i > 0 {
            assert!(hits[i - 1]["score"].as_f64() >= h["score"].as_f64(), "scores descend");
        }
        // The passage text sits at those lines of the file.
        let path = sample_index().parent().unwrap().join(h["path"].as_str().unwrap());
        let file = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = file.lines().collect();
        let (a, b) = (h["line_start"].as_u64().unwrap() as usize, h["line_end"].as_u64().unwrap() as usize);
        let span = lines[a - 1..b].join("\n");
        assert_eq!(span.trim(), h["text"].as_str().unwrap().trim(), "lines {a}-{b} of {}", path.display());
        // The answer is one sentence of the passage.
        let answer = h["answer"].as_str().unwrap();
        assert!(!answer.is_empty() && h["text"].as_str().unwrap().contains(answer));
    }
    let top = &hits[0];
    assert!(top["answer"].as_str().unwrap().contains("US$52.4 billion"), "answer sentence: {}", top["answer"]);
    assert_eq!(top["path"], "news/alibaba-ai-investment.txt");
}

#[test]
fn human_output_shows_path_line_and_answer() {
    semsearch(sample_index())
        .args(["ask", "--mode", "semantic", "How much will Alibaba invest in AI and cloud over the next three years?", "-k", "2"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("1. news/alibaba-ai-investment.txt:"))
        .stdout(predicate::str::contains(
            "> Alibaba Group Holding Ltd., co-founded by Chinese entrepreneur Jack Ma, on Monday pledged to invest US$52.4 billion",
        ));
}

/// `--hnsw` walks the graph (with a beam of 5 on the sample's 19 passages, so the walk is not
/// the whole index, as it is at the default ef 64) and finds what exact search finds. The graph's
/// recall at scale is tested on 3,000 points in `ann::build`.
#[test]
fn the_graph_walk_finds_what_exact_search_finds_on_the_sample() {
    let run = |q: &str, flags: &[&str]| {
        let out = semsearch(sample_index()).env("SEMSEARCH_MODE", "semantic").args(["ask", q, "--json", "--all", "-k", "5"]).args(flags).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
        json_lines(&out.stdout).iter().map(|h| h["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    for q in ["Jack Ma meets Xi Jinping", "Which hospital uses DeepSeek?", "dockworkers strike", "Alibaba shares this year"] {
        assert_eq!(run(q, &["--exact"]), run(q, &["--hnsw", "--ef", "1"]), "{q}");
    }
}

#[test]
fn related_excludes_target_and_its_document() {
    let hits = ask("How much will Alibaba invest in AI and cloud over the next three years?", 1);
    let id = hits[0]["id"].as_str().unwrap();
    let doc = hits[0]["doc_id"].as_str().unwrap();
    let out = semsearch(sample_index()).args(["related", id, "--json", "-k", "3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rel = json_lines(&out.stdout);
    assert_eq!(rel.len(), 3);
    assert!(rel.iter().all(|r| r["id"] != id && r["doc_id"] != doc));
    // The brief reporting the same investment is among the nearest passages of other documents.
    assert!(rel.iter().any(|r| r["text"].as_str().unwrap().contains("$50 billion")), "{rel:?}");

    // --same-doc allows the article's other passages, never the target itself.
    let out = semsearch(sample_index()).args(["related", id, "--json", "-k", "5", "--same-doc"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let rel = json_lines(&out.stdout);
    assert!(rel.iter().all(|r| r["id"] != id));
    assert!(rel.iter().any(|r| r["doc_id"] == doc));

    // PATH:LINE names the same passage as its id.
    let line = hits[0]["line_start"].as_u64().unwrap();
    let target = format!("news/alibaba-ai-investment.txt:{line}");
    let out = semsearch(sample_index()).args(["related", &target, "--json", "-k", "3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json_lines(&out.stdout)[0]["id"], rel_first_id(id));

    semsearch(sample_index())
        .args(["related", "news/alibaba-ai-investment.txt:999"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("news/alibaba-ai-investment.txt:999 is not inside an indexed passage"));
    semsearch(sample_index()).args(["related", "nosuchid"]).assert().code(2).stderr(predicate::str::contains("no passage with id nosuchid"));
}

fn rel_first_id(id: &str) -> serde_json::Value {
    let out = semsearch(sample_index()).args(["related", id, "--json", "-k", "3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    json_lines(&out.stdout)[0]["id"].clone()
}

#[test]
fn related_text_finds_matching_brief() {
    let out = semsearch(sample_index()).args(["related", "--text", "Liang meets the Chinese president at a summit", "--json", "-k", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let rel = json_lines(&out.stdout);
    assert!(rel[0]["text"].as_str().unwrap().contains("Liang Wenfeng"), "{}", rel[0]["text"]);
}

#[test]
fn embed_prints_reference_vectors() {
    let fixture = std::fs::read_to_string(common::repo().join("tests/fixtures/minilm-embeddings.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(fixture.lines().next().unwrap()).unwrap();
    let text = first["text"].as_str().unwrap();
    let out = semsearch(sample_index()).args(["embed", "--precision", "f32", text, "second text"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lines = json_lines(&out.stdout);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["text"], text);
    let got: Vec<f64> = lines[0]["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    let want: Vec<f64> = first["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect();
    assert_eq!(got.len(), 384);
    let cos: f64 = got.iter().zip(&want).map(|(a, b)| a * b).sum();
    assert!(cos > 0.9999, "{cos}");
    // stdin, one text per line
    let out = semsearch(sample_index()).arg("embed").write_stdin("a\nb\nc\n").output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(json_lines(&out.stdout).len(), 3);
}

/// Whether this CPU has the instructions SEMSEARCH_SIMD=`level` asks for.
fn cpu_has(level: &str) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let avx2 = has!("avx2") && has!("fma");
        let avx512 = avx2 && has!("avx512f") && has!("avx512bw") && has!("avx512vl") && has!("avx512dq");
        // AMX is not in std's detection; Linux lists it (and semsearch also asks Linux for the tiles).
        let amx = std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|c| c.contains(" amx_int8") && c.contains(" amx_tile"));
        match level {
            "amx" => avx512 && has!("avx512vnni") && amx,
            "avx512" => avx512,
            // A level is had when the CPU has it or a wider one (AVX-512 stands above AVX-VNNI).
            "avxvnni" => avx512 || (avx2 && has!("avxvnni")),
            "avx2" => avx2,
            _ => true,
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        level == "baseline"
    }
}

/// The hand-vectorised loops exist in several builds (AMX and AVX-512 VNNI for int8, AVX-512,
/// AVX-VNNI, AVX2+FMA, baseline), picked at run time. Forcing each narrower one (SEMSEARCH_SIMD)
/// must still give the reference embeddings in f32, int8 embeddings as close to them as the
/// widest path's, and the same answers, so the binary is right on CPUs without AVX-512 or AMX too.
#[test]
fn every_simd_path_gives_reference_embeddings_and_answers() {
    let fixture = std::fs::read_to_string(common::repo().join("tests/fixtures/minilm-embeddings.jsonl")).unwrap();
    let refs: Vec<serde_json::Value> = fixture.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let refs: Vec<&serde_json::Value> = refs.iter().filter(|r| !r["text"].as_str().unwrap().contains('\n')).collect();
    let stdin: String = refs.iter().map(|r| format!("{}\n", r["text"].as_str().unwrap())).collect();
    let vector = |x: &serde_json::Value| x["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect::<Vec<_>>();
    let mut answers = Vec::new();
    let mut int8_runs: Vec<Vec<Vec<f64>>> = Vec::new();
    for level in ["baseline", "avx2", "avxvnni", "avx512", "amx"] {
        for (precision, bar) in [("f32", 0.9999), ("int8", 0.995)] {
            let out =
                semsearch(sample_index()).env("SEMSEARCH_SIMD", level).args(["embed", "--precision", precision]).write_stdin(stdin.clone()).output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{level}: {}", String::from_utf8_lossy(&out.stderr));
            // A level this CPU lacks runs a narrower one, and says so (here and on a CPU without AVX-512).
            let warned = String::from_utf8_lossy(&out.stderr).contains("which this CPU does not have");
            assert_eq!(warned, !cpu_has(level), "{level}: {}", String::from_utf8_lossy(&out.stderr));
            let got = json_lines(&out.stdout);
            assert_eq!(got.len(), refs.len(), "{level}");
            let mut worst = 1.0f64;
            for (g, r) in got.iter().zip(&refs) {
                let cos: f64 = vector(g).iter().zip(vector(r)).map(|(a, b)| a * b).sum();
                worst = worst.min(cos);
            }
            assert!(worst >= bar, "{level} {precision}: min cosine {worst} over {} texts", refs.len());
            if precision == "int8" {
                int8_runs.push(got.iter().map(vector).collect());
            }
        }
        let out =
            semsearch(sample_index()).env("SEMSEARCH_SIMD", level).args(["ask", "How much will Alibaba invest in AI?", "--json", "-k", "5"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
        answers.push(json_lines(&out.stdout).iter().map(|h| h["id"].clone()).collect::<Vec<_>>());
    }
    assert!(answers[0].len() == 5 && answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    // Every int8 path computes the same integers; only the f32 passes between them (attention,
    // LayerNorm, GELU) round differently by width.
    for (run, level) in int8_runs.iter().zip(["baseline", "avx2", "avxvnni", "avx512"]) {
        for (a, b) in run.iter().zip(int8_runs.last().unwrap()) {
            let cos: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
            assert!(cos >= 0.9995, "int8 on {level} against the widest path: cosine {cos}");
        }
    }
}

/// `index --precision int8`: the manifest records it, questions are embedded alike (the same
/// ranking as the f32 index of the same files), later runs keep it, a run in the other precision
/// is refused without touching the index, and status and embed say which.
#[test]
fn an_int8_index_keeps_its_precision_and_refuses_f32_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = sample_corpus(dir.path());
    let (int8, f32) = (dir.path().join("int8"), dir.path().join("f32"));
    semsearch(&int8).args(["index", "--precision", "int8"]).arg(&corpus).assert().success();
    semsearch(&f32).args(["index", "--precision", "f32"]).arg(&corpus).assert().success();
    let meta = |index: &Path| -> serde_json::Value { serde_json::from_slice(&std::fs::read(index.join("meta.json")).unwrap()).unwrap() };
    assert_eq!(meta(&int8)["model"]["precision"], "int8");
    // f32 is what an index without the field holds: left out, so older manifests read the same.
    assert!(meta(&f32)["model"].get("precision").is_none());

    let ask = |index: &Path| {
        let out = semsearch(index).args(["ask", "How much will Alibaba invest in AI?", "--json", "-k", "5"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
        json_lines(&out.stdout)
    };
    let (a, b) = (ask(&int8), ask(&f32));
    let ids = |r: &[serde_json::Value]| r.iter().map(|h| h["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&a)[..2], ids(&b)[..2], "int8 {a:?}\nf32 {b:?}");
    for (x, y) in a.iter().zip(&b).take(2) {
        let (x, y) = (x["score"].as_f64().unwrap(), y["score"].as_f64().unwrap());
        assert!(x != y && (x - y).abs() < 0.02, "scores {x} and {y}");
    }

    let before = std::fs::read(int8.join("meta.json")).unwrap();
    let out = semsearch(&int8).args(["index", "--precision", "f32"]).arg(&corpus).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds vectors computed in int8, not f32") && err.contains("--precision int8"), "{err}");
    assert_eq!(std::fs::read(int8.join("meta.json")).unwrap(), before, "the refused run changed the index");
    // Without the flag a run keeps the index's precision (and, nothing changed, embeds nothing).
    let out = semsearch(&int8).args(["index", "--json"]).arg(&corpus).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(meta(&int8)["model"]["precision"], "int8");
    let out = semsearch(&int8).arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("mean pooling, int8"), "{}", String::from_utf8_lossy(&out.stdout));
    for (index, want) in [(&int8, "int8"), (&f32, "f32")] {
        let status: serde_json::Value = serde_json::from_slice(&common::ok_stdout(semsearch(index).args(["status", "--json"]))).unwrap();
        assert_eq!(status["precision"], want, "{status}");
    }

    // `embed` beside an index embeds as the index does, unless told otherwise.
    let embed = |args: &[&str]| json_lines(&common::ok_stdout(semsearch(&int8).arg("embed").args(args).arg("The striker signed a four-year contract.")));
    let (beside, f32v, int8v) = (embed(&[]), embed(&["--precision", "f32"]), embed(&["--precision", "int8"]));
    assert_eq!(beside[0]["embedding"], int8v[0]["embedding"]);
    let v = |x: &serde_json::Value| x["embedding"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect::<Vec<_>>();
    let cos: f64 = v(&f32v[0]).iter().zip(v(&int8v[0])).map(|(a, b)| a * b).sum();
    assert!((0.995..1.0).contains(&cos), "cosine of f32 and int8: {cos}");
}

#[test]
fn reindexing_unchanged_files_embeds_nothing_and_keeps_ids() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = sample_corpus(dir.path());
    let index = dir.path().join("idx");
    let first = semsearch(&index).args(["index", "--json"]).arg(&corpus).output().unwrap();
    let s1: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let ids = |index: &Path| {
        let out = semsearch(index).args(["ask", "Alibaba investment", "--json", "-k", "3"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
        json_lines(&out.stdout).iter().map(|h| h["id"].clone()).collect::<Vec<_>>()
    };
    let before = ids(&index);
    let second = semsearch(&index).args(["index", "--json"]).arg(&corpus).output().unwrap();
    let s2: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(s2["passages_embedded"], 0);
    assert_eq!(s2["passages"], s1["passages"]);
    assert_eq!(s2["documents_unchanged"], s1["documents"]);
    assert_eq!(ids(&index), before);
    // Deleting a file removes its documents on the next run over the folder.
    std::fs::remove_file(corpus.join("news-briefs.txt")).unwrap();
    let third = semsearch(&index).args(["index", "--json"]).arg(&corpus).output().unwrap();
    let s3: serde_json::Value = serde_json::from_slice(&third.stdout).unwrap();
    assert_eq!(s3["documents"], 1);
    assert_eq!(s3["passages_embedded"], 0);
    let out = semsearch(&index).args(["ask", "Alibaba shares up 70%", "--json", "-k", "20"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    assert!(json_lines(&out.stdout).iter().all(|h| h["path"] != "news/news-briefs.txt"));
}

#[test]
fn formats_jsonl_html_markdown_and_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let docs = dir.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("corpus.jsonl"),
        "{\"_id\":\"d1\",\"title\":\"Volcanoes\",\"text\":\"Mount Etna erupted again, sending ash over Catania.\"}\n{\"_id\":\"d2\",\"title\":\"\",\"text\":\"The recipe needs two eggs and flour.\"}\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("page.html"),
        "<html><head><title>Tides</title><script>var x = 'moon';</script></head>\n<body>\n<p>Tides are caused by the gravitational pull of the Moon.</p>\n</body></html>",
    )
    .unwrap();
    std::fs::write(docs.join("notes.md"), "# Bees\n\nHoneybees communicate the direction of flowers by dancing.\n").unwrap();
    std::fs::write(docs.join(".hidden.txt"), "Secret hidden text about penguins.\n").unwrap();
    std::fs::write(docs.join("ignored.txt"), "Ignored text about penguins.\n").unwrap();
    std::fs::write(docs.join(".ignore"), "ignored.txt\n").unwrap();
    let index = dir.path().join("idx");
    semsearch(&index).arg("index").arg(&docs).assert().success();
    semsearch(&index).args(["index", "-"]).write_stdin("Penguins live in the southern hemisphere.\n").assert().success();

    let top = |q: &str| {
        let out = semsearch(&index).args(["ask", q, "--json", "-k", "1"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
        json_lines(&out.stdout).remove(0)
    };
    let h = top("what makes the sea rise and fall");
    assert_eq!(h["path"], "docs/page.html");
    assert_eq!(h["title"], "Tides");
    assert_eq!(h["line_start"], 3);
    assert!(!h["text"].as_str().unwrap().contains("moon';"), "script text is not visible text");
    let h = top("eruption of a volcano in Sicily");
    assert_eq!(h["doc_id"], "d1");
    assert_eq!(h["line_start"], 1);
    assert_eq!(h["title"], "Volcanoes");
    let h = top("how do bees tell each other where flowers are");
    assert_eq!(h["path"], "docs/notes.md");
    assert_eq!(h["title"], "Bees");
    let h = top("penguins");
    assert_eq!(h["path"], "<stdin>", "hidden and .ignore'd files are not indexed: {h}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("idx");

    semsearch(&index).args(["index", "no/such/dir"]).assert().code(2).stderr(predicate::str::contains("no/such/dir: no such file or directory"));

    let bins = dir.path().join("bins");
    std::fs::create_dir_all(&bins).unwrap();
    std::fs::write(bins.join("a.txt"), [0u8, 1, 2, 3, 0, 255]).unwrap();
    std::fs::write(bins.join("b.txt"), [0xffu8, 0xfe, b'a', b'b']).unwrap();
    std::fs::write(bins.join("c.txt"), "").unwrap();
    semsearch(&index)
        .arg("index")
        .arg(&bins)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("a.txt: skipped: binary file"))
        .stderr(predicate::str::contains("b.txt: skipped: not UTF-8"))
        .stderr(predicate::str::contains("c.txt: skipped: empty"))
        .stderr(predicate::str::contains("nothing to index"));
    assert!(!index.join("meta.json").exists(), "no index is committed from nothing");

    // A good index, then a bad run over it: error names file and line, the index is untouched.
    let corpus = sample_corpus(dir.path());
    semsearch(&index).arg("index").arg(&corpus).assert().success();
    let meta_before = std::fs::read(index.join("meta.json")).unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"_id\":\"1\",\"text\":\"fine\"}\n{\"_id\":\"2\",\"text\":\"broken\"\n").unwrap();
    semsearch(&index)
        .args(["index", "--strict"])
        .arg(&bad)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.jsonl:2: invalid JSON").and(predicate::str::contains("--strict")))
        .stdout(predicate::str::is_empty());
    assert_eq!(std::fs::read(index.join("meta.json")).unwrap(), meta_before);
    semsearch(&index).args(["ask", "Alibaba", "-k", "1"]).assert().code(0);
    // Without --strict the bad line is a warning naming file and line; the good record is indexed.
    semsearch(&index).arg("index").arg(&bad).assert().code(0).stderr(predicate::str::contains("bad.jsonl:2: skipped: invalid JSON"));
    semsearch(&index).args(["status", "--json"]).assert().stdout(predicate::str::contains("\"documents\":13"));

    semsearch(&index).args(["ask", ""]).assert().code(2).stderr(predicate::str::contains("question is empty"));
    semsearch(&index).args(["ask", "   "]).assert().code(2).stderr(predicate::str::contains("question is empty"));

    let elsewhere = dir.path().join("none");
    semsearch(&elsewhere)
        .args(["ask", "anything"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no index in").and(predicate::str::contains("semsearch index")));
}

#[test]
fn index_from_another_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = sample_corpus(dir.path());
    let index = dir.path().join("idx");
    semsearch(&index).arg("index").arg(&corpus).assert().success();
    let meta_path = index.join("meta.json");
    let mut m = semsearch::index::Meta::read(&index).unwrap().unwrap();
    m.model.name = "other-model".into();
    m.model.weights_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into();
    m.seal();
    std::fs::write(&meta_path, m.to_json()).unwrap();
    let mut meta: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
    for args in [vec!["ask", "Alibaba"], vec!["index", corpus.to_str().unwrap()]] {
        semsearch(&index).args(&args).assert().code(2).stderr(predicate::str::contains("was built with model other-model"));
    }
    meta["format_version"] = 99.into();
    std::fs::write(&meta_path, serde_json::to_string(&meta).unwrap()).unwrap();
    semsearch(&index).args(["ask", "Alibaba"]).assert().code(2).stderr(predicate::str::contains("format version 99"));
}

#[test]
fn no_results_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.txt");
    std::fs::write(&one, "A single short passage about otters.\n").unwrap();
    let index = dir.path().join("idx");
    semsearch(&index).arg("index").arg(&one).assert().success();
    semsearch(&index).args(["related", "one.txt:1"]).assert().code(1).stdout(predicate::str::is_empty());
    semsearch(&index).args(["ask", "otters"]).assert().code(0);
}

#[test]
fn killed_index_run_leaves_previous_index_usable() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = sample_corpus(dir.path());
    let index = dir.path().join("idx");
    semsearch(&index).arg("index").arg(&corpus).assert().success();
    let before = common::ok_stdout(semsearch(&index).args(["ask", "--all", "shipping routes and port numbers", "--json"]));
    // A bigger input so the run is still busy when it is killed.
    let big = dir.path().join("big.txt");
    let para: String = (0..400).map(|i| format!("Paragraph {i} is about shipping routes and port number {i}.\n\n")).collect();
    std::fs::write(&big, para).unwrap();
    // The state a finished run leaves, from a copy that is never killed.
    let finished = dir.path().join("finished");
    std::fs::create_dir_all(&finished).unwrap();
    for e in std::fs::read_dir(&index).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), finished.join(e.file_name())).unwrap();
    }
    semsearch(&finished).args(["-q", "index"]).arg(&big).assert().success();
    let after_state = common::ok_stdout(semsearch(&finished).args(["ask", "--all", "shipping routes and port numbers", "--json"]));
    assert_ne!(after_state, before, "the big input changes the answers, so the two states are told apart");
    // Killed (SIGKILL) while it is writing: once a segment file the manifest does not name has
    // appeared, the run is past its start and before its commit (the manifest swap comes last).
    let committed: Vec<String> = {
        let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(index.join("meta.json")).unwrap()).unwrap();
        meta["files"].as_object().unwrap().keys().cloned().collect()
    };
    let meta_before = std::fs::read(index.join("meta.json")).unwrap();
    let mut child = common::spawn_semsearch(&index).args(["-q", "index"]).arg(&big).spawn().unwrap();
    let started = std::time::Instant::now();
    let writing = loop {
        let unfinished = std::fs::read_dir(&index).unwrap().any(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.starts_with("seg-") && !committed.contains(&name)
        });
        if unfinished || started.elapsed() > std::time::Duration::from_secs(60) {
            break unfinished;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(writing, "the run wrote no segment within a minute");
    assert!(!status.success(), "the run was killed mid-way");
    assert_eq!(std::fs::read(index.join("meta.json")).unwrap(), meta_before, "the manifest was not swapped");
    let now = common::ok_stdout(semsearch(&index).args(["ask", "--all", "shipping routes and port numbers", "--json"]));
    assert_eq!(now, before, "a run killed before its commit leaves the previous generation");
    // And the next run completes over what the killed one left.
    semsearch(&index).args(["-q", "index"]).arg(&big).assert().success();
    let now = common::ok_stdout(semsearch(&index).args(["ask", "--all", "shipping routes and port numbers", "--json"]));
    assert_eq!(now, after_state, "a finished run leaves the new generation");
}

#[test]
fn damaged_index_is_reported_then_rebuilt_by_index() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = sample_corpus(dir.path());
    let index = dir.path().join("idx");
    semsearch(&index).arg("index").arg(&corpus).assert().success();
    // Every file the manifest names, truncated or with bytes flipped in the middle (same size): the
    // error names the file and says to re-run `index`; never a panic or a wrong answer.
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(index.join("meta.json")).unwrap()).unwrap();
    let files: Vec<String> = meta["files"].as_object().unwrap().keys().cloned().collect();
    assert_eq!(files.len(), 3, "{files:?}");
    for name in &files {
        let f = index.join(name);
        let bytes = std::fs::read(&f).unwrap();
        let mut flipped = bytes.clone();
        let mid = bytes.len() / 2;
        for b in &mut flipped[mid..mid + 4] {
            *b ^= 0x5a;
        }
        for damaged in [bytes[..bytes.len() / 2].to_vec(), flipped] {
            std::fs::write(&f, &damaged).unwrap();
            semsearch(&index)
                .args(["ask", "Alibaba"])
                .assert()
                .code(2)
                .stdout(predicate::str::is_empty())
                .stderr(
                    predicate::str::contains(name.as_str()).and(predicate::str::contains("damaged")).and(predicate::str::contains("re-run `semsearch index`")),
                )
                .stderr(predicate::str::contains("panicked").not());
        }
        std::fs::write(&f, &bytes).unwrap();
    }
    semsearch(&index).args(["ask", "Alibaba", "-k", "1"]).assert().code(0);

    let f = index.join(&files[0]);
    std::fs::write(&f, b"").unwrap();
    semsearch(&index).arg("index").arg(&corpus).assert().success().stderr(predicate::str::contains("rebuilding"));
    semsearch(&index).args(["ask", "Alibaba", "-k", "1"]).assert().code(0);

    // The manifest: a changed byte that still parses is caught by its own checksum.
    let text = std::fs::read_to_string(index.join("meta.json")).unwrap();
    let altered = text.replacen("\"rows\": ", "\"rows\": 1", 1);
    assert_ne!(altered, text);
    std::fs::write(index.join("meta.json"), &altered).unwrap();
    semsearch(&index)
        .args(["ask", "Alibaba"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("meta.json: checksum differs").and(predicate::str::contains("re-run `semsearch index`")));
    let truncated = &text[..text.len() / 2];
    std::fs::write(index.join("meta.json"), truncated).unwrap();
    semsearch(&index).args(["ask", "Alibaba"]).assert().code(2).stderr(predicate::str::contains("meta.json: not valid JSON"));
    // Garbage is reported, and `index` rebuilds.
    std::fs::write(index.join("meta.json"), b"{garbage").unwrap();
    semsearch(&index)
        .args(["ask", "Alibaba"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("meta.json: not valid JSON").and(predicate::str::contains("re-run `semsearch index`")));
    semsearch(&index).arg("index").arg(&corpus).assert().success().stderr(predicate::str::contains("rebuilding"));
    let hits = json_lines(&common::ok_stdout(semsearch(&index).args(["ask", "--mode", "semantic", "How much will Alibaba invest?", "--json", "-k", "1"])));
    assert!(hits[0]["text"].as_str().unwrap().contains("US$52.4 billion"));
}

#[test]
fn status_predicts_what_index_does() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = sample_corpus(dir.path());
    let index = dir.path().join("idx");
    semsearch(&index).arg("status").assert().code(2).stderr(predicate::str::contains("no index in"));
    semsearch(&index).arg("index").arg(&corpus).assert().success();
    let status = |extra: &[&std::ffi::OsStr]| {
        let out = semsearch(&index).args(["status", "--json"]).args(extra).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let s = status(&[]);
    assert_eq!(s["documents"], 12);
    assert_eq!(
        s["passages"].as_u64(),
        Some(json_lines(&common::ok_stdout(semsearch(&index).args(["ask", "--all", "x", "--json", "-k", "100", "--per-doc", "0", "--no-fold"]))).len() as u64)
    );
    assert_eq!(s["model"]["name"], "all-MiniLM-L6-v2");
    assert!(s["size_bytes"].as_u64().unwrap() > 0);

    // Change the article, delete the briefs, add a note.
    let article = corpus.join("alibaba-ai-investment.txt");
    let text = std::fs::read_to_string(&article).unwrap();
    std::fs::write(&article, text.replace("US$52.4 billion", "US$53 billion")).unwrap();
    std::fs::remove_file(corpus.join("news-briefs.txt")).unwrap();
    std::fs::write(corpus.join("note.md"), "# Note\n\nA new note about ports.\n").unwrap();
    let s = status(&[corpus.as_os_str()]);
    let w = &s["would"];
    assert_eq!(w["added"], serde_json::json!(["news/note.md"]));
    assert_eq!(w["updated"], serde_json::json!(["news/alibaba-ai-investment.txt"]));
    assert_eq!(w["removed"].as_array().unwrap().len(), 11, "the eleven briefs");
    assert_eq!(w["unchanged"], 0);

    let out = semsearch(&index).args(["index", "--json"]).arg(&corpus).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((r["documents_added"].as_u64(), r["documents_updated"].as_u64(), r["documents_removed"].as_u64()), (Some(1), Some(1), Some(11)));
    let s = status(&[corpus.as_os_str()]);
    assert_eq!(s["would"]["unchanged"], 2);
    assert_eq!(s["would"]["added"].as_array().unwrap().len() + s["would"]["removed"].as_array().unwrap().len(), 0);
    // The changed text is what is found now, the old nowhere.
    let hits = json_lines(&common::ok_stdout(semsearch(&index).args(["ask", "How much will Alibaba invest?", "--json", "-k", "3"])));
    let texts: Vec<&str> = hits.iter().map(|h| h["text"].as_str().unwrap()).collect();
    assert!(texts[..2].iter().any(|t| t.contains("US$53 billion")) && !texts.iter().any(|t| t.contains("US$52.4")), "{texts:#?}");
}

#[test]
fn concurrent_index_runs_take_turns() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = sample_corpus(dir.path());
    let big = dir.path().join("big.txt");
    let para: String = (0..1000).map(|i| format!("Paragraph {i} is about freight trains and depot number {i}.\n\n")).collect();
    std::fs::write(&big, para).unwrap();
    let index = dir.path().join("idx");
    let spawn = |path: &Path| common::spawn_semsearch(&index).arg("index").arg(path).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let first = spawn(&big);
    std::thread::sleep(std::time::Duration::from_millis(300));
    let second = spawn(&corpus);
    let (a, b) = (first.wait_with_output().unwrap(), second.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    let both = format!("{}{}", String::from_utf8_lossy(&a.stderr), String::from_utf8_lossy(&b.stderr));
    assert!(both.contains("waiting for it to finish"), "one run waited for the other: {both}");
    // Neither run's work was lost: documents of both are in the index.
    let hits = |q: &str| json_lines(&common::ok_stdout(semsearch(&index).args(["ask", q, "--json", "-k", "1"])));
    assert_eq!(hits("freight trains depot")[0]["path"], "big.txt");
    assert!(hits("Alibaba investment")[0]["path"].as_str().unwrap().starts_with("news/"));
}

#[test]
fn changing_chunking_re_cuts_what_is_given_and_never_drops_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = sample_corpus(dir.path());
    let other = dir.path().join("other.md");
    std::fs::write(&other, "# Otters\n\nOtters hold hands while they sleep.\n").unwrap();
    let index = dir.path().join("idx");
    semsearch(&index).arg("index").arg(&corpus).arg(&other).assert().success();
    let meta_before = std::fs::read(index.join("meta.json")).unwrap();
    // New options over only part of the index: refused, nothing written.
    semsearch(&index)
        .args(["index", "--max-tokens", "64"])
        .arg(&corpus)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("built with --max-tokens 128 --overlap 32").and(predicate::str::contains("other.md")));
    assert_eq!(std::fs::read(index.join("meta.json")).unwrap(), meta_before);
    // Over every path: re-cut and re-embedded.
    let out = semsearch(&index).args(["index", "--json", "--max-tokens", "64"]).arg(&corpus).arg(&other).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["documents"], 13);
    assert!(s["passages"].as_u64().unwrap() > 19, "smaller passages: {s}");
    let hits = json_lines(&common::ok_stdout(semsearch(&index).args(["ask", "sleeping otters", "--json", "-k", "1"])));
    assert_eq!(hits[0]["path"], "other.md");
}

#[test]
fn small_cli_gaps_a_new_user_hits() {
    let dir = tempfile::tempdir().unwrap();
    // -k 0 is an error that says so, not a silent "no results".
    semsearch(sample_index())
        .args(["ask", "Alibaba", "-k", "0"])
        .assert()
        .code(2)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::contains("-k 1 or more"));
    // A failed first run leaves no index folder behind.
    let index = dir.path().join("idx");
    semsearch(&index).args(["index", "no/such/dir"]).assert().code(2);
    assert!(!index.exists(), "no empty index folder after a failed first run");
    let bins = dir.path().join("bins");
    std::fs::create_dir_all(&bins).unwrap();
    std::fs::write(bins.join("a.txt"), [0u8, 1, 2]).unwrap();
    semsearch(&index).arg("index").arg(&bins).assert().code(2).stderr(predicate::str::contains("nothing to index"));
    assert!(!index.exists(), "no empty index folder after a run with nothing to index");
    // .gitignore is honoured outside a git repository (this temporary folder is not in one).
    let notes = dir.path().join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    std::fs::write(notes.join(".gitignore"), "private.txt\n").unwrap();
    std::fs::write(notes.join("private.txt"), "My private note about the salary negotiation.\n").unwrap();
    std::fs::write(notes.join("public.txt"), "A public note about the tram timetable.\n").unwrap();
    let s: serde_json::Value = serde_json::from_slice(&common::ok_stdout(semsearch(&index).args(["index", "--json"]).arg(&notes))).unwrap();
    assert_eq!(s["documents"], 1, "{s}");
    let hits = json_lines(&common::ok_stdout(semsearch(&index).args(["ask", "--all", "salary negotiation", "--json", "-k", "5"])));
    assert!(hits.iter().all(|h| h["path"].as_str().unwrap().ends_with("public.txt")), "{hits:?}");
}

/// A document's control bytes never reach a terminal through `ask` (they could set its title or
/// colours): the human output shows them escaped, `--json` carries them exactly.
#[test]
fn escape_sequences_in_a_document_are_shown_escaped() {
    let tmp = tempfile::tempdir().unwrap();
    let notes = tmp.path().join("notes");
    std::fs::create_dir_all(&notes).unwrap();
    let title = "Harbour news \u{1b}]0;owned\u{7}\u{1b}[31m";
    let text = "Dockers in Rotterdam went on strike \u{1b}[2J over pay on Monday.";
    let record = serde_json::json!({"_id": "r1", "title": title, "text": text});
    std::fs::write(notes.join("wire.jsonl"), format!("{record}\n")).unwrap();
    let index = tmp.path().join("idx");
    common::ok_stdout(semsearch(&index).args(["-q", "index"]).arg(&notes));
    let human = common::ok_stdout(semsearch(&index).args(["ask", "Why did dockers strike in Rotterdam?", "-k", "1"]));
    let human = String::from_utf8(human).unwrap();
    assert!(!human.contains('\u{1b}') && !human.contains('\u{7}'), "{human:?}");
    assert!(human.contains("Harbour news \\x1b]0;owned\\x07\\x1b[31m"), "{human}");
    assert!(human.contains("strike \\x1b[2J over pay"), "{human}");
    let hits = json_lines(&common::ok_stdout(semsearch(&index).args(["ask", "Why did dockers strike in Rotterdam?", "-k", "1", "--json"])));
    assert_eq!(hits[0]["title"], title);
    assert!(hits[0]["text"].as_str().unwrap().contains("\u{1b}[2J"));
}

/// `index --shard I/N`: the parts of a corpus hold each document once and together all of them;
/// an index keeps its part on later runs and refuses another.
#[test]
fn shards_of_a_corpus_hold_each_document_once_and_an_index_keeps_its_part() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = sample_corpus(tmp.path());
    let docs = |index: &Path| -> Vec<String> {
        let out = semsearch(index).args(["status", "--json", "--files"]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["files"].as_array().unwrap().iter().map(|f| f["doc_id"].as_str().unwrap().to_string()).collect()
    };
    let (a, b, whole) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("whole"));
    for (index, part) in [(&a, "1/2"), (&b, "2/2")] {
        let out = semsearch(index).args(["index", "--json", "--shard", part]).arg(&corpus).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
    }
    semsearch(&whole).args(["-q", "index"]).arg(&corpus).assert().code(0);
    let (mut parts, all) = ([docs(&a), docs(&b)].concat(), docs(&whole));
    assert!(!docs(&a).is_empty() && !docs(&b).is_empty(), "{parts:?}");
    parts.sort();
    let mut all_sorted = all.clone();
    all_sorted.sort();
    assert_eq!(parts, all_sorted);
    // A later run without --shard keeps the part; another part is refused, the index untouched.
    let before = docs(&a);
    semsearch(&a).args(["-q", "index"]).arg(&corpus).assert().code(0);
    assert_eq!(docs(&a), before);
    let out = semsearch(&a).args(["index", "--shard", "2/2"]).arg(&corpus).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds part 1/2 of its corpus; --shard 2/2 would drop") && err.lines().count() == 1, "{err}");
    assert_eq!(docs(&a), before);
    let out = semsearch(&a).args(["index", "--shard", "3/2"]).arg(&corpus).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("write I/N with 1 ≤ I ≤ N"), "{out:?}");
}
