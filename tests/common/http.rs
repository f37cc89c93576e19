//! `semsearch serve` as a test runs it: the real binary on a free loopback port, called over HTTP.

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
        let mut child = spawn_semsearch(index)
            .arg("serve")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("semsearch serve starts");
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
        std::thread::spawn(move || for _ in lines {});
        Server { child, base, said: seen }
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
        let mut resp = req.call().expect("the server answers");
        let allow = resp.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_string());
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().expect("a body");
        (status, allow, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

