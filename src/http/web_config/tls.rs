//! Builds the rustls server configuration from `tls_server_config`.

use super::types::{ClientAuth, Curve, Pem, TlsSettings, TlsVersion, WebConfigError};
use crate::yaml::DocumentError;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, aws_lc_rs};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{NoClientAuth, WebPkiClientVerifier};
use rustls::{
    DigitallySignedStruct, DistinguishedName, NamedGroup, RootCertStore, ServerConfig,
    SignatureScheme, SupportedCipherSuite,
};
use std::sync::Arc;

/// Go spells TLS 1.3 suites `TLS_AES_…`; rustls spells them `TLS13_AES_…`.
fn rustls_name(go_name: &str) -> String {
    match go_name.strip_prefix("TLS_") {
        Some(rest) if !rest.starts_with("ECDHE_") && !rest.starts_with("RSA_") => {
            format!("TLS13_{rest}")
        }
        _ => go_name.to_owned(),
    }
}

fn suite_name(suite: &SupportedCipherSuite) -> String {
    let id = suite.suite();
    id.as_str().map_or_else(|| format!("{id:?}"), str::to_owned)
}

/// Checks that a `cipher_suites` entry names a suite the TLS library offers.
pub(super) fn check_cipher_suite(name: &str) -> Result<String, String> {
    let provider = aws_lc_rs::default_provider();
    let wanted = rustls_name(name);
    if provider
        .cipher_suites
        .iter()
        .any(|suite| suite_name(suite) == wanted)
    {
        return Ok(wanted);
    }
    let offered: Vec<String> = provider
        .cipher_suites
        .iter()
        .filter(|suite| matches!(suite, SupportedCipherSuite::Tls12(_)))
        .map(suite_name)
        .collect();
    Err(format!(
        "cipher suite {name:?} is not offered by the TLS library (rustls); use one of {}",
        offered.join(", ")
    ))
}

/// Builds the server configuration, reading the certificate, key and client CA.
pub(super) fn server_config(
    settings: &TlsSettings,
    path: &str,
) -> Result<ServerConfig, WebConfigError> {
    let invalid = |key: &str, message: String| -> WebConfigError {
        DocumentError::invalid(path, &format!("tls_server_config.{key}"), message).into()
    };
    let provider = Arc::new(provider(settings));
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = [
        (TlsVersion::Tls12, &rustls::version::TLS12),
        (TlsVersion::Tls13, &rustls::version::TLS13),
    ]
    .into_iter()
    .filter(|(v, _)| (settings.min_version..=settings.max_version).contains(v))
    .map(|(_, version)| version)
    .collect();
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_protocol_versions(&versions)
        .map_err(|e| {
            invalid(
                "cipher_suites",
                format!("leaves no cipher suite for the TLS versions allowed ({e}); add a suite or allow TLS13"),
            )
        })?;
    let verifier = client_verifier(settings, &provider, path)?;
    let certs = read_pem(&settings.cert, "cert", path)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&certs)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            let what = named(&settings.cert);
            invalid(
                pem_key(&settings.cert, "cert"),
                format!("{what}is not PEM ({e})"),
            )
        })?;
    if certs.is_empty() {
        let what = named(&settings.cert);
        return Err(invalid(
            pem_key(&settings.cert, "cert"),
            format!("{what}holds no CERTIFICATE block; give the server certificate in PEM"),
        ));
    }
    let key = read_pem(&settings.key, "key", path)?;
    let key = PrivateKeyDer::from_pem_slice(&key).map_err(|_| {
        let what = named(&settings.key);
        invalid(
            pem_key(&settings.key, "key"),
            format!("{what}holds no private key in PEM (PKCS#8, PKCS#1 or SEC1)"),
        )
    })?;
    let mut config = builder
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| {
            let what = named(&settings.key);
            invalid(
                pem_key(&settings.key, "key"),
                format!("{what}does not fit the certificate ({e}); give the key the certificate was issued for"),
            )
        })?;
    config.ignore_client_order = settings.prefer_server_cipher_suites;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The crypto provider narrowed to the configured suites and curves.
fn provider(settings: &TlsSettings) -> CryptoProvider {
    let mut provider = aws_lc_rs::default_provider();
    if !settings.cipher_suites.is_empty() {
        // As in Go, the list orders TLS 1.2 suites; TLS 1.3 suites always stay.
        let all = std::mem::take(&mut provider.cipher_suites);
        let tls12 = settings.cipher_suites.iter().filter_map(|name| {
            all.iter()
                .find(|s| matches!(s, SupportedCipherSuite::Tls12(_)) && suite_name(s) == *name)
                .copied()
        });
        let tls13 = all
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
            .copied();
        provider.cipher_suites = tls13.chain(tls12).collect();
    }
    if !settings.curves.is_empty() {
        let all = std::mem::take(&mut provider.kx_groups);
        provider.kx_groups = settings
            .curves
            .iter()
            .filter_map(|curve| {
                let name = match curve {
                    Curve::X25519 => NamedGroup::X25519,
                    Curve::P256 => NamedGroup::secp256r1,
                    Curve::P384 => NamedGroup::secp384r1,
                };
                all.iter().find(|g| g.name() == name).copied()
            })
            .collect();
    }
    provider
}

fn pem_key(pem: &Pem, name: &str) -> &'static str {
    match (pem, name) {
        (Pem::File(_), "cert") => "cert_file",
        (Pem::File(_), "key") => "key_file",
        (Pem::File(_), _) => "client_ca_file",
        (Pem::Inline(_), "cert") => "cert",
        (Pem::Inline(_), "key") => "key",
        (Pem::Inline(_), _) => "client_ca",
    }
}

/// `"FILE "` for a file, nothing for inline PEM: messages name what the user can open.
fn named(pem: &Pem) -> String {
    match pem {
        Pem::File(file) => format!("{} ", file.display()),
        Pem::Inline(_) => String::new(),
    }
}

fn read_pem(pem: &Pem, name: &str, path: &str) -> Result<Vec<u8>, WebConfigError> {
    match pem {
        Pem::Inline(text) => Ok(text.expose().as_bytes().to_vec()),
        Pem::File(file) => std::fs::read(file).map_err(|source| WebConfigError::Read {
            what: pem_key(pem, name),
            path: file.clone(),
            source,
            hint: format!(" set as tls_server_config.{} in {path}", pem_key(pem, name)),
        }),
    }
}

fn client_verifier(
    settings: &TlsSettings,
    provider: &Arc<CryptoProvider>,
    path: &str,
) -> Result<Arc<dyn ClientCertVerifier>, WebConfigError> {
    let roots = match &settings.client_ca {
        None => None,
        Some(pem) => {
            let bytes = read_pem(pem, "client_ca", path)?;
            let key = pem_key(pem, "client_ca");
            let invalid = |message: String| -> WebConfigError {
                DocumentError::invalid(path, &format!("tls_server_config.{key}"), message).into()
            };
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&bytes) {
                let what = named(pem);
                let cert = cert.map_err(|e| invalid(format!("{what}is not PEM ({e})")))?;
                roots.add(cert).map_err(|e| {
                    invalid(format!(
                        "{what}holds a certificate that cannot be a CA ({e})"
                    ))
                })?;
            }
            if roots.is_empty() {
                let what = named(pem);
                return Err(invalid(format!(
                    "{what}holds no CERTIFICATE block; give the CA that signs client certificates in PEM"
                )));
            }
            Some(Arc::new(roots))
        }
    };
    let optional = match settings.client_auth {
        ClientAuth::NoClientCert => return Ok(Arc::new(NoClientAuth)),
        ClientAuth::RequestClientCert => {
            return Ok(Arc::new(UnverifiedClientCert::new(false, provider)));
        }
        ClientAuth::RequireAnyClientCert => {
            return Ok(Arc::new(UnverifiedClientCert::new(true, provider)));
        }
        ClientAuth::VerifyClientCertIfGiven => true,
        ClientAuth::RequireAndVerifyClientCert => false,
    };
    let invalid = |message: String| -> WebConfigError {
        DocumentError::invalid(path, "tls_server_config.client_ca_file", message).into()
    };
    let roots = roots.ok_or_else(|| {
        invalid(
            "client certificates are to be verified but no CA is given; set `client_ca_file`"
                .into(),
        )
    })?;
    let builder = WebPkiClientVerifier::builder_with_provider(roots, Arc::clone(provider));
    let builder = if optional {
        builder.allow_unauthenticated()
    } else {
        builder
    };
    let verifier = builder
        .build()
        .map_err(|e| invalid(format!("cannot verify client certificates with it ({e})")))?;
    Ok(verifier)
}

/// Go's `RequestClientCert` and `RequireAnyClientCert`: the client proves it holds the
/// key of the certificate it sends, but no CA vouches for the certificate.
#[derive(Debug)]
struct UnverifiedClientCert {
    mandatory: bool,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl UnverifiedClientCert {
    fn new(mandatory: bool, provider: &CryptoProvider) -> Self {
        Self {
            mandatory,
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for UnverifiedClientCert {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
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
