//! What every request passes before it reaches a route, and what every response carries: the
//! server is meant to stay up next to a browser that visits arbitrary sites.
//!
//! - **Host.** A page whose name an attacker rebinds to 127.0.0.1 (DNS rebinding) becomes
//!   same-origin with the server and could read the whole index through the API; CORS does not
//!   help, the request is not cross-origin. The browser still sends that name as `Host`, so only
//!   the names the server is known by are answered (as Jupyter and the Vite and webpack dev servers
//!   do): `localhost`, any IP literal (a rebinding needs a name), and `--allow-host` names.
//! - **Token.** With `--token` (or generated when listening beyond loopback), a request must carry
//!   it: `Authorization: Bearer TOKEN` from a program, or the cookie the page gets by being opened
//!   once at `/?token=TOKEN` — `HttpOnly` (no script reads it) and `SameSite=Strict` (no other
//!   site's page sends it).
//! - **Headers.** A Content-Security-Policy without inline script (a document's text can never
//!   become script in the page: the page's own script is a file of its own), `nosniff`, no
//!   referrer, and no framing.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// The page's own script, style and API calls only; nothing inline, no frames, no plugins.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The cookie that carries the token for the page.
const COOKIE: &str = "semsearch_token";

/// Who may be answered.
#[derive(Debug, Clone, Default)]
pub struct Guard {
    /// Host names answered besides `localhost` and IP literals (lowercase, no port).
    pub hosts: Vec<String>,
    /// The token every request must carry, if any.
    pub token: Option<String>,
}

impl Guard {
    /// Whether a request with this `Host` header is answered: `localhost`, an IP literal, or a name
    /// allowed. A request without one (HTTP/1.0; never a browser's) is.
    pub fn host_allowed(&self, host: Option<&str>) -> bool {
        let Some(host) = host else { return true };
        let name = host_name(host);
        name == "localhost" || name.parse::<std::net::IpAddr>().is_ok() || self.hosts.contains(&name)
    }

    /// Whether the request carries the token (or none is needed).
    fn authorized(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.token else { return true };
        let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let cookie = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().strip_prefix(COOKIE).and_then(|c| c.strip_prefix('=')))
            .collect::<Vec<_>>();
        bearer.into_iter().chain(cookie).any(|given| same_secret(given.trim().as_bytes(), token.as_bytes()))
    }
}

/// The host part of a `Host` header, lowercase, without its port or a final dot (`[::1]:7878` →
/// `::1`).
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split_once(']').map_or(host, |(ip, _)| ip),
        None => match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host,
        },
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Compares two secrets in time independent of where they differ (no crate for one loop).
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A token for a server reachable from other machines: 128 random bits, hex.
pub fn new_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The security headers, on every response (errors and refusals too).
fn secure(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

fn refuse(status: StatusCode, why: String) -> Response {
    secure((status, axum::Json(super::ErrorResponse { error: why })).into_response())
}

/// The middleware: Host, then token, then the route; security headers on whatever comes back.
pub async fn check(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let host = req.headers().get(header::HOST).map(|h| String::from_utf8_lossy(h.as_bytes()).into_owned());
    if !guard.host_allowed(host.as_deref()) {
        let name = host_name(host.as_deref().unwrap_or(""));
        return refuse(
            StatusCode::FORBIDDEN,
            format!("this server does not answer to the host name {name:?}; if that is its name, restart it with --allow-host {name}"),
        );
    }
    if guard.token.is_some() && req.uri().path() == "/" {
        // The page opened with its token: keep it in a cookie only this origin sends, and drop
        // it from the address bar.
        let given = req.uri().query().and_then(|q| form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()));
        if let Some(given) = given {
            let token = guard.token.as_deref().unwrap_or_default();
            if !same_secret(given.as_bytes(), token.as_bytes()) {
                return refuse(StatusCode::UNAUTHORIZED, "wrong token; open the address `semsearch serve` printed".into());
            }
            let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/");
            let mut r = (StatusCode::SEE_OTHER, [(header::LOCATION, HeaderValue::from_static("/"))]).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            return secure(r);
        }
    }
    if !guard.authorized(req.headers()) {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "this server needs its token: send `Authorization: Bearer TOKEN`, or open the page at the address `semsearch serve` printed".into(),
        );
    }
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(r) => secure(r),
        Err(_) => {
            let mut r = refuse(StatusCode::SERVICE_UNAVAILABLE, format!("the request took longer than {} s; try again", REQUEST_TIMEOUT.as_secs()));
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
    }
}

/// The longest a request is answered in: past it the client gets 503 and the connection is free
/// (the search behind it stops at the server's statement timeout, or finishes on its own).
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_names_the_server_is_known_by_are_answered() {
        let g = Guard { hosts: vec!["search.lan".into()], token: None };
        for ok in ["localhost:7878", "LOCALHOST", "127.0.0.1:7878", "[::1]:7878", "10.0.0.5", "search.lan:80", "search.lan.", "localhost."] {
            assert!(g.host_allowed(Some(ok)), "{ok}");
        }
        for bad in ["attacker.example:7878", "127.0.0.1.nip.io", "localhost.attacker.example", "search.lan.evil", "", "[::1"] {
            assert!(!g.host_allowed(Some(bad)), "{bad}");
        }
        assert!(g.host_allowed(None));
    }

    #[test]
    fn the_token_comes_by_header_or_cookie() {
        let g = Guard { hosts: vec![], token: Some("s3cret".into()) };
        let with = |name: header::HeaderName, v: &str| {
            let mut h = HeaderMap::new();
            h.insert(name, HeaderValue::from_str(v).unwrap());
            g.authorized(&h)
        };
        assert!(with(header::AUTHORIZATION, "Bearer s3cret"));
        assert!(with(header::COOKIE, "a=b; semsearch_token=s3cret"));
        assert!(!with(header::AUTHORIZATION, "Bearer s3crex"));
        assert!(!with(header::AUTHORIZATION, "s3cret"));
        assert!(!with(header::COOKIE, "semsearch_token=s3cre"));
        assert!(!g.authorized(&HeaderMap::new()));
        assert!(Guard::default().authorized(&HeaderMap::new()));
        assert_eq!(new_token().len(), 32);
        assert_ne!(new_token(), new_token());
    }
}
