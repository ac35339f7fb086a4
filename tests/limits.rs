//! Limits, each flooded: TCP connections beyond `max_connections` are refused and counted;
//! records over `max_message_bytes` are cut, counted and kept; a full spool (the sink is down)
//! slows the sender down instead of dropping, and everything arrives once the sink is back.

mod support;

use std::io::Write;
use std::time::Duration;

use support::*;

fn asa_push(admin: &str, name: &str) -> f64 {
    metric(admin, &format!("{name}{{tenant=\"asa\",stream=\"push\"}}")).unwrap_or(0.0)
}

#[test]
fn connection_message_and_spool_limits_hold_under_flood() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The HEC sink starts out unreachable: deliveries fail and the spool fills up.
    let hec_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let hec_token = secret_file(d, "hec", "hec-token");
    let cfg = d.join("logfetch.toml");
    let text = format!(
        r#"[service]
data_dir = "{data}"
admin_listen = "127.0.0.1:0"
spool_max_bytes = 60000

[[tenant]]
id = "asa"
vendor = "cisco"
kinds = ["flow"]
[tenant.connection]
listen = "tcp://127.0.0.1:0"
max_connections = 2
max_message_bytes = 1024

[[sink]]
name = "hec"
type = "splunk_hec"
url = "http://127.0.0.1:{hec_port}"
token = "file:{hec_token}"
flush_interval = "100ms"
"#,
        data = d.join("data").display()
    );
    std::fs::write(&cfg, &text).unwrap();
    let (daemon, admin, logs) = start_daemon(&cfg);
    let addr = listen_addrs(&logs, 1)["asa"].clone();

    // Connections: two are served, the others refused and counted.
    let held: Vec<std::net::TcpStream> = (0..6).filter_map(|_| std::net::TcpStream::connect(&addr).ok()).collect();
    wait_until("refused connections counted", Duration::from_secs(10), || asa_push(&admin, "logfetch_connections_refused_total") >= 4.0);
    drop(held);

    // Over-long records: cut at max_message_bytes and counted. The two served connections give
    // their slots back only once the daemon has read their end, so until then a new connection is
    // refused (and counted): send again until one is served.
    let base = chrono::Utc::now();
    let lines = logfetch_mocks::cisco_syslog::generate(5, 5, false, base);
    for attempt in 0.. {
        assert!(attempt < 20, "no connection was served after the held ones closed");
        let refused = asa_push(&admin, "logfetch_connections_refused_total");
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        for l in &lines {
            // A refused connection is closed under us: the write errors are expected then.
            let _ = writeln!(s, "{l} {}", "x".repeat(3000));
        }
        drop(s);
        wait_until("the connection served or refused", Duration::from_secs(10), || {
            asa_push(&admin, "logfetch_records_truncated_total") >= 5.0 || asa_push(&admin, "logfetch_connections_refused_total") > refused
        });
        if asa_push(&admin, "logfetch_records_truncated_total") >= 5.0 {
            break;
        }
    }
    assert_eq!(asa_push(&admin, "logfetch_records_truncated_total"), 5.0, "each over-long record is cut once");

    // Spool: with the sink down the spool fills to its bound and the sender is slowed down.
    let flood = logfetch_mocks::cisco_syslog::generate(6, 60000, false, base);
    let sender = {
        let addr = addr.clone();
        let flood = flood.clone();
        std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(&addr).unwrap();
            for l in &flood {
                if writeln!(s, "{l}").is_err() {
                    return false;
                }
            }
            true
        })
    };
    wait_until("back-pressure from the full spool", Duration::from_secs(30), || asa_push(&admin, "logfetch_backpressure_total") >= 1.0);
    let spooled = asa_push(&admin, "logfetch_spool_bytes");
    assert!(spooled <= 60000.0 + 70000.0, "the spool stays near its bound: {spooled}");
    // Far more than the spool and the kernel's socket buffers hold: the sender must be waiting.
    std::thread::sleep(Duration::from_millis(500));
    assert!(!sender.is_finished(), "the sender is held back, not dropped");

    // The sink comes back: everything arrives, nothing was dropped.
    let (_siem, siem_url) = start_listening(&["mock", "siem", "--hec-token", "hec-token", "--port", &hec_port.to_string()]);
    assert!(siem_url.ends_with(&hec_port.to_string()), "{siem_url}");
    assert!(sender.join().unwrap(), "the sender got everything through");
    wait_until("the spool to drain", Duration::from_secs(60), || asa_push(&admin, "logfetch_spool_bytes") == 0.0 && asa_push(&admin, "logfetch_records_received_total") >= 60005.0);
    assert_eq!(asa_push(&admin, "logfetch_records_dropped_total"), 0.0);
    kill(&daemon.0, 15);
    drop(daemon);
}

#[test]
fn oversized_http_push_bodies_are_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let token = secret_file(d, "nss", "nss-token");
    let cfg = d.join("logfetch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[service]\ndata_dir = \"{}\"\nadmin_listen = \"127.0.0.1:0\"\n\n[[tenant]]\nid = \"zia\"\nvendor = \"zscaler\"\nkinds = [\"dns\"]\n[tenant.connection]\nlisten = \"http://127.0.0.1:0/feed\"\ntoken = \"file:{token}\"\n\n[[sink]]\nname = \"files\"\ntype = \"file\"\npath = \"{}\"\n",
            d.join("data").display(),
            d.join("out").display()
        ),
    )
    .unwrap();
    let (daemon, admin, logs) = start_daemon(&cfg);
    let addr = listen_addrs(&logs, 1)["zia"].clone();
    let post = |body: &[u8], gzip: bool| -> u16 {
        use std::io::Read;
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        let enc = if gzip { "Content-Encoding: gzip\r\n" } else { "" };
        let head = format!("POST /feed HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer nss-token\r\n{enc}Content-Length: {}\r\nConnection: close\r\n\r\n", body.len());
        s.write_all(head.as_bytes()).unwrap();
        let _ = s.write_all(body);
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
    };
    // 17 MiB of records: over the 16 MiB limit.
    let line = "{\"sourcetype\":\"zscalernss-dns\",\"event\":{\"datetime\":\"Wed Jun 05 08:00:00 2024\",\"dns_req\":\"example.com\"}}\n";
    let big = line.repeat(17 * 1024 * 1024 / line.len() + 1);
    assert_eq!(post(big.as_bytes(), false), 413);
    // A small gzip body that inflates past the limit.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&vec![b' '; 20 * 1024 * 1024]).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 1024 * 1024);
    assert_eq!(post(&bomb, true), 413);
    // A normal batch still goes through.
    assert_eq!(post(line.as_bytes(), false), 200);
    let count = |name: &str| -> f64 {
        metric(&admin, &format!("{name}{{tenant=\"zia\",stream=\"push\"}}")).unwrap_or(0.0)
    };
    assert_eq!(count("logfetch_requests_oversized_total"), 2.0);
    assert_eq!(count("logfetch_records_received_total"), 1.0);
    kill(&daemon.0, 15);
    drop(daemon);
}
