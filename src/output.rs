//! Output: results for people (a terminal, with the answer sentence highlighted) or for programs
//! (`--json`, one object per line).

use crate::search::Found;
use serde::Serialize;
use std::io::Write;

#[derive(Serialize)]
pub struct JsonHit<'a> {
    pub rank: usize,
    pub score: f32,
    pub id: &'a str,
    pub doc_id: &'a str,
    pub path: &'a str,
    pub line_start: u32,
    pub line_end: u32,
    pub byte_start: u64,
    pub byte_end: u64,
    pub title: &'a str,
    pub text: &'a str,
    pub answer: &'a str,
    pub answer_score: f32,
}

impl<'a> From<&'a Found> for JsonHit<'a> {
    fn from(f: &'a Found) -> Self {
        let r = &f.passage.record;
        JsonHit {
            rank: f.rank,
            score: f.score,
            id: &r.id,
            doc_id: &r.doc_id,
            path: &f.passage.path,
            line_start: r.line_start,
            line_end: r.line_end,
            byte_start: r.byte_start,
            byte_end: r.byte_end,
            title: &f.passage.title,
            text: &r.text,
            answer: f.answer_text(),
            answer_score: f.answer_score,
        }
    }
}

pub fn write_json(out: &mut dyn Write, found: &[Found]) -> std::io::Result<()> {
    for f in found {
        serde_json::to_writer(&mut *out, &JsonHit::from(f))?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Collapse runs of whitespace (passages keep the file's line breaks) for display.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub fn write_human(out: &mut dyn Write, found: &[Found], color: bool) -> std::io::Result<()> {
    let (bold, dim, green, yellow, reset) = if color {
        ("\x1b[1m", "\x1b[2m", "\x1b[32m", "\x1b[1;33m", "\x1b[0m")
    } else {
        ("", "", "", "", "")
    };
    for f in found {
        let r = &f.passage.record;
        let lines = if r.line_start == r.line_end {
            format!("{}", r.line_start)
        } else {
            format!("{}-{}", r.line_start, r.line_end)
        };
        writeln!(out, "{bold}{}.{reset} {green}{}:{}{reset}  {dim}score {:.3}  id {}{reset}", f.rank, f.passage.path, lines, f.score, r.id)?;
        if !f.passage.title.is_empty() {
            writeln!(out, "   {bold}{}{reset}", squash(&f.passage.title))?;
        }
        let (a, b) = f.answer;
        let before = squash(&r.text[..a]);
        let answer = squash(&r.text[a..b]);
        let after = squash(&r.text[b..]);
        let mut body = String::new();
        if !before.is_empty() {
            body.push_str(&before);
            body.push(' ');
        }
        body.push_str(&format!("{yellow}{answer}{reset}"));
        if !after.is_empty() {
            body.push(' ');
            body.push_str(&after);
        }
        if !color {
            // Without colour the answer is still marked, so it can be told apart in a pipe.
            writeln!(out, "   > {answer}")?;
        }
        writeln!(out, "   {body}")?;
        writeln!(out)?;
    }
    out.flush()
}
