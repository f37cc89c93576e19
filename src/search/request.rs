//! One typed request for every way a search is asked: the `ask`/`related` flags (clap), the HTTP
//! API's query parameters and the MCP tools' arguments (serde, with a JSON schema from schemars
//! that the MCP tool list and `/api/openapi.json` publish) all come from `SearchParams`,
//! `AskRequest` and `RelatedRequest`, and are checked in one place (`SearchParams::check`).
//!
//! Query strings carry every value as text and MCP clients send JSON numbers and booleans, so the
//! fields are read leniently (`lenient`): `k=5` and `"k": 5` are the same request, `exact=1` and
//! `"exact": true` too, and an empty value is the default. A parameter the request does not know is
//! an error naming it (`Strict`): a misspelled `paths=` must not silently search everything.

use super::{Filter, Mode, Options, Strategy, Target};
use crate::ann::HnswParams;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// The results one search returns when not told.
pub const DEFAULT_K: usize = 5;

/// The widest HNSW beam a request may ask for: past it recall no longer moves and the work only
/// grows (pgvector caps `hnsw.ef_search` at 1000 too).
pub const MAX_EF: usize = 1000;

/// The most `path` patterns one request may give (each is matched against every document).
pub const MAX_PATHS: usize = 64;

/// The longest question in words: the model reads 256 word pieces of it and the lexical side its
/// first `store::lexical::MAX_WORDS` distinct words, so a longer one is a mistake (a pasted
/// document) or an attempt to make the server work.
pub const MAX_QUESTION_WORDS: usize = 1000;

/// How a search ranks, how many it returns, and which documents it may return.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema, clap::Args)]
#[serde(default)]
pub struct SearchParams {
    /// Number of results (1 or more) [default: 5]
    #[arg(short, value_parser = parse_k)]
    #[serde(deserialize_with = "lenient::parsed")]
    pub k: Option<usize>,
    /// hybrid (meaning and words, fused), semantic (meaning: the embedding) or lexical (words: BM25)
    /// [default: hybrid, or SEMSEARCH_MODE]
    #[arg(long, value_name = "MODE")]
    #[serde(deserialize_with = "lenient::parsed")]
    pub mode: Option<Mode>,
    /// Only documents whose path matches (repeatable): a glob (`*.md` matches at any depth,
    /// `notes/**/*.md`), or a file or folder (`notes`)
    #[arg(long = "path", value_name = "GLOB")]
    #[serde(deserialize_with = "lenient::strings")]
    pub path: Vec<String>,
    /// Only this document (its doc_id, from --json)
    #[arg(long, value_name = "ID")]
    #[serde(deserialize_with = "lenient::text")]
    pub doc: Option<String>,
    /// Only documents dated on or after DATE (ISO 8601: 2025-03-06, 2025-03, 2025); undated
    /// documents are left out, and counted
    #[arg(long, value_name = "DATE")]
    #[serde(deserialize_with = "lenient::text")]
    pub since: Option<String>,
    /// Only documents dated on or before DATE
    #[arg(long, value_name = "DATE")]
    #[serde(deserialize_with = "lenient::text")]
    pub until: Option<String>,
    /// What --since/--until do with documents without a date: exclude (default; they are counted
    /// on stderr) or include
    #[arg(long, value_name = "exclude|include")]
    #[serde(deserialize_with = "lenient::parsed")]
    pub undated: Option<crate::store::filter::Undated>,
    /// Drop results scoring under X (cosine in semantic mode, cosine + 0.3 x scaled BM25 in hybrid,
    /// BM25 in lexical), so a question nothing answers comes back empty
    #[arg(long, value_name = "X")]
    #[serde(deserialize_with = "lenient::parsed")]
    pub min_score: Option<f32>,
    /// At most N passages of one document (0: no limit) [default: 2 for ask, none for related]
    #[arg(long, value_name = "N")]
    #[serde(deserialize_with = "lenient::parsed")]
    pub per_doc: Option<usize>,
    /// Show the results even when none is a good match (by default a question whose best result's
    /// confidence is under 0.02 returns nothing, saying so)
    #[arg(long)]
    #[serde(deserialize_with = "lenient::flag")]
    pub all: bool,
    /// Keep near-duplicate passages of other documents as results instead of folding them into the
    /// first as `also`
    #[arg(long)]
    #[serde(deserialize_with = "lenient::flag")]
    pub no_fold: bool,
    /// Exact (brute-force) search instead of the HNSW graph
    #[arg(long, conflicts_with = "hnsw")]
    #[serde(deserialize_with = "lenient::flag")]
    pub exact: bool,
    /// Always use the HNSW graph (by default small indexes are searched exactly)
    #[arg(long)]
    #[serde(deserialize_with = "lenient::flag")]
    pub hnsw: bool,
    /// HNSW beam width [default: 64]
    #[arg(long)]
    #[serde(deserialize_with = "lenient::parsed")]
    pub ef: Option<usize>,
}

/// A checked search: how it ranks and what it may return.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// How it ranks and how many it returns.
    pub options: Options,
    /// Which documents it may return.
    pub filter: Filter,
}

impl SearchParams {
    /// The search these parameters ask for, or what is wrong with them (one line naming the
    /// parameter). `per_doc_default` is the command's (`ask` caps, `related` does not); `max_k` the
    /// caller's bound on results; `default_mode` the mode when none is given (`SEMSEARCH_MODE`, or
    /// `search::DEFAULT_MODE`).
    pub fn check(&self, per_doc_default: Option<usize>, max_k: usize, default_mode: Mode) -> Result<SearchRequest, String> {
        let k = self.k.unwrap_or(DEFAULT_K);
        if k == 0 || k > max_k {
            return Err(format!("k={k} is out of range; ask for 1 to {max_k} results"));
        }
        if self.exact && self.hnsw {
            return Err("exact and hnsw exclude each other; give one".into());
        }
        let ef = self.ef.unwrap_or(HnswParams::default().ef_search);
        if ef == 0 || ef > MAX_EF {
            return Err(format!("ef={ef} is out of range; give a beam width of 1 to {MAX_EF}, e.g. ef=64"));
        }
        if self.path.len() > MAX_PATHS {
            return Err(format!("{} path patterns given; give at most {MAX_PATHS} (a glob such as notes/** covers many)", self.path.len()));
        }
        let strategy = if self.exact {
            Strategy::Exact
        } else if self.hnsw {
            Strategy::Hnsw { ef }
        } else {
            Strategy::Auto { ef }
        };
        let filter = Filter {
            paths: self.path.clone(),
            doc: self.doc.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
            undated: self.undated.unwrap_or_default(),
        };
        filter.check().map_err(|e| format!("{e:#}"))?;
        let mode = self.mode.unwrap_or(default_mode);
        let options = Options { floor: !self.all, ..Options::for_reader(k, strategy, mode, self.min_score, self.per_doc.or(per_doc_default), self.no_fold) };
        Ok(SearchRequest { options, filter })
    }
}

/// `ask`: a question and how to search for it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct AskRequest {
    /// The question, in plain language, as a person would ask it ("How much will Alibaba invest in
    /// AI?"). Names, figures and "quoted phrases" are matched as words in hybrid and lexical mode.
    #[serde(alias = "q")]
    pub question: String,
    /// How to search.
    #[serde(flatten)]
    pub search: SearchParams,
}

impl AskRequest {
    /// The question (not empty) and the checked search.
    pub fn check(&self, max_k: usize, default_mode: Mode) -> Result<(String, SearchRequest), String> {
        let q = self.question.trim();
        if q.is_empty() {
            return Err("the question (q) is empty; ask something, e.g. q=what+did+Alibaba+announce".into());
        }
        let words = q.split_whitespace().count();
        if words > MAX_QUESTION_WORDS {
            return Err(format!(
                "the question has {words} words; ask in at most {MAX_QUESTION_WORDS} (to find passages like a long text, use related with text=)"
            ));
        }
        Ok((q.to_string(), self.search.check(Some(super::PER_DOC), max_k, default_mode)?))
    }
}

/// `related`: passages like a stored one (`id`, or `path` with `line`) or like `text`.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(default)]
pub struct RelatedRequest {
    /// The id of a passage from an earlier search result.
    #[serde(deserialize_with = "lenient::text")]
    pub id: Option<String>,
    /// Or a piece of text to find passages like.
    #[serde(deserialize_with = "lenient::text")]
    pub text: Option<String>,
    /// Or the line inside the one document `path` names, as results show them (path:line).
    #[serde(deserialize_with = "lenient::parsed")]
    pub line: Option<u32>,
    /// Allow passages from the target's own document.
    #[serde(deserialize_with = "lenient::flag")]
    pub same_doc: bool,
    /// How to search (with `line`, `path` names the document instead).
    #[serde(flatten)]
    pub search: SearchParams,
}

/// A checked `related` request.
#[derive(Debug, Clone)]
pub struct Related {
    /// What it starts from.
    pub target: Target,
    /// Whether passages of the target's own document may come back.
    pub same_doc: bool,
    /// The checked search.
    pub search: SearchRequest,
}

impl RelatedRequest {
    /// What it starts from and the checked search. With `line`, `path` names the passage's
    /// document instead of filtering.
    pub fn check(&self, max_k: usize, default_mode: Mode) -> Result<Related, String> {
        let text = self.text.as_deref().map(str::trim).filter(|t| !t.is_empty());
        let target = match (self.id.as_deref(), text, self.line) {
            (Some(id), None, None) => Target::Passage(id.to_string()),
            (None, Some(t), None) => Target::Text(t.to_string()),
            (None, None, Some(line)) => match self.search.path.as_slice() {
                [path] => Target::PathLine(path.clone(), line),
                _ => return Err("line needs exactly one path, e.g. path=notes/a.md&line=12".into()),
            },
            _ => return Err("give one of id, text, or path with line, e.g. id=PASSAGE_ID".into()),
        };
        let search = match target {
            Target::PathLine(..) => SearchParams { path: Vec::new(), ..self.search.clone() }.check(None, max_k, default_mode)?,
            _ => self.search.check(None, max_k, default_mode)?,
        };
        Ok(Related { target, same_doc: self.same_doc, search })
    }
}

/// `/api/passage/ID`: how many passages of its document to show around it.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(default)]
pub struct PassageRequest {
    /// Passages of the document before and after it (0 to 10) [default: 1]
    #[serde(deserialize_with = "lenient::parsed")]
    pub context: Option<usize>,
}

impl PassageRequest {
    /// Most neighbours a request may ask for.
    pub const MAX_CONTEXT: usize = 10;

    /// The number of neighbours, or what is wrong.
    pub fn check(&self) -> Result<usize, String> {
        let n = self.context.unwrap_or(1);
        if n > Self::MAX_CONTEXT {
            return Err(format!("context={n} is out of range; give 0 to {}", Self::MAX_CONTEXT));
        }
        Ok(n)
    }
}

/// A request whose JSON object may hold only the parameters its schema names (and their aliases):
/// serde's `flatten`, which the requests use to share `SearchParams`, cannot deny unknown fields
/// itself.
pub struct Strict<T>(pub T);

/// The names a request accepts besides its schema's properties, as (alias, field) pairs: the
/// `#[serde(alias)]`s, which JSON Schema cannot say (`Strict` accepts them, the API's description
/// lists them).
pub fn aliases<T: JsonSchema>() -> &'static [(&'static str, &'static str)] {
    match T::schema_name().as_ref() {
        "AskRequest" => &[("q", "question")],
        _ => &[],
    }
}

/// The parameters a request's schema names (its fields, flattened ones included).
fn property_names<T: JsonSchema>() -> Vec<String> {
    let schema = schemars::schema_for!(T);
    schema.get("properties").and_then(|p| p.as_object()).map(|p| p.keys().cloned().collect()).unwrap_or_default()
}

impl<T: DeserializeOwned + JsonSchema> Strict<T> {
    /// `value` (a JSON object) as a `T`, or one line naming the first unknown or bad parameter.
    pub fn from_value(value: serde_json::Value) -> Result<T, String> {
        if let serde_json::Value::Object(map) = &value {
            let known = property_names::<T>();
            let alias = |k: &str| aliases::<T>().iter().any(|(a, _)| *a == k);
            if let Some(unknown) = map.keys().find(|k| !known.contains(k) && !alias(k)) {
                return Err(format!("unknown parameter {unknown:?}; this request takes {}", known.join(", ")));
            }
        }
        // Named by the path serde reports; inside the flattened `SearchParams` it reports none, so
        // that part is read again on its own, where it does.
        let named = |inner: String, value: &serde_json::Value| -> String {
            let Some(map) = value.as_object() else { return inner };
            let own = property_names::<SearchParams>();
            let part: serde_json::Map<String, serde_json::Value> = map.iter().filter(|(k, _)| own.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
            match serde_path_to_error::deserialize::<_, SearchParams>(serde_json::Value::Object(part)) {
                Err(e) => {
                    let at = e.path().to_string();
                    format!("{at}: {}", e.into_inner())
                }
                Ok(_) => inner,
            }
        };
        let copy = value.clone();
        serde_path_to_error::deserialize(value).map_err(|e| {
            let at = e.path().to_string();
            let inner = e.into_inner().to_string();
            if at == "." {
                named(inner, &copy)
            } else {
                format!("{at}: {inner}")
            }
        })
    }

    /// A query string's pairs as the JSON object `from_value` reads: every value text, `path`
    /// (which may repeat) a list, and of any other repeated key the last.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<T, String> {
        let mut map = serde_json::Map::new();
        for (k, v) in pairs {
            if k == "path" {
                let list = map.entry(k.clone()).or_insert_with(|| serde_json::Value::Array(Vec::new()));
                if let serde_json::Value::Array(a) = list {
                    a.push(serde_json::Value::String(v.clone()));
                }
            } else {
                map.insert(k.clone(), serde_json::Value::String(v.clone()));
            }
        }
        Self::from_value(serde_json::Value::Object(map))
    }
}

impl<'de, T: DeserializeOwned + JsonSchema> Deserialize<'de> for Strict<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Self::from_value(value).map(Strict).map_err(serde::de::Error::custom)
    }
}

impl<T: JsonSchema> JsonSchema for Strict<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// A request as `Strict` reads it, the error kept instead of failing the deserialization: an MCP
/// tool answers a bad argument with a tool error the model can read and correct, not with a
/// protocol error.
pub struct Parsed<T>(pub Result<T, String>);

impl<'de, T: DeserializeOwned + JsonSchema> Deserialize<'de> for Parsed<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Parsed(Strict::from_value(serde_json::Value::deserialize(d)?)))
    }
}

impl<T: JsonSchema> JsonSchema for Parsed<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }
}

/// `-k`: a positive number of results (`-k 0` would always find nothing and exit 1 silently).
fn parse_k(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("0 results asked for; give -k 1 or more".into()),
        Ok(k) => Ok(k),
        Err(_) => Err(format!("{s:?} is not a number of results; e.g. -k 10")),
    }
}

/// Values as a query string gives them (text) or as JSON does (numbers, booleans, lists); an
/// empty text is the default.
mod lenient {
    use serde::de::{Deserializer, Error};
    use serde::Deserialize;
    use serde_json::Value;

    /// A number or a mode, from text or JSON.
    pub fn parsed<'de, D: Deserializer<'de>, T: std::str::FromStr>(d: D) -> Result<Option<T>, D::Error>
    where
        T::Err: std::fmt::Display,
    {
        let text = match Value::deserialize(d)? {
            Value::Null => return Ok(None),
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            other => return Err(D::Error::custom(format!("{other} is not a valid value"))),
        };
        let t = text.trim();
        if t.is_empty() {
            return Ok(None);
        }
        t.parse().map(Some).map_err(|e| D::Error::custom(format!("{text:?} is not valid here ({e})")))
    }

    /// Text; empty is none.
    pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
    }

    /// Texts: a list, or one text; empty ones dropped.
    pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        let list = match Value::deserialize(d)? {
            Value::Null => Vec::new(),
            Value::String(s) => vec![s],
            Value::Array(a) => {
                a.into_iter().map(|v| v.as_str().map(str::to_string).ok_or_else(|| D::Error::custom(format!("{v} is not text")))).collect::<Result<_, _>>()?
            }
            other => return Err(D::Error::custom(format!("{other} is not a list of texts"))),
        };
        Ok(list.into_iter().filter(|s| !s.is_empty()).collect())
    }

    /// A yes/no value: JSON true/false, or 1/true/yes/(empty) and 0/false/no.
    pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        match Value::deserialize(d)? {
            Value::Bool(b) => Ok(b),
            Value::Null => Ok(false),
            Value::String(s) => match s.as_str() {
                "" | "1" | "true" | "yes" => Ok(true),
                "0" | "false" | "no" => Ok(false),
                _ => Err(D::Error::custom(format!("{s:?} is not a yes/no value; use 1 or 0"))),
            },
            Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
            Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
            other => Err(D::Error::custom(format!("{other} is not a yes/no value; use true or false"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(q.as_bytes()).into_owned().collect()
    }

    #[test]
    fn query_strings_and_json_give_the_same_request() {
        let from_query: AskRequest = Strict::from_pairs(&pairs("q=gold+price&k=3&mode=hybrid&path=a/*.md&path=b&since=2025-03&exact=1")).unwrap();
        let from_json: AskRequest = Strict::from_value(
            serde_json::json!({"question": "gold price", "k": 3, "mode": "hybrid", "path": ["a/*.md", "b"], "since": "2025-03", "exact": true}),
        )
        .unwrap();
        for r in [from_query, from_json] {
            let (q, s) = r.check(1000, Mode::Semantic).unwrap();
            assert_eq!(q, "gold price");
            assert_eq!((s.options.k, s.options.mode, s.options.per_doc), (3, Mode::Hybrid, Some(super::super::PER_DOC)));
            assert!(matches!(s.options.strategy, Strategy::Exact));
            assert_eq!(s.filter.paths, vec!["a/*.md", "b"]);
            assert_eq!(s.filter.since.as_deref(), Some("2025-03"));
        }
        // Empty values are the defaults.
        let r: AskRequest = Strict::from_pairs(&pairs("q=x&k=&mode=&ef=&no_fold=0")).unwrap();
        let (_, s) = r.check(1000, Mode::Semantic).unwrap();
        assert_eq!((s.options.k, s.options.mode), (DEFAULT_K, Mode::Semantic));
    }

    #[test]
    fn unknown_and_bad_parameters_are_named() {
        for (q, needle) in [
            ("q=x&paths=notes", "unknown parameter \"paths\""),
            ("q=x&k=0", "k=0"),
            ("q=x&k=x", "k: \"x\""),
            ("q=x&mode=fuzzy", "mode: \"fuzzy\""),
            ("q=x&since=yesterday", "since"),
            ("q=x&path=a[", "path"),
            ("q=x&no_fold=maybe", "no_fold"),
            ("q=x&exact=1&hnsw=1", "exact and hnsw"),
            ("q=+", "(q) is empty"),
        ] {
            let e = Strict::<AskRequest>::from_pairs(&pairs(q)).and_then(|r| r.check(1000, Mode::Semantic)).unwrap_err();
            assert!(e.contains(needle), "{q}: {e}");
        }
        let e = Strict::<AskRequest>::from_value(serde_json::json!({"question": "x", "pathz": ["a"]})).unwrap_err();
        assert!(e.contains("unknown parameter \"pathz\""), "{e}");
        assert!(Strict::<AskRequest>::from_pairs(&pairs("k=3")).is_err(), "q is required");
    }

    #[test]
    fn related_targets() {
        let related = |q: &str| Strict::<RelatedRequest>::from_pairs(&pairs(q)).and_then(|r| r.check(1000, Mode::Semantic));
        assert!(related("id=x&text=y").is_err());
        let r = related("path=a.md&line=3").unwrap();
        assert!(matches!(r.target, Target::PathLine(ref p, 3) if p == "a.md"));
        assert!(r.search.filter.paths.is_empty(), "with line, path names the document, not a filter");
        let r = related("id=abc&path=notes&same_doc=1").unwrap();
        assert!(matches!(r.target, Target::Passage(ref id) if id == "abc") && r.same_doc);
        assert_eq!(r.search.filter.paths, vec!["notes"]);
        assert!(related("id=x&contxt=2").unwrap_err().contains("unknown parameter \"contxt\""));
    }
}
