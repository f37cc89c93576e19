//! Query strings of the API to searches: the same choices as `ask`/`related` flags, checked before
//! anything runs, so a bad parameter is a 400 naming it.

use crate::ann::HnswParams;
use crate::search::{self, Filter, Mode, Strategy, Target};

/// A search as the API asks for it.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub options: search::Options,
    pub filter: Filter,
}

/// What `/api/related` finds passages related to.
#[derive(Debug, Clone)]
pub struct RelatedRequest {
    pub target: Target,
    pub same_doc: bool,
    pub search: SearchRequest,
}

/// The pairs of a query string, in order (a key may repeat: `path=a&path=b`).
pub struct Params(Vec<(String, String)>);

/// Most results one request may ask for.
const MAX_K: usize = 1000;

impl Params {
    pub fn parse(query: Option<&str>) -> Params {
        Params(form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect())
    }

    /// From pairs (the MCP tools' arguments, as the API's query parameters would give them).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Params {
        Params(pairs)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn all(&self, key: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).filter(|v| !v.is_empty()).collect()
    }

    fn number<T: std::str::FromStr>(&self, key: &str, what: &str) -> Result<Option<T>, String> {
        match self.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| format!("{key}={v:?} is not {what}")),
        }
    }

    fn flag(&self, key: &str) -> Result<bool, String> {
        match self.get(key) {
            None | Some("0" | "false" | "no") => Ok(false),
            Some("" | "1" | "true" | "yes") => Ok(true),
            Some(v) => Err(format!("{key}={v:?} is not a yes/no value; use {key}=1 or {key}=0")),
        }
    }

    /// `k`, `mode`, `path` (repeatable), `doc`, `since`, `until`, `min_score`, `per_doc`,
    /// `no_fold`, `exact`, `ef`; `per_doc_default` as the command's.
    pub fn search(&self, per_doc_default: Option<usize>) -> Result<SearchRequest, String> {
        let k: usize = self.number("k", "a number of results")?.unwrap_or(5);
        if k == 0 || k > MAX_K {
            return Err(format!("k={k} is out of range; ask for 1 to {MAX_K} results"));
        }
        let mode: Mode = match self.get("mode").filter(|m| !m.is_empty()) {
            None => Mode::Semantic,
            Some(m) => m.parse().map_err(|_| format!("mode={m:?} is not a mode; use hybrid, semantic or lexical"))?,
        };
        let ef: usize = self.number("ef", "a beam width")?.unwrap_or(HnswParams::default().ef_search);
        let strategy = if self.flag("exact")? { Strategy::Exact } else { Strategy::Auto { ef: ef.max(1) } };
        let min_score: Option<f32> = self.number("min_score", "a score")?;
        let per_doc: Option<usize> = self.number("per_doc", "a number of passages")?;
        let filter = Filter {
            paths: self.all("path"),
            doc: self.get("doc").filter(|d| !d.is_empty()).map(str::to_string),
            since: self.get("since").filter(|d| !d.is_empty()).map(str::to_string),
            until: self.get("until").filter(|d| !d.is_empty()).map(str::to_string),
        };
        filter.check().map_err(|e| format!("{e:#}").replace("--", ""))?;
        let options = search::Options::for_reader(k, strategy, mode, min_score, per_doc.or(per_doc_default), self.flag("no_fold")?);
        Ok(SearchRequest { options, filter })
    }

    /// `q`, non-empty.
    pub fn question(&self) -> Result<String, String> {
        match self.get("q").map(str::trim) {
            Some(q) if !q.is_empty() => Ok(q.to_string()),
            _ => Err("q is missing or empty; ask something, e.g. /api/ask?q=what+did+Alibaba+announce".into()),
        }
    }

    /// `id`, or `path` + `line`, or `text`; then the search parameters.
    pub fn related(&self) -> Result<RelatedRequest, String> {
        let text = self.get("text").map(str::trim).filter(|t| !t.is_empty());
        let id = self.get("id").filter(|t| !t.is_empty());
        let line: Option<u32> = self.number("line", "a line number")?;
        let target = match (id, text, line) {
            (Some(id), None, None) => Target::Passage(id.to_string()),
            (None, Some(t), None) => Target::Text(t.to_string()),
            (None, None, Some(line)) => match self.all("path").as_slice() {
                [path] => Target::PathLine(path.clone(), line),
                _ => return Err("line needs exactly one path, e.g. /api/related?path=notes/a.md&line=12".into()),
            },
            _ => return Err("give one of id, text, or path with line, e.g. /api/related?id=PASSAGE_ID".into()),
        };
        // With path+line, `path` names the passage, not a filter.
        let search = if matches!(target, Target::PathLine(..)) {
            let rest = Params(self.0.iter().filter(|(k, _)| k != "path").cloned().collect());
            rest.search(None)?
        } else {
            self.search(None)?
        };
        Ok(RelatedRequest { target, same_doc: self.flag("same_doc")?, search })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_parse_or_name_what_is_wrong() {
        let p = Params::parse(Some("q=gold+price&k=3&mode=hybrid&path=a/*.md&path=b&since=2025-03"));
        assert_eq!(p.question().unwrap(), "gold price");
        let s = p.search(Some(2)).unwrap();
        assert_eq!((s.options.k, s.options.mode, s.options.per_doc), (3, Mode::Hybrid, Some(2)));
        assert_eq!(s.filter.paths, vec!["a/*.md", "b"]);
        for (q, needle) in [
            ("k=0", "k=0"),
            ("k=x", "k=\"x\""),
            ("mode=fuzzy", "mode=\"fuzzy\""),
            ("since=yesterday", "since"),
            ("path=a[", "path"),
            ("no_fold=maybe", "no_fold"),
        ] {
            let e = Params::parse(Some(q)).search(None).unwrap_err();
            assert!(e.contains(needle), "{q}: {e}");
        }
        assert!(Params::parse(Some("q=+")).question().is_err());
        assert!(Params::parse(Some("id=x&text=y")).related().is_err());
        assert!(matches!(Params::parse(Some("path=a.md&line=3")).related().unwrap().target, Target::PathLine(p, 3) if p == "a.md"));
    }
}
