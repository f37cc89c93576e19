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

/// A two-column, two-page research note as its publisher's tools print it (HTML through Chromium's
/// PDF printer: a tagged PDF with a running header, page numbers, and a word broken by a hyphen).
const REPORT_HTML: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Copper Outlook Q3 2025</title>
<style>
@page { size: A4; margin: 2.5cm 2cm; @top-center { content: "Northbridge Research — Metals Weekly"; font-size: 9pt } @bottom-center { content: counter(page); font-size: 9pt } }
body { font-family: serif; font-size: 11pt; } .cols { column-count: 2; column-gap: 1cm; text-align: justify; } h1 { font-size: 20pt; }
</style></head><body>
<h1>Copper Outlook for the Third Quarter</h1>
<p>Published 14 July 2025</p>
<div class="cols">
<h2>Supply</h2>
<p>Chilean output fell for a fourth month as the Escondida concentrator ran below capacity after a labour dispute. Smelter treatment charges turned negative, a sign that concentrate is scarce. The extraordinarily tight concentrate market means that refin&shy;ed production will lag mine supply into next year.</p>
<p>Peruvian exports were disrupted by road blockades near Las Bambas, removing an estimated forty thousand tonnes from the quarter. Inventories at the London Metal Exchange fell to their lowest level since 2008.</p>
<h2>Demand</h2>
<p>Chinese grid investment rose eleven percent in the first half, and purchases by cable makers accelerated in June. Electric vehicle production in Europe recovered after a weak spring. We expect global refined demand to grow by two point eight percent this year, driven by electrification and data centre construction.</p>
<h2>Prices</h2>
<p>We raise our third-quarter forecast to nine thousand eight hundred dollars a tonne, from nine thousand two hundred, and see the risk skewed to the upside while treatment charges stay below zero.</p>
</div>
<div style="break-before: page" class="cols">
<h2>Risks</h2>
<p>A sharp slowdown in Chinese property construction would cut demand for copper tubing and wire. A faster restart at Cobre Panamá would ease the concentrate shortage.</p>
<p>Tariffs on refined copper imports into the United States could redirect flows and widen the spread between Comex and the London Metal Exchange.</p>
</div>
</body></html>"#;

/// `qpdf`, which encrypts a PDF for the test; `None` (skipped, saying so) only outside CI.
fn qpdf() -> Option<PathBuf> {
    let found = ["/usr/bin/qpdf", "/usr/local/bin/qpdf"].iter().map(PathBuf::from).find(|p| p.exists());
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI needs qpdf for the PDF test: apt-get install qpdf");
        eprintln!("skipped: no qpdf (apt-get install qpdf)");
    }
    found
}

/// PDFs end to end: a report read in reading order, by page, headers and page numbers dropped, its
/// headings as sections, hyphenation joined; beside it a password-protected copy, a scan without
/// text, a copy cut in half and one with a broken cross-reference table: each named in a warning
/// saying what to do, or read as far as it goes, never a panic, and the good file indexed.
#[test]
fn a_pdf_is_read_by_page_in_reading_order_and_bad_pdfs_are_named() {
    let (Some(browser), Some(qpdf)) = (common::chromium(), qpdf()) else { return };
    let tmp = tempfile::tempdir().unwrap();
    let (html, docs) = (tmp.path().join("html"), tmp.path().join("docs"));
    std::fs::create_dir_all(&html).unwrap();
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(html.join("report.html"), REPORT_HTML).unwrap();
    let print = |page: &str, pdf: &Path| {
        common::headless(
            &browser,
            &tmp.path().join("profile"),
            &format!("file://{}", html.join(page).display()),
            &["--no-pdf-header-footer", &format!("--print-to-pdf={}", pdf.display())],
        );
    };
    let report = docs.join("copper-outlook.pdf");
    print("report.html", &report);
    // A scan: the report's page as a picture, printed to a PDF without a text layer.
    common::headless(
        &browser,
        &tmp.path().join("profile"),
        &format!("file://{}", html.join("report.html").display()),
        &[&format!("--screenshot={}", html.join("page.png").display())],
    );
    std::fs::write(html.join("scan.html"), r#"<!doctype html><body style="margin:0"><img src="page.png" style="width:100%"></body>"#).unwrap();
    print("scan.html", &docs.join("scanned.pdf"));
    let status =
        std::process::Command::new(&qpdf).args(["--encrypt", "secret", "secret", "256", "--"]).arg(&report).arg(docs.join("locked.pdf")).status().unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&report).unwrap();
    assert!(bytes.starts_with(b"%PDF-"), "Chromium printed a PDF");
    std::fs::write(docs.join("half.pdf"), &bytes[..bytes.len() / 2]).unwrap();
    // Every offset of the cross-reference table wrong by 7 bytes.
    let at = bytes.windows(4).rposition(|w| w == b"xref").unwrap();
    let table = String::from_utf8_lossy(&bytes[at..]).into_owned();
    let shifted: String = table
        .lines()
        .map(|l| match l.split(' ').collect::<Vec<_>>()[..] {
            [off, gen, "n"] if off.len() == 10 => format!("{:010} {gen} n", off.parse::<u64>().unwrap() + 7),
            _ => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(docs.join("bad-xref.pdf"), [&bytes[..at], shifted.as_bytes()].concat()).unwrap();

    let index = tmp.path().join("idx");
    let out = semsearch(&index).arg("index").arg(&docs).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("locked.pdf: skipped: encrypted with a password") && stderr.contains("qpdf --decrypt"), "{stderr}");
    assert!(stderr.contains("scanned.pdf: skipped: no text layer") && stderr.contains("OCR it first"), "{stderr}");
    assert!(!stderr.contains("panick"), "{stderr}");

    let hits = json_lines(&ok_stdout(semsearch(&index).args([
        "ask",
        "--json",
        "--no-fold",
        "-k",
        "20",
        "--per-doc",
        "0",
        "--path",
        "docs/copper-outlook.pdf",
        "copper",
    ])));
    assert!(hits.len() >= 4, "{hits:?}");
    for h in &hits {
        let text = h["text"].as_str().unwrap();
        assert!(!text.contains("Northbridge Research"), "the running header is dropped: {text}");
        assert!(h["byte_start"].is_null() && h["page_start"] == h["line_start"] && h["page_end"] == h["line_end"], "{h}");
        assert_eq!(h["title"], "Copper Outlook Q3 2025", "the document's /Title");
    }
    let all: String = hits.iter().map(|h| h["text"].as_str().unwrap()).collect::<Vec<_>>().join("\n");
    assert!(all.contains("refined production will lag") && !all.contains("refin ed"), "the soft hyphen is joined: {all}");
    // The second column's first line goes on from the first column's last.
    assert!(all.contains("copper tubing and wire"), "{all}");
    let top = |q: &str| json_lines(&ok_stdout(semsearch(&index).args(["ask", "--json", "-k", "1", "--path", "docs/copper-outlook.pdf", q]))).remove(0);
    let prices = top("What is the copper price forecast for the third quarter?");
    assert_eq!((prices["page_start"].as_u64(), prices["section"].as_str()), (Some(1), Some("Copper Outlook Q3 2025 › Prices")), "{prices}");
    assert!(prices["answer"].as_str().unwrap().contains("nine thousand eight hundred dollars"), "{prices}");
    let risks = top("What could ease the shortage of concentrate?");
    assert_eq!(risks["page_start"].as_u64(), Some(2), "{risks}");
    assert!(risks["text"].as_str().unwrap().contains("Cobre Panamá"), "{risks}");
    let human = String::from_utf8(ok_stdout(semsearch(&index).args([
        "ask",
        "-k",
        "1",
        "--path",
        "docs/copper-outlook.pdf",
        "What could ease the shortage of concentrate?",
    ])))
    .unwrap();
    assert!(human.starts_with("1. docs/copper-outlook.pdf:page 2 "), "{human}");

    // The damaged copies: read as far as they go, or skipped with a reason, never a panic.
    let status = json_lines(&ok_stdout(semsearch(&index).args(["status", "--json", "--files"])));
    let files = serde_json::to_string(&status).unwrap();
    assert!(files.contains("bad-xref.pdf"), "a broken cross-reference table is repaired: {files}");
    assert!(!files.contains("locked.pdf") && !files.contains("scanned.pdf"), "{files}");
}

/// Nothing left out without a word: files in no format semsearch reads are counted by extension,
/// skips by what happened; a warning the last run gave is not printed again while the file stays
/// as it is (`status --warnings` lists them), and a new or changed problem is.
#[test]
fn the_walk_counts_what_it_left_out_and_does_not_repeat_last_run_s_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = analyst_folder(tmp.path());
    for (name, bytes) in [("deck.key", &b"PK\x03\x04"[..]), ("memo.pages", b"PK"), ("old.pages", b"PK"), ("notes/empty.md", b"  \n")] {
        std::fs::write(folder.join(name), bytes).unwrap();
    }
    let index = folder.join(".semsearch");
    let run = || {
        let out = semsearch(&index).arg("index").arg(&folder).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stderr).unwrap()
    };
    let first = run();
    assert!(first.contains("warning: notes/empty.md: skipped: empty"), "{first}");
    assert!(first.contains("warning: export.jsonl:3: date \"last Tuesday\""), "{first}");
    assert!(first.contains("(1 skipped: empty; 3 unsupported: .pages ×2, .key)"), "{first}");

    let second = run();
    assert!(!second.contains("warning:"), "nothing changed, nothing repeated: {second}");
    assert!(second.contains("2 warnings as in the last run not repeated, see `semsearch status --warnings`"), "{second}");
    let listed = String::from_utf8(ok_stdout(semsearch(&index).args(["status", "--warnings"]))).unwrap();
    assert!(listed.contains("warnings    2 from the last index run:") && listed.contains("notes/empty.md: skipped: empty"), "{listed}");
    let status: serde_json::Value = serde_json::from_slice(&ok_stdout(semsearch(&index).args(["status", "--json", "--warnings"]))).unwrap();
    assert_eq!(status["warnings"], 2, "{status}");
    assert_eq!(status["warning_list"][0]["at"], "export.jsonl:3", "{status}");

    // Fixed, it is indexed and its warning is gone; a new problem is printed.
    std::fs::write(folder.join("notes/empty.md"), "# Now a note\n\nWith a sentence about copper.\n").unwrap();
    std::fs::write(folder.join("notes/blank.txt"), "\n").unwrap();
    let out = semsearch(&index).args(["index", "--json"]).arg(&folder).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let third = String::from_utf8(out.stderr).unwrap();
    assert!(third.contains("warning: notes/blank.txt: skipped: empty") && !third.contains("empty.md"), "{third}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((summary["skipped_by_reason"]["empty"].as_u64(), summary["unsupported"][".pages"].as_u64()), (Some(1), Some(2)), "{summary}");
    assert_eq!(summary["warnings_not_repeated"], 1, "the JSONL date is still as it was: {summary}");
}

/// Dates a document states itself: a brief that begins with its ISO date, a wire story's dateline,
/// a note's "Published" line; a date inside a sentence is the story's and is not taken. A date
/// range leaves undated documents out and says how many; `--undated include` keeps them.
#[test]
fn dates_come_from_datelines_and_undated_documents_can_be_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("desk-briefs.txt"),
        "2025-02-03 Copper jumps as Chilean mine output falls for a fourth month.\n2025-02-04 Aluminium slips on rising Chinese smelter exports.\nZinc treatment charges were unchanged on the week.\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("wire.txt"),
        "LONDON, March 6, 2025 (Reuters) - Copper prices rose to a ten-month high as traders bet on tighter supply.\n\nStocks at the exchange fell again.\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("note.md"),
        "# Nickel glut deepens\n\nPublished 14 July 2025\n\nIndonesian nickel output kept rising while stainless steel demand stayed weak.\n",
    )
    .unwrap();
    std::fs::write(docs.join("history.txt"), "The copper price collapsed on March 6, 2009 after banks cut credit lines to traders across the world.\n")
        .unwrap();
    let index = tmp.path().join("idx");
    ok_stdout(semsearch(&index).args(["-q", "index"]).arg(&docs));
    let status: serde_json::Value = serde_json::from_slice(&ok_stdout(semsearch(&index).args(["status", "--json", "--files"]))).unwrap();
    let date_of = |id: &str| status["files"].as_array().unwrap().iter().find(|f| f["doc_id"] == id).map(|f| f["date"].clone()).unwrap();
    assert_eq!(date_of("docs/desk-briefs.txt:1"), "2025-02-03");
    assert_eq!(date_of("docs/desk-briefs.txt:2"), "2025-02-04");
    assert!(date_of("docs/desk-briefs.txt:3").is_null());
    assert_eq!(date_of("docs/wire.txt"), "2025-03-06");
    assert_eq!(date_of("docs/note.md"), "2025-07-14");
    assert!(date_of("docs/history.txt").is_null(), "a date inside a sentence is the story's");

    let ask = |extra: &[&str]| {
        let out = semsearch(&index)
            .args(["ask", "--json", "--all", "-k", "10", "--per-doc", "0", "--since", "2025-03"])
            .args(extra)
            .arg("copper prices")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let paths: Vec<String> = json_lines(&out.stdout).iter().map(|h| h["doc_id"].as_str().unwrap().to_string()).collect();
        (paths, String::from_utf8(out.stderr).unwrap())
    };
    let (found, said) = ask(&[]);
    assert!(found.contains(&"docs/wire.txt".to_string()) && !found.iter().any(|p| p.starts_with("docs/desk-briefs") || p == "docs/history.txt"), "{found:?}");
    assert!(said.contains("2 documents without a date were left out by --since/--until"), "{said}");
    let (found, said) = ask(&["--undated", "include"]);
    assert!(found.contains(&"docs/history.txt".to_string()) && found.contains(&"docs/desk-briefs.txt:3".to_string()), "{found:?}");
    assert!(!found.contains(&"docs/desk-briefs.txt:1".to_string()), "dated before the range: {found:?}");
    assert!(!said.contains("left out"), "{said}");
}

/// `byte_start..byte_end` is where a passage is in its file: for plain text and Markdown the
/// file's bytes there are the passage (Markdown: with its markup); HTML, JSONL and PDF text is not
/// the file's, so they carry none. A front-matter title worded otherwise than the first heading is
/// not repeated in the section path.
#[test]
fn byte_offsets_point_into_the_file_and_sections_do_not_repeat_the_title() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = analyst_folder(tmp.path());
    std::fs::write(
        folder.join("notes/fomc.md"),
        "---\ntitle: \"FOMC June 2025 — hold, two cuts pencilled in\"\n---\n\n# FOMC June 2025\n\n## Decision\n\nThe committee held the federal funds rate at 4.25 to 4.5 percent &amp; signalled **two cuts** later this year.\n",
    )
    .unwrap();
    let index = folder.join(".semsearch");
    ok_stdout(semsearch(&index).args(["-q", "index"]).arg(&folder));
    let words = |s: &str| s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_string).collect::<Vec<_>>();
    let mut checked = 0;
    for p in all_passages(&index) {
        let path = p["path"].as_str().unwrap();
        let ext = path.rsplit('.').next().unwrap();
        if ["html", "jsonl"].contains(&ext) {
            assert!(p["byte_start"].is_null() && p["byte_end"].is_null(), "{p}");
            continue;
        }
        let file = std::fs::read(folder.join(path)).unwrap();
        let (start, end) = (p["byte_start"].as_u64().unwrap() as usize, p["byte_end"].as_u64().unwrap() as usize);
        let slice = std::str::from_utf8(&file[start..end]).unwrap_or_else(|e| panic!("{path}: {start}..{end} cuts a character: {e}"));
        let (mine, source) = (words(p["text"].as_str().unwrap()), words(slice));
        assert_eq!((source.first(), source.last()), (mine.first(), mine.last()), "{path} {start}..{end}: {slice:?} vs {}", p["text"]);
        checked += 1;
    }
    assert!(checked >= 8, "{checked} passages of text and Markdown files checked");
    let fomc = ask(&index, "Did the FOMC hold the federal funds rate?", 1).remove(0);
    assert_eq!(fomc["path"], "notes/fomc.md", "{fomc}");
    assert_eq!(fomc["section"], "FOMC June 2025 — hold, two cuts pencilled in › Decision", "{fomc}");
}

/// A saved page whose article is two short paragraphs (under Readability's length threshold, so it
/// finds no article): the fallback keeps the `<article>` and never indexes the navigation, the
/// cookie banner, the "Most read" box or the footer.
#[test]
fn a_short_article_is_indexed_without_the_page_around_it() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("web");
    std::fs::create_dir_all(&docs).unwrap();
    let page = r#"<!doctype html><html><head><title>Tin smelter restarts | Metals Daily</title></head><body>
<div id="cookie-consent"><p>We use cookies to improve your experience. Accept all cookies?</p><button>Accept</button></div>
<header><a href="/">Metals Daily</a> <nav><a href="/markets">Markets</a> <a href="/mining">Mining</a> <a href="/subscribe">Subscribe</a></nav></header>
<article>
<h1>Tin smelter restarts after flood</h1>
<p>The Malaysian tin smelter shut by floods in January resumed production on Monday, its operator said.</p>
<p>Output is expected to reach full capacity of 3,000 tonnes a month by April.</p>
</article>
<div class="most-read"><h2>Most read</h2><ol><li>Gold hits record as dollar slides</li><li>Lithium miners cut jobs</li></ol></div>
<footer><p>© Metals Daily. All rights reserved. Privacy policy.</p></footer>
</body></html>"#;
    std::fs::write(docs.join("tin.html"), page).unwrap();
    let index = tmp.path().join("idx");
    ok_stdout(semsearch(&index).args(["-q", "index"]).arg(&docs));
    let passages = json_lines(&ok_stdout(semsearch(&index).args(["ask", "--all", "--json", "-k", "50", "--per-doc", "0", "--no-fold", "tin smelter"])));
    let text: String = passages.iter().map(|p| p["text"].as_str().unwrap()).collect::<Vec<_>>().join("\n");
    assert!(text.contains("resumed production on Monday") && text.contains("3,000 tonnes a month"), "{text}");
    for boilerplate in ["cookies", "Accept", "Markets", "Subscribe", "Most read", "Gold hits record", "rights reserved"] {
        assert!(!text.contains(boilerplate), "{boilerplate:?} was indexed: {text}");
    }
    assert_eq!(passages[0]["title"], "Tin smelter restarts after flood");
}

/// Tables: one document per row, with its line; the text column named like one or guessed as the
/// prose one, title/date/url from columns so named (or `--csv-*`); a table of figures is a warning
/// naming the file and its columns; a row past `--max-file-size` ends its file with a warning, the
/// rows before it indexed.
#[test]
fn csv_and_tsv_rows_are_documents_and_a_table_of_figures_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("tables");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(
        docs.join("briefs.csv"),
        "date,headline,body,url\n2025-02-03,Copper jumps,\"Copper rose 3%, the most in a month, as Chilean output fell for a fourth month.\",https://x.example/cu\n2025-02-04,Aluminium slips,\"Aluminium slipped as Chinese smelter exports rose.\nTraders expect more.\",\n",
    )
    .unwrap();
    std::fs::write(
        docs.join("desk.tsv"),
        "ref\twhen\tnote\nA1\t2025-03-01\tNickel output in Indonesia kept rising while stainless steel demand stayed weak.\n",
    )
    .unwrap();
    std::fs::write(docs.join("prices.csv"), "date,metal,price\n2025-02-03,copper,9100\n").unwrap();
    let long = format!("text\nTin supply from Myanmar resumed after a long halt at the Man Maw mine.\n\"{}\"\nnever read\n", "lead ".repeat(10_000));
    std::fs::write(docs.join("long.csv"), long).unwrap();
    let index = tmp.path().join("idx");
    let out = semsearch(&index).args(["index", "--max-file-size", "2K", "--csv-date", "when"]).arg(&docs).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("prices.csv: skipped: no column of text to index (columns: \"date\", \"metal\", \"price\"); name one with --csv-text COLUMN"),
        "{stderr}"
    );
    assert!(stderr.contains("long.csv: skipped: a row longer than the 2.0 KiB limit"), "{stderr}");

    let top = ask(&index, "Why did copper prices rise?", 1).remove(0);
    assert_eq!((top["doc_id"].as_str(), top["line_start"].as_u64()), (Some("tables/briefs.csv:2"), Some(2)), "{top}");
    assert_eq!((top["title"].as_str(), top["date"].as_str(), top["url"].as_str()), (Some("Copper jumps"), Some("2025-02-03"), Some("https://x.example/cu")));
    assert!(top["byte_start"].is_null(), "{top}");
    let multiline = ask(&index, "Did aluminium fall on Chinese exports?", 1).remove(0);
    assert_eq!(multiline["line_start"], 3, "the row that spans two lines starts on line 3: {multiline}");
    assert!(multiline["text"].as_str().unwrap().contains("Traders expect more."));
    let tsv = ask(&index, "Indonesian nickel output", 1).remove(0);
    assert_eq!((tsv["path"].as_str(), tsv["date"].as_str()), (Some("tables/desk.tsv"), Some("2025-03-01")), "--csv-date names the date column: {tsv}");
    let tin = ask(&index, "Did tin supply from Myanmar resume?", 1).remove(0);
    assert_eq!(tin["path"], "tables/long.csv", "the row before the long one is kept: {tin}");
    let figures = semsearch(&index).args(["-q", "index", "--csv-text", "metal"]).arg(docs.join("prices.csv")).output().unwrap();
    assert_eq!(figures.status.code(), Some(0), "{}", String::from_utf8_lossy(&figures.stderr));
    assert_eq!(ask(&index, "copper", 1)[0]["path"], "tables/prices.csv", "--csv-text makes any column the text");
}

/// Feeds: each item a document (`file#guid`) with its title, date and link, its HTML content read
/// as a page is; a feed read again adds its new items and keeps the ones that fell off its end; an
/// `.xml` file that is not a feed is counted as unsupported; an entity bomb stays small.
#[test]
fn feed_items_are_documents_and_a_reread_feed_adds_only_new_items() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("feeds");
    std::fs::create_dir_all(&docs).unwrap();
    let item = |guid: &str, title: &str, day: u32, body: &str| {
        format!("<item><guid>{guid}</guid><title>{title}</title><link>https://desk.example/{guid}</link><pubDate>Mon, {day:02} Feb 2025 09:00:00 GMT</pubDate><description><![CDATA[<p>{body}</p><p>Read more on the desk.</p>]]></description></item>\n")
    };
    let rss =
        |items: &[String]| format!("<?xml version=\"1.0\"?>\n<rss version=\"2.0\"><channel><title>Metals desk</title>\n{}</channel></rss>\n", items.concat());
    let copper = item("cu-1", "Copper jumps", 3, "Copper rose three percent as Chilean mine output fell for a fourth month.");
    let zinc = item("zn-1", "Zinc flat", 4, "Zinc was unchanged on the week as exchange stocks held steady.");
    std::fs::write(docs.join("desk.xml"), rss(&[zinc.clone(), copper.clone()])).unwrap();
    std::fs::write(docs.join("settings.xml"), "<?xml version=\"1.0\"?><settings><theme>dark</theme></settings>").unwrap();
    std::fs::write(
        docs.join("bomb.rss"),
        "<?xml version=\"1.0\"?><!DOCTYPE rss [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">]><rss version=\"2.0\"><channel><title>t</title><item><guid>x</guid><title>Nickel &e;</title><description>Nickel output &e; rose.</description></item></channel></rss>",
    )
    .unwrap();
    let index = tmp.path().join("idx");
    let run = || {
        let out = semsearch(&index).args(["index", "--json"]).arg(&docs).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let first = run();
    assert_eq!(first["unsupported"][".xml (not a feed)"], 1, "{first}");
    let top = ask(&index, "Why did copper rise?", 1).remove(0);
    assert_eq!((top["doc_id"].as_str(), top["title"].as_str()), (Some("feeds/desk.xml#cu-1"), Some("Copper jumps")), "{top}");
    assert_eq!((top["date"].as_str(), top["url"].as_str()), (Some("2025-02-03T09:00:00+00:00"), Some("https://desk.example/cu-1")));
    assert!(top["text"].as_str().unwrap().starts_with("Copper rose three percent"), "{top}");
    let all: Vec<serde_json::Value> = all_passages(&index);
    assert!(all.iter().all(|p| p["text"].as_str().unwrap().len() < 2000), "no entity was expanded");

    // The desk publishes a new item; the oldest falls off the end of the feed.
    let tin = item("sn-1", "Tin supply resumes", 5, "Tin supply from Myanmar resumed after a long halt at the Man Maw mine.");
    std::fs::write(docs.join("desk.xml"), rss(&[tin, copper])).unwrap();
    let second = run();
    assert_eq!(
        (second["documents_added"].as_u64(), second["documents_removed"].as_u64(), second["passages_embedded"].as_u64()),
        (Some(1), Some(0), Some(1)),
        "{second}"
    );
    assert_eq!(ask(&index, "Is tin supply from Myanmar back?", 1)[0]["doc_id"], "feeds/desk.xml#sn-1");
    assert_eq!(ask(&index, "Zinc exchange stocks held steady", 1)[0]["doc_id"], "feeds/desk.xml#zn-1", "an item that fell off the feed is kept");
}

/// A zip package as word processors and e-book tools write one: `mimetype` first and stored, the
/// rest deflated.
fn package(path: &Path, parts: &[(&str, &[u8])]) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in parts {
        let method = if *name == "mimetype" { zip::CompressionMethod::Stored } else { zip::CompressionMethod::Deflated };
        zip.start_file(*name, zip::write::SimpleFileOptions::default().compression_method(method)).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// A Word document: `body` is `word/document.xml`'s body; styles `Heading1`, `Heading2`.
fn docx(path: &Path, title: &str, created: &str, body: &str) {
    let w = r#"xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main""#;
    let document = format!(r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {w}><w:body>{body}</w:body></w:document>"#);
    let styles = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:styles {w}><w:style w:type="paragraph" w:default="1" w:styleId="Normal"><w:name w:val="Normal"/></w:style><w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/><w:pPr><w:outlineLvl w:val="0"/></w:pPr></w:style><w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/><w:pPr><w:outlineLvl w:val="1"/></w:pPr></w:style></w:styles>"#
    );
    let core = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:title>{title}</dc:title><dcterms:created xsi:type="dcterms:W3CDTF">{created}</dcterms:created></cp:coreProperties>"#
    );
    package(
        path,
        &[
            ("[Content_Types].xml", br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>"#),
            ("_rels/.rels", br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>"#),
            ("word/_rels/document.xml.rels", br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>"#),
            ("word/document.xml", document.as_bytes()),
            ("word/styles.xml", styles.as_bytes()),
            ("docProps/core.xml", core.as_bytes()),
        ],
    );
}

/// An OpenDocument text: `body` is `office:text`'s content.
fn odt(path: &Path, title: &str, created: &str, body: &str) {
    let ns = r#"xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0""#;
    let content = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} office:version="1.3"><office:body><office:text>{body}</office:text></office:body></office:document-content>"#
    );
    let meta = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><office:document-meta {ns}><office:meta><dc:title>{title}</dc:title><meta:creation-date>{created}</meta:creation-date></office:meta></office:document-meta>"#
    );
    package(
        path,
        &[
            ("mimetype", b"application/vnd.oasis.opendocument.text"),
            ("META-INF/manifest.xml", br#"<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/><manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/></manifest:manifest>"#),
            ("content.xml", content.as_bytes()),
            ("meta.xml", meta.as_bytes()),
        ],
    );
}

/// An EPUB 3 book of `chapters` (each an XHTML body), in that reading order.
fn epub(path: &Path, title: &str, date: &str, chapters: &[&str]) {
    let items: String = (1..=chapters.len()).map(|i| format!(r#"<item id="c{i}" href="text/ch{i}.xhtml" media-type="application/xhtml+xml"/>"#)).collect();
    let spine: String = (1..=chapters.len()).map(|i| format!(r#"<itemref idref="c{i}"/>"#)).collect();
    let opf = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">urn:uuid:5b1e0f4e-0000-4000-8000-000000000001</dc:identifier><dc:title>{title}</dc:title><dc:language>en</dc:language><dc:date>{date}</dc:date><meta property="dcterms:modified">2025-01-01T00:00:00Z</meta></metadata><manifest><item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>{items}</manifest><spine>{spine}</spine></package>"#
    );
    let page = |body: &str| {
        format!(r#"<?xml version="1.0" encoding="UTF-8"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>x</title></head><body>{body}</body></html>"#)
    };
    let chapters: Vec<(String, String)> = chapters.iter().enumerate().map(|(i, c)| (format!("OEBPS/text/ch{}.xhtml", i + 1), page(c))).collect();
    let nav = page(r#"<nav epub:type="toc" xmlns:epub="http://www.idpf.org/2007/ops"><ol><li><a href="text/ch1.xhtml">One</a></li></ol></nav>"#);
    let mut parts: Vec<(&str, &[u8])> = vec![
        ("mimetype", b"application/epub+zip"),
        ("META-INF/container.xml", br#"<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>"#),
        ("OEBPS/content.opf", opf.as_bytes()),
        ("OEBPS/nav.xhtml", nav.as_bytes()),
    ];
    parts.extend(chapters.iter().map(|(n, c)| (n.as_str(), c.as_bytes())));
    package(path, &parts);
}

fn w_para(style: Option<&str>, text: &str) -> String {
    let style = style.map(|s| format!(r#"<w:pPr><w:pStyle w:val="{s}"/></w:pPr>"#)).unwrap_or_default();
    format!(r#"<w:p>{style}<w:r><w:t xml:space="preserve">{text}</w:t></w:r></w:p>"#)
}

#[test]
fn word_opendocument_and_epub_are_read_with_sections_paragraphs_and_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("office");
    std::fs::create_dir_all(&docs).unwrap();
    let row = |cells: &[&str]| format!("<w:tr>{}</w:tr>", cells.iter().map(|c| format!("<w:tc>{}</w:tc>", w_para(None, c))).collect::<String>());
    let body = [
        w_para(Some("Heading1"), "Nickel market memo"),
        w_para(None, "This memo reviews the nickel market for the investment committee."),
        w_para(Some("Heading2"), "Supply"),
        w_para(None, "Indonesian nickel pig iron output rose sharply because new smelters in Sulawesi came online with Chinese financing."),
        format!("<w:tbl>{}{}</w:tbl>", row(&["Producer", "Tonnes"]), row(&["Indonesia", "1,800,000"])),
        w_para(Some("Heading2"), "Demand"),
        w_para(None, "Battery makers are shifting to lithium iron phosphate cells, which use no nickel at all."),
    ]
    .concat();
    docx(&docs.join("nickel-memo.docx"), "Nickel market memo", "2025-04-07T08:30:00Z", &body);
    odt(
        &docs.join("cocoa-note.odt"),
        "Cocoa note",
        "2025-05-12T10:00:00",
        r#"<text:h text:outline-level="1">Cocoa note</text:h><text:p>West African cocoa arrivals are running behind last season.</text:p><text:h text:outline-level="2">Weather</text:h><text:p>Heavy rains in Côte d’Ivoire spread black pod disease through the main crop, cutting arrivals at the ports of Abidjan and San Pedro.</text:p><table:table><table:table-row><table:table-cell><text:p>Port</text:p></table:table-cell><table:table-cell><text:p>Arrivals</text:p></table:table-cell></table:table-row></table:table>"#,
    );
    epub(
        &docs.join("oil-history.epub"),
        "A Short History of Oil",
        "2024-11-05",
        &[
            "<h1>Chapter 1: Discovery</h1><p>Edwin Drake drilled the first commercial oil well in Titusville, Pennsylvania, in 1859.</p>",
            "<h1>Chapter 2: Cartels</h1><h2>OPEC</h2><p>OPEC was founded in Baghdad in September 1960 by Iran, Iraq, Kuwait, Saudi Arabia and Venezuela.</p>",
        ],
    );
    let index = tmp.path().join("idx");
    let out = semsearch(&index).args(["index", "--json"]).arg(&docs).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["documents_added"], 3, "{summary} {stderr}");

    let top = |q: &str| json_lines(&ok_stdout(semsearch(&index).args(["ask", "--json", "-k", "1", q]))).remove(0);
    let nickel = top("Why did Indonesian nickel output rise?");
    assert_eq!(nickel["path"], "office/nickel-memo.docx", "{nickel}");
    assert_eq!((nickel["title"].as_str(), nickel["section"].as_str()), (Some("Nickel market memo"), Some("Nickel market memo › Supply")), "{nickel}");
    assert_eq!((nickel["place"].as_str(), nickel["line_start"].as_u64()), (Some("paragraph"), Some(4)), "the 4th paragraph (headings count): {nickel}");
    assert!(nickel["byte_start"].is_null() && nickel["page_start"].is_null(), "{nickel}");
    assert_eq!(nickel["date"], "2025-04-07T08:30:00Z", "the document's created date: {nickel}");
    let table = top("Indonesia tonnes producer");
    assert!(table["text"].as_str().unwrap().contains("Indonesia | 1,800,000"), "a table row reads as cells: {table}");

    let cocoa = top("What disease hit the cocoa crop?");
    assert_eq!((cocoa["path"].as_str(), cocoa["section"].as_str()), (Some("office/cocoa-note.odt"), Some("Cocoa note › Weather")), "{cocoa}");
    assert_eq!(
        (cocoa["place"].as_str(), cocoa["line_start"].as_u64(), cocoa["date"].as_str()),
        (Some("paragraph"), Some(4), Some("2025-05-12T10:00:00")),
        "{cocoa}"
    );
    assert!(cocoa["answer"].as_str().unwrap().contains("black pod"), "{cocoa}");

    let opec = top("When and where was OPEC founded?");
    assert_eq!((opec["path"].as_str(), opec["title"].as_str()), (Some("office/oil-history.epub"), Some("A Short History of Oil")), "{opec}");
    assert_eq!(opec["section"], "A Short History of Oil › Chapter 2: Cartels › OPEC", "{opec}");
    assert_eq!((opec["line_start"].as_u64(), opec["date"].as_str()), (Some(5), Some("2024-11-05")), "chapters in spine order, the nav left out: {opec}");
    let human = String::from_utf8(ok_stdout(semsearch(&index).args(["ask", "-k", "1", "When and where was OPEC founded?"]))).unwrap();
    assert!(human.contains("office/oil-history.epub:¶5"), "{human}");
}

#[test]
fn hostile_packages_are_named_and_bounded_and_good_files_beside_them_are_indexed() {
    let tmp = tempfile::tempdir().unwrap();
    let docs = tmp.path().join("in");
    std::fs::create_dir_all(&docs).unwrap();
    let good = w_para(None, "Aluminium smelters in Yunnan cut output after hydropower rationing during the dry season.");
    docx(&docs.join("good.docx"), "Aluminium", "2025-01-01T00:00:00Z", &good);
    // Zip bombs: one part that inflates to 80 MiB of the same byte (a few hundred KB stored).
    let filler = "a".repeat(80 << 20);
    docx(&docs.join("bomb.docx"), "Bomb", "2025-01-01T00:00:00Z", &w_para(None, &filler));
    odt(&docs.join("bomb.odt"), "Bomb", "2025-01-01", &format!("<text:p>{filler}</text:p>"));
    epub(&docs.join("bomb.epub"), "Bomb", "2025-01-01", &[&format!("<p>{filler}</p>")]);
    drop(filler);
    let whole = std::fs::read(docs.join("good.docx")).unwrap();
    std::fs::write(docs.join("truncated.docx"), &whole[..whole.len() / 2]).unwrap();
    std::fs::write(docs.join("truncated.epub"), &std::fs::read(docs.join("bomb.epub")).unwrap()[..4096]).unwrap();
    // office_oxide 0.1.16 panics (on its own thread, which it catches) on `encoding=` ending the
    // declaration's first 200 bytes of a part that is not UTF-8: one warning, no backtrace.
    let mut declaration = b"<?xml version=\"1.0\" ".to_vec();
    declaration.resize(191, b' ');
    declaration.extend_from_slice(b"encoding=\xff\xfe<w:document/>");
    package(
        &docs.join("oxide-panic.docx"),
        &[
            ("[Content_Types].xml", br#"<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#),
            ("_rels/.rels", br#"<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#),
            ("word/document.xml", &declaration),
        ],
    );
    // A password-protected Word file is an OLE container, not a zip.
    std::fs::write(docs.join("locked.docx"), [&b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"[..], &[0u8; 4088]].concat()).unwrap();
    // Entity expansion (never expanded) and 100,000 nested elements (walked without recursion).
    let laughs = r#"<?xml version="1.0"?><!DOCTYPE office:document-content [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">]><office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text><text:p>Zinc &amp; lead output fell&f;.</text:p></office:text></office:body></office:document-content>"#;
    package(&docs.join("laughs.odt"), &[("mimetype", b"application/vnd.oasis.opendocument.text"), ("content.xml", laughs.as_bytes())]);
    let deep = format!("{}<p>Tin supply from Myanmar resumed after a long halt.</p>{}", "<div>".repeat(100_000), "</div>".repeat(100_000));
    epub(&docs.join("deep.epub"), "Deep", "2025-01-01", &[&deep]);
    let index = tmp.path().join("idx");
    let out = semsearch(&index).arg("index").arg(&docs).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panick"), "{stderr}");
    for name in ["bomb.docx", "bomb.odt", "bomb.epub"] {
        assert!(stderr.lines().any(|l| l.contains(name) && l.contains("skipped")), "{name}: {stderr}");
    }
    assert!(stderr.lines().any(|l| l.contains("bomb.epub") && l.contains("zip bomb")), "{stderr}");
    assert!(stderr.lines().any(|l| l.contains("truncated.docx") && l.contains("skipped")), "{stderr}");
    assert!(stderr.lines().any(|l| l.contains("truncated.epub") && l.contains("skipped")), "{stderr}");
    assert!(stderr.lines().any(|l| l.contains("locked.docx") && l.contains("password")), "{stderr}");
    assert!(stderr.lines().any(|l| l.contains("oxide-panic.docx: skipped: the Word reader failed")), "{stderr}");
    let top = |q: &str| json_lines(&ok_stdout(semsearch(&index).args(["ask", "--json", "-k", "1", q]))).remove(0);
    assert_eq!(top("Why did Yunnan smelters cut output?")["path"], "in/good.docx");
    assert_eq!(top("Is tin from Myanmar flowing again?")["path"], "in/deep.epub");
    assert_eq!(top("Did zinc and lead output fall?")["text"], "Zinc & lead output fell.");
}
