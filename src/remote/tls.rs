//! TLS to the server, negotiated as libpq does, so a URL that works with `psql` works here:
//! `sslmode` = `disable`, `allow`, `prefer` (the default), `require`, `verify-ca` or `verify-full`,
//! and `sslrootcert` = a PEM file of the CA certificates to trust, or `system` (the public CAs); from
//! the URL's query, else `PGSSLMODE` / `PGSSLROOTCERT`; the roots default to
//! `~/.postgresql/root.crt` when it exists. As in libpq, `require` with a root certificate checks
//! the chain (as `verify-ca`), and without one only encrypts.
//!
//! rust-postgres parses only `disable`, `prefer` and `require` and leaves every certificate check
//! to the TLS connector it is given, so the modes that check (and `sslrootcert`, which it would
//! reject) are taken out of the URL here and become the rustls configuration of the connector
//! (tokio-postgres-rustls, on the ring provider rustls already uses for the model download).

use crate::error::Error;
use anyhow::Result;
use postgres::config::SslMode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::PathBuf;
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`: whether to encrypt and what to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Never encrypt.
    Disable,
    /// Plain, encrypted only if the server insists.
    Allow,
    /// Encrypted when the server offers it (the default).
    Prefer,
    /// Always encrypted; the certificate checked only when roots are given.
    Require,
    /// Encrypted, the certificate's chain checked.
    VerifyCa,
    /// Encrypted, the chain and the server's name checked.
    VerifyFull,
}

impl Mode {
    fn parse(s: &str) -> Result<Mode> {
        Ok(match s {
            "disable" => Mode::Disable,
            "allow" => Mode::Allow,
            "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            _ => return Err(Error::Usage(format!("sslmode={s:?} is not a mode; use disable, allow, prefer, require, verify-ca or verify-full")).into()),
        })
    }

    /// What rust-postgres is told: whether TLS is tried, and whether it is required.
    pub fn driver(self) -> SslMode {
        match self {
            Mode::Disable => SslMode::Disable,
            Mode::Allow | Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        }
    }
}

/// Which certificates to trust.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    File(PathBuf),
    /// The public web CAs (webpki-roots), as libpq's `sslrootcert=system`.
    System,
}

/// The TLS settings of a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The mode asked for.
    pub mode: Mode,
    /// A file named in the URL or environment must be readable; the default one is used only when present.
    roots: Option<Roots>,
}

/// Takes `sslmode` and `sslrootcert` out of a connection string (URL query, or `key=value` words)
/// and returns the rest with the TLS settings, the environment filling what it does not say.
pub fn split(url: &str) -> Result<(String, Settings)> {
    let (mut mode, mut rootcert) = (None, None);
    let rest = match url.split_once('?') {
        Some((base, query)) if url.contains("://") => {
            let mut kept = Vec::new();
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                let v = percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned();
                match k {
                    "sslmode" => mode = Some(v),
                    "sslrootcert" => rootcert = Some(v),
                    _ => kept.push(pair),
                }
            }
            if kept.is_empty() {
                base.to_string()
            } else {
                format!("{base}?{}", kept.join("&"))
            }
        }
        _ if !url.contains("://") => {
            let mut kept = Vec::new();
            for word in url.split_whitespace() {
                match word.split_once('=') {
                    Some(("sslmode", v)) => mode = Some(v.to_string()),
                    Some(("sslrootcert", v)) => rootcert = Some(v.to_string()),
                    _ => kept.push(word),
                }
            }
            kept.join(" ")
        }
        _ => url.to_string(),
    };
    let mode = mode.or_else(|| std::env::var("PGSSLMODE").ok()).filter(|m| !m.is_empty());
    let mode = match mode {
        Some(m) => Mode::parse(&m)?,
        None => Mode::Prefer,
    };
    let rootcert = rootcert.or_else(|| std::env::var("PGSSLROOTCERT").ok()).filter(|r| !r.is_empty());
    let roots = match rootcert.as_deref() {
        Some("system") => Some(Roots::System),
        Some(path) => Some(Roots::File(PathBuf::from(path))),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".postgresql/root.crt")).filter(|p| p.exists()).map(Roots::File),
    };
    Ok((rest, Settings { mode, roots }))
}

impl Settings {
    /// The connector rust-postgres negotiates TLS with (not used under `disable`).
    pub fn connector(&self) -> Result<MakeRustlsConnect> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = match &self.roots {
            Some(r) => Some(self.load(r)?),
            None => None,
        };
        let verifier: Arc<dyn ServerCertVerifier> = match (self.mode, roots) {
            (Mode::VerifyCa | Mode::VerifyFull, None) => {
                return Err(Error::Usage(format!(
                    "sslmode={} needs the CA certificate that signed the server's: add sslrootcert=PATH (PEM) to the URL or set PGSSLROOTCERT, put it in ~/.postgresql/root.crt, or use sslrootcert=system for a public CA",
                    if self.mode == Mode::VerifyCa { "verify-ca" } else { "verify-full" }
                ))
                .into())
            }
            (Mode::VerifyFull, Some(roots)) => WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?,
            (Mode::VerifyCa | Mode::Require, Some(roots)) => {
                Arc::new(AnyName(WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone()).build()?))
            }
            _ => Arc::new(Unchecked(provider.clone())),
        };
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    fn load(&self, roots: &Roots) -> Result<RootCertStore> {
        let mut store = RootCertStore::empty();
        match roots {
            Roots::System => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            Roots::File(path) => {
                let bad = |why: String| -> anyhow::Error {
                    Error::Usage(format!("{}: {why}; sslrootcert must name a PEM file of CA certificates", path.display())).into()
                };
                let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(path)
                    .map_err(|e| bad(format!("cannot read it ({e})")))?
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|e| bad(format!("not PEM certificates ({e})")))?;
                let (added, _) = store.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(bad("no usable certificate in it".into()));
                }
            }
        }
        Ok(store)
    }
}

/// `verify-ca` (and `require` with a root certificate): the chain must lead to a trusted CA, the
/// name in the certificate is not compared with the host.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        // webpki checks the name only after the chain verified, so a name error means the chain is good.
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. })) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without a root certificate, as libpq: the connection is encrypted, the
/// server's certificate is not checked (its handshake signature still is).
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_come_out_of_the_url_and_the_rest_stays() {
        let (rest, s) = split("postgres://ann@db:5432/x?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&application_name=a").unwrap();
        assert_eq!(rest, "postgres://ann@db:5432/x?application_name=a");
        assert_eq!((s.mode, s.roots), (Mode::VerifyFull, Some(Roots::File("/tmp/ca.pem".into()))));
        let (rest, s) = split("postgres://ann@db/x?sslmode=require").unwrap();
        assert_eq!((rest.as_str(), s.mode), ("postgres://ann@db/x", Mode::Require));
        let (rest, s) = split("host=db user=ann sslmode=disable").unwrap();
        assert_eq!((rest.as_str(), s.mode), ("host=db user=ann", Mode::Disable));
        assert!(split("postgres://db/x?sslmode=sometimes").is_err());
        let (_, s) = split("postgres://db/x?sslmode=verify-ca&sslrootcert=system").unwrap();
        assert_eq!(s.roots, Some(Roots::System));
        assert!(s.connector().is_ok());
    }
}
