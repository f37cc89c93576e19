//! RSS and Atom feeds: one document per item.
//!
//! Parsing is feed-rs (RSS 0.9–2.0, Atom, RSS 1.0/RDF, JSON Feed), on quick-xml, which expands no
//! entity a document declares (no DTD is read), so an entity-expansion bomb stays its own size. An
//! item is a document `file#guid` (feed-rs's id: the item's guid or Atom id, else one derived from
//! its link and title): an item keeps its id, so a re-read feed re-embeds only new and changed
//! items, and items that fell off the end of the feed are kept (the indexer is told the file is
//! append-only: `IngestReport::append_only`). Title, date (published, else updated), url (the first
//! link) are the item's; its content (else its summary) is HTML read as a web page is (`html`).
//! Memory: the file (under `--max-file-size`) and its parsed items.

use super::{html, meta, Document, LineMap};

/// Whether an `.xml` file is a feed: its first 2 KiB open an `<rss>`, an Atom `<feed>` or an RSS 1.0
/// `<rdf:RDF>` element.
pub fn is_feed(head: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&head[..head.len().min(2048)]).to_ascii_lowercase();
    head.contains("<rss") || head.contains("<feed") || head.contains("<rdf:rdf")
}

/// The items of a feed as documents, or why it has none.
pub fn feed_documents(path: &str, bytes: &[u8], warn: &mut dyn FnMut(u32, String)) -> Result<Vec<Document>, String> {
    let feed = feed_rs::parser::parse(bytes).map_err(|e| format!("not a readable RSS or Atom feed ({e})"))?;
    let source = String::from_utf8_lossy(bytes);
    let mut docs = Vec::with_capacity(feed.entries.len());
    // Items come in file order: each one's guid is looked for after the last one's (one pass over
    // the file, not one per item), and the line counted up to it.
    let (mut from, mut line) = (0usize, 1u32);
    for entry in feed.entries {
        if let Some(at) = (!entry.id.is_empty()).then(|| source[from..].find(entry.id.as_str())).flatten() {
            line += source[from..from + at].matches('\n').count() as u32;
            from += at;
        }
        let title = entry.title.map(|t| html_text(path, &t.content)).unwrap_or_default();
        let body = entry.content.and_then(|c| c.body).or(entry.summary.map(|s| s.content)).map(|b| html_text(path, &b)).unwrap_or_default();
        if body.trim().is_empty() && title.trim().is_empty() {
            continue;
        }
        let date = entry.published.or(entry.updated).and_then(|d| {
            let raw = d.to_rfc3339();
            let parsed = meta::parse_date(&raw);
            if parsed.is_none() {
                warn(line, meta::bad_date(&raw));
            }
            parsed
        });
        let url = meta::web_url(entry.links.first().map(|l| l.href.clone()), &mut |why| warn(line, why));
        // As a JSONL record: the title is the section of the item's passages.
        let (text, sections) = match (body.trim().is_empty(), title.is_empty()) {
            (true, _) => (title.clone(), Vec::new()),
            (false, true) => (body, Vec::new()),
            (false, false) => (body, vec![(0, title.clone())]),
        };
        docs.push(Document {
            doc_id: format!("{path}#{}", entry.id),
            path: path.to_string(),
            title,
            text,
            lines: LineMap::Record { line },
            sections,
            date,
            url,
            bytes: None,
        });
    }
    if docs.is_empty() {
        return Err("a feed without items with text".into());
    }
    Ok(docs)
}

/// An item's HTML (or plain text) as text, read as a web page is.
fn html_text(path: &str, fragment: &str) -> String {
    if !fragment.contains('<') && !fragment.contains('&') {
        return fragment.split_whitespace().collect::<Vec<_>>().join(" ");
    }
    match html::html_document(path, fragment.as_bytes(), &mut |_, _| {}) {
        Ok(Some(d)) => d.text,
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_items_are_documents_by_guid_and_an_entity_bomb_stays_small() {
        let rss = r#"<?xml version="1.0"?><rss version="2.0"><channel><title>Metals desk</title>
<item><guid>cu-1</guid><title>Copper jumps</title><link>https://x.example/cu</link><pubDate>Mon, 03 Feb 2025 09:00:00 GMT</pubDate>
<description>&lt;p&gt;Copper rose &lt;b&gt;3%&lt;/b&gt; as Chilean output fell.&lt;/p&gt;</description></item>
<item><guid>al-1</guid><title>Aluminium slips</title><link>javascript:alert(1)</link><description>Aluminium slipped on exports.</description></item>
</channel></rss>"#;
        assert!(is_feed(rss.as_bytes()));
        let mut warned = Vec::new();
        let docs = feed_documents("f.rss", rss.as_bytes(), &mut |l, w| warned.push((l, w))).unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(
            (docs[0].doc_id.as_str(), docs[0].title.as_str(), docs[0].date.as_deref()),
            ("f.rss#cu-1", "Copper jumps", Some("2025-02-03T09:00:00+00:00"))
        );
        assert_eq!(docs[0].text, "Copper rose 3% as Chilean output fell.");
        assert_eq!(docs[0].url.as_deref(), Some("https://x.example/cu"));
        assert_eq!(docs[1].url, None);
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(matches!(docs[1].lines, LineMap::Record { line: 4 }));

        let bomb = r#"<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<rss version="2.0"><channel><title>t</title><item><guid>x</guid><title>Bomb &d;</title><description>Text &d;</description></item></channel></rss>"#;
        // Declared entities are not expanded: the item stays the size of the file, or the feed is
        // refused; either way no billion bytes.
        match feed_documents("b.rss", bomb.as_bytes(), &mut |_, _| {}) {
            Ok(d) => assert!(d.iter().all(|d| d.text.len() < 1000 && d.title.len() < 1000)),
            Err(e) => assert!(e.starts_with("not a readable RSS")),
        }
        assert!(!is_feed(b"<?xml version=\"1.0\"?><config><a/></config>"));
    }
}
