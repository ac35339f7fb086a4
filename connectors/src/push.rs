//! The push connector contract: a listener that receives records continuously and appends them
//! to the tenant's durable [`Spool`] before anything downstream sees them. The scheduler drains
//! the spool (parse → batch → sinks) and removes records only after the sinks acknowledge.

use std::sync::Arc;

use logfetch_common::spool::Spool;
use tokio_util::sync::CancellationToken;

use crate::pull::BoxFuture;

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error("tenant `{tenant}`: cannot listen on {addr}: {why}")]
    Listen { tenant: String, addr: String, why: String },
    #[error("tenant `{tenant}`: {why}")]
    Config { tenant: String, why: String },
}

/// Settings a push listener is built from.
#[derive(Debug, Clone)]
pub struct PushSettings {
    pub tenant: String,
    /// `host:port`; port 0 lets the OS choose (the bound address is reported back).
    pub listen: String,
    /// Longest accepted record; longer ones are truncated and counted.
    pub max_message_bytes: usize,
    /// TCP/TLS: connections accepted at once (more are refused).
    pub max_connections: usize,
    /// TCP/TLS: a connection silent this long is closed.
    pub idle_timeout: std::time::Duration,
    /// UDP: SO_RCVBUF in bytes (the kernel may double it).
    pub recv_buffer: Option<usize>,
    /// TLS: certificate chain and private key, PEM.
    pub tls_cert: Option<std::path::PathBuf>,
    pub tls_key: Option<std::path::PathBuf>,
    /// HTTP receivers (Cloud NSS): the token value senders must present, resolved, and the
    /// header it comes in (default `authorization`).
    pub token: Option<String>,
    pub token_header: Option<String>,
}

/// What a listener reports while it runs.
pub trait PushObserver: Send + Sync {
    /// The address actually bound.
    fn listening(&self, addr: std::net::SocketAddr);
    fn received(&self, records: u64, bytes: u64);
    fn truncated(&self, n: u64);
    /// The spool was full and the sender was slowed down (TCP) or records were dropped (UDP).
    fn backpressure(&self, dropped: u64);
    /// UDP: the kernel's drop counter for the socket (absolute).
    fn kernel_drops(&self, _total: u64) {}
    /// TCP/TLS: a connection refused because `max_connections` were open.
    fn connection_refused(&self) {}
    /// HTTP receivers: a request refused because its body was over the size limit.
    fn oversized(&self) {}
}

/// A push listener.
pub trait PushSource: Send + Sync {
    fn run<'a>(&'a self, spool: Arc<Spool>, observer: Arc<dyn PushObserver>, cancel: CancellationToken) -> BoxFuture<'a, Result<(), PushError>>;
}
