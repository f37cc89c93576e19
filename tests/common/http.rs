//! `semsearch serve` and `semsearch mcp` as a test runs them: the real binary on a free loopback
//! port, called over HTTP, or over its stdio.

use super::spawn_semsearch;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

/// A running server, stopped when dropped (also when a test fails).
pub struct Server {
    child: Child,
    pub base: String,
    /// What it printed on stderr before it listened.
    pub said: Vec<String>,
    /// The token it printed (listening beyond loopback), sent with every request.
    pub token: Option<String>,
    /// What it has printed on stderr since it listened.
    pub later: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    pub fn start(index: &Path) -> Server {
        Server::start_with(index, &["--addr", "127.0.0.1:0"])
    }

    pub fn start_with(index: &Path, args: &[&str]) -> Server {
        let mut child = spawn_semsearch(index).arg("serve").args(args).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("semsearch serve starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut seen = Vec::new();
        let base = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!("serve exited before listening: {seen:?}");
            };
            if let Some(url) = line.strip_prefix("semsearch: serving on ") {
                break url.to_string();
            }
            seen.push(line);
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        let later = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = later.clone();
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(|l| kept.lock().unwrap().push(l)));
        let token = seen.iter().find_map(|l| l.split("?token=").nth(1)).map(|t| t.split_whitespace().next().unwrap_or("").to_string());
        Server { child, base, said: seen, token, later }
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// One request written by hand (any `Host`, any headers: what a hostile page's browser or a
    /// bad client sends), `Connection: close` added; the whole response as text.
    pub fn raw(&self, head: &str) -> String {
        use std::io::{Read, Write};
        let addr = self.base.strip_prefix("http://").unwrap();
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
        write!(s, "{}\r\nConnection: close\r\n\r\n", head.trim_end().replace('\n', "\r\n")).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    /// Stops it as a service manager would (SIGTERM) and returns how it exited.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        self.child.wait().unwrap()
    }

    /// Status code and body (JSON, or the page's text as a JSON string).
    pub fn get(&self, path: &str) -> (u16, Value) {
        let (status, _, body) = self.get_from(path, None);
        (status, body)
    }

    /// Also sends `Origin` when given; returns the Access-Control-Allow-Origin header too.
    pub fn get_from(&self, path: &str, origin: Option<&str>) -> (u16, Option<String>, Value) {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut req = agent.get(format!("{}{path}", self.base));
        if let Some(o) = origin {
            req = req.header("Origin", o);
        }
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut resp = req.call().expect("the server answers");
        let allow = resp.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_string());
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().expect("a body");
        (status, allow, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

/// One JSON-RPC exchange with `semsearch mcp` over its stdio.
pub struct McpClient {
    pub child: Child,
    pub out: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl McpClient {
    /// `semsearch mcp …` as built by `cmd`, its stdio piped to this client (stderr dropped).
    pub fn spawn(mut cmd: std::process::Command) -> McpClient {
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("semsearch mcp starts");
        let out = BufReader::new(child.stdout.take().unwrap()).lines();
        McpClient { child, out }
    }

    /// `initialize`, and the `initialized` notification: its reply.
    pub fn initialize(&mut self) -> Value {
        let init = self.call(
            1,
            "initialize",
            serde_json::json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}),
        );
        self.send(serde_json::json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        init
    }

    pub fn send(&mut self, msg: Value) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{msg}").unwrap();
        stdin.flush().unwrap();
    }

    /// The next message on stdout: every line there must be JSON-RPC (logs go to stderr).
    pub fn recv(&mut self) -> Value {
        let line = self.out.next().expect("a reply").unwrap();
        let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("stdout carried a non-JSON line ({e}): {line}"));
        assert_eq!(v["jsonrpc"], "2.0", "{v}");
        v
    }

    pub fn call(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let reply = self.recv();
        assert_eq!(reply["id"], id, "{reply}");
        reply
    }
}

impl Drop for McpClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
