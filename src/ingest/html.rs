//! HTML: a saved web page read the way a reader sees it.
//!
//! - **Parsing** is html5ever's (through dom_query): the browsers' algorithm, so unterminated tags,
//!   a bare `<`, comments, CDATA and entities are what a browser makes of them, never a panic.
//! - **Main content** is found by dom_smoothie, a close port of Mozilla's Readability (the reader
//!   view of Firefox), maintained and built on the same html5ever DOM: it scores blocks by text and
//!   link density and drops navigation, headers and footers, cookie banners and "most read" boxes.
//!   Its Markdown output goes through our Markdown reader, so the article's headings become section
//!   paths as in a Markdown note. A page where it finds no article is read whole (visible text).
//! - **Metadata**: title from `og:title`, else the first `<h1>`, else `<title>` with the site's
//!   name cut off; date from `article:published_time`, JSON-LD `datePublished`, `<meta name=date>`
//!   or the first `<time datetime>`; url from `<link rel=canonical>` or `og:url`.
//! - **Lines**: the extracted words are matched, in order, against the words html5ever's tokenizer
//!   reads from the file (each with its line), so `path:line` points into the source file.

use super::markdown::{self, squash, Rendered};
use super::{meta, Document, LineMap};
use dom_query::Document as Dom;
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{BufferQueue, Tag as HtmlTag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts};
use std::cell::RefCell;

/// The deepest nesting read (Blink's tree builder stops nesting at 512 too); real pages stay far below.
const MAX_DEPTH: usize = 512;

/// Bytes of the file scanned for a `<meta charset>` declaration, as browsers do (the HTML
/// standard's prescan looks at the first 1024 bytes).
const CHARSET_PRESCAN: usize = 1024;

/// A web page as one document, or why it has none. `warn` gets metadata problems (an unparseable
/// date) with the line they are on.
pub fn html_document(path: &str, bytes: &[u8], warn: &mut dyn FnMut(u32, String)) -> Result<Option<Document>, String> {
    let html = decode(bytes);
    // html5ever and dom_smoothie do not panic on any input we have found (the `html` fuzz target
    // runs this function); should a future version do so, one page is skipped, not the run.
    // The tokenizer's words serve twice: the text of a page with no article, and every page's lines.
    let parsed = super::contained(|| {
        let (words, depth) = visible_words(&html);
        // Checked before the tree is built: html5ever's tree builder checks scopes against every
        // open element, so a 6 KB page of 100,000 nested <div>s kept it busy for minutes.
        if depth > MAX_DEPTH {
            return Err(format!("elements nested {depth} deep (more than {MAX_DEPTH}, which browsers do not build either); not read"));
        }
        Ok((extract(&html, &words), words))
    });
    let Some(parsed) = parsed else {
        return Err("the HTML parser failed on this file; it was skipped (please report it)".into());
    };
    let (page, source_words) = parsed?;
    if page.rendered.text.trim().is_empty() {
        return Ok(None);
    }
    let date = page.date.and_then(|(raw, line)| {
        let d = meta::parse_date(&raw);
        if d.is_none() {
            warn(line, meta::bad_date(&raw));
        }
        d
    });
    let mut doc = page.rendered.into_document(path);
    doc.lines = LineMap::Mapped(align_lines(&doc.text, &source_words));
    // Offsets into the article's Markdown rendering, not into the file: none are given.
    doc.bytes = None;
    if !page.title.is_empty() {
        doc.title = page.title;
    }
    // Without a date in the page's metadata, the one its dateline states.
    doc.date = date.or_else(|| meta::dateline(&doc.text));
    let at = meta::line_of(&html, page.url.as_deref().unwrap_or(""));
    doc.url = meta::web_url(page.url, &mut |why| warn(at, why));
    Ok(Some(doc))
}

/// The file's text: a byte-order mark, else the `charset` a `<meta>` declares, else UTF-8. Bytes
/// that are invalid in the encoding become U+FFFD (as in a browser) rather than losing the page.
///
/// encoding_rs decodes; the prescan for the declaration is written here because no maintained crate
/// offers the HTML standard's prescan on its own (html5ever leaves decoding to its caller).
fn decode(bytes: &[u8]) -> String {
    let (encoding, skip) = match encoding_rs::Encoding::for_bom(bytes) {
        Some((e, n)) => (e, n),
        None => (declared_charset(&bytes[..bytes.len().min(CHARSET_PRESCAN)]).unwrap_or(encoding_rs::UTF_8), 0),
    };
    // UTF-16 cannot be declared in a <meta> (the declaration itself would be unreadable): as browsers
    // do, such a declaration means UTF-8.
    let encoding = if encoding == encoding_rs::UTF_16LE || encoding == encoding_rs::UTF_16BE { encoding_rs::UTF_8 } else { encoding };
    let (text, _) = encoding.decode_without_bom_handling(&bytes[skip..]);
    text.into_owned()
}

/// `charset=LABEL` inside the first `<meta` tags of `head`.
fn declared_charset(head: &[u8]) -> Option<&'static encoding_rs::Encoding> {
    let lower = head.to_ascii_lowercase();
    let mut from = 0;
    while let Some(m) = find(&lower[from..], b"<meta") {
        let start = from + m;
        let end = find(&lower[start..], b">").map_or(lower.len(), |e| start + e);
        let tag = &lower[start..end];
        if let Some(c) = find(tag, b"charset") {
            let rest = &tag[c + 7..];
            let rest = rest.trim_ascii_start().strip_prefix(b"=").unwrap_or(rest).trim_ascii_start();
            let rest = rest.strip_prefix(b"\"").or_else(|| rest.strip_prefix(b"'")).unwrap_or(rest);
            let label: Vec<u8> = rest.iter().copied().take_while(|b| !b"\"' ;/>".contains(b) && !b.is_ascii_whitespace()).collect();
            if let Some(e) = encoding_rs::Encoding::for_label(&label) {
                return Some(e);
            }
        }
        from = end;
    }
    None
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What a page yields before line mapping.
struct Page {
    rendered: Rendered,
    title: String,
    /// The raw date and its line (the line is the file's first: dom_query keeps no positions).
    date: Option<(String, u32)>,
    url: Option<String>,
}

/// `words` are the page's visible words (`visible_words`), read when Readability finds no article.
fn extract(html: &str, words: &[Word]) -> Page {
    let dom = Dom::from(html);
    let content = |sel: &str, attr: &str| -> Option<String> {
        dom.select(sel).nodes().iter().find_map(|n| n.attr(attr).map(|v| v.trim().to_string()).filter(|v| !v.is_empty()))
    };
    let text_of = |sel: &str| -> Option<String> {
        let s = dom.select(sel).first().text();
        let t = squash(&s);
        (!t.is_empty()).then_some(t)
    };
    let title = content(r#"meta[property="og:title"]"#, "content")
        .or_else(|| text_of("h1"))
        .or_else(|| text_of("title").map(|t| trim_site_name(&t)))
        .map(|t| squash(&t))
        .unwrap_or_default();
    let url = content(r#"link[rel="canonical"]"#, "href").or_else(|| content(r#"meta[property="og:url"]"#, "content"));
    // Every date the page states, read before Readability takes (and prunes) the DOM; JSON-LD's
    // comes back with the article and ranks second.
    let published = content(r#"meta[property="article:published_time"]"#, "content");
    let other_dates =
        [content(r#"meta[name="date"]"#, "content"), content(r#"meta[itemprop="datePublished"]"#, "content"), content("time[datetime]", "datetime")];
    // Boilerplate out before Readability looks: on a page whose article is short, a cookie notice
    // or a "most read" box can otherwise outscore it and be taken for the article.
    prune_boilerplate(&dom);
    let cfg = dom_smoothie::Config { text_mode: dom_smoothie::TextMode::Markdown, ..Default::default() };
    let (body, ld_date) = match dom_smoothie::Readability::with_document(dom, None, Some(cfg)).and_then(|mut r| r.parse()) {
        Ok(article) if !article.text_content.trim().is_empty() => (Some(article.text_content.to_string()), article.published_time),
        _ => (None, None),
    };
    let date = published.or(ld_date.filter(|d| !d.trim().is_empty())).or_else(|| other_dates.into_iter().flatten().next());
    let rendered = match body {
        Some(md) => markdown::render(&md, Some(&title)),
        // No article found (a short one is under Readability's length threshold): the page's
        // main content if it marks one, else its visible text, without boilerplate either way;
        // one paragraph per block.
        None => {
            let mut r = Rendered { title: title.clone(), ..Rendered::default() };
            let mut last_block = 0;
            let marked = words.iter().any(|w| w.main && !w.boiler);
            for w in words.iter().filter(|w| !w.boiler && (w.main || !marked)) {
                if !r.text.is_empty() {
                    r.text.push_str(if w.block != last_block { "\n\n" } else { " " });
                }
                last_block = w.block;
                r.text.push_str(&w.text);
            }
            r.line_of = vec![1; r.text.len()];
            r
        }
    };
    Page { rendered, title, date: date.map(|d| (d, 1)), url }
}

/// `Headline | Site`, `Headline - Site`, `Headline — Site`: the headline. The part after the last
/// separator is taken for the site's name when it is shorter than the part before it.
fn trim_site_name(title: &str) -> String {
    for sep in [" | ", " - ", " — ", " – ", " · ", " :: "] {
        if let Some((head, site)) = title.rsplit_once(sep) {
            if site.split_whitespace().count() < head.split_whitespace().count() && !head.trim().is_empty() {
                return head.trim().to_string();
            }
        }
    }
    title.trim().to_string()
}

/// A word of the page's visible text: its text (entities decoded), source line, and which block
/// element it is in (a counter that changes at every block boundary).
#[derive(Debug, Clone)]
struct Word {
    text: String,
    line: u32,
    block: u32,
    /// Inside the page's main content (`<article>`, `<main>`, `role="main"`).
    main: bool,
    /// Inside boilerplate (`boilerplate`): navigation, a banner, a cookie notice, a "most read" box.
    boiler: bool,
}

/// An element that opens a region of the page (main content or boilerplate): open until the
/// end tag that balances it (same-name elements inside it counted), as the tokenizer builds no tree.
struct Region {
    name: String,
    depth: usize,
    boiler: bool,
}

/// Removes from the DOM what `boilerplate` names (a header or footer only outside the main
/// content), so Readability scores only the rest.
fn prune_boilerplate(dom: &Dom) {
    let mut selector: Vec<String> = ["nav", "aside", "form", "dialog"].iter().map(|s| s.to_string()).collect();
    selector.extend(ROLES.iter().map(|r| format!(r#"[role="{r}"]"#)));
    for m in MARKERS {
        selector.extend(["class", "id", "aria-label"].iter().map(|a| format!("[{a}*=\"{m}\" i]")));
    }
    dom.select(&selector.join(", ")).remove();
    for node in dom.select("header, footer").nodes() {
        let in_main = node
            .ancestors_it(None)
            .any(|a| a.node_name().is_some_and(|n| &*n == "article" || &*n == "main") || a.attr("role").is_some_and(|r| r.trim().eq_ignore_ascii_case("main")));
        if !in_main {
            node.remove_from_parent();
        }
    }
}

/// Markers of boilerplate in a class, id or label (see `boilerplate`).
const MARKERS: &[&str] = &[
    "cookie",
    "consent",
    "gdpr",
    "most-read",
    "mostread",
    "most_read",
    "popular",
    "trending",
    "related",
    "newsletter",
    "subscribe",
    "share",
    "social",
    "breadcrumb",
    "navbar",
    "menu",
    "promo",
    "advert",
    "sidebar",
    "paywall",
];
/// ARIA roles of boilerplate.
const ROLES: &[&str] = &["navigation", "banner", "contentinfo", "complementary", "dialog", "alertdialog", "search"];

/// Elements without end tags: never open a region.
const VOID: &[&str] = &["area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"];

/// Whether an element is boilerplate by its name, role, class, id or label: navigation, banners and
/// footers outside the main content, forms and dialogs, cookie and consent notices, newsletter and
/// share boxes, "most read" / "related" / "trending" lists, menus, sidebars, adverts. What
/// Readability drops when it finds an article; here for a page where it finds none.
fn boilerplate(name: &str, attrs: &[html5ever::Attribute], in_main: bool) -> bool {
    if ["nav", "aside", "form", "dialog"].contains(&name) || (!in_main && ["header", "footer"].contains(&name)) {
        return true;
    }
    attrs.iter().any(|a| {
        let key: &str = &a.name.local;
        let value = a.value.to_lowercase();
        match key {
            "role" => ROLES.contains(&value.trim()),
            "class" | "id" | "aria-label" => MARKERS.iter().any(|m| value.contains(m)),
            _ => false,
        }
    })
}

const BLOCK: &[&str] = &[
    "p",
    "div",
    "br",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "tr",
    "td",
    "th",
    "section",
    "article",
    "header",
    "footer",
    "blockquote",
    "pre",
    "ul",
    "ol",
    "table",
    "hr",
    "main",
    "aside",
    "nav",
    "figure",
    "figcaption",
    "dd",
    "dt",
    "title",
];
const HIDDEN: &[&str] = &["script", "style", "template", "noscript", "svg", "head", "iframe", "object"];

/// Collects the visible words of a page from html5ever's tokenizer, which reports each token's line.
#[derive(Default)]
struct WordSink {
    words: RefCell<Vec<Word>>,
    hidden: RefCell<Vec<String>>,
    block: std::cell::Cell<u32>,
    regions: RefCell<Vec<Region>>,
    /// Open elements as the tags say (a `<p>`, `<li>`… closes one of its kind left open, as
    /// HTML's implied end tags do), and the deepest they went.
    open: RefCell<Vec<String>>,
    deepest: std::cell::Cell<usize>,
}

impl TokenSink for WordSink {
    type Handle = ();

    fn process_token(&self, token: Token, line: u64) -> TokenSinkResult<()> {
        match token {
            Token::TagToken(HtmlTag { kind, name, self_closing, attrs, .. }) => {
                let name: &str = &name;
                if BLOCK.contains(&name) {
                    self.block.set(self.block.get() + 1);
                }
                if !self_closing && !VOID.contains(&name) {
                    let mut open = self.open.borrow_mut();
                    match kind {
                        TagKind::StartTag => {
                            if IMPLIED_END.contains(&name) && open.last().is_some_and(|l| l == name) {
                                open.pop();
                            }
                            open.push(name.to_string());
                            self.deepest.set(self.deepest.get().max(open.len()));
                        }
                        // Looked for among the innermost 256 only: stray end tags stay linear.
                        TagKind::EndTag => {
                            if let Some(i) = open.iter().rev().take(256).position(|n| n == name) {
                                let at = open.len() - 1 - i;
                                open.truncate(at);
                            }
                        }
                    }
                    let mut regions = self.regions.borrow_mut();
                    match kind {
                        TagKind::StartTag => {
                            regions.iter_mut().filter(|r| r.name == name).for_each(|r| r.depth += 1);
                            let in_main = regions.iter().any(|r| !r.boiler);
                            let main = ["article", "main"].contains(&name)
                                || attrs.iter().any(|a| &*a.name.local == "role" && a.value.trim().eq_ignore_ascii_case("main"));
                            if regions.len() >= MAX_DEPTH {
                                // Deeper than any page is read (`MAX_DEPTH`): no more regions.
                            } else if boilerplate(name, &attrs, in_main) {
                                regions.push(Region { name: name.to_string(), depth: 1, boiler: true });
                            } else if main {
                                regions.push(Region { name: name.to_string(), depth: 1, boiler: false });
                            }
                        }
                        TagKind::EndTag => {
                            regions.iter_mut().filter(|r| r.name == name).for_each(|r| r.depth -= 1);
                            regions.retain(|r| r.depth > 0);
                        }
                    }
                }
                let mut hidden = self.hidden.borrow_mut();
                match kind {
                    TagKind::StartTag if HIDDEN.contains(&name) && !self_closing => {
                        hidden.push(name.to_string());
                        // Script and style hold raw text, not markup: the tokenizer must be told.
                        return match name {
                            "script" => TokenSinkResult::RawData(html5ever::tokenizer::states::RawKind::ScriptData),
                            "style" | "noscript" | "iframe" => TokenSinkResult::RawData(html5ever::tokenizer::states::RawKind::Rawtext),
                            _ => TokenSinkResult::Continue,
                        };
                    }
                    TagKind::EndTag if hidden.last().is_some_and(|h| h == name) => {
                        hidden.pop();
                    }
                    _ => {}
                }
            }
            Token::CharacterTokens(t) if self.hidden.borrow().is_empty() => self.words_of(&t, line as u32),
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

impl WordSink {
    fn words_of(&self, t: &StrTendril, line: u32) {
        // `line` is where the token ends for a multi-line run of text: count back.
        let mut l = line.saturating_sub(t.matches('\n').count() as u32).max(1);
        let mut words = self.words.borrow_mut();
        let regions = self.regions.borrow();
        let (main, boiler) = (regions.iter().any(|r| !r.boiler), regions.iter().any(|r| r.boiler));
        for piece in t.split_inclusive(char::is_whitespace) {
            let w = piece.trim();
            if !w.is_empty() {
                words.push(Word { text: w.to_string(), line: l, block: self.block.get(), main, boiler });
            }
            if piece.ends_with('\n') {
                l += 1;
            }
        }
    }
}

/// The page's visible words, and how deep its elements nest.
fn visible_words(html: &str) -> (Vec<Word>, usize) {
    let sink = WordSink::default();
    let tok = Tokenizer::new(sink, TokenizerOpts::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let _ = tok.feed(&input);
    tok.end();
    (tok.sink.words.take(), tok.sink.deepest.get())
}

/// Elements whose end tag HTML implies when another of their kind starts.
const IMPLIED_END: &[&str] = &["p", "li", "dt", "dd", "tr", "td", "th", "option"];

/// The source line of every byte of `text`: its words are found in `source` in order (each searched
/// for in a window ahead of the last match, so text the extraction moved or rewrote is skipped
/// over); a byte between matches takes the line of the last matched word.
fn align_lines(text: &str, source: &[Word]) -> Vec<u32> {
    const WINDOW: usize = 400;
    let mut lines = vec![source.first().map_or(1, |w| w.line); text.len()];
    let mut next = 0usize;
    let mut line = lines.first().copied().unwrap_or(1);
    let mut at = 0usize;
    for piece in text.split_inclusive(char::is_whitespace) {
        let word = piece.trim();
        if !word.is_empty() {
            let end = (next + WINDOW).min(source.len());
            if let Some(i) = source[next..end].iter().position(|w| w.text == word || w.text.contains(word)) {
                line = source[next + i].line;
                next += i + 1;
            }
        }
        lines[at..at + piece.len()].fill(line);
        at += piece.len();
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_name_is_cut_from_title() {
        assert_eq!(trim_site_name("Rail fares to rise 4.6% in March - The Daily Ledger"), "Rail fares to rise 4.6% in March");
        assert_eq!(trim_site_name("Wind farm delayed | Coastal Times"), "Wind farm delayed");
        assert_eq!(trim_site_name("Ask - Answer"), "Ask - Answer");
    }

    #[test]
    fn declared_charset_is_honoured() {
        let page = b"<html><head><meta charset=\"windows-1252\"><title>Caf\xe9</title></head><body><p>Cr\xe8me br\xfbl\xe9e costs 5 \x80 at the caf\xe9 today, a price that has not changed in years.</p></body></html>";
        let d = html_document("c.html", page, &mut |_, _| {}).unwrap().unwrap();
        assert!(d.text.contains("Crème brûlée costs 5 €"), "{}", d.text);
        assert_eq!(d.title, "Café");
    }

    #[test]
    fn hostile_markup_never_panics() {
        for page in [
            "<p>price < 5</p> <",
            "<p>Fuel now costs < 2 €",
            "<p>a <é b</p>",
            "<script><script>alert(1)</script></script><p>after</p>",
            "<!-- unclosed comment <p>x</p>",
            "<![CDATA[ x ]]><p>&amp;&#x41;&bogus;&#99999999;</p>",
            "<",
            "",
        ] {
            let _ = html_document("h.html", page.as_bytes(), &mut |_, _| {});
        }
    }

    #[test]
    fn lines_point_into_the_source() {
        let page = "<html><head><title>T</title></head>\n<body>\n<p>Hello &amp; welcome.</p>\n<script>var x=1;</script>\n<p>Second\nline.</p></body></html>";
        let d = html_document("p.html", page.as_bytes(), &mut |_, _| {}).unwrap().unwrap();
        let LineMap::Mapped(m) = &d.lines else { panic!() };
        assert_eq!(m[d.text.find("Hello").unwrap()], 3, "{}", d.text);
        assert_eq!(m[d.text.find("Second").unwrap()], 5);
        assert_eq!(m[d.text.find("line.").unwrap()], 6);
        assert!(!d.text.contains("var x"));
    }

    #[test]
    fn the_tokenizer_marks_main_content_and_boilerplate() {
        let html = r#"<body><div class="cookie-banner"><div><p>Accept cookies</p></div><p>or not</p></div><header><nav>Home</nav>Site</header>
<main><header><h1>Headline</h1></header><div><p>Body text</p></div><aside>Related</aside></main><footer>Legal</footer></body>"#;
        let (words, depth) = visible_words(html);
        assert_eq!(depth, 4, "body > div > div > p, and body > main > header > h1");
        let flags = |t: &str| words.iter().find(|w| w.text == t).map(|w| (w.main, w.boiler)).unwrap();
        assert_eq!(flags("cookies"), (false, true));
        assert_eq!(flags("not"), (false, true), "a nested div closes the cookie div only at its own end");
        assert_eq!(flags("Home"), (false, true));
        assert_eq!(flags("Headline"), (true, false), "a header inside the main content is content");
        assert_eq!(flags("Body"), (true, false));
        assert_eq!(flags("Related"), (true, true));
        assert_eq!(flags("Legal"), (false, true));
    }

    #[test]
    fn deep_nesting_is_refused_before_the_tree_is_built_and_old_style_paragraphs_are_not_deep() {
        let deep = format!("<body>{}<p>Tin supply resumed.</p>{}</body>", "<div>".repeat(100_000), "</div>".repeat(100_000));
        let t = std::time::Instant::now();
        let why = html_document("deep.html", deep.as_bytes(), &mut |_, _| {}).unwrap_err();
        assert!(why.contains("nested 100002 deep"), "{why}");
        assert!(t.elapsed() < std::time::Duration::from_secs(5), "{:?}", t.elapsed());
        // A thousand paragraphs and list items never closed (as HTML allows) are not nesting.
        let old = format!("<body><ul>{}</ul>{}</body>", "<li>item".repeat(1000), "<p>Copper rose on supply worries in Chile.".repeat(1000));
        assert!(html_document("old.html", old.as_bytes(), &mut |_, _| {}).unwrap().is_some());
    }
}
