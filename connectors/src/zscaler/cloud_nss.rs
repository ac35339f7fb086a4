//! The Cloud NSS receiver (zscaler.md §5): HTTPS (or HTTP on loopback) POSTs on the tenant's URL
//! path, the configured token header checked in constant time (401 missing, 403 wrong), gzip
//! bodies (detected by content, not only by header), JSON-array and newline-separated batches,
//! a body-size limit, and 200 only once the batch is in the durable spool — 503 with
//! `Retry-After` when the spool is full, so Cloud NSS retries instead of losing data.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use logfetch_common::spool::{Spool, SpoolError, SpoolRecord};
use tokio_util::sync::CancellationToken;

use crate::pull::BoxFuture;
use crate::push::{PushError, PushObserver, PushSettings, PushSource};

/// Largest accepted (decompressed) request body.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

pub struct CloudNssReceiver {
    settings: PushSettings,
    tls: bool,
    addr: String,
    path: String,
}

/// `https://host:port/path` or `http://host:port/path`.
pub fn parse_listen(listen: &str) -> Option<(bool, String, String)> {
    let (tls, rest) = if let Some(r) = listen.strip_prefix("https://") {
        (true, r)
    } else {
        (false, listen.strip_prefix("http://")?)
    };
    let (addr, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    Some((tls, addr.to_string(), path.to_string()))
}

pub fn build(s: &PushSettings) -> Result<Box<dyn PushSource>, PushError> {
    let cfg = |why: String| PushError::Config { tenant: s.tenant.clone(), why };
    let (tls, addr, path) = parse_listen(&s.listen).ok_or_else(|| cfg(format!("`{}` is not https://host:port/path", s.listen)))?;
    if tls && (s.tls_cert.is_none() || s.tls_key.is_none()) {
        return Err(cfg("an https:// Cloud NSS listener needs connection.tls_cert and connection.tls_key".into()));
    }
    if s.token.is_none() {
        return Err(cfg("a Cloud NSS listener needs connection.token (the header value Cloud NSS sends)".into()));
    }
    Ok(Box::new(CloudNssReceiver { settings: s.clone(), tls, addr, path }))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Splits a batch: a JSON array (JSON Array Notation on) or newline-separated JSON objects.
pub fn split_batch(body: &str) -> Result<Vec<String>, String> {
    let t = body.trim_start();
    if t.starts_with('[') {
        let v: Vec<serde_json::Value> = serde_json::from_str(t).map_err(|e| format!("invalid JSON array: {e}"))?;
        return Ok(v.into_iter().map(|x| x.to_string()).collect());
    }
    Ok(t.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect())
}

/// Gunzips when the body is gzip (magic bytes), whatever the headers say.
pub fn decode_body(raw: &[u8]) -> Result<String, String> {
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = String::new();
        flate2::read::GzDecoder::new(raw).take(MAX_BODY as u64 + 1).read_to_string(&mut out).map_err(|e| format!("bad gzip body: {e}"))?;
        if out.len() > MAX_BODY {
            return Err("decompressed body is over the limit".into());
        }
        Ok(out)
    } else {
        String::from_utf8(raw.to_vec()).map_err(|_| "body is not UTF-8".to_string())
    }
}

struct AppState {
    spool: Arc<Spool>,
    obs: Arc<dyn PushObserver>,
    header: String,
    token: String,
}

async fn receive(State(st): State<Arc<AppState>>, headers: HeaderMap, body: axum::body::Body) -> Response {
    let given = headers.get(st.header.as_str()).and_then(|v| v.to_str().ok());
    match given {
        None => return (StatusCode::UNAUTHORIZED, "missing token header").into_response(),
        Some(g) if !constant_time_eq(g.trim_start_matches("Bearer ").as_bytes(), st.token.as_bytes()) && !constant_time_eq(g.as_bytes(), st.token.as_bytes()) => {
            return (StatusCode::FORBIDDEN, "wrong token").into_response();
        }
        Some(_) => {}
    }
    // The body limit (MAX_BODY, also after gunzip) is enforced here, so it is logged and counted.
    let body: Bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return too_large(&st, "request body"),
    };
    let text = match decode_body(&body) {
        Ok(t) => t,
        Err(e) if e.contains("over the limit") => return too_large(&st, "decompressed body"),
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    let records = match split_batch(&text) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, e).into_response(),
    };
    if records.is_empty() {
        return (StatusCode::OK, "empty batch").into_response();
    }
    let recs: Vec<SpoolRecord> = records.into_iter().map(|line| SpoolRecord { received_at: Utc::now(), peer: None, line }).collect();
    let bytes: u64 = recs.iter().map(|r| r.line.len() as u64).sum();
    match st.spool.append(&recs).await {
        Ok(_) => {
            st.obs.received(recs.len() as u64, bytes);
            (StatusCode::OK, "ok").into_response()
        }
        Err(SpoolError::Full { .. }) => {
            st.obs.backpressure(0);
            (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "1")], "spool full, retry later").into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "spool write failed");
            (StatusCode::SERVICE_UNAVAILABLE, [("retry-after", "5")], "cannot store the batch").into_response()
        }
    }
}

fn too_large(st: &AppState, what: &str) -> Response {
    tracing::warn!(limit_bytes = MAX_BODY, "Cloud NSS {what} over the limit; refused with 413 (the feed must send smaller batches)");
    st.obs.oversized();
    (StatusCode::PAYLOAD_TOO_LARGE, format!("{what} over {MAX_BODY} bytes")).into_response()
}

/// A TLS listener for axum: TCP accept, then the rustls handshake (bounded in time).
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((sock, peer)) = self.tcp.accept().await else { continue };
            match tokio::time::timeout(Duration::from_secs(10), self.acceptor.accept(sock)).await {
                Ok(Ok(tls)) => return (tls, peer),
                Ok(Err(e)) => tracing::warn!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::warn!(%peer, "TLS handshake timed out"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

impl PushSource for CloudNssReceiver {
    fn run<'a>(&'a self, spool: Arc<Spool>, observer: Arc<dyn PushObserver>, cancel: CancellationToken) -> BoxFuture<'a, Result<(), PushError>> {
        Box::pin(async move {
            let s = &self.settings;
            let listen_err = |why: String| PushError::Listen { tenant: s.tenant.clone(), addr: self.addr.clone(), why };
            let st = Arc::new(AppState {
                spool,
                obs: observer.clone(),
                header: s.token_header.clone().unwrap_or_else(|| "authorization".into()).to_ascii_lowercase(),
                token: s.token.clone().unwrap_or_default(),
            });
            let app = axum::Router::new()
                .route(&self.path, axum::routing::post(receive))
                .layer(axum::extract::DefaultBodyLimit::disable())
                .with_state(st);
            let tcp = tokio::net::TcpListener::bind(&self.addr).await.map_err(|e| listen_err(e.to_string()))?;
            let bound = tcp.local_addr().map_err(|e| listen_err(e.to_string()))?;
            tracing::info!(tenant = %s.tenant, listen = %bound, path = %self.path, transport = if self.tls { "https" } else { "http" }, "Cloud NSS listener ready");
            observer.listening(bound);
            let stop = cancel.clone();
            let result = if self.tls {
                let acceptor = crate::syslog::tls_acceptor_for(s).map_err(|why| PushError::Config { tenant: s.tenant.clone(), why })?;
                axum::serve(TlsListener { tcp, acceptor }, app).with_graceful_shutdown(async move { stop.cancelled().await }).await
            } else {
                axum::serve(tcp, app).with_graceful_shutdown(async move { stop.cancelled().await }).await
            };
            result.map_err(|e| listen_err(e.to_string()))
        })
    }
}

/// NSS over TCP/UDP/TLS goes to the syslog receiver; `http(s)://` to Cloud NSS.
pub fn build_push(s: &PushSettings) -> Result<Box<dyn PushSource>, PushError> {
    if s.listen.starts_with("http://") || s.listen.starts_with("https://") { build(s) } else { crate::syslog::build(s) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn batches_listen_urls_and_gzip() {
        assert_eq!(split_batch(r#"[{"a":1},{"b":2}]"#).unwrap(), [r#"{"a":1}"#, r#"{"b":2}"#]);
        assert_eq!(split_batch("{\"a\":1}\n\n{\"b\":2}\n").unwrap().len(), 2);
        assert!(split_batch("[{").is_err());
        assert_eq!(parse_listen("https://0.0.0.0:9556/zia/dns"), Some((true, "0.0.0.0:9556".into(), "/zia/dns".into())));
        assert_eq!(parse_listen("http://127.0.0.1:0"), Some((false, "127.0.0.1:0".into(), "/".into())));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"{\"x\":1}\n").unwrap();
        assert_eq!(decode_body(&gz.finish().unwrap()).unwrap(), "{\"x\":1}\n");
        assert_eq!(decode_body(b"plain").unwrap(), "plain");
        assert!(decode_body(&[0x1f, 0x8b, 1, 2]).is_err());
    }
}
