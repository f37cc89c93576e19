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

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
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
        assert_eq!(redact("postgres://ann:secret@db:5432/x"), "postgres://ann:***@db:5432/x");
        assert_eq!(redact("postgres://ann@db/x"), "postgres://ann@db/x");
        assert_eq!(split_pgpass(r"db:5432:*:ann:pa\:ss"), vec!["db", "5432", "*", "ann", "pa:ss"]);
        assert!(config("not a url at all").is_err());
    }
}
