//! Chunk: a document's text -> passages that fit the model window.
//!
//! Passages are built from whole sentences, packed up to a token budget, preferring to end at a
//! paragraph break; a passage that has to end inside a paragraph hands its last (short) sentence to
//! the next one as overlap, so a fact that straddles the cut is whole in at least one passage. A
//! sentence longer than the budget is cut at word boundaries. Token counts come from the model's own
//! tokenizer, so "fits the window" is exact, not estimated from characters.
//!
//! The default budget is 128 tokens including [CLS] and [SEP]: all-MiniLM-L6-v2 was trained on
//! sequences of at most 128 word pieces, and shorter passages also point users at the answer.

use crate::ingest::{Document, LineMap};
use anyhow::{anyhow, Result};
use tokenizers::Tokenizer;
use unicode_segmentation::UnicodeSegmentation;

pub use crate::index::ChunkParams;

/// A passage's place in its document. Byte offsets index `Document::text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Where the passage starts in `Document::text`.
    pub byte_start: usize,
    /// Where it ends (exclusive).
    pub byte_end: usize,
    /// Its first source line (1-based).
    pub line_start: u32,
    /// Its last source line.
    pub line_end: u32,
    /// Word pieces of the passage text (its section prefix not counted).
    pub n_tokens: usize,
    /// Index in `Document::sections` of the section holding the passage.
    pub section: Option<usize>,
}

/// What the model embeds for a passage: its section path (the headings above it, or a record's
/// title) as a prefix, so a heading's words count for every passage under it without being shown as
/// passage text, then the passage.
pub fn embedding_text<'a>(section: &str, text: &'a str) -> std::borrow::Cow<'a, str> {
    if section.is_empty() {
        text.into()
    } else {
        format!("{section}\n\n{text}").into()
    }
}

#[derive(Debug, Clone)]
struct Unit {
    start: usize,
    end: usize,
    paragraph: usize,
    tokens: usize,
}

/// Cuts documents into passages with the model's own tokenizer counting the budget.
pub struct Chunker {
    tokenizer: Tokenizer,
    params: ChunkParams,
}

impl Chunker {
    /// `tokenizer` is the model's; truncation and padding are switched off here because we need
    /// true lengths.
    pub fn new(tokenizer: &Tokenizer, params: ChunkParams) -> Result<Chunker> {
        let mut tokenizer = tokenizer.clone();
        tokenizer.with_truncation(None).map_err(|e| anyhow!("tokenizer: {e}"))?;
        tokenizer.with_padding(None);
        if params.max_tokens < 8 {
            return Err(anyhow!("passage budget of {} tokens is too small (minimum 8)", params.max_tokens));
        }
        Ok(Chunker { tokenizer, params })
    }

    /// The parameters it cuts with.
    pub fn params(&self) -> ChunkParams {
        self.params
    }

    /// Word pieces of `text` without special tokens.
    pub fn count_tokens(&self, text: &str) -> usize {
        self.tokenizer.encode_fast(text, false).map(|e| e.len()).unwrap_or(usize::MAX)
    }

    /// The passages of `doc`, in order; every non-whitespace byte is in one.
    pub fn chunk(&self, doc: &Document) -> Result<Vec<Chunk>> {
        let lines = LineLookup::new(doc);
        let section_of = |off: usize| doc.section_index(off);
        if self.params.whole_documents {
            let body = doc.text.trim();
            if body.is_empty() {
                return Ok(Vec::new());
            }
            let s = doc.text.len() - doc.text.trim_start().len();
            let e = s + body.len();
            return Ok(vec![Chunk {
                byte_start: s,
                byte_end: e,
                line_start: lines.line(s),
                line_end: lines.line(e - 1),
                n_tokens: self.count_tokens(body),
                section: section_of(s),
            }]);
        }
        // A section's path is embedded with each of its passages: the passage gets what is left of
        // the budget, but never less than half of it (a heading longer than that is cut off by the
        // model window instead of the passage shrinking to nothing).
        let budget = self.params.max_tokens - 2;
        let context: Vec<usize> = doc.sections.iter().map(|(_, p)| self.count_tokens(p).min(budget / 2)).collect();
        let widest = context.iter().copied().max().unwrap_or(0);
        let units = self.units(&doc.text, budget - widest)?;
        let mut chunks = Vec::new();
        let mut cur: Vec<&Unit> = Vec::new();
        let mut cur_tokens = 0usize;
        let close = |cur: &[&Unit], tokens: usize, chunks: &mut Vec<Chunk>| {
            let (s, e) = (cur[0].start, cur[cur.len() - 1].end);
            chunks.push(Chunk {
                byte_start: s,
                byte_end: e,
                line_start: lines.line(s),
                line_end: lines.line(e.saturating_sub(1).max(s)),
                n_tokens: tokens,
                section: section_of(s),
            });
        };
        for u in &units {
            let section = section_of(u.start);
            let budget = budget - section.map_or(0, |i| context[i]);
            if !cur.is_empty() {
                // A passage never spans two sections: it would carry the wrong headings.
                if section != section_of(cur[0].start) {
                    close(&cur, cur_tokens, &mut chunks);
                    cur.clear();
                    cur_tokens = 0;
                }
            }
            if !cur.is_empty() {
                let new_paragraph = u.paragraph != cur[cur.len() - 1].paragraph;
                let over = cur_tokens + u.tokens > budget;
                if over || (new_paragraph && cur_tokens >= budget / 2) {
                    close(&cur, cur_tokens, &mut chunks);
                    let last = cur[cur.len() - 1];
                    let carry = !new_paragraph && cur.len() > 1 && last.tokens <= self.params.overlap_tokens && last.tokens + u.tokens <= budget;
                    cur.clear();
                    cur_tokens = 0;
                    if carry {
                        cur.push(last);
                        cur_tokens = last.tokens;
                    }
                }
            }
            cur.push(u);
            cur_tokens += u.tokens;
        }
        if !cur.is_empty() {
            close(&cur, cur_tokens, &mut chunks);
        }
        Ok(chunks)
    }

    /// Sentences (trimmed), with their paragraph number and token count; sentences over `budget`
    /// are cut into pieces that fit.
    fn units(&self, text: &str, budget: usize) -> Result<Vec<Unit>> {
        let mut spans: Vec<(usize, usize, usize)> = Vec::new();
        for (p, (pstart, para)) in paragraphs(text).into_iter().enumerate() {
            for (off, sentence) in para.split_sentence_bound_indices() {
                let lead = sentence.len() - sentence.trim_start().len();
                let body = sentence.trim();
                if body.is_empty() {
                    continue;
                }
                let s = pstart + off + lead;
                split_long(text, s, s + body.len(), p, &mut spans);
            }
        }
        let mut units = Vec::with_capacity(spans.len());
        // Tokenized a group at a time: a tokenizer encoding costs far more memory than its text.
        for group in spans.chunks(ENCODE_GROUP) {
            let texts: Vec<&str> = group.iter().map(|&(s, e, _)| &text[s..e]).collect();
            let encodings = self.tokenizer.encode_batch(texts, false).map_err(|e| anyhow!("tokenizer: {e}"))?;
            self.cut(text, group, encodings, budget, &mut units);
        }
        Ok(units)
    }

    /// Units of tokenized spans: a span within the budget is one unit, a longer one is cut.
    fn cut(&self, text: &str, spans: &[(usize, usize, usize)], encodings: Vec<tokenizers::Encoding>, budget: usize, units: &mut Vec<Unit>) {
        for (&(s, e, p), enc) in spans.iter().zip(encodings) {
            if enc.len() <= budget {
                units.push(Unit { start: s, end: e, paragraph: p, tokens: enc.len() });
                continue;
            }
            // Cut a long sentence at word starts, each piece within the budget. A piece cut inside
            // a word can tokenize to more pieces on its own, so each is recounted and shortened
            // until it fits.
            let toks = enc.get_tokens();
            let offs = enc.get_offsets();
            let mut i = 0;
            while i < toks.len() {
                let mut j = (i + budget).min(toks.len());
                if j < toks.len() {
                    let mut k = j;
                    while k > i + budget / 2 && toks[k].starts_with("##") {
                        k -= 1;
                    }
                    if !toks[k].starts_with("##") {
                        j = k;
                    }
                }
                loop {
                    // The first piece starts with the span: characters the tokenizer drops (NUL and
                    // other control characters) before the first token must not fall out of every passage.
                    let ps = if i == 0 { s } else { s + offs[i].0 };
                    let pe = if j < toks.len() { s + offs[j].0 } else { e };
                    let piece = text[ps..pe].trim_end();
                    let n = self.count_tokens(piece);
                    if n <= budget || j == i + 1 {
                        if !piece.is_empty() {
                            units.push(Unit { start: ps, end: ps + piece.len(), paragraph: p, tokens: n });
                        }
                        break;
                    }
                    j = (j - (n - budget).max(1)).max(i + 1);
                }
                i = j;
            }
        }
    }
}

/// Longest span tokenized whole. A "sentence" can be megabytes of text with no sentence break (a
/// log line, a table dump); it is cut first at the last whitespace before this many bytes (or at a
/// character boundary), so the tokenizer never holds more than a few thousand tokens of it. Well
/// above the longest text a 256-token window can hold in practice.
const MAX_SPAN_BYTES: usize = 4096;
/// Spans tokenized per batch.
const ENCODE_GROUP: usize = 1024;

fn split_long(text: &str, mut s: usize, e: usize, p: usize, spans: &mut Vec<(usize, usize, usize)>) {
    while e - s > MAX_SPAN_BYTES {
        let mut cut = s + MAX_SPAN_BYTES;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        if let Some(ws) = text[s..cut].rfind(char::is_whitespace) {
            if ws > MAX_SPAN_BYTES / 2 {
                cut = s + ws;
            }
        }
        let piece = text[s..cut].trim_end();
        if !piece.is_empty() {
            spans.push((s, s + piece.len(), p));
        }
        s = cut;
        while s < e && text[s..].starts_with(char::is_whitespace) {
            s += text[s..].chars().next().map_or(1, char::len_utf8);
        }
    }
    if s < e {
        spans.push((s, e, p));
    }
}

/// Paragraphs: runs of text separated by blank lines, with their start offsets.
fn paragraphs(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.trim().is_empty() {
            if let Some(s) = start.take() {
                out.push((s, &text[s..offset]));
            }
        } else if start.is_none() {
            start = Some(offset);
        }
        offset += line.len();
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

/// Maps a byte offset of a document's text to its 1-based source line.
struct LineLookup<'a> {
    doc: &'a Document,
    newlines: Vec<usize>,
}

impl<'a> LineLookup<'a> {
    fn new(doc: &'a Document) -> LineLookup<'a> {
        let newlines = match doc.lines {
            LineMap::Verbatim { .. } => doc.text.match_indices('\n').map(|(i, _)| i).collect(),
            _ => Vec::new(),
        };
        LineLookup { doc, newlines }
    }

    fn line(&self, off: usize) -> u32 {
        match &self.doc.lines {
            LineMap::Verbatim { first_line, .. } => first_line + self.newlines.partition_point(|&n| n < off) as u32,
            LineMap::Record { line } => *line,
            LineMap::Mapped(m) => m.get(off).or(m.last()).copied().unwrap_or(1),
        }
    }
}
