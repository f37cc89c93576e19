//! Publishing to PostgreSQL + pgvector and searching there, against a real server (see
//! `common::pg`): the sample articles pushed, searched through the server, pushed again after
//! changes; refusals and connection errors.

use crate::common;
use common::pg::PgServer;
use common::{json_lines, ok_stdout, sample_corpus, semsearch};
use std::path::{Path, PathBuf};

fn ask_json(index: &Path, args: &[&str], q: &str) -> Vec<serde_json::Value> {
    // Semantic unless `args` names a mode: the two stores' BM25 differ in the last digits. Every
    // result, however weak (the comparison is of the two stores, not of the answers).
    without_source(json_lines(&ok_stdout(semsearch(index).env("SEMSEARCH_MODE", "semantic").args(["ask", "--all", "--json", "-k", "10"]).args(args).arg(q))))
}

/// Results without the `source` a server's results add (`sources_…` tests check it), so they
/// compare with the local index's.
fn without_source(mut hits: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    for h in &mut hits {
        let source = h.as_object_mut().unwrap().remove("source");
        for a in h["also"].as_array_mut().unwrap() {
            assert_eq!(a.as_object_mut().unwrap().remove("source"), source, "a folded passage of another source: {a}");
        }
    }
    hits
}

const QUESTIONS: [&str; 6] = [
    "How much will Alibaba invest in AI and cloud over the next three years?",
    "Which hospital uses DeepSeek in its medical record system?",
    "Who founded DeepSeek?",
    "What did Kenny Ng say about Alibaba shares?",
    "Did Jack Ma meet Xi Jinping?",
    "What AI app did Alibaba Cloud launch for iPhone users?",
];

/// The sample articles copied into `tmp` and indexed there: (corpus, index).
fn indexed_sample(tmp: &Path) -> (PathBuf, PathBuf) {
    let corpus = sample_corpus(tmp);
    let index = tmp.join("idx");
    ok_stdout(semsearch(&index).args(["-q", "index"]).arg(&corpus));
    (corpus, index)
}

/// A real server with the sample articles indexed in `tmp` and pushed as collection `news`:
/// (server, corpus, index, URL).
fn pushed_sample(tmp: &Path) -> Option<(PgServer, PathBuf, PathBuf, String)> {
    let pg = PgServer::start()?;
    let (corpus, index) = indexed_sample(tmp);
    let url = pg.url();
    ok_stdout(semsearch(&index).args(["-q", "push", "--to", &url, "--collection", "news"]));
    Some((pg, corpus, index, url))
}

/// The source a push from `index` is by default: this machine's name and the index's folder.
fn machine_source(index: &Path) -> String {
    format!("{}:{}", std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim(), index.display())
}

/// ids and scores of results, for comparing a server's answers with the local index's.
fn ranking(hits: &[serde_json::Value]) -> Vec<(String, f64)> {
    hits.iter().map(|h| (h["id"].as_str().unwrap().to_string(), h["score"].as_f64().unwrap())).collect()
}

/// The same passages in the same order with the same scores, passages of equal score (the same
/// text twice) in any order among themselves — and, when such a tie straddles the last place, either
/// of them last (each side keeps k; which of two equal passages is the k-th is not defined).
fn same_ranking(a: &[(String, f64)], b: &[(String, f64)], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: {a:?} vs {b:?}");
    let canonical = |v: &[(String, f64)]| {
        let mut v = v.to_vec();
        v.sort_by(|x, y| y.1.total_cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
        v
    };
    let (a, b) = (&canonical(a)[..], &canonical(b)[..]);
    let last = a.last().map(|x| x.1).unwrap_or_default();
    for (x, y) in a.iter().zip(b) {
        let tied_at_the_cut = (x.1 - last).abs() < 1e-6 && (y.1 - last).abs() < 1e-6;
        assert!(x.0 == y.0 || tied_at_the_cut, "{what}: {a:?} vs {b:?}");
        assert!((x.1 - y.1).abs() < 1e-4, "{what}: {a:?} vs {b:?}");
    }
}

#[test]
fn a_pushed_index_answers_from_the_server_as_it_does_locally_and_pushes_are_incremental() {
    let Some(pg) = PgServer::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (corpus, index) = indexed_sample(tmp.path());
    let url = pg.url();

    let out = ok_stdout(semsearch(&index).args(["push", "--json", "--to", &url, "--collection", "news"]));
    let s: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!((s["documents_sent"].as_u64(), s["passages"].as_u64(), s["generation"].as_u64()), (Some(12), Some(19), Some(1)), "{s}");
    assert_eq!(pg.sql("SELECT count(*) FROM news_passages"), "19");
    assert_eq!(pg.sql("SELECT value FROM news_meta WHERE key = 'model'"), "all-MiniLM-L6-v2");

    // status --backend: the collection's counts.
    let status: serde_json::Value =
        serde_json::from_slice(&ok_stdout(semsearch(&index).args(["status", "--json", "--backend", &url, "--collection", "news"]))).unwrap();
    assert_eq!((status["documents"].as_u64(), status["passages"].as_u64(), status["generation"].as_u64()), (Some(12), Some(19), Some(1)), "{status}");
    assert_eq!(status["model"]["name"], "all-MiniLM-L6-v2");
    // Pushed as the default source (this machine and the index's folder), which results name.
    let source = machine_source(&index);
    assert_eq!((&status["sources"][0]["name"], &status["sources"][0]["documents"]), (&source.clone().into(), &12.into()), "{status}");
    let raw = json_lines(&ok_stdout(semsearch(&index).args(["ask", "--json", "--backend", &url, "--collection", "news", "Who founded DeepSeek?"])));
    assert!(raw.iter().all(|h| h["source"] == source.as_str()), "{raw:?}");

    // The server's exact ranking is the local exact ranking: same ids, same scores (the vectors
    // are the same floats); through pgvector's HNSW index, the same passages.
    let remote = ["--backend", url.as_str(), "--collection", "news"];
    for q in QUESTIONS {
        let local = ask_json(&index, &["--exact", "--per-doc", "0", "--no-fold"], q);
        let exact = ask_json(&index, &[&remote[..], &["--exact", "--per-doc", "0", "--no-fold"]].concat(), q);
        same_ranking(&ranking(&exact), &ranking(&local), q);
        let hnsw = ask_json(&index, &[&remote[..], &["--hnsw", "--per-doc", "0", "--no-fold"]].concat(), q);
        let overlap = hnsw.iter().filter(|h| local.iter().any(|l| l["id"] == h["id"])).count();
        assert!(overlap * 10 >= local.len() * 9, "{q}: {overlap} of {}", local.len());
        // As a reader sees them (capped, folded, answered): the same objects.
        assert_eq!(ask_json(&index, &remote, q), ask_json(&index, &[], q), "{q}");
    }

    // Filters inside the server's search, and related (by id, by path:line, by text): as locally.
    let q = "What did Alibaba announce?";
    assert_eq!(ask_json(&index, &[&remote[..], &["--path", "*-briefs.txt"]].concat(), q), ask_json(&index, &["--path", "*-briefs.txt"], q));
    let narrowed = ask_json(&index, &[&remote[..], &["--doc", "news/news-briefs.txt:3"]].concat(), q);
    assert_eq!((narrowed.len(), &narrowed[0]["doc_id"]), (1, &serde_json::Value::from("news/news-briefs.txt:3")));
    let top = &ask_json(&index, &[], QUESTIONS[0])[0];
    let (id, path, line) = (top["id"].as_str().unwrap(), top["path"].as_str().unwrap(), top["line_start"].to_string());
    for target in
        [vec![id.to_string()], vec![format!("{path}:{line}")], vec!["--text".into(), "chatbots in hospitals".into()], vec!["--same-doc".into(), id.to_string()]]
    {
        let related = |extra: &[&str]| {
            without_source(json_lines(&ok_stdout(
                semsearch(&index).env("SEMSEARCH_MODE", "semantic").args(["related", "--json", "-k", "4"]).args(extra).args(&target),
            )))
        };
        let there = related(&remote);
        assert_eq!(there, related(&[]), "{target:?}");
        assert!(!there.is_empty(), "{target:?}");
    }

    // Hybrid and lexical search on the server (BM25 over its full-text index, fused as locally):
    // names the embedding misses come first, as they do locally; a quoted phrase is required;
    // search syntax in a question is text.
    // A figure too: the server's parser reads `52.4` as one token, FTS5 as two.
    for name in ["Kenny Ng", "Everbright Securities", "US$52.4 billion"] {
        for mode in ["hybrid", "lexical"] {
            let there = ask_json(&index, &[&remote[..], &["--mode", mode]].concat(), name);
            let here = ask_json(&index, &["--mode", mode], name);
            assert!(there[0]["text"].as_str().unwrap().contains(name), "{mode} {name}: {there:?}");
            assert_eq!(there[0]["id"], here[0]["id"], "{mode} {name}");
            assert_eq!(there[0]["lexical_rank"], 1, "{mode} {name}");
            if mode == "lexical" {
                assert!(there.iter().all(|h| h["semantic_rank"].is_null() && h["lexical_score"].is_f64()), "{there:?}");
            }
        }
    }
    let phrase = ask_json(&index, &[&remote[..], &["--mode", "hybrid"]].concat(), "what did \"Kenny Ng\" say about the market");
    assert!(!phrase.is_empty() && phrase.iter().all(|h| h["text"].as_str().unwrap().contains("Kenny Ng")), "{phrase:?}");
    let out = semsearch(&index).args(["ask", "--json", "--mode", "hybrid", "\"Ng Alibaba\""]).args(remote).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "a phrase no passage holds: the closest without it: {stderr}");
    assert!(stderr.contains("no passage contains \"Ng Alibaba\""), "{stderr}");
    let out = semsearch(&index).args(["ask", "--json", "--path", "nosuchdir", "Alibaba"]).args(remote).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no indexed document's path matches --path nosuchdir"), "{out:?}");
    for q in ["NOT Alibaba", "\"unterminated", "cloud*", "-invest", "Alibaba: cloud", "(AI OR", "a & b | !c <-> d", "'quoted'", "C++ / Rust?", "\\"] {
        for mode in ["lexical", "hybrid"] {
            let out = semsearch(&index).args(["ask", "--json", "--mode", mode]).args(remote).args(["--", q]).output().unwrap();
            common::results_or_a_reason(&out, &format!("{mode} {q:?}"));
        }
    }

    // Pushed again unchanged: nothing sent.
    let out = ok_stdout(semsearch(&index).args(["push", "--json", "--to", &url, "--collection", "news"]));
    let s: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!((s["documents_sent"].as_u64(), s["documents_unchanged"].as_u64()), (Some(0), Some(12)), "{s}");

    // A push after changes sends only what changed and answers as a fresh push does.
    std::fs::write(corpus.join("new-note.txt"), "Dockworkers at Antwerp-Bruges ended a four-day strike that cost shippers 120 million euros.\n").unwrap();
    std::fs::remove_file(corpus.join("news-briefs.txt")).unwrap();
    let article = corpus.join("alibaba-ai-investment.txt");
    let text = std::fs::read_to_string(&article).unwrap();
    std::fs::write(&article, text.replace("US$52.4 billion", "US$53 billion")).unwrap();
    ok_stdout(semsearch(&index).args(["-q", "index"]).arg(&corpus));
    let out = ok_stdout(semsearch(&index).args(["push", "--json", "--to", &url, "--collection", "news"]));
    let s: serde_json::Value = serde_json::from_slice(&out).unwrap();
    // Sent: the new note and the changed article; deleted: the 11 briefs (one document per line
    // of news-briefs.txt); nothing else was there.
    assert_eq!((s["documents_sent"].as_u64(), s["documents_deleted"].as_u64(), s["documents_unchanged"].as_u64()), (Some(2), Some(11), Some(0)), "{s}");
    assert_eq!(s["generation"], 3, "{s}");
    ok_stdout(semsearch(&index).args(["-q", "push", "--to", &url, "--collection", "fresh"]));
    for q in QUESTIONS.iter().chain(["Which port did the dockworkers strike close?"].iter()) {
        let again = ask_json(&index, &remote, q);
        assert_eq!(again, ask_json(&index, &["--backend", &url, "--collection", "fresh"], q), "{q}");
        assert_eq!(again, ask_json(&index, &[], q), "{q}");
        // BM25's word statistics were recounted by the incremental push as a fresh push counts them.
        let hybrid = |collection: &str| ask_json(&index, &["--backend", &url, "--collection", collection, "--mode", "hybrid"], q);
        assert_eq!(hybrid("news"), hybrid("fresh"), "{q}");
    }
    assert_eq!(pg.sql("SELECT count(*) FROM news_terms"), pg.sql("SELECT count(*) FROM fresh_terms"));
    assert_eq!(pg.sql("SELECT sum(df) FROM news_terms"), pg.sql("SELECT sum(df) FROM fresh_terms"));
    assert_eq!(pg.sql("SELECT count(*) FROM news_documents"), pg.sql("SELECT count(*) FROM fresh_documents"));
}

#[test]
fn refusals_and_connection_errors_are_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((pg, corpus, index, url)) = pushed_sample(tmp.path()) else { return };

    let fails = |args: &[&str], needle: &str| {
        let out = semsearch(&index).args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    };
    // No --collection: the server's only collection (the index folder is `idx`, no collection's name).
    let only = semsearch(&index).args(["ask", "--json", "-k", "1", "Who founded DeepSeek?", "--backend", &url]).output().unwrap();
    assert_eq!(only.status.code(), Some(0), "{}", String::from_utf8_lossy(&only.stderr));
    // Vectors of another model in the collection: refused, nothing written.
    pg.sql("UPDATE news_meta SET value = 'other-model-checksum' WHERE key = 'weights_sha256'");
    fails(&["push", "--to", &url, "--collection", "news"], "holds vectors of model");
    fails(&["ask", "x", "--backend", &url, "--collection", "news"], "holds vectors of model");
    assert_eq!(pg.sql("SELECT value FROM news_meta WHERE key = 'generation'"), "1");
    // No such collection; a name that is not one.
    fails(&["ask", "x", "--backend", &url, "--collection", "nothing_here"], "has no collection nothing_here");
    fails(&["push", "--to", &url, "--collection", "Bad-Name"], "not a valid name");
    // Bad URL, wrong password, server down.
    fails(&["push", "--to", "mysql://what", "--collection", "news"], "not a PostgreSQL URL");
    let wrong = format!("postgres://reader:wrong-password@127.0.0.1:{}/postgres", pg.port);
    fails(&["push", "--to", &wrong, "--collection", "news"], "password authentication failed");
    assert!(!String::from_utf8_lossy(&semsearch(&index).args(["push", "--to", &wrong]).output().unwrap().stderr).contains("wrong-password"));
    let right = format!("postgres://reader:right-password@127.0.0.1:{}/postgres", pg.port);
    ok_stdout(semsearch(&index).args(["-q", "push", "--to", &right, "--collection", "second"]));
    // Two collections, neither named after the index folder: the error lists them.
    fails(
        &["ask", "x", "--backend", &url],
        "holds 2 collections and none is named idx (after the index folder): news, second; choose one with --collection NAME",
    );
    fails(&["status", "--backend", &url], "news, second");
    // A password in any form stays out of what is printed and returned.
    let port = pg.port;
    let in_query = format!("postgres://reader@127.0.0.1:{port}/postgres?password=right-password");
    let status = String::from_utf8(ok_stdout(semsearch(&index).args(["status", "--json", "--backend", &in_query, "--collection", "second"]))).unwrap();
    assert!(status.contains("\"backend\":\"postgres://reader@127.0.0.1:") && !status.contains("right-password"), "{status}");
    // A collection records how its vectors were computed; its readers embed questions alike and
    // answer as the local index does; an index in the other precision is refused there (one kind
    // of vector per collection).
    let held = |index: &Path| -> String {
        let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(index.join("meta.json")).unwrap()).unwrap();
        meta["model"]["precision"].as_str().unwrap_or("f32").to_string()
    };
    let other = if held(&index) == "int8" { "f32" } else { "int8" };
    let second = tmp.path().join("idx-other");
    ok_stdout(semsearch(&second).args(["-q", "index", "--precision", other]).arg(&corpus));
    ok_stdout(semsearch(&second).args(["-q", "push", "--to", &url, "--collection", "other"]));
    assert_eq!(pg.sql("SELECT value FROM other_meta WHERE key = 'precision'"), other);
    let question = ["ask", "--json", "-k", "5", "--mode", "semantic", "How much will Alibaba invest in AI?"];
    let local = json_lines(&ok_stdout(semsearch(&second).args(question)));
    let served = json_lines(&ok_stdout(semsearch(&index).args(question).args(["--backend", &url, "--collection", "other"])));
    same_ranking(&ranking(&served), &ranking(&local), "a collection in the other precision");
    fails(&["push", "--to", &url, "--collection", "other"], &format!("holds vectors computed in {other}, not {}", held(&index)));
    // Its status is read whatever the precision of the index beside the command.
    ok_stdout(semsearch(&index).args(["status", "--backend", &url, "--collection", "other"]));
    drop(pg);
    fails(&["push", "--to", &format!("postgres://postgres@127.0.0.1:{port}/postgres"), "--collection", "news"], "cannot connect");
    for url in [
        format!("postgres://postgres@127.0.0.1:{port}/postgres?password=hunter2-secret"),
        format!("host=127.0.0.1 port={port} user=postgres password=hunter2-secret dbname=postgres"),
        format!("postgres://postgres:hunter2-secret@127.0.0.1:{port}/postgres?sslmode=require"),
        format!("postgres://postgres@127.0.0.1:{port}/postgres?password=hunter2-secret&no_such_option=1"),
    ] {
        for args in [&["ask", "x", "--backend", &url][..], &["push", "--to", &url], &["status", "--backend", &url]] {
            let out = semsearch(&index).args(args).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(!err.contains("hunter2"), "{args:?}: {err}");
        }
    }
}

#[test]
fn msmarco_on_the_server_ranks_as_locally_sharded_pushers_at_once_equal_one_index_and_killed_pushes_change_nothing() {
    let Some(set) = common::shared("msmarco-trecdl19-subset") else { return };
    let Some(pg) = PgServer::start() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("ms");
    ok_stdout(semsearch(&index).args(["-q", "index"]).arg(set.join("corpus.jsonl")));
    let url = pg.url();
    let started = std::time::Instant::now();
    let out = ok_stdout(semsearch(&index).args(["push", "--json", "--to", &url, "--collection", "ms"]));
    let s: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let passages = s["passages"].as_u64().unwrap();
    assert!(passages > 5000, "{s}");
    eprintln!("pushed {passages} passages in {:.1}s", started.elapsed().as_secs_f64());

    // 20 questions: the server's exact top-10 is the local exact top-10; its HNSW top-10 overlaps
    // it by at least 0.9.
    let queries = std::fs::read_to_string(set.join("queries.jsonl")).unwrap();
    let questions: Vec<String> = json_lines(queries.as_bytes()).iter().take(20).map(|q| q["text"].as_str().unwrap().to_string()).collect();
    assert_eq!(questions.len(), 20);
    let remote = ["--backend", url.as_str(), "--collection", "ms", "--per-doc", "0", "--no-fold"];
    let (mut found, mut total) = (0, 0);
    let mut before = Vec::new();
    for q in &questions {
        let local = ask_json(&index, &["--exact", "--per-doc", "0", "--no-fold"], q);
        let exact = ask_json(&index, &[&remote[..], &["--exact"]].concat(), q);
        same_ranking(&ranking(&exact), &ranking(&local), q);
        let hnsw = ask_json(&index, &remote, q);
        found += hnsw.iter().filter(|h| local.iter().any(|l| l["id"] == h["id"])).count();
        total += local.len();
        before.push(hnsw);
    }
    assert!(found * 10 >= total * 9, "HNSW overlap {found}/{total}");

    // A push that would replace everything (the sample articles into the same collection), killed
    // with SIGKILL while the server works on it: the collection answers as before.
    let corpus = sample_corpus(tmp.path());
    let other = tmp.path().join("sample");
    ok_stdout(semsearch(&other).args(["-q", "index"]).arg(&corpus));
    // The same source: the push replaces that source's documents.
    let source = machine_source(&index);
    let push = common::spawn_semsearch(&other).args(["-q", "push", "--to", &url, "--collection", "ms", "--source", &source]).spawn().unwrap();
    kill_while(&pg, push, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'semsearch' AND query ILIKE 'DELETE%'");
    assert_eq!(pg.sql("SELECT value FROM ms_meta WHERE key = 'generation'"), "1");
    for (q, then) in questions.iter().zip(&before) {
        assert_eq!(&ask_json(&index, &remote, q), then, "{q}");
    }
    assert_eq!(pg.sql("SELECT count(*) FROM ms_passages"), passages.to_string());

    // The corpus in four parts (`index --shard I/4`, as four machines would build them), pushed at
    // once as four sources into one collection: the same exact top-10 as the whole index, and the
    // same word statistics as one push of it (so hybrid ranks as on `ms`).
    let parts: Vec<PathBuf> = (1..=4).map(|i| tmp.path().join(format!("part{i}"))).collect();
    let mut part_passages = 0;
    for (i, part) in parts.iter().enumerate() {
        let out = ok_stdout(semsearch(part).args(["index", "--json", "--shard", &format!("{}/4", i + 1)]).arg(set.join("corpus.jsonl")));
        let s: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert!(s["documents_other_parts"].as_u64().unwrap() > 0, "{s}");
        part_passages += s["passages"].as_u64().unwrap();
    }
    assert_eq!(part_passages, passages);
    let started = std::time::Instant::now();
    let pushers: Vec<std::process::Child> = parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            let source = format!("part{}", i + 1);
            let args = ["push", "--json", "--to", &url, "--collection", "sharded", "--source", &source];
            common::spawn_semsearch(part).args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap()
        })
        .collect();
    // They send at the same time (no lock held for a whole transfer).
    let mut most_at_once = 0;
    let copying = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'semsearch' AND state = 'active' AND query ILIKE 'COPY%'";
    let mut pushers: Vec<_> = pushers.into_iter().map(Some).collect();
    while pushers.iter_mut().any(|p| p.as_mut().is_some_and(|c| c.try_wait().unwrap().is_none())) {
        most_at_once = most_at_once.max(pg.sql(copying).parse::<u32>().unwrap());
    }
    let mut sent = 0;
    for p in pushers.into_iter().flatten() {
        let out = p.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        sent += serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["passages_sent"].as_u64().unwrap();
    }
    eprintln!("4 pushers at once: {sent} passages in {:.1}s, up to {most_at_once} copying at once", started.elapsed().as_secs_f64());
    assert_eq!(sent, passages);
    assert!(most_at_once >= 2, "the pushes took turns");
    same_terms(&pg, "sharded", "ms");
    let sharded = ["--backend", url.as_str(), "--collection", "sharded", "--per-doc", "0", "--no-fold"];
    let mut after = Vec::new();
    for q in &questions {
        let local = ask_json(&index, &["--exact", "--per-doc", "0", "--no-fold"], q);
        same_ranking(&ranking(&ask_json(&index, &[&sharded[..], &["--exact"]].concat(), q)), &ranking(&local), q);
        let hybrid = ask_json(&index, &[&sharded[..], &["--exact", "--mode", "hybrid"]].concat(), q);
        assert_eq!(hybrid, ask_json(&index, &[&remote[..], &["--exact", "--mode", "hybrid"]].concat(), q), "{q}");
        after.push(hybrid);
    }

    // A fifth pusher killed while it sends: the four parts answer as before, the statistics are
    // unchanged, nothing of it is there.
    let push = common::spawn_semsearch(&index).args(["-q", "push", "--to", &url, "--collection", "sharded", "--source", "fifth"]).spawn().unwrap();
    kill_while(&pg, push, copying);
    assert_eq!(pg.sql("SELECT value FROM sharded_meta WHERE key = 'generation'"), "4");
    assert_eq!(pg.sql("SELECT count(*) FROM sharded_documents WHERE source = 'fifth'"), "0");
    same_terms(&pg, "sharded", "ms");
    for (q, then) in questions.iter().zip(&after) {
        assert_eq!(&ask_json(&index, &[&sharded[..], &["--exact", "--mode", "hybrid"]].concat(), q), then, "{q}");
    }
}

#[test]
fn bench_against_the_server_scores_as_the_local_index() {
    let Some(pg) = PgServer::start() else { return };
    let set = common::repo().join("tests/fixtures/news-qa");
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("qa");
    let bench = |extra: &[&str]| -> serde_json::Value {
        serde_json::from_slice(&ok_stdout(semsearch(&index).env("SEMSEARCH_MODE", "semantic").args(["-q", "bench", "--json", "--exact"]).args(extra).arg(&set)))
            .unwrap()
    };
    let local = bench(&[]);
    let remote = bench(&["--backend", &pg.url()]);
    for key in ["ndcg@10", "recall@100", "mrr@10"] {
        assert!((local[key].as_f64().unwrap() - remote[key].as_f64().unwrap()).abs() < 1e-4, "{key}: {local} vs {remote}");
    }
    assert!(remote["push_passages_per_s"].as_f64().unwrap() > 0.0, "{remote}");
    assert_eq!(remote["ann_recall@10"].as_f64(), Some(1.0), "{remote}");
    assert!(remote["backend"].as_str().unwrap().contains("collection bench_news_qa_128_32"), "{remote}");
    // A user's collection is never a benchmark's: the bench would delete every other document.
    let mine = tmp.path().join("mine");
    ok_stdout(semsearch(&mine).args(["-q", "index"]).arg(common::sample_corpus(tmp.path())));
    ok_stdout(semsearch(&mine).args(["-q", "push", "--to", &pg.url(), "--collection", "team_news"]));
    let before = pg.sql("SELECT count(*) FROM team_news_documents");
    let out = semsearch(&index).args(["-q", "bench", "--json", "--exact", "--backend", &pg.url(), "--collection", "team_news"]).arg(&set).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("collection team_news was not made by `semsearch bench`"), "{err}");
    assert_eq!(pg.sql("SELECT count(*) FROM team_news_documents"), before);
    assert_eq!(pg.sql("SELECT value FROM team_news_meta WHERE key = 'generation'"), "1", "not written to");
    // Hybrid and lexical on the server: BM25 there is computed over PostgreSQL's stemmed lexemes,
    // not SQLite's, so the figures are near the local ones, not equal (10 questions: one answer a
    // rank apart moves nDCG@10 by ~0.01-0.03).
    for mode in ["hybrid", "lexical"] {
        let local = bench(&["--mode", mode]);
        let remote = bench(&["--mode", mode, "--backend", &pg.url()]);
        assert_eq!(remote["mode"], mode, "{remote}");
        let (l, r) = (local["ndcg@10"].as_f64().unwrap(), remote["ndcg@10"].as_f64().unwrap());
        assert!((l - r).abs() < 0.05 && r > 0.8, "{mode}: local {l} vs server {r}");
    }
}

#[test]
fn tls_is_negotiated_and_certificates_checked_as_libpq_does() {
    // A PostgreSQL with TLS but without pgvector (see `start_tls`): each connection gets as far as
    // looking for the collection ("has no collection": connected), and the server's log says
    // whether it was encrypted.
    let Some(pg) = PgServer::start_tls() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let index = tmp.path().join("idx");
    let tls = pg.tls_dir();
    let with = |query: &str| format!("{}?{query}", pg.url());
    let ask = |url: &str| {
        let out = semsearch(&index)
            .env_remove("PGSSLMODE")
            .env_remove("PGSSLROOTCERT")
            .args(["ask", "x", "--collection", "news", "--backend", url])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{url}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{url}: {err}");
        err
    };
    let encrypted = || pg.log().lines().filter(|l| l.contains("connection authorized") && l.contains("SSL enabled")).count();
    let plain = || pg.log().lines().filter(|l| l.contains("connection authorized") && !l.contains("SSL enabled")).count();
    let connects = |url: &str, tls: bool| {
        let (e, p) = (encrypted(), plain());
        let err = ask(url);
        assert!(err.contains("has no collection news"), "{url}: {err}");
        // The log line may follow the client's exit by a moment.
        let t = std::time::Instant::now();
        while (encrypted(), plain()) == (e, p) && t.elapsed().as_secs() < 5 {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!((encrypted() - e, plain() - p), if tls { (1, 0) } else { (0, 1) }, "{url}: {}", pg.log());
    };
    let ca = tls.join("ca.pem").display().to_string();
    connects(&with("sslmode=require"), true);
    connects(&pg.url(), true); // prefer, the default, uses TLS when the server offers it
    connects(&with("sslmode=disable"), false);
    // verify-ca: the chain leads to the CA given; the name is not compared.
    connects(&with(&format!("sslmode=verify-ca&sslrootcert={ca}")), true);

    let refused = |url: &str, needle: &str| {
        let err = ask(url);
        assert!(err.contains(needle) && !err.contains("has no collection"), "{url}: {err}");
    };
    // verify-full: the certificate names db.example, not 127.0.0.1.
    refused(&with(&format!("sslmode=verify-full&sslrootcert={ca}")), "certificate not valid for name \"127.0.0.1\"");
    // A CA that did not sign the server's certificate (require checks the chain once a root is given).
    let other = tls.join("other-ca.pem").display().to_string();
    refused(&with(&format!("sslmode=verify-ca&sslrootcert={other}")), "invalid peer certificate");
    refused(&with(&format!("sslmode=require&sslrootcert={other}")), "invalid peer certificate");
    // Nothing to verify with; a root file that is not one; a mode that is not one.
    refused(&with("sslmode=verify-full"), "needs the CA certificate");
    refused(&with("sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem"), "sslrootcert must name a PEM file");
    refused(&with("sslmode=sometimes"), "is not a mode");
}

/// `q` for a URL query.
fn encoded(q: &str) -> String {
    q.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

#[test]
fn serve_and_mcp_answer_from_the_server_as_from_the_local_index_and_follow_its_pushes() {
    use common::http::Server;
    let tmp = tempfile::tempdir().unwrap();
    let Some((pg, corpus, index, url)) = pushed_sample(tmp.path()) else { return };

    // A wrong collection is refused before the server listens: one line, exit 2.
    let out = semsearch(&index).args(["serve", "--addr", "127.0.0.1:0", "--backend", &url, "--collection", "nosuch"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("has no collection nosuch") && err.trim_end().lines().count() == 1, "{err}");

    let local = Server::start(&index);
    let remote = Server::start_with(&index, &["--addr", "127.0.0.1:0", "--backend", &url, "--collection", "news"]);
    let results = |v: &serde_json::Value| ranking(v["results"].as_array().unwrap_or_else(|| panic!("no results in {v}")));
    // Semantic: as the local index answers. Every mode: as `ask --backend` answers (the server's
    // BM25 stems and counts lengths as PostgreSQL does, so hybrid scores differ a little from local).
    for q in QUESTIONS {
        for mode in ["semantic", "hybrid", "lexical"] {
            let path = format!("/api/ask?q={}&k=10&mode={mode}&exact=1", encoded(q));
            let b = remote.get(&path);
            assert_eq!(b.0, 200, "{q} {mode}: {}", b.1);
            let what = format!("{q} ({mode})");
            let cli = ask_json(&index, &["--exact", "--mode", mode, "--backend", &url, "--collection", "news"], q);
            same_ranking(&ranking(&cli), &results(&b.1), &what);
            assert_eq!(cli[0]["answer"], b.1["results"][0]["answer"], "{what}");
            if mode == "semantic" {
                let a = local.get(&path);
                same_ranking(&results(&a.1), &results(&b.1), &what);
            }
        }
    }
    // related, from the top passage of the first question; its passage in context.
    let (_, top) = local.get(&format!("/api/ask?q={}&k=1", encoded(QUESTIONS[0])));
    let id = top["results"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/related?id={id}&k=4&exact=1");
    same_ranking(&results(&local.get(&path).1), &results(&remote.get(&path).1), "related");
    let path = format!("/api/passage/{id}?context=2");
    let (a, b) = (local.get(&path), remote.get(&path));
    assert_eq!((a.0, b.0), (200, 200), "{} / {}", a.1, b.1);
    assert_eq!(a.1, b.1);
    assert_eq!(remote.get("/api/passage/0000000000000000").0, 404);
    let (status, s) = remote.get("/api/status");
    assert_eq!(status, 200, "{s}");
    assert_eq!((s["collection"].as_str(), s["documents"].as_u64()), (Some("news"), local.get("/api/status").1["documents"].as_u64()), "{s}");

    // A push while it runs: the next request sees the new document (no restart).
    std::fs::write(
        corpus.join("fresh.txt"),
        "Harbour cranes\n\nThe Kittiwake Harbour Board ordered four electric cranes from Liebherr for its container quay.\n",
    )
    .unwrap();
    ok_stdout(semsearch(&index).args(["-q", "index"]).arg(&corpus));
    ok_stdout(semsearch(&index).args(["push", "-q", "--to", &url, "--collection", "news"]));
    let (_, s2) = remote.get("/api/status");
    assert_eq!(s2["documents"].as_u64(), s["documents"].as_u64().map(|n| n + 1), "{s2}");
    let (_, found) = remote.get(&format!("/api/ask?q={}&k=1&mode=hybrid", encoded("Who ordered cranes from Liebherr?")));
    assert_eq!(found["results"][0]["path"], "news/fresh.txt", "{found}");
    // … with the collection's new word statistics (BM25's passage count and mean length), as a
    // fresh connection has them.
    let (_, after) = remote.get(&format!("/api/ask?q={}&k=10&mode=hybrid&exact=1", encoded(QUESTIONS[3])));
    let cli = ask_json(&index, &["--exact", "--mode", "hybrid", "--backend", &url, "--collection", "news"], QUESTIONS[3]);
    same_ranking(&ranking(&cli), &results(&after), "hybrid after the push");

    // Sixteen requests at once: all answered alike, on at most one server connection per core
    // (the others wait for one; idle ones stay open for the next requests).
    let path = format!("/api/ask?q={}&k=3&mode=hybrid", encoded(QUESTIONS[1]));
    let expected = results(&remote.get(&path).1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..16).map(|_| scope.spawn(|| remote.get(&path))).collect();
        for w in workers {
            let (status, body) = w.join().unwrap();
            assert_eq!(status, 200, "{body}");
            same_ranking(&expected, &results(&body), "in parallel");
        }
    });
    let cores = std::thread::available_parallelism().unwrap().get();
    let connections: usize = pg.sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'").trim().parse().unwrap();
    assert!(connections - 1 <= cores, "{connections} connections (one is this query's) for {cores} cores");

    // Stopped, it exits cleanly (its server connections closed outside the async runtime).
    assert_eq!(remote.terminate().code(), Some(0));

    // mcp --backend: the search tool answers from the server.
    let mut cmd = common::spawn_semsearch(&index);
    cmd.args(["mcp", "--backend", &url, "--collection", "news"]);
    let mut mcp = common::http::McpClient::spawn(cmd);
    mcp.initialize();
    let reply = mcp.call(
        2,
        "tools/call",
        serde_json::json!({"name": "search", "arguments": {"question": "Who ordered cranes from Liebherr?", "k": 1, "mode": "hybrid"}}),
    );
    assert_ne!(reply["result"]["isError"], true, "{reply}");
    let body: serde_json::Value = serde_json::from_str(reply["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(body["results"][0]["path"], "news/fresh.txt", "{body}");
}

/// A collection pushed by schema version 1 (the title in every passage's `lexical`, no
/// `title_lexical`), remade here as that version wrote it: readers are told to push again, and a
/// push upgrades it in place without sending a document, after which it answers exactly as a
/// fresh push does. A Chinese question finds its passage on the server as locally.
/// Kills `push` (SIGKILL) as soon as the server is running what `busy` (a count from
/// `pg_stat_activity`) counts, and waits for it; fails if the push ended first.
fn kill_while(pg: &PgServer, mut push: std::process::Child, busy: &str) {
    for _ in 0..2000 {
        if push.try_wait().unwrap().is_some() {
            break;
        }
        if pg.sql(busy) != "0" {
            push.kill().unwrap();
            push.wait().unwrap();
            return;
        }
    }
    panic!("the push ended before it could be killed");
}

/// Turns collection `c`, as this semsearch pushes it (schema 3), into the layout semsearch wrote
/// before sources (schema 2, 52aa34f): no `source` column, keys `id` and `doc_id`, a passages'
/// index by document, the figures in `C_meta`, no `C_sources`. The rows, vectors and indexes stay
/// (no way to run the older binary here; its DDL is what this rebuilds).
fn as_version_2(pg: &PgServer, c: &str) {
    pg.sql(&format!(
        "INSERT INTO {c}_meta SELECT 'passages', count(*)::text FROM {c}_passages;
         INSERT INTO {c}_meta SELECT 'lexical_avg_length', coalesce(avg(length(lexical)), 0)::float8::text FROM {c}_passages;
         INSERT INTO {c}_meta SELECT 'documents', count(*)::text FROM {c}_documents;
         INSERT INTO {c}_meta SELECT 'title_avg_length', coalesce(avg(length(title_lexical)), 0)::float8::text FROM {c}_documents;
         INSERT INTO {c}_meta SELECT 'chunking', min(chunking) FROM {c}_sources;
         ALTER TABLE {c}_passages DROP CONSTRAINT {c}_passages_doc_id_source_fkey, DROP CONSTRAINT {c}_passages_pkey;
         ALTER TABLE {c}_documents DROP CONSTRAINT {c}_documents_pkey;
         ALTER TABLE {c}_documents DROP COLUMN source; ALTER TABLE {c}_passages DROP COLUMN source;
         ALTER TABLE {c}_documents ADD PRIMARY KEY (doc_id);
         ALTER TABLE {c}_passages ADD PRIMARY KEY (id), ADD FOREIGN KEY (doc_id) REFERENCES {c}_documents ON DELETE CASCADE;
         DROP INDEX {c}_passages_id; CREATE INDEX {c}_passages_doc ON {c}_passages (doc_id);
         DROP TABLE {c}_sources; UPDATE {c}_meta SET value = '2' WHERE key = 'schema_version';"
    ));
}

/// The sources' lexeme counts of two collections are the same rows.
fn same_terms(pg: &PgServer, a: &str, b: &str) {
    for t in ["terms", "title_terms"] {
        let differ = format!(
            "SELECT count(*) FROM ((SELECT * FROM {a}_{t} EXCEPT SELECT * FROM {b}_{t}) UNION ALL (SELECT * FROM {b}_{t} EXCEPT SELECT * FROM {a}_{t})) x"
        );
        assert_eq!(pg.sql(&differ), "0", "{a}_{t} and {b}_{t} differ");
    }
    assert_ne!(pg.sql(&format!("SELECT count(*) FROM {a}_terms")), "0");
}

/// Raw results (with their sources) from a collection.
fn ask_there(index: &Path, url: &str, collection: &str, mode: &str, q: &str) -> Vec<serde_json::Value> {
    let out = semsearch(index).args(["ask", "--json", "--all", "-k", "10", "--mode", mode, "--backend", url, "--collection", collection, q]).output().unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{q}: {out:?}");
    json_lines(&out.stdout)
}

fn push_json(index: &Path, args: &[&str]) -> serde_json::Value {
    serde_json::from_slice(&ok_stdout(semsearch(index).args(["push", "--json"]).args(args))).unwrap()
}

fn sent_deleted_unchanged(s: &serde_json::Value) -> (u64, u64, u64) {
    (s["documents_sent"].as_u64().unwrap(), s["documents_deleted"].as_u64().unwrap(), s["documents_unchanged"].as_u64().unwrap())
}

/// A collection of a team: two people push their own folders into it, alternately, with changes;
/// neither push touches the other's documents; the same path in both is two documents, each
/// result saying whose; one source is removed whole. Before that, the collection was pushed by the
/// semsearch before sources (schema 2) and is upgraded by the first push, nothing sent again.
#[test]
fn sources_pushed_alternately_keep_each_others_documents_and_a_version_2_collection_is_upgraded() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((pg, corpus, ann, url)) = pushed_sample(tmp.path()) else { return };
    let remote = ["--backend", url.as_str(), "--collection", "news"];
    as_version_2(&pg, "news");
    let out = semsearch(&ann).args(["ask", "--json", "Who founded DeepSeek?"]).args(remote).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("(schema version 2); push it again with this one to upgrade it"), "{out:?}");
    // The upgrading push's source takes the documents: nothing is sent, nothing re-embedded.
    let to = ["--to", url.as_str(), "--collection", "news"];
    let s = push_json(&ann, &[&to[..], &["--source", "ann"]].concat());
    assert_eq!(sent_deleted_unchanged(&s), (0, 0, 12), "{s}");
    assert_eq!((s["passages"].as_u64(), s["source"].as_str()), (Some(19), Some("ann")), "{s}");
    assert_eq!(pg.sql("SELECT value FROM news_meta WHERE key = 'schema_version'"), "3");
    assert_eq!(pg.sql("SELECT string_agg(DISTINCT source, ',') FROM news_passages"), "ann");
    ok_stdout(semsearch(&ann).args(["-q", "push", "--to", &url, "--collection", "fresh", "--source", "ann"]));
    same_terms(&pg, "news", "fresh");
    for q in QUESTIONS {
        for mode in ["semantic", "hybrid"] {
            assert_eq!(ask_there(&ann, &url, "news", mode, q), ask_there(&ann, &url, "fresh", mode, q), "{mode} {q}");
        }
    }

    // Bob's folder: his own note, and a file at the same path as one of Ann's with his text.
    let bob_root = tmp.path().join("bob");
    std::fs::create_dir_all(bob_root.join("news")).unwrap();
    std::fs::write(bob_root.join("news/port-strike.txt"), "Dockworkers at Antwerp-Bruges ended a four-day strike that cost shippers 120 million euros.\n")
        .unwrap();
    std::fs::write(
        bob_root.join("news/alibaba-ai-investment.txt"),
        "Bob's notes on Alibaba\n\nAlibaba's capital spending plan was read by analysts as a bet on Qwen models and data centres in Southeast Asia.\n",
    )
    .unwrap();
    let bob = bob_root.join("idx");
    ok_stdout(semsearch(&bob).args(["-q", "index"]).arg(bob_root.join("news")));
    let s = push_json(&bob, &[&to[..], &["--source", "bob"]].concat());
    assert_eq!(sent_deleted_unchanged(&s), (2, 0, 0), "{s}");
    assert_eq!((s["documents"].as_u64(), s["passages"].as_u64()), (Some(14), Some(21)), "{s}");
    // Ann pushes again: Bob's documents stay; then she deletes a file and pushes; then Bob again.
    assert_eq!(sent_deleted_unchanged(&push_json(&ann, &[&to[..], &["--source", "ann"]].concat())), (0, 0, 12));
    std::fs::remove_file(corpus.join("news-briefs.txt")).unwrap();
    ok_stdout(semsearch(&ann).args(["-q", "index"]).arg(&corpus));
    let s = push_json(&ann, &[&to[..], &["--source", "ann"]].concat());
    assert_eq!(sent_deleted_unchanged(&s), (0, 11, 1), "only Ann's briefs are gone: {s}");
    assert_eq!(sent_deleted_unchanged(&push_json(&bob, &[&to[..], &["--source", "bob"]].concat())), (0, 0, 2));
    assert_eq!(
        pg.sql("SELECT string_agg(source || ' ' || doc_id, ', ' ORDER BY source, doc_id) FROM news_documents"),
        "ann news/alibaba-ai-investment.txt, bob news/alibaba-ai-investment.txt, bob news/port-strike.txt"
    );

    // Results say whose they are; the same path in two sources is two documents, both found.
    let hits = ask_there(&ann, &url, "news", "semantic", "Which port did the dockworkers strike close?");
    assert_eq!((hits[0]["path"].as_str(), hits[0]["source"].as_str()), (Some("news/port-strike.txt"), Some("bob")), "{hits:?}");
    let hits = ask_there(&ann, &url, "news", "hybrid", "What will Alibaba invest in?");
    let mut sources: Vec<&str> = hits.iter().filter(|h| h["path"] == "news/alibaba-ai-investment.txt").map(|h| h["source"].as_str().unwrap()).collect();
    sources.dedup();
    sources.sort();
    assert_eq!(sources, ["ann", "bob"], "{hits:?}");
    let human = String::from_utf8(ok_stdout(semsearch(&ann).args(["ask", "--backend", &url, "--collection", "news", "dockworkers strike"]))).unwrap();
    assert!(human.lines().next().unwrap().ends_with("from bob"), "{human}");

    // status --backend: the sources with their figures; --files grouped by source.
    let status: serde_json::Value = serde_json::from_slice(&ok_stdout(semsearch(&ann).args(["status", "--json", "--files"]).args(remote))).unwrap();
    let figures: Vec<(String, i64, i64)> = status["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap().to_string(), s["documents"].as_i64().unwrap(), s["passages"].as_i64().unwrap()))
        .collect();
    assert_eq!(figures, [("ann".to_string(), 1, 8), ("bob".to_string(), 2, 2)], "{status}");
    let files: Vec<&str> = status["files"].as_array().unwrap().iter().map(|f| f["source"].as_str().unwrap()).collect();
    assert_eq!(files, ["ann", "bob", "bob"], "{status}");
    let human = String::from_utf8(ok_stdout(semsearch(&ann).args(["status", "--files"]).args(remote))).unwrap();
    assert!(human.contains("sources     2\n") && human.contains("\nbob:\n  news/alibaba-ai-investment.txt  1 passages"), "{human}");

    // Bob's source removed: the collection is Ann's again, word statistics as a push of hers alone.
    let s = push_json(&ann, &[&to[..], &["--source", "bob", "--delete"]].concat());
    assert_eq!((s["documents_deleted"].as_u64(), s["documents"].as_u64()), (Some(2), Some(1)), "{s}");
    ok_stdout(semsearch(&ann).args(["-q", "push", "--to", &url, "--collection", "fresh", "--source", "ann"]));
    same_terms(&pg, "news", "fresh");
    assert_eq!(ask_there(&ann, &url, "news", "hybrid", "Alibaba cloud"), ask_there(&ann, &url, "fresh", "hybrid", "Alibaba cloud"));
    let out = semsearch(&ann).args(["push", "--source", "carol", "--delete"]).args(to).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("collection news has no source \"carol\"; its sources: ann") && err.lines().count() == 1, "{err}");
}

#[test]
fn a_version_1_collection_is_upgraded_by_a_push_and_cjk_is_matched_on_the_server() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((pg, corpus, index, url)) = pushed_sample(tmp.path()) else { return };
    as_version_2(&pg, "news");
    pg.sql(
        "ALTER TABLE news_passages DROP COLUMN lexical;
         ALTER TABLE news_passages ADD COLUMN lexical tsvector GENERATED ALWAYS AS (to_tsvector('english', title || ' ' || section || ' ' || text)) STORED;
         CREATE INDEX news_passages_lexical ON news_passages USING gin (lexical);
         ALTER TABLE news_documents DROP COLUMN title_lexical; DROP TABLE news_title_terms;
         DELETE FROM news_meta WHERE key IN ('documents', 'title_avg_length'); UPDATE news_meta SET value = '1' WHERE key = 'schema_version';",
    );
    let remote = ["--backend", &url, "--collection", "news"];
    let out = semsearch(&index).args(["ask", "--json", "Kenny Ng"]).args(remote).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("schema version 1); push it again with this one to upgrade it"), "{out:?}");
    let out = ok_stdout(semsearch(&index).args(["push", "--json", "--to", &url, "--collection", "news"]));
    let s: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!((s["documents_sent"].as_u64(), s["documents_unchanged"].as_u64()), (Some(0), Some(12)), "{s}");
    ok_stdout(semsearch(&index).args(["-q", "push", "--to", &url, "--collection", "fresh"]));
    for q in ["Kenny Ng", "What did Everbright Securities say?", "How much will Alibaba invest in AI and cloud over the next three years?"] {
        for mode in ["lexical", "hybrid"] {
            let upgraded = ask_json(&index, &[&remote[..], &["--mode", mode]].concat(), q);
            assert!(!upgraded.is_empty(), "{mode} {q}");
            assert_eq!(upgraded, ask_json(&index, &["--backend", &url, "--collection", "fresh", "--mode", mode], q), "{mode} {q}");
            // Its title once, as locally: the same passages first.
            assert_eq!(upgraded[0]["id"], ask_json(&index, &["--mode", mode], q)[0]["id"], "{mode} {q}");
        }
    }
    assert_eq!(pg.sql("SELECT sum(df) FROM news_title_terms"), pg.sql("SELECT sum(df) FROM fresh_title_terms"));

    std::fs::write(corpus.join("rrr.md"), "# 央行降准\n\n中国人民银行宣布下调存款准备金率0.5个百分点，释放长期流动性约1万亿元。\n").unwrap();
    ok_stdout(semsearch(&index).args(["-q", "index"]).arg(&corpus));
    ok_stdout(semsearch(&index).args(["-q", "push", "--to", &url, "--collection", "news"]));
    for q in ["存款准备金", "降准"] {
        let there = ask_json(&index, &[&remote[..], &["--mode", "lexical"]].concat(), q);
        assert_eq!(there[0]["path"], "news/rrr.md", "{q}: {there:?}");
    }
    let out = semsearch(&index).args(["ask", "--json", "--mode", "lexical", "存钱"]).args(remote).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

/// What a server returns is input: rows changed by hand or by another program (a NULL where a
/// value must be, answer-sentence spans outside the passage, a date that is not ASCII, a vector of
/// other dimensions) are one line naming the collection and exit 2, never a panic.
#[test]
fn tampered_server_rows_are_errors_naming_the_collection_not_panics() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((pg, _, index, url)) = pushed_sample(tmp.path()) else { return };
    let remote = ["--backend", &url, "--collection", "news"];
    let q = "How much will Alibaba invest in AI and cloud over the next three years?";
    let top = ask_json(&index, &remote, q)[0]["id"].as_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let out = semsearch(&index).args(args).args(remote).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let fails = |args: &[&str], needle: &str| {
        let (code, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains("collection news") && err.contains(needle), "{args:?}: {err}");
    };
    // Stored sentence spans past the end of a text that was cut short.
    pg.sql(&format!("UPDATE news_passages SET text = 'Alibaba.' WHERE id = '{top}' AND sentences IS NOT NULL"));
    if pg.sql(&format!("SELECT count(*) FROM news_passages WHERE id = '{top}' AND text = 'Alibaba.'")) == "1" {
        fails(&["ask", "--json", "--exact", q], "an answer sentence lies outside its text");
    }
    // A NULL where push always writes a value.
    pg.sql(&format!("ALTER TABLE news_passages ALTER COLUMN line_start DROP NOT NULL; UPDATE news_passages SET line_start = NULL WHERE id = '{top}'"));
    fails(&["ask", "--json", "--exact", q], "column line_start");
    pg.sql("UPDATE news_passages SET line_start = 1, line_end = 0 WHERE line_start IS NULL");
    fails(&["ask", "--json", "--exact", q], "line or byte range ends before it starts");
    // A date that is not ASCII, under a date filter (compared where a string slice would split a
    // character): no panic, the document is simply outside the range.
    pg.sql(&format!(
        "UPDATE news_passages SET line_end = line_start + 1, sentences = NULL WHERE id = '{top}'; UPDATE news_documents SET date = '２０２５年三月'"
    ));
    let (code, err) = run(&["ask", "--json", "--since", "2025-01", "--until", "2025-12", "Alibaba"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("no indexed document passes --since 2025-01 --until 2025-12"), "{err}");
    // A vector of other dimensions.
    pg.sql(&format!(
        "DROP INDEX news_passages_hnsw; ALTER TABLE news_passages ALTER COLUMN embedding TYPE vector; UPDATE news_passages SET embedding = '[1,2,3]' WHERE id = '{top}'"
    ));
    let (code, err) = run(&["related", "--json", &top]);
    assert_eq!(code, Some(2), "{err}");
    assert!(!err.contains("panicked") && err.contains("collection news") && err.contains("3 dimensions, not 384"), "{err}");
}
