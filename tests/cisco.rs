//! End-to-end: Cisco ASA/FTD syslog into `logfetch run` over TCP (LF and octet-counted), UDP and
//! TLS, from `logfetch mock cisco-syslog`; the file sink must hold exactly the events the parser
//! makes of the lines sent, and the UDP drop counter must move when a small buffer is flooded.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use logfetch_connectors::cisco::CiscoParser;
use logfetch_connectors::{ParseContext, ParseOutcome, RecordParser};
use support::*;

/// What the pipeline should produce for `lines` as tenant `tenant`: event ids and reject count.
fn expected(tenant: &str, lines: &[String], max: usize) -> (BTreeSet<String>, usize) {
    let parser = CiscoParser::default();
    let ctx = ParseContext::new(tenant, chrono_tz::UTC);
    let mut ids = BTreeSet::new();
    let mut rejected = 0;
    for l in lines {
        let cut: String = if l.len() > max { String::from_utf8_lossy(&l.as_bytes()[..max]).to_string() } else { l.clone() };
        match parser.parse(&cut, &ctx) {
            ParseOutcome::Events(evs) => ids.extend(evs.iter().map(|e| e.envelope().event_id.clone())),
            ParseOutcome::Rejected { .. } => rejected += 1,
            ParseOutcome::Skipped { .. } => {}
        }
    }
    (ids, rejected)
}

fn ids_under(dir: &Path) -> Vec<String> {
    if !dir.exists() {
        return Vec::new();
    }
    read_output(dir).0
}

fn write_lines(dir: &Path, name: &str, lines: &[String]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p.display().to_string()
}

#[test]
fn syslog_over_tcp_octet_udp_and_tls_delivers_exactly_the_parsed_events() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(d.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(d.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let cfg = d.join("logfetch.toml");
    let tenant = |id: &str, listen: &str, extra: &str| format!("[[tenant]]\nid = \"{id}\"\nvendor = \"cisco\"\n[tenant.connection]\nlisten = \"{listen}\"\nmax_message_bytes = 8192\n{extra}\n");
    std::fs::write(
        &cfg,
        format!(
            "[service]\ndata_dir = \"{}\"\nadmin_listen = \"127.0.0.1:0\"\n\n{}{}{}{}{}[[sink]]\nname = \"files\"\ntype = \"file\"\npath = \"{}\"\nflush_interval = \"200ms\"\n",
            d.join("data").display(),
            tenant("asa-tcp", "tcp://127.0.0.1:0", ""),
            tenant("asa-octet", "tcp://127.0.0.1:0", ""),
            tenant("asa-udp", "udp://127.0.0.1:0", ""),
            tenant("asa-tls", "tls://127.0.0.1:0", &format!("tls_cert = \"{}\"\ntls_key = \"{}\"", d.join("cert.pem").display(), d.join("key.pem").display())),
            tenant("asa-flood", "udp://127.0.0.1:0", "recv_buffer = 4096"),
            d.join("out").display()
        ),
    )
    .unwrap();
    let (daemon, admin, logs) = start_daemon(&cfg);
    let addrs = listen_addrs(&logs, 5);
    let base = chrono::Utc::now() - chrono::Duration::minutes(10);
    let out = d.join("out");

    // TCP, LF-framed, with malformed and over-long lines.
    let lines = logfetch_mocks::cisco_syslog::generate(1, 800, true, base);
    let f = write_lines(d, "tcp.log", &lines);
    run_mock(&["cisco-syslog", "--target", &addrs["asa-tcp"], "--transport", "tcp", "--file", &f]);
    // TCP, octet-counted.
    let lines2 = logfetch_mocks::cisco_syslog::generate(2, 800, true, base);
    let f2 = write_lines(d, "octet.log", &lines2);
    run_mock(&["cisco-syslog", "--target", &addrs["asa-octet"], "--transport", "tcp-octet", "--file", &f2]);
    // UDP at a modest rate.
    let lines3 = logfetch_mocks::cisco_syslog::generate(3, 400, false, base);
    let f3 = write_lines(d, "udp.log", &lines3);
    run_mock(&["cisco-syslog", "--target", &addrs["asa-udp"], "--transport", "udp", "--rate", "2000", "--file", &f3]);
    // TLS, from a sender that only writes (as syslog senders do): 5000 lines, so the daemon is
    // still reading when the sender closes. With TLS 1.3 session tickets left unread in the
    // sender's socket the close was a reset and the daemon's kernel dropped up to 65 % of them.
    let lines4 = logfetch_mocks::cisco_syslog::generate(4, 5000, false, base);
    let f4 = write_lines(d, "tls.log", &lines4);
    run_mock(&["cisco-syslog", "--target", &addrs["asa-tls"], "--transport", "tls", "--file", &f4, "--ca-file", &d.join("cert.pem").display().to_string()]);

    for (t, l) in [("asa-tcp", &lines), ("asa-octet", &lines2), ("asa-udp", &lines3), ("asa-tls", &lines4)] {
        let (want, rejected) = expected(t, l, 8192);
        assert!(want.len() > 200, "{t}: {} expected events", want.len());
        let dir_t = out.join(format!("tenant={t}"));
        // UDP may lose datagrams in the kernel (a busy machine); each loss must then be counted.
        let drops = || metric(&admin, &format!("logfetch_udp_kernel_drops_total{{tenant=\"{t}\",stream=\"push\"}}")).unwrap_or(0.0) as usize;
        wait_until(&format!("{t}: {} events", want.len()), Duration::from_secs(60), || {
            let n = ids_under(&dir_t).len();
            n >= want.len() || (t == "asa-udp" && drops() > 0 && n + drops() >= want.len())
        });
        std::thread::sleep(Duration::from_millis(300));
        let got = ids_under(&dir_t);
        let set: BTreeSet<String> = got.iter().cloned().collect();
        assert_eq!(got.len(), set.len(), "{t}: duplicates");
        if t == "asa-udp" && set.len() < want.len() {
            assert!(set.is_subset(&want), "{t}: events the lines sent do not make");
            assert!(want.len() - set.len() <= drops(), "{t}: {} events missing, {} datagrams counted as dropped", want.len() - set.len(), drops());
            eprintln!("{t}: the kernel dropped {} datagrams; every missing event is accounted for", drops());
        } else {
            assert_eq!(set, want, "{t}: delivered events differ from what the parser makes of the lines sent");
        }
        if rejected > 0 {
            let rej = std::fs::read_to_string(d.join(format!("data/rejects/tenant={t}/kind=push.ndjson"))).unwrap_or_default();
            assert_eq!(rej.lines().count(), rejected, "{t}: rejects file");
        }
    }
    // The over-long lines were truncated and counted.
    let metrics = http_get(&admin, "/metrics");
    let truncated = |t: &str| metric_value(&metrics, &format!("logfetch_records_truncated_total{{tenant=\"{t}\",stream=\"push\"}}")).unwrap_or(0.0);
    assert!(truncated("asa-tcp") >= 1.0 && truncated("asa-octet") >= 1.0, "{metrics}");

    // Flood a tiny UDP receive buffer: the kernel drops, and the metric says so.
    let flood = logfetch_mocks::cisco_syslog::generate(5, 30_000, false, base);
    let f5 = write_lines(d, "flood.log", &flood);
    run_mock(&["cisco-syslog", "--target", &addrs["asa-flood"], "--transport", "udp", "--file", &f5]);
    wait_until("the UDP drop counter", Duration::from_secs(10), || {
        metric(&admin, "logfetch_udp_kernel_drops_total{tenant=\"asa-flood\",stream=\"push\"}").is_some_and(|v| v > 0.0)
    });
    kill(&daemon.0, 15);
}
