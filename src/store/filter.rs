//! Filters: which documents a search may return, decided before it runs.
//!
//! Each store turns a filter into what it searches under (the local index: a set of allowed rows
//! that both sides consult while they search, the graph walk going on until it holds enough of
//! them; a server: a condition on the documents), so `-k` results still come back when enough
//! documents match.

use anyhow::{bail, Result};
use globset::{Glob, GlobMatcher};

/// What the user asked to narrow to.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Globs on the stored path (relative to the folder holding the index). A pattern without `/`
    /// matches a file name at any depth (`*.md`) as in `.gitignore`; a pattern with no glob
    /// character names a file or a folder (`notes/` or `notes` holds `notes/a.md`).
    pub paths: Vec<String>,
    /// Only this document.
    pub doc: Option<String>,
    /// Only documents dated on or after / on or before this ISO 8601 date (a prefix is enough:
    /// `2025`, `2025-03`, `2025-03-06`).
    pub since: Option<String>,
    /// Only documents dated on or before this date.
    pub until: Option<String>,
    /// What `since`/`until` do with a document that has no date.
    pub undated: Undated,
}

/// What a date bound does with a document without a date (`--undated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Undated {
    /// Left out, and counted (the default: a date range asks for dated documents).
    #[default]
    Exclude,
    /// Kept, as if it were in the range.
    Include,
}

impl std::str::FromStr for Undated {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Undated, String> {
        match s {
            "exclude" => Ok(Undated::Exclude),
            "include" => Ok(Undated::Include),
            _ => Err(format!("unknown value {s:?} for undated; use exclude or include")),
        }
    }
}

enum PathRule {
    Glob { matcher: GlobMatcher, basename: bool },
    Under(String),
}

impl PathRule {
    fn new(pattern: &str) -> Result<PathRule> {
        let p = pattern.trim_start_matches("./");
        if !p.contains(['*', '?', '[', '{']) {
            return Ok(PathRule::Under(p.trim_end_matches('/').to_string()));
        }
        let glob = Glob::new(p).map_err(|e| anyhow::anyhow!("--path {pattern:?} is not a valid glob ({e}); e.g. --path 'notes/**/*.md'"))?;
        Ok(PathRule::Glob { matcher: glob.compile_matcher(), basename: !p.contains('/') })
    }

    fn matches(&self, path: &str) -> bool {
        match self {
            PathRule::Under(root) => root.is_empty() || root == "." || crate::docpath::covers(root, path),
            PathRule::Glob { matcher, basename } => matcher.is_match(path) || (*basename && matcher.is_match(path.rsplit('/').next().unwrap_or(path))),
        }
    }
}

/// `date` against a bound: compared on the characters both have, so `2025-03` is within
/// `--since 2025-03-15` (the month holds that day) and `2025-03-06T10:00Z` is within `--until 2025-03-06`.
/// Compared as bytes: a stored date is checked when it is written, but one read from a server is
/// whatever the row holds, and a string slice could split a character.
fn on_or_after(date: &str, bound: &str) -> bool {
    let n = date.len().min(bound.len());
    date.as_bytes()[..n] >= bound.as_bytes()[..n]
}

fn on_or_before(date: &str, bound: &str) -> bool {
    let n = date.len().min(bound.len());
    date.as_bytes()[..n] <= bound.as_bytes()[..n]
}

impl Filter {
    /// Whether it lets every document through.
    pub fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.doc.is_none() && self.since.is_none() && self.until.is_none()
    }

    /// Checks the bounds are dates (a typo must not silently filter everything out) and the globs
    /// parse, before anything is loaded.
    pub fn check(&self) -> Result<()> {
        for p in &self.paths {
            PathRule::new(p)?;
        }
        for (flag, v) in [("--since", &self.since), ("--until", &self.until)] {
            if let Some(d) = v {
                if crate::ingest::parse_date(d).is_none() || !d.is_ascii() {
                    bail!("{flag} {d:?} is not a date; use ISO 8601, e.g. {flag} 2025-03-06 (or 2025-03, 2025)");
                }
            }
        }
        // No date is on or after `since` and on or before `until` (compared as dates are, on
        // their common precision): an empty range is a mistake, not a question with no answer.
        if let (Some(since), Some(until)) = (&self.since, &self.until) {
            let n = since.len().min(until.len());
            if since[..n] > until[..n] {
                bail!("--since {since} is after --until {until}: no date is in that range; swap them");
            }
        }
        Ok(())
    }

    /// Says what this filter is, as the flags that set it (`--path notes --since 2025`).
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = self.paths.iter().map(|p| format!("--path {p}")).collect();
        parts.extend(self.doc.iter().map(|d| format!("--doc {d}")));
        parts.extend(self.since.iter().map(|d| format!("--since {d}")));
        parts.extend(self.until.iter().map(|d| format!("--until {d}")));
        if self.undated == Undated::Include && (self.since.is_some() || self.until.is_some()) {
            parts.push("--undated include".into());
        }
        parts.join(" ")
    }

    /// Counts, over a store's documents, what the filter lets through (see `Tally`): each store
    /// passes every document through `Counter::admit` when it opens a filtered search.
    pub fn counter(&self) -> Result<Counter<'_>> {
        self.check()?;
        let rules: Vec<PathRule> = self.paths.iter().map(|p| PathRule::new(p)).collect::<Result<_>>()?;
        let matched = vec![false; rules.len()];
        Ok(Counter { filter: self, rules, matched, tally: Tally::default() })
    }
}

/// What a filter let through of a store's documents: said when a search comes back empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Documents it lets through.
    pub admitted: usize,
    /// Documents without a date that `--since`/`--until` left out.
    pub undated: usize,
    /// The `--path` patterns no document's path matches.
    pub unmatched_paths: Vec<String>,
}

/// A filter applied to a store's documents one by one, counting what it lets through.
pub struct Counter<'a> {
    filter: &'a Filter,
    rules: Vec<PathRule>,
    matched: Vec<bool>,
    tally: Tally,
}

impl Counter<'_> {
    /// Whether the document (its id, path and date) passes, counted.
    pub fn admit(&mut self, doc_id: &str, path: &str, date: Option<&str>) -> Admit {
        let f = self.filter;
        let mut on_path = self.rules.is_empty();
        for (rule, seen) in self.rules.iter().zip(&mut self.matched) {
            if rule.matches(path) {
                *seen = true;
                on_path = true;
            }
        }
        let admit = if f.doc.as_ref().is_some_and(|id| id != doc_id) || !on_path {
            Admit::No
        } else if f.since.is_none() && f.until.is_none() {
            Admit::Yes
        } else {
            match date {
                None if f.undated == Undated::Include => Admit::Yes,
                None => Admit::Undated,
                Some(d) if f.since.as_deref().is_some_and(|s| !on_or_after(d, s)) || f.until.as_deref().is_some_and(|u| !on_or_before(d, u)) => Admit::No,
                Some(_) => Admit::Yes,
            }
        };
        match admit {
            Admit::Yes => self.tally.admitted += 1,
            Admit::Undated => self.tally.undated += 1,
            Admit::No => {}
        }
        admit
    }

    /// What was let through, once every document was seen.
    pub fn tally(mut self) -> Tally {
        self.tally.unmatched_paths = self.filter.paths.iter().zip(&self.matched).filter(|(_, &m)| !m).map(|(p, _)| p.clone()).collect();
        self.tally
    }
}

/// Whether a document passes a filter; `Undated`: left out by a date bound for having no date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// It passes.
    Yes,
    /// It does not.
    No,
    /// Left out for having no date while a date bound is set.
    Undated,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_rules() {
        let m = |p: &str, path: &str| PathRule::new(p).unwrap().matches(path);
        assert!(m("*.md", "notes/a.md") && m("*.md", "a.md") && !m("*.md", "a.txt"));
        assert!(m("notes/**", "notes/x/a.md") && !m("notes/**", "web/a.html"));
        assert!(m("notes", "notes/a.md") && m("notes/", "notes/x/a.md") && !m("notes", "notesx/a.md"));
        assert!(m("web/*.html", "web/a.html") && !m("web/*.html", "x/web/a.html"));
        assert!(m("./notes/a.md", "notes/a.md"));
        assert!(PathRule::new("[").is_err());
    }

    #[test]
    fn dates_compare_on_their_common_precision() {
        assert!(on_or_after("2025-03", "2025-03-15") && on_or_before("2025-03", "2025-03-15"));
        assert!(on_or_before("2025-03-06T10:00:00Z", "2025-03-06") && on_or_after("2025-03-06T10:00:00Z", "2025-03-06"));
        assert!(!on_or_after("2025-02-27", "2025-03") && on_or_before("2025-02-27", "2025-03"));
        assert!(Filter { since: Some("last week".into()), ..Filter::default() }.check().is_err());
        assert!(Filter { until: Some("2025-03".into()), ..Filter::default() }.check().is_ok());
        let range = |since: &str, until: &str| Filter { since: Some(since.into()), until: Some(until.into()), ..Filter::default() }.check();
        assert!(range("2025-07-01", "2025-06-01").unwrap_err().to_string().contains("is after --until"));
        assert!(range("2025-07", "2025-07-15").is_ok() && range("2025-07-15", "2025").is_ok() && range("2025-06-01", "2025-06-01").is_ok());
    }

    #[test]
    fn the_tally_names_the_patterns_that_matched_nothing() {
        let f = Filter { paths: vec!["notes".into(), "nosuchdir".into()], since: Some("2025".into()), ..Filter::default() };
        let mut c = f.counter().unwrap();
        assert_eq!(c.admit("a", "notes/a.md", Some("2025-03-01")), Admit::Yes);
        assert_eq!(c.admit("b", "notes/b.md", None), Admit::Undated);
        assert_eq!(c.admit("c", "web/c.html", Some("2025-03-01")), Admit::No);
        assert_eq!(c.tally(), Tally { admitted: 1, undated: 1, unmatched_paths: vec!["nosuchdir".to_string()] });
    }
}
