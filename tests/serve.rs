//! `semsearch serve` end to end: the real binary on a free loopback port over a real index of the
//! sample articles, called over HTTP like any client would.

use crate::common;
use common::http::{McpClient, Server};
use common::{chromium, headless, json_lines, ok_stdout, sample_corpus, semsearch, spawn_semsearch};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn sample_index(tmp: &Path) -> (PathBuf, PathBuf) {
    let corpus = sample_corpus(tmp);
    let index = tmp.join("idx");
    ok_stdout(semsearch(&index).args(["-q", "index"]).arg(&corpus));
    (corpus, index)
}

fn error_of(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_else(|| panic!("no error message in {v}"))
}

#[test]
fn every_endpoint_answers_as_the_commands_do() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, index) = sample_index(tmp.path());
    let server = Server::start(&index);

    // /api/ask: the same results, fields and order as `ask --json`.
    let q = "How much will Alibaba invest in AI over three years?";
    let (status, body) = server.get(&format!("/api/ask?q={}&k=3&mode=semantic", q.replace(' ', "+").replace('?', "%3F")));
    assert_eq!(status, 200, "{body}");
    let cli = json_lines(&ok_stdout(semsearch(&index).args(["ask", "--json", "--mode", "semantic", "-k", "3", q])));
    let api = body["results"].as_array().unwrap();
    assert_eq!(api.len(), 3);
    assert_eq!(api, &cli, "the API and `ask --json` differ");
    for key in ["rank", "score", "id", "doc_id", "path", "line_start", "line_end", "title", "text", "answer", "semantic_rank", "lexical_rank", "also"] {
        assert!(api[0].get(key).is_some(), "no {key} in {}", api[0]);
    }
    assert!(api[0]["answer"].as_str().unwrap().contains("52.4 billion"), "{}", api[0]);
    // Without a mode, the default (hybrid), as `ask` searches.
    let (status, body) = server.get(&format!("/api/ask?q={}&k=3", q.replace(' ', "+").replace('?', "%3F")));
    assert_eq!((status, &body["mode"]), (200, &serde_json::json!("hybrid")), "{body}");
    assert_eq!(body["results"].as_array().unwrap(), &json_lines(&ok_stdout(semsearch(&index).args(["ask", "--json", "-k", "3", q]))));
    // Modes and filters pass through.
    let (status, body) = server.get("/api/ask?q=Kenny+Ng&mode=hybrid&k=1");
    assert_eq!(status, 200, "{body}");
    assert!(body["results"][0]["text"].as_str().unwrap().contains("Kenny Ng"), "{body}");
    assert_eq!(body["mode"], "hybrid");
    let (status, body) = server.get("/api/ask?q=Alibaba&k=3&path=*-briefs.txt");
    assert_eq!(status, 200, "{body}");
    let hits = body["results"].as_array().unwrap();
    assert_eq!(hits.len(), 3, "{body}");
    assert!(hits.iter().all(|r| r["path"] == "news/news-briefs.txt"), "{body}");

    // /api/related, by id, by path and line, by text.
    let id = api[0]["id"].as_str().unwrap();
    let (status, body) = server.get(&format!("/api/related?id={id}&k=2"));
    assert_eq!(status, 200, "{body}");
    let related = body["results"].as_array().unwrap();
    assert_eq!(related.len(), 2);
    assert!(related.iter().all(|r| r["doc_id"] != api[0]["doc_id"]), "the passage's own document came back: {body}");
    let cli = json_lines(&ok_stdout(semsearch(&index).args(["related", "--json", "-k", "2", id])));
    assert_eq!(related, &cli);
    let (path, line) = (api[0]["path"].as_str().unwrap(), api[0]["line_start"].as_u64().unwrap());
    let (status, body) = server.get(&format!("/api/related?path={path}&line={line}&k=2"));
    assert_eq!((status, body["results"].as_array().unwrap()), (200, related), "{body}");
    let (status, body) = server.get("/api/related?text=chatbot+in+hospitals&k=1");
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"].as_array().unwrap().len(), 1);

    // /api/status: the numbers of `status --json`.
    let (status, body) = server.get("/api/status");
    assert_eq!(status, 200, "{body}");
    let cli: Value = serde_json::from_slice(&ok_stdout(semsearch(&index).args(["status", "--json"]))).unwrap();
    for key in ["documents", "passages", "generation", "model", "segments"] {
        assert_eq!(body[key], cli[key], "{key}");
    }
    assert_eq!(body["documents"], 12);

    // /api/passage/{id}: the passage with its neighbours in the document.
    let (status, body) = server.get(&format!("/api/passage/{id}?context=1"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["passage"]["id"], id);
    assert_eq!(body["passage"]["text"], api[0]["text"]);
    let ordinal = body["passage"]["ordinal"].as_u64().unwrap();
    let (before, after) = (body["before"].as_array().unwrap(), body["after"].as_array().unwrap());
    assert_eq!(before.len(), usize::from(ordinal > 0), "{body}");
    assert!(before.iter().chain(after).all(|p| p["doc_id"] == api[0]["doc_id"]), "{body}");
    if let Some(next) = after.first() {
        assert_eq!(next["ordinal"].as_u64().unwrap(), ordinal + 1);
    }

    // The page.
    let (status, page) = server.get("/?q=alibaba");
    assert_eq!(status, 200);
    assert!(page.as_str().unwrap().contains("<title>semsearch</title>"));

    // Bad parameters: 400 naming the parameter; what is not there: 404.
    for (path, needle) in [
        ("/api/ask?k=3", "missing field `question`"),
        ("/api/ask?q=x&k=0", "k=0"),
        ("/api/ask?q=x&k=lots", "k: \"lots\""),
        ("/api/ask?q=x&mode=fuzzy", "mode: \"fuzzy\""),
        // An unknown parameter is named, not ignored (a misspelled filter would search everything).
        ("/api/ask?q=x&paths=notes", "unknown parameter \"paths\""),
        ("/api/related?id=x&sme_doc=1", "unknown parameter \"sme_doc\""),
        ("/api/passage/x?contxt=2", "unknown parameter \"contxt\""),
        ("/api/ask?q=x&since=last+week", "since"),
        ("/api/related?k=2", "give one of"),
        ("/api/passage/x?context=99", "context="),
    ] {
        let (status, body) = server.get(path);
        assert_eq!(status, 400, "{path}: {body}");
        assert!(error_of(&body).contains(needle), "{path}: {body}");
    }
    for path in ["/api/passage/0000000000000000", "/api/related?id=0000000000000000", "/api/related?path=nowhere.txt&line=1", "/api/nothing"] {
        let (status, body) = server.get(path);
        assert_eq!(status, 404, "{path}: {body}");
        error_of(&body);
    }
    // A question nothing answers is no error: no results.
    let (status, body) = server.get("/api/ask?q=zzqx+vvbn&min_score=0.5");
    assert_eq!((status, body["results"].as_array().unwrap().len()), (200, 0), "{body}");
    assert!(body["notices"][0].as_str().unwrap().starts_with("every result scored under --min-score 0.5"), "{body}");
    // A quoted phrase no passage holds: the closest without it, and a notice.
    let (status, body) = server.get("/api/ask?q=%22Ng+Alibaba%22&k=2");
    assert_eq!((status, body["results"].as_array().unwrap().len()), (200, 2), "{body}");
    assert_eq!(body["notices"][0], "no passage contains \"Ng Alibaba\"; showing the closest without it", "{body}");
}

#[test]
fn requests_in_parallel_and_a_new_generation_without_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let (corpus, index) = sample_index(tmp.path());
    let server = Server::start(&index);
    let question = "/api/ask?q=Which+port+did+the+dockworkers+strike+close%3F&k=1";

    // Eight clients at once: every request answered, all alike.
    let answers: Vec<(u16, Value)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(|| (0..3).map(|_| server.get(question)).collect::<Vec<_>>())).collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(answers.len(), 24);
    for (status, body) in &answers {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["results"], answers[0].1["results"]);
    }
    assert_ne!(answers[0].1["results"][0]["path"], "news/port-strike.txt");
    let generation = server.get("/api/status").1["generation"].as_u64().unwrap();

    // `semsearch index` commits a new generation while the server runs: the next request sees it.
    std::fs::write(
        corpus.join("port-strike.txt"),
        "Dockworkers at Antwerp-Bruges ended a four-day strike on Monday.\n\nThe walkout closed the port of Antwerp to container ships and cost shippers about 120 million euros.\n",
    )
    .unwrap();
    ok_stdout(semsearch(&index).args(["-q", "index"]).arg(&corpus));
    let (status, body) = server.get(question);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["path"], "news/port-strike.txt", "{body}");
    assert_eq!(server.get("/api/status").1["generation"].as_u64().unwrap(), generation + 1);

    // An index gone from under it is a 500 with the reason, not a crash; rebuilt, it answers again.
    std::fs::rename(index.join("meta.json"), tmp.path().join("meta.json.away")).unwrap();
    let (status, body) = server.get(question);
    assert_eq!(status, 500, "{body}");
    assert!(error_of(&body).contains("meta.json"), "{body}");
    std::fs::rename(tmp.path().join("meta.json.away"), index.join("meta.json")).unwrap();
    let (status, body) = server.get(question);
    assert_eq!((status, &body["results"][0]["path"]), (200, &Value::from("news/port-strike.txt")), "{body}");
}

#[test]
fn other_origins_only_with_cors_and_a_warning_off_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, index) = sample_index(tmp.path());
    let server = Server::start(&index);
    let (status, allow, _) = server.get_from("/api/status", Some("http://elsewhere.test"));
    assert_eq!((status, allow), (200, None), "another origin's page may not read the API by default");
    assert!(server.said.iter().all(|l| !l.contains("warning")), "{:?}", server.said);
    drop(server);
    let server = Server::start_with(&index, &["--addr", "0.0.0.0:0", "--cors", "http://elsewhere.test"]);
    assert!(server.said.iter().any(|l| l.contains("warning") && l.contains("other machines")), "{:?}", server.said);
    let (status, allow, _) = server.get_from("/api/status", Some("http://elsewhere.test"));
    assert_eq!((status, allow.as_deref()), (200, Some("http://elsewhere.test")));
    // Another origin is told only the allowed one (so its browser refuses the response).
    let (_, allow, _) = server.get_from("/api/status", Some("http://third.test"));
    assert_ne!(allow.as_deref(), Some("http://third.test"));
    // A bad --cors or a taken port is one clear error, exit 2.
    let out = semsearch(&index).args(["serve", "--addr", "127.0.0.1:0", "--cors", "elsewhere.test/page"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cors"), "{}", String::from_utf8_lossy(&out.stderr));
    let port = server.base.rsplit(':').next().unwrap();
    let out = semsearch(&index).args(["serve", "--addr", &format!("0.0.0.0:{port}")]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("choose another --addr"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Debian's Chromium, which `.ci/run` installs. Without it a developer's run skips this test,
/// saying how to install it; under CI (`CI` set) a missing browser fails it.
#[test]
fn the_page_in_a_real_browser_shows_the_answer_in_the_first_card() {
    let Some(browser) = chromium() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (_, index) = sample_index(tmp.path());
    let server = Server::start(&index);
    // The question in the URL, as a bookmarked or shared search: the page runs it on load.
    let url = format!("{}/?q=How+much+will+Alibaba+invest+in+AI+over+three+years%3F&mode=semantic", server.base);
    let dom = headless(&browser, &tmp.path().join("profile"), &url, &["--dump-dom"]);
    let first = dom.split("<article").nth(1).unwrap_or_else(|| panic!("no result card in the page: {dom}"));
    let first = &first[..first.find("</article>").expect("a whole card")];
    assert!(first.contains("news/alibaba-ai-investment.txt:8-10"), "{first}");
    let marked = &first[first.find("<mark>").expect("the answer is marked") + 6..first.find("</mark>").unwrap()];
    assert!(marked.contains("pledged to invest US$52.4 billion"), "{marked}");
    assert!(first.contains("also in"), "the briefs retelling the story are folded into it: {first}");

    // A screenshot for people to look at (the closing note describes it).
    let shot = common::repo().join("target/serve-page.png");
    let _ = std::fs::remove_file(&shot);
    headless(&browser, &tmp.path().join("profile2"), &url, &[&format!("--screenshot={}", shot.display())]);
    let png = std::fs::read(&shot).expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG") && png.len() > 20_000, "{} bytes", png.len());
}

#[test]
fn mcp_initializes_lists_its_tools_and_answers_a_search() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, index) = sample_index(tmp.path());
    let mut cmd = spawn_semsearch(&index);
    cmd.arg("mcp");
    let mut mcp = McpClient::spawn(cmd);
    let init = mcp.initialize();
    assert_eq!(init["result"]["serverInfo"]["name"], "semsearch", "{init}");
    assert!(init["result"]["capabilities"]["tools"].is_object(), "{init}");

    let list = mcp.call(2, "tools/list", serde_json::json!({}));
    let tools = list["result"]["tools"].as_array().unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["related", "search", "status"]);
    for t in tools {
        assert!(t["description"].as_str().unwrap().len() > 80, "a model needs a real description: {t}");
    }
    let search = tools.iter().find(|t| t["name"] == "search").unwrap();
    assert!(search["inputSchema"]["properties"]["question"].is_object(), "{search}");
    assert_eq!(search["inputSchema"]["required"], serde_json::json!(["question"]), "{search}");

    // tools/call search: the passage that answers, with its path:line and answer sentence.
    let r = mcp.call(
        3,
        "tools/call",
        serde_json::json!({"name": "search", "arguments": {"question": "Which hospital uses DeepSeek in its medical records?", "k": 2}}),
    );
    assert_ne!(r["result"]["isError"], true, "{r}");
    let text = r["result"]["content"][0]["text"].as_str().unwrap();
    let body: Value = serde_json::from_str(text).unwrap();
    let top = &body["results"][0];
    assert_eq!(top["path"], "news/alibaba-ai-investment.txt", "{top}");
    assert!(top["answer"].as_str().unwrap().contains("Second Affiliated Hospital of Fujian Medical University"), "{top}");
    assert!(top["line_start"].as_u64().unwrap() > 0 && top["id"].is_string());
    assert_eq!(body["results"].as_array().unwrap().len(), 2);

    // related from that result's id; status.
    let r = mcp.call(4, "tools/call", serde_json::json!({"name": "related", "arguments": {"id": top["id"], "k": 1}}));
    let body: Value = serde_json::from_str(r["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(body["results"].as_array().unwrap().len(), 1, "{r}");
    let r = mcp.call(5, "tools/call", serde_json::json!({"name": "status", "arguments": {}}));
    let body: Value = serde_json::from_str(r["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(body["documents"], 12, "{r}");

    // A bad argument is a tool error the model can read, and the server goes on.
    let r = mcp.call(6, "tools/call", serde_json::json!({"name": "search", "arguments": {"question": "gold", "mode": "fuzzy"}}));
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(r["result"]["content"][0]["text"].as_str().unwrap().contains("mode"), "{r}");
    let r = mcp.call(7, "tools/call", serde_json::json!({"name": "search", "arguments": {"question": "gold", "paths": ["notes"]}}));
    assert_eq!(r["result"]["isError"], true, "{r}");
    assert!(r["result"]["content"][0]["text"].as_str().unwrap().contains("unknown parameter \"paths\""), "{r}");
    let r = mcp.call(8, "tools/call", serde_json::json!({"name": "search", "arguments": {"question": "gold", "k": 51}}));
    assert_eq!(r["result"]["isError"], true, "{r}");
    let r = mcp.call(9, "tools/call", serde_json::json!({"name": "related", "arguments": {"id": "0000000000000000"}}));
    assert_eq!(r["result"]["isError"], true, "{r}");

    // Nothing found: the notice says why, for the model to read.
    let r = mcp.call(10, "tools/call", serde_json::json!({"name": "search", "arguments": {"question": "gold", "path": ["nosuchdir"]}}));
    let body: Value = serde_json::from_str(r["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
    assert!(body["results"].as_array().unwrap().is_empty(), "{r}");
    assert!(body["notices"][0].as_str().unwrap().contains("--path nosuchdir"), "{r}");

    // Closing stdin ends it cleanly.
    drop(mcp.child.stdin.take());
    let status = mcp.child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
}

/// The API's own description (`/api/openapi.json`, generated from the request and response types)
/// holds for what the server answers: every live response, successes and errors, validates against
/// the schema the document gives for its path and status, and every parameter the document lists
/// is one the server takes (an unknown one is a 400).
#[test]
fn live_responses_match_the_openapi_document() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, index) = sample_index(tmp.path());
    let server = Server::start(&index);
    let (status, doc) = server.get("/api/openapi.json");
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0", "{doc}");
    let check = |route: &str, url: &str, want: u16| -> Value {
        let (status, body) = server.get(url);
        assert_eq!(status, want, "{url}: {body}");
        let schema = &doc["paths"][route]["get"]["responses"][want.to_string()]["content"]["application/json"]["schema"];
        assert!(schema.is_object(), "{route} documents no {want} response");
        // The whole document is the root, so the schema's $refs into components resolve.
        let mut root = doc.clone();
        for (k, v) in schema.as_object().unwrap() {
            root[k] = v.clone();
        }
        let validator = jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("{route}: not a schema: {e}"));
        let errors: Vec<String> = validator.iter_errors(&body).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{url}: {errors:?}\n{body}");
        // The check has teeth: the same body with a field taken out or mistyped fails it.
        let mut broken = body.clone();
        let key = broken.as_object().and_then(|o| o.keys().next().cloned());
        if let (Some(key), Some(_)) = (key, schema.get("$ref")) {
            broken[&key] = json!({"not": "this"});
            assert!(!validator.is_valid(&broken), "{url}: a mistyped {key} passed");
        }
        body
    };
    for mode in ["semantic", "hybrid", "lexical"] {
        let body = check("/api/ask", &format!("/api/ask?q=How+much+will+Alibaba+invest%3F&k=5&mode={mode}&path=news&per_doc=1"), 200);
        assert!(!body["results"].as_array().unwrap().is_empty(), "{mode}: {body}");
    }
    let body = check("/api/ask", "/api/ask?question=Who+is+Kenny+Ng%3F&exact=1&no_fold=1&since=2020", 200);
    assert!(body["undated_left_out"].as_u64().is_some(), "{body}");
    let top = check("/api/ask", "/api/ask?q=Alibaba+cloud&k=1", 200)["results"][0]["id"].as_str().unwrap().to_string();
    check("/api/related", &format!("/api/related?id={top}&k=3"), 200);
    check("/api/related", "/api/related?text=gold+prices&mode=hybrid", 200);
    check("/api/passage/{id}", &format!("/api/passage/{top}?context=2"), 200);
    check("/api/status", "/api/status", 200);
    check("/api/ask", "/api/ask?q=x&paths=news", 400);
    check("/api/ask", "/api/ask?q=x&k=lots", 400);
    check("/api/related", "/api/related?id=0000000000000000", 404);
    check("/api/passage/{id}", "/api/passage/0000000000000000", 404);
    // Every documented query parameter is accepted (a value of the right type for each).
    for (route, base) in [("/api/ask", "/api/ask?q=gold"), ("/api/related", "/api/related?text=gold")] {
        for p in doc["paths"][route]["get"]["parameters"].as_array().unwrap() {
            let name = p["name"].as_str().unwrap();
            let value = match name {
                "q" | "question" | "text" => continue,
                "mode" => "hybrid",
                "undated" => "include",
                "since" | "until" => "2025",
                "path" => "news",
                "doc" => "news/gold.txt",
                "id" | "line" => continue,
                "min_score" => "0.1",
                "hnsw" | "exact" if route == "/api/related" => "0",
                _ if p["schema"]["type"].to_string().contains("boolean") => "1",
                _ => "3",
            };
            let (status, body) = server.get(&format!("{base}&{name}={value}"));
            assert_eq!(status, 200, "{route} {name}={value}: {body}");
        }
    }
}

/// The response's status code and the value of header `name` (lowercase), from a raw response.
fn status_and_header(response: &str, name: &str) -> (u16, Option<String>) {
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let head = response.split("\r\n\r\n").next().unwrap_or("");
    let value = head.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string()));
    (status, value)
}

/// A page whose name an attacker points at 127.0.0.1 (DNS rebinding) is same-origin with the
/// server: its requests carry its own name as `Host`, and are refused; names the server is known
/// by are answered. Every response, refusals included, carries the security headers, and the
/// page's script is a file of its own (the policy allows no inline script).
#[test]
fn a_rebinding_page_is_refused_and_every_response_carries_the_security_headers() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, index) = sample_index(tmp.path());
    let server = Server::start_with(&index, &["--addr", "127.0.0.1:0", "--allow-host", "search.lan"]);
    let port = server.base.rsplit(':').next().unwrap().to_string();
    for (host, status) in [
        (format!("attacker.example:{port}"), 403),
        (format!("127.0.0.1.nip.io:{port}"), 403),
        (format!("localhost.attacker.example:{port}"), 403),
        (format!("localhost:{port}"), 200),
        (format!("127.0.0.1:{port}"), 200),
        (format!("[::1]:{port}"), 200),
        (format!("Search.LAN:{port}"), 200),
    ] {
        for path in ["/api/status", "/", "/api/ask?q=Alibaba", "/nosuch"] {
            let r = server.raw(&format!("GET {path} HTTP/1.1\nHost: {host}"));
            let want = if status == 200 && path == "/nosuch" { 404 } else { status };
            assert_eq!(status_and_header(&r, "content-type").0, want, "{host} {path}: {r}");
            if status == 403 {
                assert!(r.contains("--allow-host") && !r.contains("Alibaba"), "{r}");
            }
            let csp = status_and_header(&r, "content-security-policy").1.unwrap_or_else(|| panic!("no CSP: {r}"));
            assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"), "{csp}");
            assert_eq!(status_and_header(&r, "x-content-type-options").1.as_deref(), Some("nosniff"));
            assert_eq!(status_and_header(&r, "referrer-policy").1.as_deref(), Some("no-referrer"));
        }
    }
    let (status, page) = server.get("/");
    assert_eq!(status, 200);
    assert!(!page.as_str().unwrap().contains("<script>") && page.as_str().unwrap().contains(r#"<script src="/page.js">"#), "no inline script");
    let r = server.raw(&format!("GET /page.js HTTP/1.1\nHost: localhost:{port}"));
    assert_eq!(status_and_header(&r, "content-type"), (200, Some("text/javascript; charset=utf-8".into())));
    assert!(r.contains("/^https?:\\/\\//i.test(hit.url)"), "the page links only web URLs");
}

/// With a token, nothing is answered without it: a program sends it as a bearer token, the page
/// gets it once from its address and keeps it in a cookie no script and no other site can use.
/// Listening beyond loopback without one, a token is made and printed.
#[test]
fn a_token_guards_every_request_and_one_is_made_off_loopback() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, index) = sample_index(tmp.path());
    let server = Server::start_with(&index, &["--addr", "127.0.0.1:0", "--token", "s3cret-token"]);
    assert!(server.said.iter().all(|l| !l.contains("s3cret-token")), "a given token is never printed: {:?}", server.said);
    let port = server.base.rsplit(':').next().unwrap().to_string();
    let get = |extra: &str, path: &str| server.raw(&format!("GET {path} HTTP/1.1\nHost: localhost:{port}{extra}"));
    for path in ["/api/status", "/api/ask?q=Alibaba", "/", "/page.js", "/api/passage/x"] {
        let r = get("", path);
        assert_eq!(status_and_header(&r, "content-type").0, 401, "{path}: {r}");
        assert!(!r.contains("Alibaba") || path.contains("Alibaba") && !r.contains("\"results\""), "{r}");
    }
    assert_eq!(status_and_header(&get("\nAuthorization: Bearer s3cret-token", "/api/status"), "x").0, 200);
    assert_eq!(status_and_header(&get("\nAuthorization: Bearer s3cret-tokeN", "/api/status"), "x").0, 401);
    assert_eq!(status_and_header(&get("", "/?token=wrong"), "x").0, 401);
    let r = get("", "/?token=s3cret-token");
    let (status, cookie) = status_and_header(&r, "set-cookie");
    assert_eq!((status, status_and_header(&r, "location").1.as_deref()), (303, Some("/")), "{r}");
    let cookie = cookie.unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().unwrap();
    assert_eq!(status_and_header(&get(&format!("\nCookie: {pair}"), "/api/ask?q=Alibaba&k=1"), "x").0, 200);
    assert_eq!(status_and_header(&get(&format!("\nCookie: {pair}"), "/"), "x").0, 200);
    drop(server);

    let server = Server::start_with(&index, &["--addr", "0.0.0.0:0"]);
    let token = server.token.clone().unwrap_or_else(|| panic!("no token printed: {:?}", server.said));
    assert_eq!(token.len(), 32, "{token}");
    let port = server.base.rsplit(':').next().unwrap().to_string();
    assert_eq!(status_and_header(&server.raw(&format!("GET /api/status HTTP/1.1\nHost: 127.0.0.1:{port}")), "x").0, 401);
    assert_eq!(server.get("/api/status").0, 200, "with the printed token");
    drop(server);
    let out = semsearch(&index).args(["serve", "--addr", "127.0.0.1:0", "--token", " "]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

/// Limits a client cannot get around, each a 400 naming what to change, and a client that never
/// finishes its request header is disconnected instead of holding a connection for as long as it
/// likes.
#[test]
fn limits_are_400s_and_a_half_sent_request_is_cut_off() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let (_, index) = sample_index(tmp.path());
    let server = Server::start(&index);
    let addr = server.base.strip_prefix("http://").unwrap().to_string();
    // The slow client runs beside the rest.
    let slow = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.write_all(b"GET /api/status HTTP/1.1\r\nHost: localhost\r\n").unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(40))).unwrap();
        let started = std::time::Instant::now();
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        (started.elapsed(), buf)
    });
    let words: String = (0..10_000).map(|i| format!("w{i}+")).collect();
    let paths: String = (0..65).map(|i| format!("&path=dir{i}/**")).collect();
    for (query, says) in [
        (format!("/api/ask?q={words}"), "the question has 10000 words; ask in at most 1000"),
        ("/api/ask?q=Alibaba&ef=1000000000000000".to_string(), "ef=1000000000000000 is out of range"),
        (format!("/api/ask?q=Alibaba{paths}"), "65 path patterns given; give at most 64"),
        ("/api/ask?q=Alibaba&k=100000".to_string(), "k=100000 is out of range"),
    ] {
        let (status, body) = server.get(&query);
        assert_eq!(status, 400, "{query:.80}: {body}");
        assert!(error_of(&body).contains(says), "{body}");
    }
    // A long question within the limit is answered, its lexical side bounded.
    let long: String = (0..900).map(|i| format!("w{i}+")).collect();
    let started = std::time::Instant::now();
    assert_eq!(server.get(&format!("/api/ask?q={long}Alibaba&mode=lexical")).0, 200);
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    let (waited, answer) = slow.join().unwrap();
    assert!(answer.is_empty() || String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 408"), "{}", String::from_utf8_lossy(&answer));
    assert!(waited < std::time::Duration::from_secs(20), "the half-sent request was held {waited:?}");
}

/// The page in a real browser over documents written to attack it: markup and script in every
/// field arrive as text (the cards are built with `textContent`, and the policy forbids inline
/// script besides), no link is made of a `javascript:` url, and the page's title is untouched.
#[test]
fn hostile_documents_are_text_in_the_page() {
    let Some(browser) = chromium() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let payloads = [
        r#"<img src=x onerror="document.title='pwned-img'">"#,
        r#"<script>document.title='pwned-script'</script>"#,
        r#"</p><svg onload="document.title='pwned-svg'">"#,
        "\u{202e}reversed\u{1b}[31m red \u{0}nul",
    ];
    let mut jsonl = String::new();
    for (i, p) in payloads.iter().enumerate() {
        let record = serde_json::json!({
            "title": format!("Harbour report {i} {p}"),
            "text": format!("{} {p}", ["Harbour cranes were idle for two days after the storm.", "The harbour pilots voted to strike over night shifts.", "A cruise ship was turned away from the harbour at dawn.", "Fish prices at the harbour market doubled in March."][i]),
            "url": if i == 0 { "javascript:document.title='pwned-url'".to_string() } else { format!("https://news.example/{i}?q=<b>") },
        });
        jsonl.push_str(&record.to_string());
        jsonl.push('\n');
    }
    std::fs::write(docs.join("hostile.jsonl"), jsonl).unwrap();
    let index = tmp.path().join("idx");
    ok_stdout(semsearch(&index).args(["-q", "index"]).arg(&docs));
    let server = Server::start(&index);
    let dom = headless(&browser, &tmp.path().join("profile"), &format!("{}/?q=what+happened+at+the+harbour&mode=semantic", server.base), &["--dump-dom"]);
    assert_eq!(dom.matches("<article").count(), 4, "every document is a card: {dom}");
    assert!(dom.contains("<title>semsearch</title>"), "no payload ran: {dom}");
    for tag in ["<img", "<script>document", "<svg"] {
        assert!(!dom.contains(tag), "{tag} became markup: {dom}");
    }
    assert!(dom.contains("&lt;img src=x onerror="), "the payload is shown as text: {dom}");
    assert!(!dom.contains("href=\"javascript:"), "{dom}");
    assert!(dom.contains("href=\"https://news.example/1?q=&lt;b&gt;\"") || dom.contains("href=\"https://news.example/1?q=<b>\""), "web links are kept: {dom}");
}

/// A string a document might hold in any field: arbitrary characters (controls, bidi marks,
/// non-breaking spaces, astral ones) among fragments of markup, script and entities.
fn hostile_text() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let piece = prop_oneof![
        3 => "[a-z]{1,8} ",
        2 => any::<char>().prop_map(String::from),
        1 => proptest::sample::select(vec![
            "<script>document.title='pwned'</script>",
            "<img src=x onerror=\"document.title='pwned'\">",
            "</p></article><svg onload=document.title='pwned'>",
            "javascript:document.title='pwned'",
            "&amp;&lt;&#x3c;",
            "\u{a0}",
            "\"'`",
            "\u{202e}\u{2066}\u{200b}\u{feff}",
            "\x1b]0;title\x07\x1b[31m",
            "${document.title}{{x}}",
            "\u{2028}\r\n",
        ])
        .prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..10).prop_map(|v| v.concat())
}

/// What a document's `url` might say: web links (any case, anything after them) and what must
/// never become one.
fn hostile_url() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let scheme = proptest::sample::select(vec![
        "https://news.example/",
        "HTTP://news.example/",
        "javascript:",
        "JaVaScRiPt:",
        " javascript:",
        "data:text/html,",
        "vbscript:",
        "//news.example/",
        "",
    ]);
    (scheme, hostile_text()).prop_map(|(s, rest)| format!("{s}{rest}"))
}

/// How Chromium writes a text node (the HTML serialization algorithm).
fn html_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('\u{a0}', "&nbsp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The page's rendering path under arbitrary content: documents whose title, section, text, url
/// and file name are drawn from `hostile_text`/`hostile_url` are indexed, served and shown in a
/// real browser; every card must be exactly the API's result as text (title line, path, passage
/// with its answer marked), no element but the page's own may appear, no script may run, and no
/// link but a web one (or the page's own `?related=`) may be made. proptest draws new documents
/// on each run (and names the failing ones); each case is a whole index and a browser, so few.
#[test]
fn the_page_shows_arbitrary_document_content_as_text() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let Some(browser) = chromium() else { return };
    let doc = (hostile_text(), hostile_text(), hostile_url(), hostile_text(), "[^/\\x00.]{1,12}");
    let mut runner = TestRunner::new(Config { cases: 6, max_shrink_iters: 4, failure_persistence: None, ..Config::default() });
    runner
        .run(&proptest::collection::vec(doc, 4..8), |docs| {
            let tmp = tempfile::tempdir().unwrap();
            let dir = tmp.path().join("docs");
            std::fs::create_dir_all(&dir).unwrap();
            let facts = ["Harbour cranes were idle after the storm.", "The harbour pilots voted to strike.", "A ship was turned away from the harbour."];
            let mut jsonl = String::new();
            for (i, (title, text, url, section, name)) in docs.iter().enumerate() {
                let fact = facts[i % facts.len()];
                if i % 2 == 0 {
                    jsonl.push_str(&json!({ "title": title, "text": format!("{fact} {text}"), "url": url }).to_string());
                    jsonl.push('\n');
                } else {
                    // A Markdown file: the title a heading, the section below it, a hostile file name.
                    let md = format!("# {}\n\n## {}\n\n{fact} {text}\n", title.replace('\n', " "), section.replace('\n', " "));
                    std::fs::write(dir.join(format!("doc{i} {name}.md")), md).unwrap();
                }
            }
            std::fs::write(dir.join("records.jsonl"), jsonl).unwrap();
            let index = tmp.path().join("idx");
            let out = semsearch(&index).args(["-q", "index"]).arg(&dir).output().unwrap();
            prop_assert!(out.status.success(), "index failed: {}", String::from_utf8_lossy(&out.stderr));
            let server = Server::start(&index);
            let query = "/api/ask?q=what+happened+at+the+harbour&mode=semantic";
            let (status, api) = server.get(query);
            prop_assert_eq!(status, 200, "{}", api);
            let hits = api["results"].as_array().unwrap().clone();
            prop_assert!(!hits.is_empty(), "{}", api);
            let dom =
                headless(&browser, &tmp.path().join("profile"), &format!("{}/?q=what+happened+at+the+harbour&mode=semantic", server.base), &["--dump-dom"]);

            prop_assert!(dom.contains("<title>semsearch</title>") && !dom.contains("pwned</title>"), "a script ran: {}", dom);
            let results = &dom[dom.find("<div id=\"results\">").expect("the results box")..];
            let results = &results[..results.find("<p class=\"keys\">").expect("the keys line after the results")];
            // Only the page's own elements: whatever a document says arrives as text.
            for tag in results.split('<').skip(1) {
                let name: String = tag.trim_start_matches('/').chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
                prop_assert!(["div", "article", "p", "span", "a", "mark"].contains(&name.as_str()), "<{}> in the results: {}", name, results);
            }
            prop_assert_eq!(results.matches("<article").count(), hits.len(), "one card per result: {}", results);
            for href in results.split("href=\"").skip(1) {
                let href = &href[..href.find('"').unwrap()].to_ascii_lowercase();
                prop_assert!(href.starts_with("https://") || href.starts_with("http://") || href.starts_with("?related="), "a link to {}", href);
            }
            let web = hits
                .iter()
                .filter(|h| h["url"].as_str().is_some_and(|u| u.to_ascii_lowercase().starts_with("http://") || u.to_ascii_lowercase().starts_with("https://")))
                .count();
            prop_assert_eq!(results.matches(">source</a>").count(), web, "a source link for each web url: {}", results);
            for (card, hit) in results.split("<article").skip(1).zip(&hits) {
                let s = |k: &str| hit[k].as_str().unwrap_or("").to_string();
                let heading = [s("section"), s("title"), s("path")].into_iter().find(|x| !x.is_empty()).unwrap();
                prop_assert!(card.contains(&format!("<p class=\"title\">{}</p>", html_text(&heading))), "title line {:?}: {}", heading, card);
                let lines =
                    if hit["line_start"] == hit["line_end"] { format!("{}", hit["line_start"]) } else { format!("{}-{}", hit["line_start"], hit["line_end"]) };
                prop_assert!(card.contains(&format!("<span class=\"path\">{}:{lines}</span>", html_text(&s("path")))), "path {:?}: {}", s("path"), card);
                let (text, answer) = (s("text"), s("answer"));
                let shown = match text.find(&answer).filter(|_| !answer.is_empty()) {
                    Some(at) => format!("{}<mark>{}</mark>{}", html_text(&text[..at]), html_text(&answer), html_text(&text[at + answer.len()..])),
                    None => html_text(&text),
                };
                prop_assert!(card.contains(&format!("<p class=\"text\">{shown}</p>")), "passage {:?}: {}", text, card);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

/// CPU time (user + system, clock ticks) a process has used.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

#[test]
fn serve_watch_follows_an_edit_a_save_by_rename_a_delete_and_a_burst_of_a_thousand_files() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("notes");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("copper.md"), "# Copper\n\nCopper rose on worries about Chilean mine supply.\n").unwrap();
    // The index inside the folder, as a user keeps it: its own writes are not changes to follow.
    let index = folder.join(".semsearch");
    let server = Server::start_with(&index, &["--addr", "127.0.0.1:0", "--watch", folder.to_str().unwrap()]);
    let top = |q: &str| -> Option<Value> {
        let (status, body) = server.get(&format!("/api/ask?k=1&q={}", form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>()));
        assert!(status == 200, "{body}");
        body["results"].as_array().and_then(|r| r.first().cloned())
    };
    let runs = || server.later.lock().unwrap().iter().filter(|l| l.ends_with("; indexing")).count();
    // How long after `since` `seen` holds (polled every 20 ms, up to `limit`).
    let until = |since: Instant, limit: Duration, seen: &dyn Fn() -> bool| -> Duration {
        while !seen() {
            assert!(since.elapsed() < limit, "not seen within {limit:?}; stderr: {:?}", server.later.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
        since.elapsed()
    };
    assert_eq!(top("Why did copper rise?").unwrap()["path"], "copper.md");

    // An edit in place.
    let t = Instant::now();
    std::fs::write(
        folder.join("copper.md"),
        "# Copper\n\nCopper rose on worries about Chilean mine supply.\n\nZinc smelters in Hunan cut output after a power shortage.\n",
    )
    .unwrap();
    let edit =
        until(t, Duration::from_secs(10), &|| top("Why did Hunan zinc smelters cut output?").is_some_and(|h| h["text"].as_str().unwrap().contains("Hunan")));
    // A save as editors make it: a temporary file renamed over the name.
    let t = Instant::now();
    std::fs::write(folder.join(".tin.md.tmp"), "# Tin\n\nTin supply from Myanmar resumed after a long halt at the Man Maw mine.\n").unwrap();
    std::fs::rename(folder.join(".tin.md.tmp"), folder.join("tin.md")).unwrap();
    let rename = until(t, Duration::from_secs(10), &|| top("Is tin from Myanmar flowing again?").is_some_and(|h| h["path"] == "tin.md"));
    // A delete.
    let t = Instant::now();
    std::fs::remove_file(folder.join("copper.md")).unwrap();
    let delete = until(t, Duration::from_secs(10), &|| top("Why did Hunan zinc smelters cut output?").is_none_or(|h| h["path"] != "copper.md"));
    for (what, took) in [("edit", edit), ("save by rename", rename), ("delete", delete)] {
        eprintln!("{what}: visible after {took:?}");
        assert!(took < Duration::from_secs(2), "{what} took {took:?}: {:?}", server.later.lock().unwrap());
    }

    // A checkout of 1,000 files: one index run.
    let before = runs();
    let burst = folder.join("desk");
    std::fs::create_dir_all(&burst).unwrap();
    for i in 0..1000 {
        std::fs::write(burst.join(format!("n{i:04}.md")), format!("Desk note {i}: inventories at warehouse {i} were counted.\n")).unwrap();
    }
    let t = Instant::now();
    let all = until(t, Duration::from_secs(120), &|| server.get("/api/status").1["documents"].as_u64() == Some(1001));
    eprintln!("1,000 files: visible {all:?} after the last write");
    assert_eq!(runs() - before, 1, "one run for the burst: {:?}", server.later.lock().unwrap());
    assert_eq!(top("warehouse 0777 inventories counted desk note 777").unwrap()["path"], "desk/n0777.md");

    // Nothing changes: nothing runs.
    std::thread::sleep(Duration::from_millis(500));
    let (ticks, runs_then) = (cpu_ticks(server.pid()), runs());
    std::thread::sleep(Duration::from_secs(3));
    let idle = cpu_ticks(server.pid()) - ticks;
    assert!(idle <= 3, "{idle} ticks of CPU in 3 idle seconds");
    assert_eq!(runs(), runs_then);
    // One run made the new index before the server listened, and one ran per burst: the watch
    // did not read every file again at start to find what the server had just been made from.
    let later = server.later.lock().unwrap().clone();
    let indexed = server.said.iter().chain(&later).filter(|l| l.starts_with("semsearch: indexed ")).count();
    assert_eq!(indexed, 1 + runs_then, "before listening: {:?}; after: {later:?}", server.said);
}
