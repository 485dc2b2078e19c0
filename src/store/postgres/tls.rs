//! TLS to the PostgreSQL server, as libpq's `sslmode` and `sslrootcert` ask, with rustls: on
//! AWS-LC with the default backend (with the post-quantum hybrid key exchange), on `ring` in a
//! RustCrypto-only build.
//!
//! - `disable`, `prefer` (the default): no TLS. libpq's `prefer` would try TLS without checking
//!   the server; ferrohsm does not pretend that is protection: ask for `verify-full`.
//! - `require`: TLS; the server is checked against `sslrootcert` when one is given (as libpq
//!   does), and not at all otherwise (logged as a warning).
//! - `verify-ca`: TLS, the server's certificate chain checked against `sslrootcert`.
//! - `verify-full`: as `verify-ca`, and the certificate must name the host connected to.
//!
//! Client certificates (`sslcert`, `sslkey`) are not supported yet, and are refused rather than
//! ignored.

use crate::error::{Error, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Disable,
    Require,
    VerifyCa,
    VerifyFull,
}

/// The URL without the TLS options the client does not parse itself, and the TLS settings.
pub(super) struct Split {
    pub url: String,
    pub mode: Mode,
    pub root: Option<String>,
}

/// Takes `sslmode` and `sslrootcert` out of a libpq URL (`postgresql://...?k=v&...`) or
/// key=value string.
pub(super) fn split(url: &str) -> Result<Split> {
    let mut mode = Mode::Disable;
    let mut mode_given = false;
    let mut root = None;
    let mut take = |k: &str, v: &str| -> Result<bool> {
        match k {
            "sslmode" => {
                mode_given = true;
                mode = match v {
                    "disable" | "allow" | "prefer" => Mode::Disable,
                    "require" => Mode::Require,
                    "verify-ca" => Mode::VerifyCa,
                    "verify-full" => Mode::VerifyFull,
                    _ => {
                        return Err(Error::Config(format!(
                            "objectstore.postgres.url: sslmode={v} is not one of disable, \
                             prefer, require, verify-ca, verify-full"
                        )))
                    }
                };
                Ok(true)
            }
            "sslrootcert" => {
                root = Some(v.to_string());
                Ok(true)
            }
            "sslcert" | "sslkey" | "sslcrl" | "sslpassword" => Err(Error::Config(format!(
                "objectstore.postgres.url: {k} is not supported yet (client certificates, \
                 revocation lists)"
            ))),
            _ => Ok(false),
        }
    };
    let rest = if let Some((base, query)) = url.split_once('?').filter(|_| url.contains("://")) {
        let mut kept = Vec::new();
        for kv in query.split('&').filter(|kv| !kv.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            if !take(k, v)? {
                kept.push(kv);
            }
        }
        if kept.is_empty() {
            base.to_string()
        } else {
            format!("{base}?{}", kept.join("&"))
        }
    } else if url.contains("://") {
        url.to_string()
    } else {
        // The key=value form, read as libpq reads it; the pairs kept are kept verbatim.
        let mut out = String::with_capacity(url.len());
        let mut last = 0;
        for p in crate::config::conninfo_pairs(url) {
            if take(&p.key, &p.value)? {
                out.push_str(&url[last..p.span.0]);
                last = p.span.1;
            }
        }
        out.push_str(&url[last..]);
        out.trim().to_string()
    };
    // libpq's environment, when the URL does not say.
    if !mode_given {
        if let Ok(v) = std::env::var("PGSSLMODE") {
            take_env("sslmode", &v, &mut mode, &mut root)?;
        }
    }
    if root.is_none() {
        if let Ok(v) = std::env::var("PGSSLROOTCERT") {
            root = Some(v);
        }
    }
    Ok(Split {
        url: rest,
        mode,
        root,
    })
}

/// `PGSSLMODE`, read as the URL's `sslmode` is.
fn take_env(k: &str, v: &str, mode: &mut Mode, root: &mut Option<String>) -> Result<()> {
    let s = split(&format!("{k}={v}"))?;
    *mode = s.mode;
    if root.is_none() {
        *root = s.root;
    }
    Ok(())
}

#[cfg(feature = "backend-awslc")]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// rustls marks its `ring` provider deprecated because it has no post-quantum key exchange; it is
/// still maintained, and the only one a build without AWS-LC has.
#[cfg(not(feature = "backend-awslc"))]
#[allow(deprecated)]
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn roots(path: &str) -> Result<Arc<rustls::RootCertStore>> {
    let bad =
        |e: String| Error::Config(format!("objectstore.postgres.url: sslrootcert={path}: {e}"));
    let mut store = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
        store
            .add(c.map_err(|e| bad(e.to_string()))?)
            .map_err(|e| bad(e.to_string()))?;
    }
    if store.is_empty() {
        return Err(bad("no certificate in the file".into()));
    }
    Ok(Arc::new(store))
}

/// The connector for a mode (`None`: no TLS).
pub(super) fn connector(s: &Split) -> Result<Option<MakeRustlsConnect>> {
    let mode = match (s.mode, &s.root) {
        (Mode::Disable, _) => return Ok(None),
        // libpq: `require` with a root certificate checks the chain, as `verify-ca`.
        (Mode::Require, Some(_)) => Mode::VerifyCa,
        (m, _) => m,
    };
    let p = provider();
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        Mode::Require => {
            crate::log_warn!(
                "objectstore.postgres.url: sslmode=require without sslrootcert encrypts but does \
                 not check who the server is; use sslmode=verify-full"
            );
            Arc::new(Unchecked(p.clone()))
        }
        Mode::VerifyCa | Mode::VerifyFull => {
            let path = s.root.as_deref().ok_or_else(|| {
                Error::Config(
                    "objectstore.postgres.url: sslmode=verify-ca and verify-full need \
                     sslrootcert=FILE (the certificate authorities, PEM)"
                        .into(),
                )
            })?;
            let inner = rustls::client::WebPkiServerVerifier::builder_with_provider(
                roots(path)?,
                p.clone(),
            )
            .build()
            .map_err(|e| Error::Config(format!("objectstore.postgres.url: {e}")))?;
            if mode == Mode::VerifyFull {
                inner
            } else {
                Arc::new(AnyName(inner))
            }
        }
        Mode::Disable => unreachable!("returned above"),
    };
    let config = rustls::ClientConfig::builder_with_provider(p)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Some(MakeRustlsConnect::new(config)))
}

/// `verify-ca`: the chain is checked; the name in the certificate is not.
#[derive(Debug)]
struct AnyName(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `require` without a root certificate: libpq's behaviour, encryption only (the handshake's
/// signatures are still checked against the certificate the server sent).
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

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
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_options_are_taken_out_of_both_url_forms() {
        let s = split(
            "postgresql://u@db:5432/hsm?sslmode=verify-full&sslrootcert=/ca.pem&connect_timeout=3",
        )
        .unwrap();
        assert_eq!(s.url, "postgresql://u@db:5432/hsm?connect_timeout=3");
        assert_eq!(
            (s.mode, s.root.as_deref()),
            (Mode::VerifyFull, Some("/ca.pem"))
        );
        let s = split("host=db user=u sslmode = verify-ca sslrootcert='/my ca.pem' dbname=hsm")
            .unwrap();
        assert_eq!(
            s.url.split_whitespace().collect::<Vec<_>>(),
            ["host=db", "user=u", "dbname=hsm"]
        );
        assert_eq!(s.root.as_deref(), Some("/my ca.pem"));
        assert_eq!(s.mode, Mode::VerifyCa);
        // Other quoted values are kept as written.
        let s = split("host=db password='a  b' sslmode=disable").unwrap();
        assert_eq!(s.url, "host=db password='a  b'");
        assert_eq!(s.mode, Mode::Disable);
        let s = split("postgresql://u@db/hsm?sslmode=prefer").unwrap();
        assert_eq!(
            (s.url.as_str(), s.mode),
            ("postgresql://u@db/hsm", Mode::Disable)
        );
        assert_eq!(split("host=/tmp user=u").unwrap().mode, Mode::Disable);
        assert!(split("host=db sslmode=sometimes").is_err());
        assert!(split("postgresql://u@db/hsm?sslcert=/c.pem").is_err());
        // verify-* without a root certificate is a configuration error, not a silent downgrade.
        let s = split("host=db sslmode=verify-full").unwrap();
        assert!(matches!(connector(&s), Err(Error::Config(_))));
    }
}
