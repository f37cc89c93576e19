//! `semsearch serve`: the search as a local HTTP API and a search page, warm between requests.
//!
//! Built on axum over tokio and hyper: the stack most Rust services use, maintained by the tokio
//! project, with typed routing and extractors, and nothing in it we would otherwise write by hand.
//! Searching is CPU work (the question through the model, the graph walk), so each request's
//! search runs on tokio's blocking pool, several at once (see `Searcher` for how they share the
//! model and the index), and the async workers only move bytes.

pub mod guard;
pub mod mcp;
pub mod openapi;
pub mod params;
pub mod searcher;

use crate::error::Error;
use crate::output::JsonHit;
use crate::search;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
pub use searcher::{Cancel, Searcher};
use std::net::SocketAddr;
use std::sync::Arc;

/// How the server runs.
pub struct ServeOptions {
    /// Where to listen.
    pub addr: SocketAddr,
    /// An origin allowed to call the API from its pages (`--cors`); none: same origin only.
    pub cors: Option<String>,
    /// Host names answered besides `localhost` and IP literals (`--allow-host`).
    pub allow_hosts: Vec<String>,
    /// The token requests must carry (`--token`); generated when listening beyond loopback.
    pub token: Option<String>,
    /// No notices on stderr.
    pub quiet: bool,
}

/// An API error: its status and a message for the caller.
struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.0, Json(ErrorResponse { error: self.1 })).into_response();
        if self.0 == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        r
    }
}

impl From<anyhow::Error> for ApiError {
    /// What the user can fix is 400, what is not there 404; the rest is ours (500), logged.
    fn from(e: anyhow::Error) -> ApiError {
        let status = match Error::find(&e) {
            Some(Error::BadInput { .. } | Error::Usage(_)) => StatusCode::BAD_REQUEST,
            Some(Error::NotFound(_)) => StatusCode::NOT_FOUND,
            Some(Error::Busy(_)) => StatusCode::SERVICE_UNAVAILABLE,
            // Nobody reads it: the client left (nginx's "client closed request").
            Some(Error::Cancelled) => StatusCode::from_u16(499).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            eprintln!("semsearch: error: {e:#}");
        }
        ApiError(status, format!("{e:#}"))
    }
}

fn bad_request(why: String) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, why)
}

type Shared = Arc<Searcher>;

/// Runs `f` on the blocking pool: a search never stalls the workers that accept connections. `f`
/// is given the request's `Cancel`, set when this future is dropped (its client left).
async fn blocking<T: Send + 'static>(f: impl FnOnce(&Cancel) -> anyhow::Result<T> + Send + 'static) -> Result<T, ApiError> {
    let cancel = Cancel::default();
    let guard = cancel.on_drop();
    let done = tokio::task::spawn_blocking(move || f(&cancel)).await;
    guard.disarm();
    match done {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError(StatusCode::INTERNAL_SERVER_ERROR, format!("the search failed: {e}"))),
    }
}

/// A JSON response serialised from `body` as the commands print it (through `serde_json::Value`,
/// an f32 score would come out with f64 digits).
fn json_response(body: &impl serde::Serialize) -> anyhow::Result<Response> {
    let bytes = serde_json::to_vec(body)?;
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], bytes).into_response())
}

/// The results of a search as `ask --json` prints them, one object each.
fn results(found: &[search::Found]) -> Vec<JsonHit<'_>> {
    found.iter().map(JsonHit::from).collect()
}

/// What `/api/ask` answers.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct AskResponse<'a> {
    /// The question as searched.
    pub question: &'a str,
    /// The mode it was searched in.
    pub mode: search::Mode,
    /// Documents without a date that a date filter left out.
    pub undated_left_out: usize,
    /// What the reader is told, one line each: a quoted phrase no passage holds (the results are
    /// then the closest without it), and, when there are no results, why.
    pub notices: &'a [String],
    /// Best first.
    pub results: Vec<JsonHit<'a>>,
}

/// What `/api/related` answers.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct RelatedResponse<'a> {
    /// When there are no results, why (one line).
    pub notices: &'a [String],
    /// Best first.
    pub results: Vec<JsonHit<'a>>,
}

/// What an API error answers, with status 400 (a bad request: the message names the parameter),
/// 404 (no such passage or endpoint) or 500.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct ErrorResponse {
    /// One line saying what is wrong and what to do.
    pub error: String,
}

async fn ask(State(s): State<Shared>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let (question, req) = params::ask(q.as_deref(), s.default_mode).map_err(bad_request)?;
    blocking(move |cancel| {
        let a = s.ask(&question, &req, cancel)?;
        json_response(&AskResponse {
            question: &question,
            mode: req.options.mode,
            undated_left_out: a.undated,
            notices: &a.notices,
            results: results(&a.found),
        })
    })
    .await
}

async fn related(State(s): State<Shared>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let req = params::related(q.as_deref(), s.default_mode).map_err(bad_request)?;
    blocking(move |cancel| {
        let a = s.related(&req, cancel)?;
        json_response(&RelatedResponse { notices: &a.notices, results: results(&a.found) })
    })
    .await
}

async fn status(State(s): State<Shared>) -> Result<Response, ApiError> {
    blocking(move |cancel| json_response(&s.status(cancel)?)).await
}

/// A passage with up to `context` (default 1, at most 10) passages of its document before and after it.
async fn passage(State(s): State<Shared>, UrlPath(id): UrlPath<String>, RawQuery(q): RawQuery) -> Result<Json<serde_json::Value>, ApiError> {
    let context = params::passage(q.as_deref()).map_err(bad_request)?;
    blocking(move |cancel| Ok(Json(s.passage(&id, context, cancel)?))).await
}

/// The API described (OpenAPI 3.1), generated from the request and response types.
async fn openapi() -> Json<serde_json::Value> {
    Json(openapi::document())
}

async fn not_found() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, "no such endpoint; see /api/ask, /api/related, /api/status, /api/passage/ID, /api/openapi.json".into())
}

/// The search page: markup, style and script, each a file compiled in (no inline script: the
/// Content-Security-Policy allows only the page's own files, see `guard`).
async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))], Html(include_str!("page.html")))
}

async fn page_js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")), (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
        include_str!("page.js"),
    )
}

async fn page_css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")), (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))],
        include_str!("page.css"),
    )
}

/// The routes: the page, the API and its description, over `searcher`, behind `guard` (Host,
/// token, security headers); with `cors`, that origin may call the API from its pages.
pub fn router(searcher: Shared, cors: Option<&str>, guard: guard::Guard) -> anyhow::Result<Router> {
    let mut app = Router::new()
        .route("/", get(page))
        .route("/page.js", get(page_js))
        .route("/page.css", get(page_css))
        .route("/api/ask", get(ask))
        .route("/api/related", get(related))
        .route("/api/status", get(status))
        .route("/api/passage/{id}", get(passage))
        .route("/api/openapi.json", get(openapi))
        .fallback(not_found)
        .with_state(searcher);
    if let Some(origin) = cors {
        // An origin is scheme://host[:port], nothing after.
        let rest = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://"));
        let value = rest.filter(|r| !r.is_empty() && !r.contains('/')).and_then(|_| HeaderValue::from_str(origin).ok());
        let origin = value.ok_or_else(|| Error::Usage(format!("--cors {origin:?} is not an origin; e.g. --cors http://localhost:3000")))?;
        app = app.layer(tower_http::cors::CorsLayer::new().allow_origin(origin).allow_methods([axum::http::Method::GET]));
    }
    // Outermost: a refused Host or a missing token never reaches a route (or CORS).
    Ok(app.layer(axum::middleware::from_fn_with_state(Arc::new(guard), guard::check)))
}

/// Serves until Ctrl-C (or SIGTERM): requests in flight finish first.
pub fn run(searcher: Arc<Searcher>, opts: &ServeOptions) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let done = rt.block_on(async {
        let listener =
            tokio::net::TcpListener::bind(opts.addr).await.map_err(|e| Error::Usage(format!("cannot listen on {}: {e}; choose another --addr", opts.addr)))?;
        let addr = listener.local_addr()?;
        if opts.token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(Error::Usage("--token is empty; give a secret, or leave it out".into()).into());
        }
        let mut token = opts.token.clone();
        if !addr.ip().is_loopback() {
            eprintln!("semsearch: warning: listening on {addr}, reachable from other machines");
            if token.is_none() {
                // Reachable by others: never without a token. This one is printed once, here, for
                // the person who started the server (a given --token is never printed).
                let t = guard::new_token();
                eprintln!("semsearch: requests need the token; open the page at http://{addr}/?token={t} (programs send `Authorization: Bearer {t}`)");
                token = Some(t);
            }
        }
        let hosts = opts.allow_hosts.iter().map(|h| h.trim_end_matches('.').to_ascii_lowercase()).collect();
        let app = router(searcher.clone(), opts.cors.as_deref(), guard::Guard { hosts, token })?;
        // The one line a script or test waits for: where to connect.
        eprintln!("semsearch: serving on http://{addr}");
        accept(listener, app).await;
        if !opts.quiet {
            eprintln!("semsearch: stopped");
        }
        Ok(())
    });
    release(rt, searcher);
    done
}

/// How long a client may take to send a request's header: a connection that sends it a byte at a
/// time (or never) is closed, not kept open for as long as it likes.
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Accepts connections until Ctrl-C or SIGTERM, each served by hyper's HTTP/1 with
/// `HEADER_READ_TIMEOUT` (as `axum::serve` does, which has no such setting); then lets the
/// requests in flight finish.
async fn accept(listener: tokio::net::TcpListener, app: Router) {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let signal = shutdown();
    tokio::pin!(signal);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // Out of file descriptors or a connection reset before it was accepted:
                        // the listener is fine, try again shortly.
                        eprintln!("semsearch: warning: cannot accept a connection: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                while connections.try_join_next().is_some() {}
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                let mut stopped = stopped.clone();
                connections.spawn(async move {
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(HEADER_READ_TIMEOUT)
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stopped.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.as_mut().await;
                        }
                    }
                });
            }
            _ = &mut signal => break,
        }
    }
    let _ = stop.send(true);
    while connections.join_next().await.is_some() {}
}

/// Stops the runtime, then drops the searcher outside it: a server connection's client (the
/// synchronous `postgres` one) closes by running a runtime of its own, which tokio refuses inside
/// another's.
fn release(rt: tokio::runtime::Runtime, searcher: Shared) {
    drop(rt);
    drop(searcher);
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
