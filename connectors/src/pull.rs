//! The pull connector contract. The scheduler owns time windows and checkpoints; a source
//! fetches one page of raw records for a (kind, window, page token) and says where the next
//! page starts. The checkpoint a page reaches is (window, next page token): the scheduler
//! commits it only after every sink has the page's events.

use chrono::{DateTime, Utc};
use logfetch_common::LogKind;

use crate::http::HttpError;

/// A half-open time range `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TimeWindow {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

/// One page of raw records.
#[derive(Debug, Clone)]
pub struct RawPage {
    pub records: Vec<String>,
    /// Where the next page of the same window starts; `None` when the window is done.
    pub next_page_token: Option<String>,
    /// HTTP requests this page took (for metrics).
    pub requests: u32,
}

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("tenant `{tenant}`: authentication failed ({source}); check the credentials the config references")]
    Auth { tenant: String, source: HttpError },
    #[error("tenant `{tenant}`: {source}")]
    Http { tenant: String, source: HttpError },
    #[error("tenant `{tenant}`: unexpected response from {endpoint}: {why}")]
    Protocol { tenant: String, endpoint: String, why: String },
    #[error("tenant `{tenant}`: {why}")]
    Config { tenant: String, why: String },
}

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// A vendor API that can be pulled.
pub trait PullSource: Send + Sync {
    fn fetch_page<'a>(&'a self, kind: LogKind, window: TimeWindow, page_token: Option<&'a str>) -> BoxFuture<'a, Result<RawPage, PullError>>;
}

/// What a pull connector is built from: the tenant's connection settings with secrets resolved.
#[derive(Clone)]
pub struct PullSettings {
    pub tenant: String,
    pub url: Option<String>,
    /// Bearer token / API key, already resolved. Never logged.
    pub token: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ca_file: Option<std::path::PathBuf>,
    pub tls_verify: bool,
    pub timeout: std::time::Duration,
    pub page_size: Option<u32>,
    pub limiter: crate::http::RateLimiter,
    pub policy: crate::http::RetryPolicy,
    /// The device's time zone (for APIs that filter on zone-less local times).
    pub tz: chrono_tz::Tz,
    /// How often asynchronous jobs are polled.
    pub poll_interval: std::time::Duration,
    /// Which of a vendor's APIs (SentinelOne: `lrq`, the default, or `dv`).
    pub api: Option<String>,
    /// Least time between two query launches (SentinelOne DV `init-query`: 1 per minute per
    /// token, the default).
    pub query_launch_interval: Option<std::time::Duration>,
}

impl std::fmt::Debug for PullSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullSettings")
            .field("tenant", &self.tenant)
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("tls_verify", &self.tls_verify)
            .finish_non_exhaustive()
    }
}

impl PullSettings {
    /// An HTTP client with the tenant's TLS settings: verification on unless the tenant turned it
    /// off, plus its CA file when given.
    pub fn http_client(&self) -> Result<reqwest::Client, PullError> {
        let cfg_err = |why: String| PullError::Config { tenant: self.tenant.clone(), why };
        let mut b = reqwest::Client::builder().timeout(self.timeout).connect_timeout(std::time::Duration::from_secs(10)).user_agent(concat!("logfetch/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &self.ca_file {
            let pem = std::fs::read(ca).map_err(|e| cfg_err(format!("cannot read ca_file {}: {e}", ca.display())))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| cfg_err(format!("ca_file {} is not a PEM certificate: {e}", ca.display())))?;
            b = b.tls_certs_merge([cert]);
        }
        if !self.tls_verify {
            tracing::warn!(tenant = %self.tenant, "TLS certificate verification is OFF for this tenant (tls_verify = false)");
            b = b.tls_danger_accept_invalid_certs(true);
        }
        b.build().map_err(|e| cfg_err(format!("cannot build the HTTP client: {e}")))
    }
}
