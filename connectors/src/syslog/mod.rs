//! The syslog receiver every push vendor shares (Cisco ASA/FTD, PAN-OS, Zscaler NSS):
//! UDP, TCP (LF or octet-counted framing, detected per connection) and TLS listeners. What is
//! received goes into the tenant's durable spool before more is read; when the spool is full
//! TCP/TLS stop reading (back-pressure) and UDP counts its drops. The kernel's own UDP drop
//! counter for the socket is read from `/proc/net/udp*` and reported, because silent UDP loss
//! is what users of other collectors complain about most.

pub mod framing;
pub mod udp_drops;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use logfetch_common::spool::{Spool, SpoolError, SpoolRecord};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::sync::CancellationToken;

use crate::pull::BoxFuture;
use crate::push::{PushError, PushObserver, PushSettings, PushSource};
use framing::FrameDecoder;

/// Transport of a syslog listener, from `listen = "udp://…"`, `"tcp://…"` or `"tls://…"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

/// Splits `udp://0.0.0.0:514` into transport and address (`tcp` when no scheme is given).
pub fn parse_listen(listen: &str) -> Result<(Transport, &str), String> {
    match listen.split_once("://") {
        None => Ok((Transport::Tcp, listen)),
        Some(("udp", a)) => Ok((Transport::Udp, a)),
        Some(("tcp", a)) => Ok((Transport::Tcp, a)),
        Some(("tls", a)) => Ok((Transport::Tls, a)),
        Some((s, _)) => Err(format!("listen scheme `{s}://` is not udp://, tcp:// or tls://")),
    }
}

pub struct SyslogReceiver {
    settings: PushSettings,
    transport: Transport,
    addr: String,
}

/// Builds a receiver; checks the listen address and TLS files up front.
pub fn build(s: &PushSettings) -> Result<Box<dyn PushSource>, PushError> {
    let cfg = |why: String| PushError::Config { tenant: s.tenant.clone(), why };
    let (transport, addr) = parse_listen(&s.listen).map_err(cfg)?;
    if transport == Transport::Tls && (s.tls_cert.is_none() || s.tls_key.is_none()) {
        return Err(cfg("a tls:// listener needs connection.tls_cert and connection.tls_key (PEM files)".into()));
    }
    Ok(Box::new(SyslogReceiver { settings: s.clone(), transport, addr: addr.to_string() }))
}

/// A rustls acceptor from the tenant's `tls_cert` / `tls_key` PEM files.
pub fn tls_acceptor_for(s: &PushSettings) -> Result<tokio_rustls::TlsAcceptor, String> {
    tls_acceptor(s)
}

fn tls_acceptor(s: &PushSettings) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let cert_path = s.tls_cert.as_ref().ok_or("no tls_cert")?;
    let key_path = s.tls_key.as_ref().ok_or("no tls_key")?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_path)
        .map_err(|e| format!("tls_cert {}: {e}", cert_path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("tls_cert {}: {e}", cert_path.display()))?;
    if certs.is_empty() {
        return Err(format!("tls_cert {} holds no certificate", cert_path.display()));
    }
    let key = PrivateKeyDer::from_pem_file(key_path).map_err(|e| format!("tls_key {}: {e}", key_path.display()))?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut cfg = rustls::ServerConfig::builder().with_no_client_auth().with_single_cert(certs, key).map_err(|e| format!("TLS certificate/key: {e}"))?;
    // No TLS 1.3 session tickets: a syslog sender only writes (RFC 5425), so tickets sit unread in
    // its socket, and closing a socket with unread data sends a reset instead of a FIN, which
    // makes our kernel drop the last records it had not handed to us yet.
    cfg.send_tls13_tickets = 0;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

fn record(bytes: &[u8], peer: &str) -> SpoolRecord {
    SpoolRecord { received_at: Utc::now(), peer: Some(peer.to_string()), line: String::from_utf8_lossy(bytes).trim_end_matches(['\r', '\n']).to_string() }
}

/// Appends, waiting while the spool is full (TCP back-pressure). `false`: give up on the
/// connection (shutdown, or the spool cannot be written).
async fn append_blocking(spool: &Spool, recs: &[SpoolRecord], obs: &dyn PushObserver, cancel: &CancellationToken) -> bool {
    let mut reported = false;
    loop {
        match spool.append(recs).await {
            Ok(_) => return true,
            Err(SpoolError::Full { .. }) => {
                if !reported {
                    obs.backpressure(0);
                    reported = true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(50)) => {}
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

async fn stream_connection<S: AsyncRead + Unpin>(mut sock: S, peer: String, spool: Arc<Spool>, obs: Arc<dyn PushObserver>, s: PushSettings, cancel: CancellationToken) {
    let mut dec = FrameDecoder::new(s.max_message_bytes);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = tokio::select! {
            r = tokio::time::timeout(s.idle_timeout, sock.read(&mut buf)) => match r {
                Ok(Ok(0)) | Ok(Err(_)) => break,
                Ok(Ok(n)) => n,
                Err(_) => { tracing::info!(%peer, "idle timeout; closing"); break }
            },
            _ = cancel.cancelled() => break,
        };
        let frames = dec.feed(&buf[..n]);
        if frames.is_empty() {
            continue;
        }
        let truncated = frames.iter().filter(|f| f.truncated).count() as u64;
        if truncated > 0 {
            obs.truncated(truncated);
        }
        let recs: Vec<SpoolRecord> = frames.iter().map(|f| record(&f.bytes, &peer)).collect();
        let bytes: u64 = recs.iter().map(|r| r.line.len() as u64).sum();
        if !append_blocking(&spool, &recs, &*obs, &cancel).await {
            return;
        }
        obs.received(recs.len() as u64, bytes);
    }
    if let Some(f) = dec.finish() {
        if f.truncated {
            obs.truncated(1);
        }
        let r = record(&f.bytes, &peer);
        let len = r.line.len() as u64;
        if append_blocking(&spool, &[r], &*obs, &cancel).await {
            obs.received(1, len);
        }
    }
}

impl SyslogReceiver {
    async fn run_udp(&self, spool: Arc<Spool>, obs: Arc<dyn PushObserver>, cancel: CancellationToken) -> Result<(), PushError> {
        let s = &self.settings;
        let listen_err = |why: String| PushError::Listen { tenant: s.tenant.clone(), addr: self.addr.clone(), why };
        let addr: std::net::SocketAddr = tokio::net::lookup_host(&self.addr).await.map_err(|e| listen_err(e.to_string()))?.next().ok_or_else(|| listen_err("no address".into()))?;
        let sock = socket2::Socket::new(socket2::Domain::for_address(addr), socket2::Type::DGRAM, Some(socket2::Protocol::UDP)).map_err(|e| listen_err(e.to_string()))?;
        if let Some(size) = s.recv_buffer {
            sock.set_recv_buffer_size(size).map_err(|e| listen_err(format!("SO_RCVBUF {size}: {e}")))?;
        }
        sock.set_nonblocking(true).map_err(|e| listen_err(e.to_string()))?;
        sock.bind(&addr.into()).map_err(|e| listen_err(e.to_string()))?;
        let udp = tokio::net::UdpSocket::from_std(sock.into()).map_err(|e| listen_err(e.to_string()))?;
        let bound = udp.local_addr().map_err(|e| listen_err(e.to_string()))?;
        tracing::info!(tenant = %s.tenant, listen = %bound, transport = "udp", "syslog listener ready");
        obs.listening(bound);
        let inode = udp_drops::socket_inode(&udp);
        let mut buf = vec![0u8; 65_536];
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let (n, peer) = tokio::select! {
                r = udp.recv_from(&mut buf) => match r { Ok(x) => x, Err(e) => { tracing::warn!(error = %e, "udp receive failed"); continue } },
                _ = tick.tick() => {
                    if let Some(d) = inode.and_then(udp_drops::drops_for_inode) {
                        obs.kernel_drops(d);
                    }
                    continue;
                }
                _ = cancel.cancelled() => return Ok(()),
            };
            // Take whatever else is already queued, so one spool flush covers a burst.
            let max = s.max_message_bytes;
            let mut recs = Vec::with_capacity(64);
            let mut truncated = 0u64;
            let (mut n, mut peer) = (n, peer);
            loop {
                truncated += (n > max) as u64;
                recs.push(record(&buf[..n.min(max)], &peer.to_string()));
                if recs.len() >= 2000 {
                    break;
                }
                match udp.try_recv_from(&mut buf) {
                    Ok((n2, p2)) => (n, peer) = (n2, p2),
                    Err(_) => break,
                }
            }
            if truncated > 0 {
                obs.truncated(truncated);
            }
            let bytes: u64 = recs.iter().map(|r| r.line.len() as u64).sum();
            match spool.append(&recs).await {
                Ok(_) => obs.received(recs.len() as u64, bytes),
                // UDP cannot push back: count what is lost.
                Err(SpoolError::Full { .. }) => obs.backpressure(recs.len() as u64),
                Err(e) => {
                    tracing::error!(error = %e, "spool write failed; datagrams dropped");
                    obs.backpressure(recs.len() as u64);
                }
            }
        }
    }

    async fn run_stream(&self, spool: Arc<Spool>, obs: Arc<dyn PushObserver>, cancel: CancellationToken) -> Result<(), PushError> {
        let s = &self.settings;
        let listen_err = |why: String| PushError::Listen { tenant: s.tenant.clone(), addr: self.addr.clone(), why };
        let acceptor = match self.transport {
            Transport::Tls => Some(tls_acceptor(s).map_err(|why| PushError::Config { tenant: s.tenant.clone(), why })?),
            _ => None,
        };
        let listener = tokio::net::TcpListener::bind(&self.addr).await.map_err(|e| listen_err(e.to_string()))?;
        let bound = listener.local_addr().map_err(|e| listen_err(e.to_string()))?;
        tracing::info!(tenant = %s.tenant, listen = %bound, transport = if acceptor.is_some() { "tls" } else { "tcp" }, "syslog listener ready");
        obs.listening(bound);
        let slots = Arc::new(tokio::sync::Semaphore::new(s.max_connections.max(1)));
        let mut conns = tokio::task::JoinSet::new();
        loop {
            let (sock, peer) = tokio::select! {
                r = listener.accept() => match r { Ok(x) => x, Err(e) => { tracing::warn!(error = %e, "accept failed"); continue } },
                _ = cancel.cancelled() => break,
            };
            let Ok(permit) = slots.clone().try_acquire_owned() else {
                tracing::warn!(tenant = %s.tenant, %peer, max = s.max_connections, "connection limit reached (max_connections); refusing");
                obs.connection_refused();
                drop(sock);
                continue;
            };
            let (spool, obs, st, cancel, acc) = (spool.clone(), obs.clone(), s.clone(), cancel.clone(), acceptor.clone());
            conns.spawn(async move {
                let _permit = permit;
                let peer = peer.to_string();
                match acc {
                    None => stream_connection(sock, peer, spool, obs, st, cancel).await,
                    Some(acc) => match tokio::time::timeout(Duration::from_secs(10), acc.accept(sock)).await {
                        Ok(Ok(tls)) => stream_connection(tls, peer, spool, obs, st, cancel).await,
                        Ok(Err(e)) => tracing::warn!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::warn!(%peer, "TLS handshake timed out"),
                    },
                }
            });
            while conns.try_join_next().is_some() {}
        }
        while conns.join_next().await.is_some() {}
        Ok(())
    }
}

impl PushSource for SyslogReceiver {
    fn run<'a>(&'a self, spool: Arc<Spool>, observer: Arc<dyn PushObserver>, cancel: CancellationToken) -> BoxFuture<'a, Result<(), PushError>> {
        Box::pin(async move {
            match self.transport {
                Transport::Udp => self.run_udp(spool, observer, cancel).await,
                Transport::Tcp | Transport::Tls => self.run_stream(spool, observer, cancel).await,
            }
        })
    }
}
