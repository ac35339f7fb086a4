//! What the network sinks share: an HTTP client with the sink's TLS settings, and the mapping of
//! HTTP outcomes to retryable vs permanent sink errors.

use std::time::Duration;

use super::SinkError;

/// Builds a client: verification on unless `tls_verify = false`, plus the CA file.
pub fn client(name: &str, ca_file: Option<&std::path::Path>, tls_verify: bool, timeout: Duration) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder().timeout(timeout).connect_timeout(Duration::from_secs(10)).user_agent(concat!("logfetch/", env!("CARGO_PKG_VERSION")));
    if let Some(ca) = ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("sink `{name}`: ca_file {}: {e}", ca.display()))?;
        let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| format!("sink `{name}`: ca_file {}: {e}", ca.display()))?;
        b = b.tls_certs_merge([cert]);
    }
    if !tls_verify {
        tracing::warn!(sink = name, "TLS certificate verification is OFF for this sink (tls_verify = false)");
        b = b.tls_danger_accept_invalid_certs(true);
    }
    b.build().map_err(|e| format!("sink `{name}`: {e}"))
}

/// 429 and 5xx (and transport errors) can succeed later; other 4xx will not.
pub fn classify(sink: &str, status: u16, body: &str) -> SinkError {
    let why = format!("HTTP {status}: {}", body.chars().take(300).collect::<String>());
    if status == 429 || status >= 500 {
        SinkError::Retryable { sink: sink.into(), why }
    } else {
        SinkError::Permanent { sink: sink.into(), why }
    }
}
