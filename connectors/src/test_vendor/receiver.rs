//! The `test` vendor's push listener: newline-delimited records over TCP. Each read's complete
//! lines are appended to the spool (flushed) before more is read; when the spool is full the
//! connection simply stops being read, so the sender's TCP window fills (back-pressure).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use logfetch_common::spool::{Spool, SpoolError, SpoolRecord};
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

use crate::pull::BoxFuture;
use crate::push::{PushError, PushObserver, PushSettings, PushSource};

pub struct LineReceiver {
    settings: PushSettings,
}

pub fn build(s: &PushSettings) -> Result<Box<dyn PushSource>, PushError> {
    Ok(Box::new(LineReceiver { settings: s.clone() }))
}

async fn append_with_backpressure(spool: &Spool, recs: &[SpoolRecord], obs: &dyn PushObserver, cancel: &CancellationToken) -> bool {
    loop {
        match spool.append(recs).await {
            Ok(_) => return true,
            Err(SpoolError::Full { .. }) => {
                obs.backpressure(0);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                    _ = cancel.cancelled() => return false,
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "spool write failed; closing the connection so the sender retries");
                return false;
            }
        }
    }
}

async fn connection(mut sock: tokio::net::TcpStream, peer: String, spool: Arc<Spool>, obs: Arc<dyn PushObserver>, max: usize, cancel: CancellationToken) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending: Vec<u8> = Vec::new();
    let mut discarding = false;
    loop {
        let n = tokio::select! {
            r = sock.read(&mut buf) => match r { Ok(0) | Err(_) => break, Ok(n) => n },
            _ = cancel.cancelled() => break,
        };
        let mut recs = Vec::new();
        let mut bytes = 0u64;
        for &b in &buf[..n] {
            if b == b'\n' {
                if !discarding && !pending.is_empty() {
                    let line = String::from_utf8_lossy(&pending).trim_end_matches('\r').to_string();
                    bytes += line.len() as u64;
                    recs.push(SpoolRecord { received_at: Utc::now(), peer: Some(peer.clone()), line });
                }
                pending.clear();
                discarding = false;
            } else if pending.len() < max {
                pending.push(b);
            } else if !discarding {
                // Over-long record: keep the first `max` bytes, count it, skip the rest.
                let line = String::from_utf8_lossy(&pending).to_string();
                bytes += line.len() as u64;
                recs.push(SpoolRecord { received_at: Utc::now(), peer: Some(peer.clone()), line });
                obs.truncated(1);
                pending.clear();
                discarding = true;
            }
        }
        if !recs.is_empty() {
            let n = recs.len() as u64;
            if !append_with_backpressure(&spool, &recs, &*obs, &cancel).await {
                break;
            }
            obs.received(n, bytes);
        }
    }
    // A final record without a trailing newline still counts.
    if !pending.is_empty() && !discarding {
        let line = String::from_utf8_lossy(&pending).trim_end_matches('\r').to_string();
        let len = line.len() as u64;
        if append_with_backpressure(&spool, &[SpoolRecord { received_at: Utc::now(), peer: Some(peer), line }], &*obs, &cancel).await {
            obs.received(1, len);
        }
    }
}

impl PushSource for LineReceiver {
    fn run<'a>(&'a self, spool: Arc<Spool>, observer: Arc<dyn PushObserver>, cancel: CancellationToken) -> BoxFuture<'a, Result<(), PushError>> {
        Box::pin(async move {
            let s = &self.settings;
            let listener = tokio::net::TcpListener::bind(&s.listen)
                .await
                .map_err(|e| PushError::Listen { tenant: s.tenant.clone(), addr: s.listen.clone(), why: e.to_string() })?;
            let addr = listener.local_addr().map_err(|e| PushError::Listen { tenant: s.tenant.clone(), addr: s.listen.clone(), why: e.to_string() })?;
            tracing::info!(tenant = %s.tenant, listen = %addr, "push listener ready");
            observer.listening(addr);
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    acc = listener.accept() => match acc {
                        Ok((sock, peer)) => {
                            conns.spawn(connection(sock, peer.to_string(), spool.clone(), observer.clone(), s.max_message_bytes, cancel.clone()));
                        }
                        Err(e) => tracing::warn!(error = %e, "accept failed"),
                    },
                    _ = cancel.cancelled() => break,
                }
            }
            while conns.join_next().await.is_some() {}
            Ok(())
        })
    }
}
