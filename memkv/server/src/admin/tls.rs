//! Loads the admin API's TLS certificate chain and private key (PEM) into a rustls server
//! config using the `ring` provider. Called at start-up so bad files stop the server with the
//! file's path in the message.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::AdminError;

/// Reads `cert` (PEM certificate chain, leaf first) and `key` (PEM PKCS#8, PKCS#1 or SEC1
/// private key) into a rustls server config for the admin API (HTTP/1.1 only).
pub fn load_tls(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, AdminError> {
    let cert_pem = std::fs::read(cert).map_err(|error| AdminError::ReadCert {
        path: cert.to_owned(),
        error,
    })?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| AdminError::BadPem {
            what: "certificate",
            path: cert.to_owned(),
            message: error.to_string(),
        })?;
    if chain.is_empty() {
        return Err(AdminError::NoCertificate {
            path: cert.to_owned(),
        });
    }

    let key_pem = std::fs::read(key).map_err(|error| AdminError::ReadKey {
        path: key.to_owned(),
        error,
    })?;
    let private_key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|error| match error {
        pem::Error::NoItemsFound => AdminError::NoPrivateKey {
            path: key.to_owned(),
        },
        other => AdminError::BadPem {
            what: "private key",
            path: key.to_owned(),
            message: other.to_string(),
        },
    })?;

    let mismatch = |error: rustls::Error| AdminError::CertificateKey {
        cert: cert.to_owned(),
        key: key.to_owned(),
        error,
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(mismatch)?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(mismatch)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
