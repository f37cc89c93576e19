//! Connecting to PostgreSQL as libpq would: the URL's password, else `PGPASSWORD`, else the
//! matching line of `~/.pgpass` (or `PGPASSFILE`); TLS as `sslmode` and `sslrootcert` say (see
//! `tls`). rust-postgres reads none of these itself.

use crate::error::Error;
use anyhow::Result;
use postgres::config::Host;
use postgres::{Client, Config};
use std::path::PathBuf;

/// A server URL (`postgres://user@host:port/db`) parsed, with its password found.
pub fn config(url: &str) -> Result<Config> {
    let mut config: Config =
        url.parse().map_err(|e| Error::Usage(format!("{:?} is not a PostgreSQL URL ({e}); use postgres://user@host:port/database", redact(url))))?;
    if config.get_user().is_none() {
        config.user(&std::env::var("PGUSER").unwrap_or_else(|_| whoami()));
    }
    if config.get_password().is_none() {
        if let Ok(p) = std::env::var("PGPASSWORD") {
            config.password(p);
        } else if let Some(p) = pgpass(&config) {
            config.password(p);
        }
    }
    config.connect_timeout(std::time::Duration::from_secs(10));
    config.application_name("semsearch");
    Ok(config)
}

/// Connects, turning the driver's errors into one line that says what to check.
pub fn connect(url: &str) -> Result<Client> {
    let (rest, tls) = super::tls::split(url)?;
    let mut config = config(&rest)?;
    config.ssl_mode(tls.mode.driver());
    config.connect(tls.connector()?).map_err(|e| {
        let why = match e.as_db_error() {
            Some(db) => db.message().to_string(),
            None => {
                let mut s = e.to_string();
                if let Some(src) = std::error::Error::source(&e) {
                    s = format!("{s}: {src}");
                }
                s
            }
        };
        Error::Usage(format!(
            "cannot connect to {}: {why}; check the server is running, the URL, the password (URL, PGPASSWORD or ~/.pgpass) and sslmode / sslrootcert",
            redact(url)
        ))
        .into()
    })
}

/// The connection string without its password, for messages, `status` and the API: read by the
/// driver's own parser (after the TLS settings it does not know are taken out) and written back
/// from what it parsed, password left out — whatever form the password came in (`user:pass@`,
/// `?password=`, `password=` in `key=value` words). A string the parser refuses is shown with every
/// password-looking part masked instead.
pub fn redact(url: &str) -> String {
    if let Some(shown) = super::tls::split(url).ok().and_then(|(rest, _)| rest.parse::<Config>().ok()).map(|c| render(&c)) {
        return shown;
    }
    mask(url)
}

/// `postgres://user@host:port,…/database` from a parsed configuration (no password, no options).
fn render(c: &Config) -> String {
    let hosts: Vec<String> = c
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                Host::Tcp(h) if h.contains(':') => format!("[{h}]"),
                Host::Tcp(h) => h.clone(),
                #[cfg(unix)]
                Host::Unix(p) => percent_encoding::utf8_percent_encode(&p.display().to_string(), percent_encoding::NON_ALPHANUMERIC).to_string(),
            };
            match c.get_ports().get(i).or(c.get_ports().first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    let user = c.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    let db = c.get_dbname().map(|d| format!("/{d}")).unwrap_or_default();
    format!("postgres://{user}{}{db}", hosts.join(","))
}

/// Every password-looking part of `s` masked: the userinfo's password and each `password=` value
/// (up to `&` or the end of a `key=value` word, quoted or not).
fn mask(s: &str) -> String {
    let mut out = match (s.find("://"), s.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => match s[scheme + 3..at].split_once(':') {
            Some((user, _)) => format!("{}{user}:***{}", &s[..scheme + 3], &s[at..]),
            None => s.to_string(),
        },
        _ => s.to_string(),
    };
    let mut from = 0;
    while let Some(i) = out[from..].to_ascii_lowercase().find("password").map(|i| i + from) {
        let after = out[i + "password".len()..].trim_start();
        let Some(value) = after.strip_prefix('=') else {
            from = i + "password".len();
            continue;
        };
        let start = out.len() - value.trim_start().len();
        let v = &out[start..];
        let len = match v.chars().next() {
            Some(q @ ('\'' | '"')) => v[1..].find(q).map_or(v.len(), |e| e + 2),
            _ => v.find(|c: char| c == '&' || c.is_whitespace()).unwrap_or(v.len()),
        };
        out.replace_range(start..start + len, "***");
        from = start + 3;
    }
    out
}

fn whoami() -> String {
    std::env::var("USER").unwrap_or_else(|_| "postgres".into())
}

/// The password `~/.pgpass` gives for this host, port, database and user (fields may be `*`;
/// `\:` and `\\` are escapes), as libpq reads it.
fn pgpass(config: &Config) -> Option<String> {
    let path = std::env::var_os("PGPASSFILE").map(PathBuf::from).or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".pgpass")))?;
    let text = std::fs::read_to_string(path).ok()?;
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        #[cfg(unix)]
        Some(Host::Unix(_)) => "localhost".into(),
        None => "localhost".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432).to_string();
    let db = config.get_dbname().or(config.get_user()).unwrap_or_default().to_string();
    let user = config.get_user().unwrap_or_default().to_string();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let fields = split_pgpass(line);
        if fields.len() != 5 {
            continue;
        }
        let ok = |f: &str, v: &str| f == "*" || f == v;
        if ok(&fields[0], &host) && ok(&fields[1], &port) && ok(&fields[2], &db) && ok(&fields[3], &user) {
            return Some(fields[4].clone());
        }
    }
    None
}

fn split_pgpass(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut esc) = (Vec::new(), String::new(), false);
    for c in line.chars() {
        match (esc, c) {
            (true, c) => {
                cur.push(c);
                esc = false;
            }
            (false, '\\') => esc = true,
            (false, ':') => out.push(std::mem::take(&mut cur)),
            (false, c) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_kept_out_of_messages_and_pgpass_lines_split() {
        // Every way a password can be written, through the driver's parser or not.
        for (given, shown) in [
            ("postgres://ann:secret@db:5432/x", "postgres://ann@db:5432/x"),
            ("postgres://ann@db/x", "postgres://ann@db:5432/x"),
            ("postgres://ann@db:5432/x?password=secret&sslmode=require", "postgres://ann@db:5432/x"),
            ("postgresql://ann@db1:5432,db2:5433/x?sslrootcert=/etc/ca.pem&password=secret", "postgres://ann@db1:5432,db2:5433/x"),
            ("host=db port=5432 user=ann password=secret dbname=x", "postgres://ann@db:5432/x"),
            ("host=db user=ann password='se cret' dbname=x", "postgres://ann@db/x"),
            ("postgres://[::1]:5432/x", "postgres://[::1]:5432/x"),
        ] {
            assert_eq!(redact(given), shown, "{given}");
        }
        // What the parser refuses is masked where a password may be.
        for bad in [
            "postgres://ann:secret@db:5432/x?password=secret&bogus_option=1",
            "host=db password=secret bogus_option=1",
            "host=db password = 'se cret' bogus=1",
            "postgres://ann:secret@db:notaport/x",
            "PASSWORD=secret what",
        ] {
            let shown = redact(bad);
            assert!(!shown.contains("secret") && !shown.contains("cret"), "{bad} -> {shown}");
        }
        assert_eq!(split_pgpass(r"db:5432:*:ann:pa\:ss"), vec!["db", "5432", "*", "ann", "pa:ss"]);
        assert!(config("not a url at all").is_err());
    }
}
