//! `semsearch mcp`: the search as tools for AI assistants, over the Model Context Protocol on
//! stdio, with the official Rust SDK (rmcp). stdout carries the protocol only; logs go to stderr.
//!
//! The tools take the API's parameters (`search::request`, checked in the same place) and answer with the objects
//! `ask --json` prints, as JSON text a model reads (and as structured content for clients that
//! use it). A bad argument is a tool error the model can read and correct, not a protocol error.

use super::{Cancel, Searcher};
use crate::output::JsonHit;
use crate::search;
use crate::search::request::{AskRequest, Parsed, RelatedRequest};
use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{tool, tool_handler, tool_router, ErrorData, ServerHandler, ServiceExt};
use serde_json::json;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// The MCP server: the search's tools over one `Searcher`.
#[derive(Clone)]
pub struct Mcp {
    searcher: Arc<Searcher>,
    #[allow(dead_code, reason = "read by the code #[tool_handler] generates")]
    tool_router: ToolRouter<Mcp>,
}

/// Most results a tool call returns: a model's context is the budget.
const MAX_K: usize = 50;

fn tool_error(why: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(why.into())])
}

fn found_result(a: &search::Answered) -> CallToolResult {
    let hits: Vec<JsonHit> = a.found.iter().map(JsonHit::from).collect();
    if a.notices.is_empty() {
        return CallToolResult::structured(json!({ "results": hits }));
    }
    // The notices tell the model why nothing came back, or that a quoted phrase was dropped.
    CallToolResult::structured(json!({ "results": hits, "notices": a.notices }))
}

impl Mcp {
    /// Runs a search on the blocking pool (the model is CPU work); a call the client cancels
    /// (`notifications/cancelled`: rmcp cancels `ct`) skips what has not begun, as in `serve`.
    async fn run(
        &self,
        ct: CancellationToken,
        f: impl FnOnce(&Searcher, &Cancel) -> anyhow::Result<CallToolResult> + Send + 'static,
    ) -> Result<CallToolResult, ErrorData> {
        let s = self.searcher.clone();
        let cancel = Cancel::default();
        let guard = cancel.on_drop();
        let task = tokio::task::spawn_blocking(move || f(&s, &cancel));
        tokio::pin!(task);
        let done = tokio::select! {
            done = &mut task => {
                guard.disarm();
                done
            }
            _ = ct.cancelled() => {
                drop(guard);
                task.await
            }
        };
        match done {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                eprintln!("semsearch: error: {e:#}");
                Ok(tool_error(format!("{e:#}")))
            }
            Err(e) => Err(ErrorData::internal_error(format!("the search failed: {e}"), None)),
        }
    }
}

#[tool_router]
impl Mcp {
    /// The tools over `searcher`.
    pub fn new(searcher: Arc<Searcher>) -> Mcp {
        Mcp { searcher, tool_router: Self::tool_router() }
    }

    #[tool(
        description = "Search the user's own indexed articles, notes and reports for the passages that answer a question. Returns passages best first, each with its file path and line numbers (path:line_start), title and section, date, the passage text, the single sentence that best answers the question (\"answer\"), a relevance score, and an id for the related tool. Use it whenever the user asks about something that may be in their documents; cite results as path:line."
    )]
    async fn search(&self, Parameters(Parsed(a)): Parameters<Parsed<AskRequest>>, ct: CancellationToken) -> Result<CallToolResult, ErrorData> {
        let (question, req) = match a.and_then(|a| a.check(MAX_K, self.searcher.default_mode)) {
            Ok(r) => r,
            Err(e) => return Ok(tool_error(e.replace("--", ""))),
        };
        self.run(ct, move |s, cancel| Ok(found_result(&s.ask(&question, &req, cancel)?))).await
    }

    #[tool(
        description = "Find passages in the user's documents related to one passage (by its id from a search result, or by path and line) or to a piece of text: other articles on the same story or topic. Passages of the same document are left out. Returns the same fields as search."
    )]
    async fn related(&self, Parameters(Parsed(a)): Parameters<Parsed<RelatedRequest>>, ct: CancellationToken) -> Result<CallToolResult, ErrorData> {
        let req = match a.and_then(|a| a.check(MAX_K, self.searcher.default_mode)) {
            Ok(r) => r,
            Err(e) => return Ok(tool_error(e.replace("--", ""))),
        };
        self.run(ct, move |s, cancel| Ok(found_result(&s.related(&req, cancel)?))).await
    }

    #[tool(
        description = "Describe the user's search index: how many documents and passages it holds, how many are dated, the embedding model, its size on disk. Use it to tell whether the documents the user means are indexed at all."
    )]
    async fn status(&self, ct: CancellationToken) -> Result<CallToolResult, ErrorData> {
        self.run(ct, |s, cancel| Ok(CallToolResult::structured(serde_json::to_value(s.status(cancel)?)?))).await
    }
}

#[tool_handler]
impl ServerHandler for Mcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("semsearch", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "semsearch searches the user's own local documents (articles, notes, reports). Call search with the user's question; cite passages as path:line. Call related with a result's id to find other documents on the same story.",
            )
    }
}

/// Serves MCP on stdin/stdout until the client closes it.
pub fn run(searcher: Searcher) -> anyhow::Result<()> {
    let searcher = Arc::new(searcher);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let done = rt.block_on(async {
        let service = Mcp::new(searcher.clone()).serve(rmcp::transport::stdio()).await?;
        service.waiting().await?;
        Ok(())
    });
    super::release(rt, searcher);
    done
}
