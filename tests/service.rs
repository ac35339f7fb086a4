//! End-to-end: the real binary as a daemon (`logfetch run`) and as an ad-hoc puller
//! (`logfetch pull`) against `logfetch mock test-api`, all on 127.0.0.1 ports chosen by the OS.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

/// Starts the mock; returns it and its base URL.
fn start_mock(interval_ms: u32, extra: &[&str]) -> (Proc, String) {
    let mut child = Command::new(bin())
        .args(["mock", "test-api", "--token", "e2e-token", "--interval-ms", &interval_ms.to_string()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").expect("mock address").to_string();
    (Proc(child), url)
}

fn write_config(dir: &Path, mock_url: &str, schedule: &str, window: &str, page_size: u32, kinds: &str) -> PathBuf {
    let token = secret_file(dir, "token", "e2e-token");
    let p = dir.join("logfetch.toml");
    std::fs::write(
        &p,
        format!(
            r#"[service]
data_dir = "{data}"
admin_listen = "127.0.0.1:0"
incidents_dir = "{inc}"
shutdown_timeout = "10s"

[[tenant]]
id = "e2e"
vendor = "test"
kinds = {kinds}
schedule = "{schedule}"
initial_lookback = "1h"
window = "{window}"
[tenant.connection]
url = "{mock_url}"
token = "file:{token}"
page_size = {page_size}

[[sink]]
name = "files"
type = "file"
path = "{out}"
batch_max_events = 100
"#,
            data = dir.join("data").display(),
            inc = dir.join("incidents").display(),
            token = token,
            out = dir.join("out").display(),
        ),
    )
    .unwrap();
    p
}

fn tenants(addr: &str) -> serde_json::Value {
    let body = http_get(addr, "/api/v1/tenants");
    // Chunked or not, the JSON object is the part between the outer braces.
    let start = body.find('{').unwrap_or(0);
    let end = body.rfind('}').map_or(body.len(), |i| i + 1);
    serde_json::from_str(&body[start..end]).unwrap_or(serde_json::Value::Null)
}

fn stream_field(addr: &str, kind: &str, field: &str) -> serde_json::Value {
    let v = tenants(addr);
    v["tenants"][0]["streams"].as_array().and_then(|a| a.iter().find(|s| s["kind"] == kind)).map(|s| s[field].clone()).unwrap_or_default()
}

#[test]
fn daemon_collects_reports_status_and_metrics_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (_mock, url) = start_mock(2000, &["--rate-limit-first", "1", "--retry-after", "1"]);
    let cfg = write_config(dir.path(), &url, "*/2 * * * * *", "30m", 500, "[\"flow\", \"dns\"]");
    let (daemon, addr, logs) = start_daemon(&cfg);
    wait_until_logged("both streams to complete a run", Duration::from_secs(60), Some(&logs), || {
        stream_field(&addr, "flow", "runs_ok").as_u64().unwrap_or(0) >= 1 && stream_field(&addr, "dns", "runs_ok").as_u64().unwrap_or(0) >= 1
    });
    // One record per kind every 2 s for the initial hour: about 1800 each.
    let events = stream_field(&addr, "flow", "events_emitted").as_u64().unwrap();
    assert!((1795..=1900).contains(&events), "{events}");
    assert!(stream_field(&addr, "flow", "lag_seconds").as_i64().unwrap() < 10);
    assert!(stream_field(&addr, "flow", "next_run").is_string());

    let metrics = http_get(&addr, "/metrics");
    assert!(metrics.contains("logfetch_events_emitted_total{tenant=\"e2e\",stream=\"flow\"}"), "{metrics}");
    assert!(metrics.contains("logfetch_sink_batches_total{sink=\"files\"}"), "{metrics}");
    assert!(metrics.contains("logfetch_checkpoint_lag_seconds{tenant=\"e2e\",stream=\"dns\"}"), "{metrics}");
    assert!(http_get(&addr, "/healthz").contains("ok"));

    let status = Command::new(bin()).args(["status", "--admin", &format!("http://{addr}"), "-c"]).arg(&cfg).output().unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "{text} {}", String::from_utf8_lossy(&status.stderr));
    assert!(text.lines().any(|l| l.starts_with("e2e") && l.contains("flow")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("files") && l.contains("File") && l.contains(" ok ")), "a health line per sink: {text}");

    // While the daemon holds the store, `checkpoint` goes through its admin API.
    let admin_cfg = dir.path().join("admin.toml");
    std::fs::write(&admin_cfg, std::fs::read_to_string(&cfg).unwrap().replace("127.0.0.1:0", &addr)).unwrap();
    let cp = Command::new(bin()).args(["checkpoint", "list", "-c"]).arg(&admin_cfg).output().unwrap();
    let (out, err) = (String::from_utf8_lossy(&cp.stdout), String::from_utf8_lossy(&cp.stderr));
    assert!(cp.status.success(), "{err}");
    assert!(err.contains("going through its admin API"), "{err}");
    assert!(out.lines().any(|l| l.starts_with("e2e") && l.contains("flow") && l.contains("watermark")), "{out}");
    // Without a reachable admin API it says both things.
    let cp = Command::new(bin()).args(["checkpoint", "list", "-c"]).arg(&cfg).output().unwrap();
    let err = String::from_utf8_lossy(&cp.stderr);
    assert!(!cp.status.success() && err.contains("locked by another process") && err.contains("admin API did not answer"), "{err}");

    kill(&daemon.0, 15);
    let mut daemon = daemon;
    let deadline = Instant::now() + Duration::from_secs(15);
    let code = loop {
        if let Some(s) = daemon.0.try_wait().unwrap() {
            break s.code();
        }
        assert!(Instant::now() < deadline, "daemon did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(code, Some(0));
    let (ids, _, partial) = read_output(&dir.path().join("out"));
    assert!(partial.is_empty(), "{partial:?}");
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), ids.len(), "no duplicates");
}

#[test]
fn sigkill_during_delivery_leaves_no_partial_file_and_no_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let (_mock, url) = start_mock(500, &[]);
    // 7200 flow records in the first hour, pages of 200, windows of 10 minutes.
    let cfg = write_config(dir.path(), &url, "* * * * * *", "10m", 200, "[\"flow\"]");
    let out = dir.path().join("out");
    for round in 0..4u64 {
        let (daemon, _addr, _logs) = start_daemon(&cfg);
        std::thread::sleep(Duration::from_millis(300 + 250 * round));
        kill(&daemon.0, 9);
        drop(daemon);
    }
    let (daemon, addr, _logs) = start_daemon(&cfg);
    wait_until("the stream to catch up", Duration::from_secs(60), || {
        stream_field(&addr, "flow", "runs_ok").as_u64().unwrap_or(0) >= 1 && stream_field(&addr, "flow", "lag_seconds").as_i64().is_some_and(|l| l < 5)
    });
    kill(&daemon.0, 15);
    drop(daemon);
    let (ids, mut times, partial) = read_output(&out);
    assert!(partial.is_empty(), "partial or temporary files left: {partial:?}");
    assert!(ids.len() >= 7000, "{}", ids.len());
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "a replayed batch replaced itself; no duplicates");
    times.sort();
    for w in times.windows(2) {
        assert_eq!(w[1] - w[0], 500, "gap or duplicate around {}", w[0]);
    }
}

#[test]
fn pull_writes_exactly_the_requested_range_to_an_incident_dir() {
    let dir = tempfile::tempdir().unwrap();
    let (_mock, url) = start_mock(1000, &[]);
    let cfg = write_config(dir.path(), &url, "0 0 1 1 *", "1h", 100, "[\"flow\", \"dns\"]");
    let until = chrono::Utc::now() - chrono::Duration::hours(2);
    let until = until - chrono::Duration::seconds(until.timestamp() % 60);
    let since = until - chrono::Duration::minutes(10);
    let out_dir = dir.path().join("case-42");
    let out = Command::new(bin())
        .args(["pull", "e2e", "--kind", "dns", "--since", &since.to_rfc3339(), "--until", &until.to_rfc3339(), "--format", "ecs", "--out"])
        .arg(&out_dir)
        .arg("-c")
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("600 events in 6 pages"), "{err}");
    let mut n = 0;
    let mut files = vec![out_dir.clone()];
    while let Some(d) = files.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                files.push(e.path());
            } else if e.file_name() == "manifest.json" {
                continue;
            } else {
                for line in std::fs::read_to_string(e.path()).unwrap().lines() {
                    let v: serde_json::Value = serde_json::from_str(line).unwrap();
                    assert!(v["dns"]["question"]["name"].is_string());
                    n += 1;
                }
            }
        }
    }
    assert_eq!(n, 600);
    // The evidence manifest accounts for every event and verifies.
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out_dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!((m["events"].as_u64(), m["completed"].as_bool()), (Some(600), Some(true)));
    let v = Command::new(bin()).args(["evidence", "verify"]).arg(&out_dir).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    // The scheduled checkpoint was not touched (the store was never even created).
    assert!(!dir.path().join("data/state").exists());
}

#[test]
fn admin_api_token_run_now_pull_jobs_skipped_ticks_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    // A slow vendor: every answer takes 1.5 s, so per-second ticks overlap a running run.
    let (_mock, url) = start_mock(2000, &["--delay-ms", "1500"]);
    let cfg = write_config(dir.path(), &url, "* * * * * *", "1h", 5000, "[\"flow\"]");
    let admin_token = secret_file(dir.path(), "admin-token", "adm1n");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("shutdown_timeout", &format!("admin_token = \"file:{admin_token}\"\nshutdown_timeout"));
    std::fs::write(&cfg, &text).unwrap();
    let (daemon, addr, _logs) = start_daemon(&cfg);

    assert_eq!(http(&addr, "GET", "/api/v1/tenants", None, None).0, 401);
    assert_eq!(http(&addr, "GET", "/api/v1/tenants", Some("wrong"), None).0, 401);
    assert_eq!(http(&addr, "GET", "/healthz", None, None).0, 200);
    let get = |field: &str| {
        let (code, body) = http(&addr, "GET", "/api/v1/tenants", Some("adm1n"), None);
        assert_eq!(code, 200);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["tenants"][0]["streams"][0][field].clone()
    };
    wait_until("a skipped tick", Duration::from_secs(30), || get("ticks_skipped").as_u64().unwrap_or(0) >= 1);
    // `status` uses the token from the config.
    let st = Command::new(bin()).args(["status", "--admin", &format!("http://{addr}"), "-c"]).arg(&cfg).output().unwrap();
    assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));

    // Run now: accepted, or 409 while a run is going; unknown streams are 404.
    let (code, _) = http(&addr, "POST", "/api/v1/tenants/e2e/streams/flow/run", Some("adm1n"), None);
    assert!(code == 202 || code == 409, "{code}");
    assert_eq!(http(&addr, "POST", "/api/v1/tenants/e2e/streams/dns/run", Some("adm1n"), None).0, 404);

    // An on-demand pull through the API.
    let until = chrono::Utc::now() - chrono::Duration::hours(3);
    let until = until - chrono::Duration::seconds(until.timestamp() % 60);
    let since = until - chrono::Duration::minutes(30);
    let req = format!(r#"{{"kind":"flow","since":"{}","until":"{}"}}"#, since.to_rfc3339(), until.to_rfc3339());
    let (code, body) = http(&addr, "POST", "/api/v1/tenants/e2e/pulls", Some("adm1n"), Some(&req));
    assert_eq!(code, 202, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"].as_str().unwrap().to_string();
    let mut job = serde_json::Value::Null;
    wait_until("the pull job", Duration::from_secs(30), || {
        let (_, b) = http(&addr, "GET", &format!("/api/v1/pulls/{id}"), Some("adm1n"), None);
        job = serde_json::from_str(&b).unwrap_or_default();
        job["state"] != "running"
    });
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["events"], 900, "{job}");

    // Reload with a second kind: SIGHUP starts the new stream.
    std::fs::write(&cfg, text.replace("kinds = [\"flow\"]", "kinds = [\"flow\", \"dns\"]")).unwrap();
    kill(&daemon.0, 1);
    wait_until("the dns stream after reload", Duration::from_secs(30), || {
        let (_, body) = http(&addr, "GET", "/api/v1/tenants", Some("adm1n"), None);
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        v["tenants"][0]["streams"].as_array().is_some_and(|a| a.iter().any(|s| s["kind"] == "dns" && s["runs_ok"].as_u64().unwrap_or(0) >= 1))
    });
}

#[test]
fn push_tenant_spools_then_delivers_every_record_even_across_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("logfetch.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[service]
data_dir = "{data}"
admin_listen = "127.0.0.1:0"

[[tenant]]
id = "pushy"
vendor = "test"
[tenant.connection]
listen = "127.0.0.1:0"
max_message_bytes = 2048

[[sink]]
name = "files"
type = "file"
path = "{out}"
batch_max_events = 250
flush_interval = "500ms"
"#,
            data = dir.path().join("data").display(),
            out = dir.path().join("out").display()
        ),
    )
    .unwrap();
    let start = |cfg: &Path| {
        let (d, addr, logs) = start_daemon(cfg);
        let deadline = Instant::now() + Duration::from_secs(20);
        let listen = loop {
            let line = logs.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("no push listener line");
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                if let Some(l) = v["fields"]["listen"].as_str() {
                    break l.to_string();
                }
            }
        };
        (d, addr, listen, logs)
    };
    let (daemon, _addr, listen, _logs) = start(&cfg);
    let base = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut payload = String::new();
    for i in 0..1000 {
        let t = (base + chrono::Duration::milliseconds(i)).to_rfc3339();
        payload.push_str(&format!(r#"{{"type":"flow","id":"p{i}","time":"{t}","dst_ip":"192.0.2.1"}}"#));
        payload.push('\n');
        payload.push_str(&format!(r#"{{"type":"dns","id":"q{i}","time":"{t}","query":"h{i}.example.com"}}"#));
        payload.push('\n');
    }
    payload.push_str("not a record\n");
    payload.push_str(&format!("{}\n", "x".repeat(5000)));
    {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(&listen).unwrap();
        s.write_all(payload.as_bytes()).unwrap();
    }
    // Kill it as soon as it has (some of) the data; what was acknowledged is in the spool.
    std::thread::sleep(Duration::from_millis(300));
    kill(&daemon.0, 9);
    drop(daemon);
    let (daemon, addr, _listen, _logs) = start(&cfg);
    let out = dir.path().join("out");
    wait_until("all pushed events in the sink", Duration::from_secs(60), || {
        let (ids, _, _) = read_output(&out);
        ids.iter().collect::<BTreeSet<_>>().len() >= 2000
    });
    let (ids, _, partial) = read_output(&out);
    assert!(partial.is_empty(), "{partial:?}");
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 2000, "every record, each at least once");
    // Delivered records leave the spool once acknowledged.
    wait_until("an empty spool", Duration::from_secs(20), || http_get(&addr, "/metrics").contains("logfetch_spool_bytes{tenant=\"pushy\",stream=\"push\"} 0\n"));
    let rejects = std::fs::read_to_string(dir.path().join("data/rejects/tenant=pushy/kind=push.ndjson")).unwrap();
    assert!(rejects.contains("not a record"), "{rejects}");
    assert!(rejects.lines().count() >= 2, "the malformed and the truncated over-long line: {rejects}");
    kill(&daemon.0, 15);
}
