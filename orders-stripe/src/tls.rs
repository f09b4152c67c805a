//! HTTPS with rustls on the `ring` provider and the platform's certificate
//! verifier. The configuration is handed to this client only, so a host's
//! own process-wide rustls provider (if any) is neither needed nor changed.
//!
//! `ring` rather than reqwest's default `aws-lc-rs`: it builds in a fraction
//! of the time (no C library of a few hundred thousand lines to compile).
//! rustls marks it deprecated because it lacks the post-quantum key
//! exchange; classical TLS 1.2/1.3 is what Stripe's API requires.

use std::sync::Arc;

use rustls_platform_verifier::BuilderVerifierExt;

use crate::BuildError;

pub(crate) fn client_config() -> Result<rustls::ClientConfig, BuildError> {
    #[allow(deprecated)] // see the module's docs
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| BuildError::TlsSetup)?
        .with_platform_verifier()
        .map_err(|_| BuildError::TlsSetup)?
        .with_no_client_auth();
    Ok(config)
}
