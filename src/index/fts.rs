//! The question's words (`store::LexicalQuery`) in FTS5's query syntax, for the segments' lexical
//! index: every word a quoted string (so nothing in it is FTS5 syntax), joined with OR; a required
//! phrase a quoted string of its words, ANDed in front.

use crate::store::{LexicalQuery, Syntax};

/// An FTS5 string literal (double quotes doubled inside; words have none, but this is the rule),
/// its CJK characters spaced apart as the index has them (a pair is then a phrase of two).
pub fn literal(s: &str) -> String {
    format!("\"{}\"", crate::store::lexical::cjk_spaced(s).replace('"', "\"\""))
}

fn phrase(words: &[String]) -> String {
    literal(&words.join(" "))
}

/// FTS5's spelling of a phrase, a word, AND and OR.
pub const FTS5: Syntax = Syntax { phrase, word: literal, and: " AND ", or: " OR " };

/// The FTS5 query of any of the phrases, figures and words, and that of the required phrases
/// alone; `None` where there is nothing. The required phrases are applied apart (a passage holds
/// one where its text or its document's title does: `index::Index::holding`).
pub fn render(q: &LexicalQuery) -> (Option<String>, Option<String>) {
    q.render_parts(&FTS5)
}

/// Words as an FTS5 query matching any of them.
pub fn any_of(words: &[String]) -> String {
    words.iter().map(|w| literal(w)).collect::<Vec<_>>().join(" OR ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::lexical::parse;

    #[test]
    fn words_are_quoted_and_or_ed() {
        assert_eq!(render(&parse("What did Everbright Securities say?")), (Some(r#""Everbright" OR "Securities" OR "say""#.to_string()), None));
        let (any, _) = render(&parse(r#"NOT a* -b c:d ^e (f OR g) "unpaired"#));
        assert_eq!(any.as_deref(), Some(r#""b" OR "c" OR "d" OR "e" OR "f" OR "g" OR "unpaired""#));
        assert_eq!(render(&parse("?? -- ()")), (None, None));
        let (any, required) = render(&parse(r#"why did "Kenny Ng" sell "" stocks"#));
        assert_eq!(required.as_deref(), Some(r#""Kenny Ng""#));
        assert_eq!(any.as_deref(), Some(r#""Kenny Ng" OR "sell" OR "stocks""#));
        assert_eq!(any_of(&["people".into(), "Everbright".into()]), r#""people" OR "Everbright""#);
    }

    /// Whatever a user types, the FTS5 query runs (no syntax error reaches them).
    #[test]
    fn any_text_is_a_valid_fts5_query() {
        use crate::index::{DocRecord, PassageRecord, PassageStore};
        use proptest::prelude::*;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.sqlite");
        let mut store = PassageStore::create(&path).unwrap();
        let doc = DocRecord {
            doc_id: "d".into(),
            path: "d.txt".into(),
            title: "Kenny Ng at Everbright".into(),
            content_hash: "h".into(),
            first_row: 0,
            n_passages: 1,
            date: None,
            url: None,
        };
        let passage = PassageRecord {
            row: 0,
            id: "p0".into(),
            doc_id: "d".into(),
            ordinal: 0,
            line_start: 1,
            line_end: 1,
            byte_start: 0,
            byte_end: 10,
            n_tokens: 5,
            text: "Stocks \"rose\" 5% (NOT a typo) on AND-day: near^2 é*".into(),
            section: String::new(),
            sentences: None,
        };
        store.insert(&doc, &[passage]).unwrap();
        store.finish().unwrap();
        let store = PassageStore::open(&path).unwrap();
        let all = |_: u32| true;
        for q in ["\"Kenny Ng\"", "NOT typo", "AND-day", "near^2", "é*", "(a OR b", "\"", "col:umn", "NEAR(a b)"] {
            if let (Some(fts), _) = render(&parse(q)) {
                store.lexical(&fts, 5, &all).unwrap_or_else(|e| panic!("{q:?} -> {fts:?}: {e:#}"));
            }
        }
        let cfg = ProptestConfig { cases: 500, ..ProptestConfig::default() };
        // Multi-byte letters and punctuation beside digits too (`565 °C`, `5–2–2`, `€3.5bn`, `中文`).
        proptest!(cfg, |(q in r#"[a-zA-Zé0-9 "*^:()\-+.,;!?'{}\[\]~<>=&|/°–’€$%中]{0,40}"#)| {
            let (plain_any, _) = render(&crate::store::lexical::plain(&q));
            if let Some(fts) = &plain_any {
                prop_assert!(store.lexical(fts, 5, &all).is_ok(), "{:?} -> {:?}", q, fts);
            }
            let (any, required) = render(&parse(&q));
            if let Some(fts) = &any {
                prop_assert!(store.lexical(fts, 5, &all).is_ok(), "{:?} -> {:?}", q, fts);
            }
            if let Some(p) = &required {
                prop_assert!(store.lexical(p, 5, &all).is_ok(), "{:?} -> {:?}", q, p);
            }
        });
    }
}
