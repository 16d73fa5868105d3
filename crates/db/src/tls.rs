//! TLS for connections, with libpq's `sslmode` meanings, on rustls.
//!
//! tokio-postgres knows only `disable`, `prefer` and `require`, and no
//! certificate options; we take `sslmode` and `sslrootcert` out of the URL and
//! build the matching rustls verifier.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;

/// What `sslmode` asks of the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// `disable`, `allow`, `prefer`, `require`: encryption without identity,
    /// as libpq does unless a root certificate is given.
    Nothing,
    /// `verify-ca` (or `require` with `sslrootcert`): a trusted chain.
    Chain,
    /// `verify-full`: a trusted chain for the host name connected to.
    ChainAndName,
}

/// The TLS part of a database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsParams {
    pub mode: SslMode,
    pub verify: Verify,
    /// PEM file of trusted roots; `None` means the Mozilla roots.
    pub root_cert: Option<PathBuf>,
}

/// Splits `sslmode` and `sslrootcert` off a URL; returns the rest for
/// tokio-postgres.
pub(crate) fn split_tls_params(url: &str) -> Result<(String, TlsParams), String> {
    let mut parsed = url::Url::parse(url).map_err(|e| e.to_string())?;
    let mut sslmode = None;
    let mut root_cert = None;
    let mut kept = Vec::new();
    for (key, value) in parsed.query_pairs() {
        match &*key {
            "sslmode" => sslmode = Some(value.into_owned()),
            "sslrootcert" => root_cert = Some(value.into_owned()),
            _ => kept.push((key.into_owned(), value.into_owned())),
        }
    }
    let (mode, mut verify) = match sslmode.as_deref().unwrap_or("prefer") {
        "disable" => (SslMode::Disable, Verify::Nothing),
        "allow" | "prefer" => (SslMode::Prefer, Verify::Nothing),
        "require" => (SslMode::Require, Verify::Nothing),
        "verify-ca" => (SslMode::Require, Verify::Chain),
        "verify-full" => (SslMode::Require, Verify::ChainAndName),
        other => {
            return Err(format!(
                "sslmode={other} is not one of disable, allow, prefer, require, verify-ca, verify-full"
            ));
        }
    };
    // libpq: `require` with a root certificate verifies the chain.
    if verify == Verify::Nothing && mode == SslMode::Require && root_cert.is_some() {
        verify = Verify::Chain;
    }
    let root_cert = root_cert.filter(|path| path != "system").map(PathBuf::from);
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok((
        parsed.to_string(),
        TlsParams {
            mode,
            verify,
            root_cert,
        },
    ))
}

/// The rustls client configuration for these parameters.
pub(crate) fn client_config(params: &TlsParams) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = match params.verify {
        Verify::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(
                provider.signature_verification_algorithms,
            )))
            .with_no_client_auth(),
        Verify::Chain => {
            let inner =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots(params)?), provider)
                    .build()
                    .map_err(|e| e.to_string())?;
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(inner)))
                .with_no_client_auth()
        }
        Verify::ChainAndName => builder
            .with_root_certificates(roots(params)?)
            .with_no_client_auth(),
    };
    Ok(config)
}

fn roots(params: &TlsParams) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match &params.root_cert {
        None => store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("cannot read sslrootcert {}: {e}", path.display()))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "sslrootcert {} holds no usable certificate",
                    path.display()
                ));
            }
        }
    }
    Ok(store)
}

/// Checks handshake signatures but not the certificate (libpq's `require`).
#[derive(Debug)]
struct AcceptAnyCert(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// A trusted chain, whatever name it is for (libpq's `verify-ca`).
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_split_off_and_mapped() {
        let (rest, params) =
            split_tls_params("postgres://u:p@h/db?sslmode=verify-full&channel_binding=require")
                .expect("valid");
        assert_eq!(rest, "postgres://u:p@h/db?channel_binding=require");
        assert_eq!(params.mode, SslMode::Require);
        assert_eq!(params.verify, Verify::ChainAndName);

        let (rest, params) =
            split_tls_params("postgres://h/db?sslmode=require&sslrootcert=/ca.pem").expect("valid");
        assert_eq!(rest, "postgres://h/db");
        assert_eq!(params.verify, Verify::Chain);
        assert_eq!(params.root_cert, Some(PathBuf::from("/ca.pem")));

        let (_, params) = split_tls_params("postgres://h/db").expect("valid");
        assert_eq!(
            (params.mode, params.verify),
            (SslMode::Prefer, Verify::Nothing)
        );
    }

    #[test]
    fn unknown_sslmode_is_named() {
        let err = split_tls_params("postgres://h/db?sslmode=always").expect_err("invalid");
        assert!(err.contains("sslmode=always"), "{err}");
    }
}
