//! RSS and Atom feeds: one document per item.
//!
//! Parsing is feed-rs (RSS 0.9–2.0, Atom, RSS 1.0/RDF, JSON Feed), on quick-xml, which expands no
//! entity a document declares (no DTD is read), so an entity-expansion bomb stays its own size. An
//! item is a document `file#guid` (feed-rs's id: the item's guid or Atom id, else one derived from
//! its link and title): an item keeps its id, so a re-read feed re-embeds only new and changed
//! items, and items that fell off the end of the feed are kept (the indexer is told the file is
//! append-only: `IngestReport::append_only`). Title, date (published, else updated), url (the first
//! link) are the item's; its content (else its summary) is HTML read as a web page is (`html`).
//! Memory: the file (under `--max-file-size`) and `ITEMS_PER_PARSE` items parsed at a time: the
//! items' places are found first (quick-xml, one pass, nothing kept but offsets), then each group is
//! parsed as a small feed of its own (the file's head, the group's items, the file's tail). Parsed
//! whole, feed-rs held ~12× the file (a 24 MB feed of 100,000 items: 283 MB).

use super::{html, meta, Document, LineMap};

/// Items parsed together (see the module's note on memory).
const ITEMS_PER_PARSE: usize = 256;

/// Whether an `.xml` file is a feed: its first 2 KiB open an `<rss>`, an Atom `<feed>` or an RSS 1.0
/// `<rdf:RDF>` element.
pub fn is_feed(head: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&head[..head.len().min(2048)]).to_ascii_lowercase();
    head.contains("<rss") || head.contains("<feed") || head.contains("<rdf:rdf")
}

/// A feed being read: where its items are, and how far it has got.
pub struct FeedItems<'a> {
    path: &'a str,
    bytes: &'a [u8],
    /// Each item's bytes (`<item>…</item>`, `<entry>…</entry>`), in file order; one range, the
    /// whole file, when they could not be found (then the feed is parsed whole, as feed-rs reads it).
    spans: Vec<std::ops::Range<usize>>,
    split: bool,
    next: usize,
    found: usize,
    done: bool,
    /// Lines before `counted_to` (line numbers are counted once, as the groups go).
    line: u32,
    counted_to: usize,
}

impl<'a> FeedItems<'a> {
    /// A feed's items, found but not parsed yet.
    pub fn new(path: &'a str, bytes: &'a [u8]) -> FeedItems<'a> {
        let spans = item_spans(bytes).filter(|s| !s.is_empty());
        let split = spans.is_some();
        FeedItems {
            path,
            bytes,
            spans: spans.unwrap_or_else(|| std::iter::once(0..bytes.len()).collect()),
            split,
            next: 0,
            found: 0,
            done: false,
            line: 1,
            counted_to: 0,
        }
    }

    /// The next group's documents (`None` after the last group); an error when the feed cannot be
    /// read or (at its end) has no item with text.
    pub fn next_group(&mut self, warn: &mut dyn FnMut(u32, String)) -> Option<Result<Vec<Document>, String>> {
        if self.next >= self.spans.len() {
            let empty = self.found == 0 && !self.done;
            self.done = true;
            return empty.then(|| Err("a feed without items with text".to_string()));
        }
        let group = &self.spans[self.next..(self.next + ITEMS_PER_PARSE).min(self.spans.len())];
        self.next += group.len();
        let (first, last) = (group[0].start, group[group.len() - 1].end);
        let group = group.to_vec();
        let parsed = if self.split {
            let head = &self.bytes[..self.spans[0].start];
            let tail = &self.bytes[self.spans[self.spans.len() - 1].end..];
            feed_rs::parser::parse([head, &self.bytes[first..last], tail].concat().as_slice())
        } else {
            feed_rs::parser::parse(self.bytes)
        };
        let feed = match parsed {
            Ok(f) => f,
            Err(e) => return Some(Err(format!("not a readable RSS or Atom feed ({e})"))),
        };
        // Each item's line, from its span, when the parse kept them all; else the group's first.
        let newlines = |r: std::ops::Range<usize>| self.bytes[r].iter().filter(|&&b| b == b'\n').count() as u32;
        let mut lines = Vec::with_capacity(group.len());
        for r in &group {
            let to = r.start.max(self.counted_to);
            self.line += newlines(self.counted_to..to);
            self.counted_to = to;
            lines.push(self.line);
        }
        let exact = self.split && feed.entries.len() == group.len();
        let line_of = |i: usize| if exact { lines[i] } else { lines[0] };
        let mut docs = Vec::with_capacity(feed.entries.len());
        for (i, entry) in feed.entries.into_iter().enumerate() {
            if let Some(d) = item_document(self.path, entry, line_of(i), warn) {
                docs.push(d);
            }
        }
        self.found += docs.len();
        Some(Ok(docs))
    }
}

/// The byte range of every item (`item` in RSS, `entry` in Atom) in file order; `None` when the
/// file is not well-formed enough to tell (it is then parsed whole).
fn item_spans(bytes: &[u8]) -> Option<Vec<std::ops::Range<usize>>> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut buf = Vec::new();
    let mut spans = Vec::new();
    let mut depth = 0usize;
    // The depth and start of the item being read.
    let mut open: Option<(usize, usize)> = None;
    loop {
        let at = reader.buffer_position() as usize;
        buf.clear();
        match reader.read_event_into(&mut buf).ok()? {
            Event::Start(e) => {
                depth += 1;
                let name = e.local_name();
                if open.is_none() && (name.as_ref() == "item" || name.as_ref() == "entry") {
                    open = Some((depth, at));
                }
            }
            Event::End(_) => {
                if let Some((d, start)) = open {
                    if d == depth {
                        spans.push(start..reader.buffer_position() as usize);
                        open = None;
                    }
                }
                depth = depth.checked_sub(1)?;
            }
            Event::Eof => break,
            _ => {}
        }
    }
    (open.is_none() && depth == 0).then_some(spans)
}

/// The items of a feed as documents, or why it has none (all at once: for tests and fuzzing; the
/// indexer reads them a group at a time through `FeedItems`).
pub fn feed_documents(path: &str, bytes: &[u8], warn: &mut dyn FnMut(u32, String)) -> Result<Vec<Document>, String> {
    let mut items = FeedItems::new(path, bytes);
    let mut docs = Vec::new();
    while let Some(group) = items.next_group(warn) {
        docs.extend(group?);
    }
    Ok(docs)
}

/// One item as a document (`None` when it has neither title nor text).
fn item_document(path: &str, entry: feed_rs::model::Entry, line: u32, warn: &mut dyn FnMut(u32, String)) -> Option<Document> {
    let title = entry.title.map(|t| html_text(path, &t.content)).unwrap_or_default();
    let body = entry.content.and_then(|c| c.body).or(entry.summary.map(|s| s.content)).map(|b| html_text(path, &b)).unwrap_or_default();
    if body.trim().is_empty() && title.trim().is_empty() {
        return None;
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
    Some(Document {
        doc_id: format!("{path}#{}", entry.id),
        path: path.to_string(),
        title,
        text,
        lines: LineMap::Record { line },
        sections,
        date,
        url,
        bytes: None,
    })
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

    #[test]
    fn a_long_feed_is_read_a_group_at_a_time_with_every_item_and_its_line() {
        let n = 2 * ITEMS_PER_PARSE + 17;
        let items: String = (0..n)
            .map(|i| format!("<entry>\n<id>e{i}</id><title>Item {i}</title><content type=\"html\">&lt;p&gt;Copper note {i}.&lt;/p&gt;</content></entry>\n"))
            .collect();
        let atom = format!("<?xml version=\"1.0\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Desk</title><id>d</id>\n{items}</feed>\n");
        assert_eq!(item_spans(atom.as_bytes()).unwrap().len(), n);
        let docs = feed_documents("f.atom", atom.as_bytes(), &mut |_, _| {}).unwrap();
        assert_eq!(docs.len(), n);
        for (i, d) in docs.iter().enumerate() {
            assert_eq!((d.doc_id.clone(), d.text.clone()), (format!("f.atom#e{i}"), format!("Copper note {i}.")));
            // Item i starts on line 3 + 2i.
            assert!(matches!(d.lines, LineMap::Record { line } if line == 3 + 2 * i as u32), "{i}: {:?}", d.lines);
        }
        // Not well-formed: read whole, as before, and refused by feed-rs with its reason.
        assert!(item_spans(b"<rss><channel><item><title>x</item></rss>").is_none());
    }
}
