//! Formats as a reader sees them, end to end with the real model: Markdown headings and front
//! matter, saved web pages with their boilerplate, hostile HTML, JSONL metadata, shell completions.

use crate::common;
use common::{analyst_folder, json_lines, ok_stdout, repo, semsearch};
use std::path::{Path, PathBuf};

fn indexed(tmp: &Path) -> (PathBuf, PathBuf) {
    let folder = analyst_folder(tmp);
    // Inside the folder, as a user keeps it: stored paths are relative to it.
    let index = folder.join(".semsearch");
    ok_stdout(semsearch(&index).arg("index").arg(&folder));
    (folder, index)
}

fn ask(index: &Path, q: &str, k: usize) -> Vec<serde_json::Value> {
    json_lines(&ok_stdout(semsearch(index).args(["ask", "--all", "--json", "-k", &k.to_string(), q])))
}

fn all_passages(index: &Path) -> Vec<serde_json::Value> {
    // More results than passages, none capped or folded: every passage once.
    json_lines(&ok_stdout(semsearch(index).args(["ask", "--all", "--json", "-k", "500", "--per-doc", "0", "--no-fold", "news"])))
}

#[test]
fn markdown_answers_with_the_sentence_not_the_headline() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, index) = indexed(tmp.path());
    // Read as plain text, this question got "# Dockworkers end strike at Antwerp-Bruges" as its answer.
    let top = &ask(&index, "How much did the Antwerp port strike cost shippers?", 1)[0];
    assert_eq!(top["path"], "notes/port-strike.md");
    let answer = top["answer"].as_str().unwrap();
    assert!(answer.contains("cost shippers about 120 million euros"), "{answer}");
    assert_eq!(top["section"], "Dockworkers end strike at Antwerp-Bruges › Costs");
    assert_eq!(top["title"], "Dockworkers end strike at Antwerp-Bruges");
    // path:line is the line of the sentence in the Markdown file.
    assert_eq!(top["line_start"], 15, "{top}");
    let line = std::fs::read_to_string(repo().join("examples/analyst/notes/port-strike.md")).unwrap();
    assert!(line.lines().nth(14).unwrap().contains("120 million euros"));
    // The dateline is searchable text but not the answer.
    let top = &ask(&index, "Why was the ECB decision taken in Frankfurt on 6 March?", 1)[0];
    assert_ne!(top["answer"], "Frankfurt, 6 March", "{top}");
    // No passage shows markup or a heading as its text.
    for p in all_passages(&index) {
        let text = p["text"].as_str().unwrap();
        for mark in ["# ", "**", "`", "](", "---"] {
            assert!(!text.contains(mark), "markup {mark:?} in passage {text:?}");
        }
        assert!(!text.contains("Market reaction"), "a heading is passage text: {text:?}");
    }
}

#[test]
fn front_matter_is_read_and_not_indexed() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, index) = indexed(tmp.path());
    let hits: Vec<_> = all_passages(&index).into_iter().filter(|p| p["path"] == "notes/chip-exports.md").collect();
    assert_eq!(hits.len(), 3);
    for p in &hits {
        assert_eq!(p["title"], "Netherlands widens chip export licensing");
        assert_eq!(p["date"], "2025-01-15");
        assert_eq!(p["url"], "https://example.org/news/dutch-chip-licences");
        let text = p["text"].as_str().unwrap();
        assert!(!text.contains("tags") && !text.contains("semiconductors") && !text.contains("url:"), "{text}");
    }
}

#[test]
fn web_pages_index_only_their_article() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, index) = indexed(tmp.path());
    let pages: Vec<_> = all_passages(&index).into_iter().filter(|p| p["path"].as_str().unwrap().ends_with(".html")).collect();
    assert!(pages.len() >= 4, "{pages:?}");
    let boilerplate = [
        "cookies",
        "Accept all",
        "Manage preferences",
        "Most read",
        "Celebrity chef",
        "Lottery winner",
        "Subscribe",
        "All rights reserved",
        "Terms and conditions",
        "Sign in",
        "Newsletters",
        "Related stories",
        "Airport parking",
        "Advertise",
        "dataLayer",
        "position: fixed",
        "Coastal Times",
    ];
    for p in &pages {
        let text = p["text"].as_str().unwrap();
        for word in boilerplate {
            assert!(!text.contains(word), "boilerplate {word:?} indexed in {}: {text:?}", p["path"]);
        }
    }
    let wind: Vec<_> = pages.iter().filter(|p| p["path"] == "web/wind-farm.html").collect();
    let all_text: String = wind.iter().map(|p| p["text"].as_str().unwrap()).collect();
    assert!(all_text.contains("shortage of installation vessels") && all_text.contains("300 construction jobs"), "{all_text}");
    for p in &wind {
        assert_eq!(p["title"], "Offshore wind farm off Norfolk delayed by two years");
        assert_eq!(p["date"], "2025-02-20T08:30:00Z");
        assert_eq!(p["url"], "https://coastal-times.example/energy/norfolk-wind-delay");
    }
    let grid = wind.iter().find(|p| p["text"].as_str().unwrap().contains("Necton")).unwrap();
    assert_eq!(grid["section"], "Offshore wind farm off Norfolk delayed by two years › Grid connection");
    assert_eq!(grid["line_start"], 26, "the line of <p>National Grid… in the HTML file");
    let rail = pages.iter().find(|p| p["path"] == "web/rail-fares.html").unwrap();
    assert_eq!(rail["title"], "Rail fares to rise 4.6% in March", "site name cut from <title>, or the <h1>");
    assert_eq!(rail["date"], "2025-01-09");
    assert_eq!(rail["url"], "https://ledger.example/transport/rail-fares-2025");
}

#[test]
fn hostile_html_never_panics_and_good_files_beside_it_are_indexed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("pages");
    std::fs::create_dir_all(&dir).unwrap();
    let mut huge = b"<html><body><div class=\"".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 5 << 20));
    huge.extend(b"\"><p>After the enormous tag the article finally begins and says the river flooded twice.</p></body></html>");
    let files: Vec<(&str, Vec<u8>)> = vec![
        ("unterminated.html", b"<html><body><p>Unterminated <b bold <i>tags everywhere <div class=\"x".to_vec()),
        ("lt-in-text.html", b"<p>price < 5 and the sum is 3 < 4</p> <".to_vec()),
        ("bare-lt.html", "<p>Fuel now costs < 2 €".as_bytes().to_vec()),
        ("lt-multibyte.html", "<p>prices <é rose</p><p><€ sign and <日本 text</p>".as_bytes().to_vec()),
        ("nested-scripts.html", b"<script>document.write('<script>x<\\/script>')</script><script><script></script><p>Text after the scripts.</p>".to_vec()),
        ("comments.html", b"<!-- a --><p>Shown<!-- unclosed comment <p>hidden</p>".to_vec()),
        ("cdata.html", b"<![CDATA[ raw < data ]]><p>entities &amp; &lt; &#x1F600; &#99999999; &bogus; & done</p>".to_vec()),
        ("entities.html", b"<p>&nbsp;&NotAnEntity;&#0;&#xD800;&amp&lt&gt text</p>".to_vec()),
        ("huge-tag.html", huge),
        ("latin1.html", b"<html><head><meta charset=\"iso-8859-1\"></head><body><p>Caf\xe9 cr\xe8me br\xfbl\xe9e</p></body></html>".to_vec()),
        ("bad-utf8-declared.html", b"<meta charset=\"utf-8\"><p>broken \xff\xfe bytes here</p>".to_vec()),
        ("nul.html", b"<p>nul\x00byte</p>".to_vec()),
        ("empty.html", Vec::new()),
        ("only-tags.html", b"<html><head></head><body><div></div></body></html>".to_vec()),
    ];
    for (name, bytes) in &files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    std::fs::write(dir.join("good.md"), "# Lighthouse log\n\nThe lighthouse keeper counted 412 ships passing the cape in March.\n").unwrap();
    // Each hostile file alone: indexed (0) or refused (2) with its name, never a panic (101).
    for (name, _) in &files {
        let index = tmp.path().join(format!("idx-{name}"));
        let out = semsearch(&index).arg("index").arg(dir.join(name)).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        assert!(code == Some(0) || code == Some(2), "{name}: exit {code:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        if code == Some(2) {
            assert!(stderr.contains(name), "{name}: the error must name the file: {stderr}");
        }
    }
    // All together: the run succeeds and the good file is searchable.
    let index = dir.join(".semsearch");
    let out = semsearch(&index).arg("index").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let top = &ask(&index, "How many ships did the lighthouse keeper count?", 1)[0];
    assert_eq!(top["path"], "good.md");
    let texts: String = all_passages(&index).iter().map(|p| p["text"].as_str().unwrap().to_string() + "\n").collect();
    assert!(texts.contains("Café crème brûlée"), "declared charset decoded: {texts}");
    assert!(texts.contains("the river flooded twice"), "{texts}");
    assert!(!texts.contains("document.write") && !texts.contains("hidden"), "{texts}");
}

#[test]
fn jsonl_dates_and_urls_reach_ask_json_and_status() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, index) = indexed(tmp.path());
    let top = &ask(&index, "How many flights did Finnair cancel?", 1)[0];
    assert_eq!(top["doc_id"], "reuters-002");
    assert_eq!(top["date"], "2025-02-27T06:10:00+02:00", "published_at as given");
    assert_eq!(top["url"], "https://wire.example/finnair-strike", "link");
    assert_eq!(top["title"], "Airline strike grounds flights in Helsinki");
    assert!(!top["text"].as_str().unwrap().contains("Airline strike grounds"), "the title is context, not text");
    let top = &ask(&index, "Tokyo condominium prices", 1)[0];
    assert_eq!(top["doc_id"], "reuters-003");
    assert!(top["date"].is_null(), "\"last Tuesday\" is not a date: {top}");
    assert_eq!(top["url"], "https://wire.example/tokyo-condos");
    // Human output shows the date and url under the title.
    let human = String::from_utf8(ok_stdout(semsearch(&index).args(["ask", "-k", "1", "copper record price"]))).unwrap();
    assert!(human.contains("2025-03-04  https://wire.example/copper-record"), "{human}");
    // status counts documents with and without a date, and lists them.
    let status: serde_json::Value = serde_json::from_slice(&ok_stdout(semsearch(&index).args(["status", "--json", "--files"]))).unwrap();
    assert_eq!(status["documents"], 12);
    assert_eq!(status["documents_with_date"], 5, "{status}");
    assert_eq!(status["documents_without_date"], 7);
    let files = status["files"].as_array().unwrap();
    let wind = files.iter().find(|f| f["path"] == "web/wind-farm.html").unwrap();
    assert_eq!(wind["date"], "2025-02-20T08:30:00Z");
    let human = String::from_utf8(ok_stdout(semsearch(&index).arg("status"))).unwrap();
    assert!(human.contains("12 (5 with a date, 7 without)"), "{human}");
}

#[test]
fn an_unparseable_date_is_a_warning_naming_file_and_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("in");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.jsonl"), "{\"id\":\"1\",\"text\":\"Ships left the harbour at dawn.\",\"date\":\"2025-01-02\"}\n{\"id\":\"2\",\"text\":\"Rain fell on the quay all day.\",\"date\":\"yesterday\"}\n").unwrap();
    std::fs::write(dir.join("b.md"), "---\ntitle: Notes\ndate: 31/02/2025\n---\n\nThe ferry was late again.\n").unwrap();
    let index = tmp.path().join("idx");
    let out = semsearch(&index).arg("index").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("a.jsonl:2: date \"yesterday\" is not ISO 8601"), "{stderr}");
    assert!(stderr.contains("b.md:3: date \"31/02/2025\" is not ISO 8601"), "{stderr}");
    let status: serde_json::Value = serde_json::from_slice(&ok_stdout(semsearch(&index).args(["status", "--json"]))).unwrap();
    assert_eq!((status["documents"].as_u64(), status["documents_with_date"].as_u64()), (Some(3), Some(1)));
}

#[test]
fn completions_generate_for_each_shell() {
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef semsearch"), ("fish", "complete -c semsearch")] {
        let out = assert_cmd::Command::cargo_bin("semsearch").unwrap().args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains(marker), "{shell}: {script:.200}");
        for sub in ["index", "ask", "related", "status", "bench", "completions"] {
            assert!(script.contains(sub), "{shell} completions miss {sub}");
        }
    }
    // bash accepts the script and registers it.
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!("source <({} completions bash) && complete -p semsearch", assert_cmd::cargo::cargo_bin("semsearch").display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("semsearch"));
    let out = assert_cmd::Command::cargo_bin("semsearch").unwrap().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

/// A document's `url` becomes a link on the page: only web addresses are kept, from every format
/// that carries one, and each other one is a warning naming the file and line.
#[test]
fn only_web_urls_are_stored_and_others_are_warned_at_their_line() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join("front.md"), "---\ntitle: Tanker rates\nurl: \" javascript:fetch('/api/status')\"\n---\n\nTanker rates doubled in a week.\n")
        .unwrap();
    std::fs::write(
        docs.join("page.html"),
        "<html><head><title>Freight</title>\n<link rel=\"canonical\" href=\"data:text/html,<script>alert(1)</script>\">\n</head>\n<body><article><p>Freight rates on the Asia to Europe route fell for a fifth week as new ships arrived.</p></article></body></html>\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("feed.jsonl"),
        "{\"title\": \"Coal\", \"text\": \"Coal imports rose in March.\", \"url\": \"https://news.example/coal\"}\n\
         {\"title\": \"Gas\", \"text\": \"Gas storage is full ahead of winter.\", \"url\": \"vbscript:msgbox(1)\"}\n",
    )
    .unwrap();
    let index = tmp.path().join("idx");
    let out = semsearch(&index).args(["index"]).arg(&docs).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for at in ["docs/front.md:3: url \"javascript:fetch", "docs/page.html:2: url \"data:text/html", "docs/feed.jsonl:2: url \"vbscript:msgbox(1)\""] {
        assert!(stderr.contains(at) && stderr.contains("is not a web address"), "{at}: {stderr}");
    }
    let all = json_lines(&ok_stdout(semsearch(&index).args(["ask", "--all", "--json", "-k", "10", "--mode", "semantic", "rates"])));
    assert_eq!(all.len(), 4, "{all:#?}");
    let urls: Vec<&serde_json::Value> = all.iter().map(|h| &h["url"]).collect();
    assert_eq!(urls.iter().filter(|u| u.is_null()).count(), 3, "{urls:?}");
    assert!(urls.contains(&&serde_json::Value::from("https://news.example/coal")), "{urls:?}");
}
