//! A Cisco ASA / FTD syslog sender (cisco.md §6): coherent traffic from a seed — Built/Teardown
//! pairs sharing a connection id (inbound and outbound), NAT pairs, ICMP, ACL denies and
//! hit-count logs, FTD 430002/430003 pairs with DNS fields, interleaved non-flow and unknown
//! message ids, every header variant — or lines replayed from files; sent over UDP, TCP (LF or
//! octet-counted) or TLS at a chosen rate.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::test_source::Rng;

/// How to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendMode {
    Udp,
    TcpLf,
    TcpOctet,
    Tls,
}

impl std::str::FromStr for SendMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "udp" => SendMode::Udp,
            "tcp" | "tcp-lf" => SendMode::TcpLf,
            "tcp-octet" => SendMode::TcpOctet,
            "tls" => SendMode::Tls,
            o => return Err(format!("unknown transport `{o}` (udp, tcp, tcp-octet, tls)")),
        })
    }
}

const HEADERS: &[&str] = &["{ts}: ", "{ts} asa-edge-1 : ", "<166>{ts} asa-edge-1: ", "{ts} EDT: ", "<166>{iso} asa-edge-1 "];

/// Generates `n` lines (approximately: pairs are kept whole) of coherent ASA/FTD traffic.
/// `malformed` adds broken and over-long lines among them.
/// Timestamps start at `base` and advance 50 ms per step.
pub fn generate(seed: u64, n: usize, malformed: bool, base: chrono::DateTime<chrono::Utc>) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(n + 8);
    let mut conn: u64 = 100_000 + rng.below(1000);
    let mut i = 0u64;
    while out.len() < n {
        i += 1;
        let t = base + chrono::Duration::milliseconds(i as i64 * 50);
        let ts = t.format("%b %d %Y %H:%M:%S").to_string();
        let iso = t.format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let hdr = HEADERS[rng.below(HEADERS.len() as u64) as usize].replace("{ts}", &ts).replace("{iso}", &iso);
        let hdr = if hdr.contains("EDT") { format!("{} EDT: ", (t - chrono::Duration::hours(4)).format("%b %d %Y %H:%M:%S")) } else { hdr };
        let inside = format!("10.1.{}.{}", rng.below(4), 2 + rng.below(200));
        let outside = format!("203.0.113.{}", 1 + rng.below(250));
        let sport = 1024 + rng.below(60000);
        let user = ["", "(LOCAL\\alice)", "(CORP\\bob)", "(carol@corp.example)"][rng.below(4) as usize];
        conn += 1;
        match rng.below(10) {
            0..=3 => {
                let (proto, built, tear, dport) = if rng.below(2) == 0 { ("TCP", 302013, 302014, 443) } else { ("UDP", 302015, 302016, 53) };
                let mapped = format!("198.51.100.{}", 1 + rng.below(250));
                if rng.below(2) == 0 {
                    out.push(format!("{hdr}%ASA-6-{built}: Built outbound {proto} connection {conn} for outside:{outside}/{dport} ({outside}/{dport}) to inside:{inside}/{sport} ({mapped}/{sport}){user}"));
                } else {
                    out.push(format!("{hdr}%ASA-6-{built}: Built inbound {proto} connection {conn} for outside:{outside}/{sport} ({outside}/{sport}){user} to dmz:{inside}/{dport} ({mapped}/{dport})"));
                }
                let dur = ["0:00:01", "0:12:30", "10:00:00", "27:13:02"][rng.below(4) as usize];
                let reason = if proto == "TCP" { [" TCP FINs", " TCP Reset-I", " SYN Timeout"][rng.below(3) as usize] } else { "" };
                let (a, b) = if out.last().is_some_and(|l| l.contains("outbound")) { (format!("outside:{outside}/{dport}"), format!("inside:{inside}/{sport}")) } else { (format!("outside:{outside}/{sport}"), format!("dmz:{inside}/{dport}")) };
                out.push(format!("{hdr}%ASA-6-{tear}: Teardown {proto} connection {conn} for {a} to {b} duration {dur} bytes {}{reason}", rng.below(10_000_000)));
            }
            4 => {
                let mapped = format!("198.51.100.{}", 1 + rng.below(250));
                out.push(format!("{hdr}%ASA-6-305011: Built dynamic TCP translation from inside:{inside}/{sport} to outside:{mapped}/{}", 2000 + rng.below(60000)));
                out.push(format!("{hdr}%ASA-6-305012: Teardown dynamic TCP translation from inside:{inside}/{sport} to outside:{mapped}/{} duration 0:00:30", 2000 + rng.below(60000)));
            }
            5 => out.push(format!("{hdr}%ASA-4-106023: Deny tcp src outside:{outside}/{sport} dst inside:{inside}/22 by access-group \"outside_in\" [0x1, 0x0]")),
            6 => out.push(format!("{hdr}%ASA-6-106100: access-list inside_out permitted udp inside/{inside}({sport}) -> outside/{outside}(53) hit-cnt {} 300-second interval [0xe982c7a4, 0x0]", 1 + rng.below(500))),
            7 => {
                let q = ["www.example.com", "mail.example.org", "cdn.example.net"][rng.below(3) as usize];
                let rt = ["a host address", "IP6 Address", "the canonical name for an alias"][rng.below(3) as usize];
                let rc = ["No Error", "No error", "Non-Existent Domain"][rng.below(3) as usize];
                out.push(format!("<166>{iso} ftd-1  %FTD-1-430002: EventPriority: Low, ConnectionID: {conn}, AccessControlRuleAction: Allow, SrcIP: {inside}, DstIP: 192.0.2.53, SrcPort: {sport}, DstPort: 53, Protocol: udp, IngressInterface: inside, EgressInterface: outside, IngressZone: in-zone, EgressZone: out-zone, ACPolicy: default, AccessControlRuleName: dns-out, Prefilter Policy: Default Prefilter Policy, User: No Authentication Required, Client: DNS client, ApplicationProtocol: DNS, InitiatorPackets: 1, ResponderPackets: 0, InitiatorBytes: 74, ResponderBytes: 0, DNSQuery: {q}, DNSRecordType: {rt}"));
                out.push(format!("<166>{iso} ftd-1  %FTD-1-430003: EventPriority: Low, ConnectionID: {conn}, AccessControlRuleAction: Allow, SrcIP: {inside}, DstIP: 192.0.2.53, SrcPort: {sport}, DstPort: 53, Protocol: udp, IngressInterface: inside, EgressInterface: outside, IngressZone: in-zone, EgressZone: out-zone, ACPolicy: default, AccessControlRuleName: dns-out, User: No Authentication Required, Client: DNS client, ApplicationProtocol: DNS, ConnectionDuration: 0, InitiatorPackets: 1, ResponderPackets: 1, InitiatorBytes: 74, ResponderBytes: 190, DNSQuery: {q}, DNSRecordType: {rt}, DNSResponseType: {rc}, DNS_TTL: 300"));
            }
            8 => out.push(format!("{hdr}%ASA-6-302020: Built inbound ICMP connection for faddr {outside}/{} gaddr 198.51.100.10/0 laddr {inside}/0 type 8 code 0", rng.below(65535))),
            _ => {
                // Non-flow and unknown ids: the receiver must skip, not fail.
                out.push(format!("{hdr}%ASA-5-111008: User 'enable_15' executed the 'write memory' command."));
                out.push(format!("{hdr}%ASA-6-999{:03}: Something new in a future release", rng.below(1000)));
            }
        }
        if malformed && rng.below(40) == 0 {
            out.push(format!("{hdr}%ASA-6-302014: Teardown TCP connection {conn} for outside:not-an-address to inside:{inside}/1 duration x bytes y"));
            out.push(format!("{hdr}%ASA-6-106100: access-list {}", "A".repeat(70_000)));
        }
    }
    out
}

/// A TLS client config that trusts the given PEM CA file (the mock talks to a test listener).
fn tls_client(ca_file: &std::path::Path) -> Result<tokio_rustls::TlsConnector, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca_file).map_err(|e| e.to_string())? {
        roots.add(c.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    }
    let cfg = rustls::ClientConfig::builder().with_root_certificates(roots).with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(cfg)))
}

/// Sends `lines` to `target` at about `rate` lines per second (0: as fast as possible).
pub async fn send(lines: &[String], target: &str, mode: SendMode, rate: f64, ca_file: Option<&std::path::Path>) -> Result<usize, String> {
    let gap = if rate > 0.0 { Duration::from_secs_f64(1.0 / rate) } else { Duration::ZERO };
    let mut next = tokio::time::Instant::now();
    let pace = |next: &mut tokio::time::Instant| {
        *next += gap;
        *next
    };
    match mode {
        SendMode::Udp => {
            let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
            sock.connect(target).await.map_err(|e| e.to_string())?;
            for l in lines {
                if !gap.is_zero() {
                    tokio::time::sleep_until(pace(&mut next)).await;
                }
                // A full local buffer or an unreachable port loses the datagram: that is UDP.
                let _ = sock.send(l.as_bytes()).await;
            }
        }
        SendMode::TcpLf | SendMode::TcpOctet | SendMode::Tls => {
            let tcp = tokio::net::TcpStream::connect(target).await.map_err(|e| e.to_string())?;
            let mut w: Box<dyn tokio::io::AsyncWrite + Unpin + Send> = if mode == SendMode::Tls {
                let conn = tls_client(ca_file.ok_or("tls needs --ca-file")?)?;
                let name = rustls::pki_types::ServerName::try_from("localhost").map_err(|e| e.to_string())?;
                Box::new(conn.connect(name, tcp).await.map_err(|e| format!("TLS: {e}"))?)
            } else {
                Box::new(tokio::io::BufWriter::new(tcp))
            };
            for l in lines {
                if !gap.is_zero() {
                    tokio::time::sleep_until(pace(&mut next)).await;
                }
                let frame = if mode == SendMode::TcpOctet { format!("{} {l}", l.len()) } else { format!("{l}\n") };
                w.write_all(frame.as_bytes()).await.map_err(|e| e.to_string())?;
            }
            w.flush().await.map_err(|e| e.to_string())?;
            w.shutdown().await.map_err(|e| e.to_string())?;
        }
    }
    Ok(lines.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_traffic_is_coherent() {
        let base = chrono::Utc::now();
        let lines = generate(3, 200, true, base);
        assert!(lines.len() >= 200);
        // Built and Teardown share connection ids.
        let built: Vec<&str> = lines.iter().filter(|l| l.contains("-302013: Built")).filter_map(|l| l.split("connection ").nth(1)?.split(' ').next()).collect();
        assert!(!built.is_empty());
        for id in &built {
            assert!(lines.iter().any(|l| l.contains("Teardown TCP connection") && l.contains(&format!("connection {id} "))), "{id}");
        }
        assert!(lines.iter().any(|l| l.len() > 65_536), "an over-long line");
        assert!(lines.iter().any(|l| l.contains("%FTD-1-430003") && l.contains("DNSQuery")));
        assert_eq!(generate(3, 200, true, base), lines, "deterministic for a seed and time base");
    }
}
