//! Query strings of the API to checked requests: the same `search::request` types the `ask` and
//! `related` flags and the MCP tools become, checked in the same place, so a bad or unknown
//! parameter is a 400 naming it.

use crate::search::request::{AskRequest, PassageRequest, Related, RelatedRequest, SearchRequest, Strict};
use crate::search::Mode;

/// Most results one request may ask for.
pub const MAX_K: usize = 1000;

/// The pairs of a query string, in order (a key may repeat: `path=a&path=b`).
fn pairs(query: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes()).into_owned().collect()
}

/// A message about a parameter as the API names it (`since`, not the flag `--since`).
fn api(why: String) -> String {
    why.replace("--", "")
}

/// `/api/ask`: the question and the search (in `default_mode` unless it names one).
pub fn ask(query: Option<&str>, default_mode: Mode) -> Result<(String, SearchRequest), String> {
    Strict::<AskRequest>::from_pairs(&pairs(query)).and_then(|r| r.check(MAX_K, default_mode)).map_err(api)
}

/// `/api/related`: what it starts from, and the search (in `default_mode` unless it names one).
pub fn related(query: Option<&str>, default_mode: Mode) -> Result<Related, String> {
    Strict::<RelatedRequest>::from_pairs(&pairs(query)).and_then(|r| r.check(MAX_K, default_mode)).map_err(api)
}

/// `/api/passage/ID`: how many neighbours to show.
pub fn passage(query: Option<&str>) -> Result<usize, String> {
    Strict::<PassageRequest>::from_pairs(&pairs(query)).and_then(|r| r.check()).map_err(api)
}
