//! End-to-end: Zscaler NSS over TCP into `logfetch run`; a replay after a reconnect (NSS resends
//! what it buffered) is not duplicated in the sink.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use support::*;

#[test]
fn nss_tcp_feed_with_a_replay_is_not_duplicated() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = d.join("logfetch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[service]\ndata_dir = \"{}\"\nadmin_listen = \"127.0.0.1:0\"\n\n[[tenant]]\nid = \"zia\"\nvendor = \"zscaler\"\n[tenant.connection]\nlisten = \"tcp://127.0.0.1:0\"\n\n[[sink]]\nname = \"files\"\ntype = \"file\"\npath = \"{}\"\nflush_interval = \"200ms\"\n",
            d.join("data").display(),
            d.join("out").display()
        ),
    )
    .unwrap();
    let samples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/samples");
    let mut lines: Vec<String> = Vec::new();
    for f in ["zscaler_dns/elastic-integrations__test-dns.log", "zscaler_fw/elastic-integrations__test-firewall.log"] {
        lines.extend(std::fs::read_to_string(samples.join(f)).unwrap().lines().filter(|l| !l.trim().is_empty()).map(str::to_string));
    }
    // The fixtures themselves repeat one record verbatim: that too is one event.
    let distinct = lines.iter().collect::<BTreeSet<_>>().len();
    let dropped = 2 * lines.len() - distinct;
    let file = d.join("feed.log");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let (daemon, admin, logs) = start_daemon(&cfg);
    let addrs = listen_addrs(&logs, 1);
    let target = addrs["zia"].clone();
    let f = file.display().to_string();
    // The feed, then the same records again after a "reconnect".
    run_mock(&["cisco-syslog", "--target", &target, "--transport", "tcp", "--file", &f]);
    run_mock(&["cisco-syslog", "--target", &target, "--transport", "tcp", "--file", &f]);
    let out = d.join("out");
    wait_until("the replay to be processed", Duration::from_secs(30), || {
        metric(&admin, "logfetch_duplicates_dropped_total{tenant=\"zia\",stream=\"push\"}") == Some(dropped as f64)
    });
    let (ids, _, _) = read_output(&out);
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), distinct, "every distinct record once");
    assert_eq!(unique.len(), distinct);
    assert_eq!(distinct, 7);
    kill(&daemon.0, 15);
}

/// Records shaped like the Elastic DNS fixture, each a different query.
fn dns_records(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!(r#"{{"sourcetype":"zscalernss-dns","event":{{"datetime":"Mon Oct 16 22:55:{:02} 2023","user":"u{i}%40example.com","dns_req":"host{i}.example.com","dns_reqtype":"A record","dns_resp":"192.0.2.{}","clt_sip":"10.0.0.{}","srv_dip":"8.8.8.8","srv_dport":"53","reqaction":"REQ_ALLOW","resaction":"RES_ALLOW"}}}}"#, i % 60, i % 250, i % 250))
        .collect()
}

fn mock_status(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new(bin()).arg("mock").args(args).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn cloud_nss_https_gzip_batches_tokens_and_back_pressure() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    std::fs::write(d.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(d.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    let token = d.join("nss-token");
    std::fs::write(&token, "s3cr3t-nss").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let cfg = d.join("logfetch.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[service]
data_dir = "{data}"
admin_listen = "127.0.0.1:0"
spool_max_bytes = 4000

[[tenant]]
id = "zia-https"
vendor = "zscaler"
kinds = ["dns"]
[tenant.connection]
listen = "https://127.0.0.1:0/zia/dns"
tls_cert = "{cert}"
tls_key = "{key}"
token = "file:{token}"
token_header = "x-api-key"

[[tenant]]
id = "zia-http"
vendor = "zscaler"
kinds = ["dns"]
[tenant.connection]
listen = "http://127.0.0.1:0/feed"
token = "file:{token}"

[[sink]]
name = "files"
type = "file"
path = "{out}"
flush_interval = "300ms"
"#,
            data = d.join("data").display(),
            cert = d.join("cert.pem").display(),
            key = d.join("key.pem").display(),
            token = token.display(),
            out = d.join("out").display()
        ),
    )
    .unwrap();
    let (daemon, _admin, logs) = start_daemon(&cfg);
    let addrs = listen_addrs(&logs, 2);
    let https = format!("https://localhost:{}/zia/dns", addrs["zia-https"].rsplit(':').next().unwrap());
    let http = format!("http://{}/feed", addrs["zia-http"]);
    let recs = dns_records(300);
    let file = d.join("records.ndjson");
    std::fs::write(&file, recs.join("\n") + "\n").unwrap();
    let f = file.display().to_string();
    let ca = d.join("cert.pem").display().to_string();

    // HTTPS, gzip'd JSON arrays, token in x-api-key.
    let (ok, out) = mock_status(&["cloud-nss", "--url", &https, "--token", "s3cr3t-nss", "--header", "x-api-key", "--file", &f, "--ca-file", &ca, "--batch-bytes", "8000"]);
    assert!(ok, "{out}");
    // Wrong and missing tokens are refused and nothing is stored.
    let (ok, out) = mock_status(&["cloud-nss", "--url", &https, "--token", "wrong", "--header", "x-api-key", "--file", &f, "--ca-file", &ca]);
    assert!(!ok && out.contains("403"), "{out}");
    let (ok, out) = mock_status(&["cloud-nss", "--url", &http, "--token", "s3cr3t-nss", "--header", "x-other", "--file", &f]);
    assert!(!ok && out.contains("401"), "{out}");
    // HTTP, newline-separated, small spool: the receiver pushes back (503) and the sender's
    // retries get everything through.
    let (ok, out) = mock_status(&["cloud-nss", "--url", &http, "--token", "s3cr3t-nss", "--file", &f, "--ndjson", "--batch-bytes", "3000"]);
    assert!(ok, "{out}");
    assert!(out.contains("503"), "back-pressure was exercised: {out}");

    for t in ["zia-https", "zia-http"] {
        let dir_t = d.join("out").join(format!("tenant={t}"));
        wait_until(&format!("{t}: 300 events"), Duration::from_secs(30), || dir_t.exists() && read_output(&dir_t).0.len() >= 300);
        std::thread::sleep(Duration::from_millis(800));
        let (ids, _, partial) = read_output(&dir_t);
        assert!(partial.is_empty());
        assert_eq!(ids.len(), 300, "{t}: every record once");
        assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 300);
    }
    kill(&daemon.0, 15);
}

#[test]
fn nss_sender_with_quirks_and_a_replay_delivers_each_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = d.join("logfetch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[service]\ndata_dir = \"{}\"\nadmin_listen = \"127.0.0.1:0\"\n\n[[tenant]]\nid = \"nss\"\nvendor = \"zscaler\"\n[tenant.connection]\nlisten = \"tcp://127.0.0.1:0\"\n\n[[sink]]\nname = \"files\"\ntype = \"file\"\npath = \"{}\"\nflush_interval = \"200ms\"\n",
            d.join("data").display(),
            d.join("out").display()
        ),
    )
    .unwrap();
    let (daemon, _admin, logs) = start_daemon(&cfg);
    let addrs = listen_addrs(&logs, 1);
    let sent = d.join("sent.log");
    run_mock(&["nss", "--target", &addrs["nss"], "--count", "400", "--replay", "50", "--save", &sent.display().to_string()]);
    let lines: Vec<String> = std::fs::read_to_string(&sent).unwrap().lines().map(str::to_string).collect();
    let distinct = lines.iter().collect::<BTreeSet<_>>().len();
    let out = d.join("out");
    wait_until("all NSS records", Duration::from_secs(30), || out.exists() && read_output(&out).0.len() >= distinct);
    std::thread::sleep(Duration::from_millis(500));
    let (ids, _, _) = read_output(&out);
    assert_eq!(ids.len(), distinct, "each record once although 50 were replayed");
    kill(&daemon.0, 15);
}
