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
fn on_or_after(date: &str, bound: &str) -> bool {
    let n = date.len().min(bound.len());
    date[..n] >= bound[..n]
}

fn on_or_before(date: &str, bound: &str) -> bool {
    let n = date.len().min(bound.len());
    date[..n] <= bound[..n]
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
        Ok(())
    }

    /// The test a document passes (by its id, path and date), for stores that list documents
    /// their own way (a server's collection).
    pub fn admitter(&self) -> Result<impl Fn(&str, &str, Option<&str>) -> Admit + '_> {
        self.check()?;
        let rules: Vec<PathRule> = self.paths.iter().map(|p| PathRule::new(p)).collect::<Result<_>>()?;
        let dated = self.since.is_some() || self.until.is_some();
        Ok(move |doc_id: &str, path: &str, date: Option<&str>| {
            if self.doc.as_ref().is_some_and(|id| id != doc_id) || (!rules.is_empty() && !rules.iter().any(|r| r.matches(path))) {
                return Admit::No;
            }
            if dated {
                let Some(date) = date else { return Admit::Undated };
                if self.since.as_deref().is_some_and(|s| !on_or_after(date, s)) || self.until.as_deref().is_some_and(|u| !on_or_before(date, u)) {
                    return Admit::No;
                }
            }
            Admit::Yes
        })
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
    }
}
