//! Load run for `semsearch serve` (a benchmark, not a test): starts the release binary on a free
//! loopback port over INDEX_DIR, warms it, then CLIENTS threads send REQUESTS `/api/ask` requests in
//! all (questions from QUERIES.jsonl, BEIR `text` or `{"q"}`, cycled; k=10). Prints one JSON object:
//! errors, latency p50/p99 in ms, throughput, and the server's resident memory (VmRSS) after the
//! warm-up and after the run, and after a second and a third run of the same size (growth across them
//! would be a leak; the first run may still fill caches and allocator arenas).
//!
//! Usage: cargo build --release && cargo run --release --example serve_load -- INDEX_DIR QUERIES.jsonl [CLIENTS] [REQUESTS]
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    anyhow::ensure!(args.len() >= 2, "usage: serve_load INDEX_DIR QUERIES.jsonl [CLIENTS] [REQUESTS]");
    let clients: usize = args.get(2).map_or(Ok(8), |s| s.parse())?;
    let requests: usize = args.get(3).map_or(Ok(2000), |s| s.parse())?;
    let questions: Vec<String> = std::fs::read_to_string(&args[1])?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l)?;
            Ok(v.get("q").or(v.get("text")).and_then(|x| x.as_str()).unwrap_or_default().to_string())
        })
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(!questions.is_empty(), "no questions in {}", args[1]);
    let bin = std::env::current_exe()?.parent().and_then(|p| p.parent()).map(|p| p.join("semsearch")).expect("target/release");
    let mut child = Command::new(&bin).args(["--index", &args[0], "serve", "--addr", "127.0.0.1:0"]).stderr(Stdio::piped()).spawn()?;
    let pid = child.id();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().ok_or_else(|| anyhow::anyhow!("serve exited"))??;
        if let Some(url) = line.strip_prefix("semsearch: serving on ") {
            break url.to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let url = |i: usize| {
        let q: String = form_urlencoded::byte_serialize(questions[i % questions.len()].as_bytes()).collect();
        format!("{base}/api/ask?q={q}&k=10")
    };
    for i in 0..20 {
        agent.get(url(i)).call()?.body_mut().read_to_string()?;
    }
    let rss_warm = rss_kib(pid);
    let run = || -> (Vec<f64>, usize, f64) {
        let started = Instant::now();
        let per = requests / clients;
        let results: Vec<(Vec<f64>, usize)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..clients)
                .map(|c| {
                    let agent = agent.clone();
                    let url = &url;
                    s.spawn(move || {
                        let (mut ms, mut errors) = (Vec::with_capacity(per), 0usize);
                        for i in 0..per {
                            let t = Instant::now();
                            let ok = match agent.get(url(c * per + i)).call() {
                                Ok(mut r) => r.status() == 200 && r.body_mut().read_to_string().is_ok_and(|b| b.contains("\"results\":[{")),
                                Err(_) => false,
                            };
                            errors += usize::from(!ok);
                            ms.push(t.elapsed().as_secs_f64() * 1e3);
                        }
                        (ms, errors)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let secs = started.elapsed().as_secs_f64();
        let errors = results.iter().map(|r| r.1).sum();
        let mut ms: Vec<f64> = results.into_iter().flat_map(|r| r.0).collect();
        ms.sort_by(f64::total_cmp);
        (ms, errors, secs)
    };
    let (ms, errors, secs) = run();
    let rss_after = rss_kib(pid);
    let (ms2, errors2, secs2) = run();
    let rss_after2 = rss_kib(pid);
    let (_, errors3, _) = run();
    let rss_after3 = rss_kib(pid);
    let _ = child.kill();
    let _ = child.wait();
    let pct = |v: &[f64], p: f64| v[((v.len() as f64 * p) as usize).min(v.len() - 1)];
    println!(
        "{}",
        serde_json::json!({
            "clients": clients, "requests": ms.len(), "errors": errors + errors2 + errors3,
            "p50_ms": pct(&ms, 0.50), "p99_ms": pct(&ms, 0.99), "requests_per_s": ms.len() as f64 / secs,
            "second_run_p50_ms": pct(&ms2, 0.50), "second_run_p99_ms": pct(&ms2, 0.99), "second_run_requests_per_s": ms2.len() as f64 / secs2,
            "rss_after_warmup_kib": rss_warm, "rss_after_run_kib": rss_after, "rss_after_second_run_kib": rss_after2, "rss_after_third_run_kib": rss_after3,
        })
    );
    Ok(())
}
