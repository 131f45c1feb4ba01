//! A small HTTP/1.1 GET client over TCP or TLS, for `memkv admin`.
//!
//! One connection per request (the admin command asks each server one question), hyper's
//! HTTP/1 client connection over a tokio `TcpStream`, optionally wrapped in rustls (`ring`
//! provider, the same stack the server's admin endpoint uses).

use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty, Limited};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use crate::exit::usage;

/// Largest response body accepted; admin reports are a few KiB.
const MAX_BODY: usize = 16 << 20;

/// Plain HTTP or HTTPS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    Http,
    Https,
}

/// An HTTP endpoint: scheme, host (IPv6 without brackets) and port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub(crate) scheme: Scheme,
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Endpoint {
    /// The admin endpoint of the server whose data-plane address is `server`: the same host at
    /// port + 1. `server` is `host:port` or `[ipv6]:port`, optionally prefixed by `http://` or
    /// `https://` (which then overrides `default_scheme`).
    pub(crate) fn admin_of(server: &str, default_scheme: Scheme) -> Result<Self, AddressError> {
        let bad = |why: &str| AddressError {
            address: server.to_owned(),
            why: why.to_owned(),
        };
        let trimmed = server.trim();
        let (scheme, rest) = if let Some(rest) = trimmed.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = trimmed.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else if trimmed.contains("://") {
            return Err(bad("only http:// and https:// are supported"));
        } else {
            (default_scheme, trimmed)
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| bad("expected HOST:PORT, e.g. 127.0.0.1:9900"))?;
        let host = if let Some(inner) = host.strip_prefix('[') {
            inner
                .strip_suffix(']')
                .ok_or_else(|| bad("unbalanced brackets around the IPv6 address"))?
        } else if host.contains(':') {
            return Err(bad("write IPv6 addresses in brackets, e.g. [::1]:9900"));
        } else {
            host
        };
        if host.is_empty() || host.contains(['/', '[', ']', ' ']) {
            return Err(bad("expected HOST:PORT, e.g. 127.0.0.1:9900"));
        }
        let port: u16 = port
            .parse()
            .map_err(|_| bad("the port is not a number between 1 and 65534"))?;
        let admin_port = port.checked_add(1).filter(|_| port != 0).ok_or_else(|| {
            bad("the port must be between 1 and 65534 (the admin port is port + 1)")
        })?;
        Ok(Self {
            scheme,
            host: host.to_owned(),
            port: admin_port,
        })
    }

    /// `host:port`, with brackets around IPv6 hosts.
    pub(crate) fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://{}", self.authority())
    }
}

/// A server address that cannot be turned into an admin endpoint.
#[derive(Debug, thiserror::Error)]
#[error("invalid server address {address:?}: {why}")]
pub(crate) struct AddressError {
    address: String,
    why: String,
}

/// Why a request got no usable HTTP response.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RequestError {
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS handshake with {endpoint} failed: {source}")]
    Tls {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{endpoint} uses HTTPS but no TLS configuration was prepared")]
    NoTlsConfig { endpoint: String },
    #[error("{host:?} is not a valid TLS server name")]
    ServerName { host: String },
    #[error("HTTP exchange with {endpoint} failed: {source}")]
    Http {
        endpoint: String,
        #[source]
        source: hyper::Error,
    },
    #[error("reading the response from {endpoint} failed: {message}")]
    Body { endpoint: String, message: String },
    #[error("{endpoint} did not answer within {seconds} s")]
    Timeout { endpoint: String, seconds: f64 },
}

/// A response: status code and full body.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) body: Bytes,
}

/// Which server certificates an HTTPS request trusts.
#[derive(Debug)]
pub(crate) enum Trust<'a> {
    /// The operating system's trust store.
    System,
    /// The CA certificate(s) in a PEM file.
    CaFile(&'a Path),
    /// Any certificate (signatures are still checked; the chain and name are not).
    Insecure,
}

/// Builds the rustls client configuration for `trust`. Problems with the CA file are usage
/// errors (exit code 2).
pub(crate) fn tls_config(trust: Trust<'_>) -> anyhow::Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("failed to set up TLS")?;
    let config = match trust {
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
        Trust::CaFile(path) => {
            let mut roots = RootCertStore::empty();
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| {
                    usage(anyhow::anyhow!(
                        "cannot read CA certificate file {}: {e}",
                        path.display()
                    ))
                })?;
            if certs.is_empty() {
                return Err(usage(anyhow::anyhow!(
                    "{} contains no PEM certificate (-----BEGIN CERTIFICATE-----)",
                    path.display()
                )));
            }
            for cert in certs {
                roots.add(cert).map_err(|e| {
                    usage(anyhow::anyhow!(
                        "{} contains a certificate that cannot be used as a trust anchor: {e}",
                        path.display()
                    ))
                })?;
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::System => {
            let found = rustls_native_certs::load_native_certs();
            for error in &found.errors {
                tracing::debug!("skipping part of the system trust store: {error}");
            }
            let mut roots = RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                return Err(usage(anyhow::anyhow!(
                    "no CA certificates found in the system trust store; pass the server's CA \
                     with --ca-cert PATH"
                )));
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
    };
    Ok(Arc::new(config))
}

/// Sends `GET path` to `endpoint` and reads the whole response, giving up after `timeout`.
pub(crate) async fn get(
    endpoint: &Endpoint,
    path: &str,
    tls: Option<&Arc<ClientConfig>>,
    timeout: Duration,
) -> Result<Response, RequestError> {
    tokio::time::timeout(timeout, get_inner(endpoint, path, tls))
        .await
        .unwrap_or_else(|_| {
            Err(RequestError::Timeout {
                endpoint: endpoint.to_string(),
                seconds: timeout.as_secs_f64(),
            })
        })
}

async fn get_inner(
    endpoint: &Endpoint,
    path: &str,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<Response, RequestError> {
    let tcp = TcpStream::connect((endpoint.host.as_str(), endpoint.port))
        .await
        .map_err(|source| RequestError::Connect {
            endpoint: endpoint.to_string(),
            source,
        })?;
    match endpoint.scheme {
        Scheme::Http => exchange(tcp, endpoint, path).await,
        Scheme::Https => {
            let config = tls.ok_or_else(|| RequestError::NoTlsConfig {
                endpoint: endpoint.to_string(),
            })?;
            let name = ServerName::try_from(endpoint.host.clone()).map_err(|_| {
                RequestError::ServerName {
                    host: endpoint.host.clone(),
                }
            })?;
            let stream = tokio_rustls::TlsConnector::from(config.clone())
                .connect(name, tcp)
                .await
                .map_err(|source| RequestError::Tls {
                    endpoint: endpoint.to_string(),
                    source,
                })?;
            exchange(stream, endpoint, path).await
        }
    }
}

async fn exchange<S>(stream: S, endpoint: &Endpoint, path: &str) -> Result<Response, RequestError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let http_error = |source| RequestError::Http {
        endpoint: endpoint.to_string(),
        source,
    };
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(http_error)?;
    let connection = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!("admin HTTP connection ended with an error: {e}");
        }
    });
    let request = hyper::Request::get(path)
        .header(hyper::header::HOST, endpoint.authority())
        .header(
            hyper::header::USER_AGENT,
            concat!("memkv/", env!("MEMKV_BUILD_TAG")),
        )
        .header(hyper::header::ACCEPT, "application/json")
        .body(Empty::<Bytes>::new())
        .map_err(|e| RequestError::Body {
            endpoint: endpoint.to_string(),
            message: format!("cannot build the request for {path:?}: {e}"),
        })?;
    let response = sender.send_request(request).await.map_err(http_error)?;
    let status = response.status().as_u16();
    let body = Limited::new(response.into_body(), MAX_BODY)
        .collect()
        .await
        .map_err(|e| RequestError::Body {
            endpoint: endpoint.to_string(),
            message: e.to_string(),
        })?
        .to_bytes();
    drop(sender);
    connection.abort();
    Ok(Response { status, body })
}

/// `--insecure`: accepts any certificate chain and name, but still checks that the handshake
/// is signed by the presented certificate's key.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::{Endpoint, Scheme};

    fn admin(server: &str) -> Result<Endpoint, String> {
        Endpoint::admin_of(server, Scheme::Http).map_err(|e| e.to_string())
    }

    #[test]
    fn admin_endpoint_is_data_plane_port_plus_one() {
        let endpoint = admin("10.0.0.10:9900").unwrap();
        assert_eq!(endpoint.to_string(), "http://10.0.0.10:9901");
        assert_eq!(
            admin("https://host.example:9900/").unwrap().to_string(),
            "https://host.example:9901"
        );
        assert_eq!(
            admin("http://[::1]:9900").unwrap().authority(),
            "[::1]:9901"
        );
        assert_eq!(admin(" [fe80::1]:1 ").unwrap().host, "fe80::1");
        let tls = Endpoint::admin_of("127.0.0.1:9900", Scheme::Https).unwrap();
        assert_eq!(tls.scheme, Scheme::Https);
        let forced_plain = Endpoint::admin_of("http://127.0.0.1:9900", Scheme::Https).unwrap();
        assert_eq!(forced_plain.scheme, Scheme::Http);
    }

    #[test]
    fn bad_addresses_say_why() {
        for (address, why) in [
            ("127.0.0.1", "expected HOST:PORT"),
            ("127.0.0.1:port", "not a number"),
            ("127.0.0.1:65535", "admin port is port + 1"),
            ("127.0.0.1:0", "between 1 and 65534"),
            ("::1:9900", "brackets"),
            ("[::1:9900", "brackets"),
            ("ftp://h:1", "only http:// and https://"),
            (":9900", "expected HOST:PORT"),
        ] {
            let err = admin(address).expect_err(address);
            assert!(err.contains(why), "{address}: {err}");
        }
    }
}
