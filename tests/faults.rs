//! Fault injection through the `test` vendor mock: 429s, 500/503, answers slower than the
//! client's timeout, connections cut mid-body, truncated and malformed JSON, and an expired token
//! (401). Each gets its behaviour — wait and retry, or fail the run clearly with the checkpoint
//! unchanged until the vendor recovers — and in the end the sink holds every served record once.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use support::*;

fn config(d: &Path, url: &str) -> std::path::PathBuf {
    let token = secret_file(d, "token", "tok");
    let p = d.join("logfetch.toml");
    std::fs::write(
        &p,
        format!(
            r#"[service]
data_dir = "{data}"
admin_listen = "127.0.0.1:0"

[[tenant]]
id = "faulty"
vendor = "test"
kinds = ["flow"]
schedule = "* * * * * *"
initial_lookback = "5m"
window = "1m"
delay = "1s"
[tenant.connection]
url = "{url}"
token = "file:{token}"
page_size = 200
timeout = "1s"
max_retries = 2

[[sink]]
name = "files"
type = "file"
path = "{out}"
flush_interval = "100ms"
"#,
            data = d.join("data").display(),
            out = d.join("out").display()
        ),
    )
    .unwrap();
    p
}

fn stream(admin: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&http_get(admin, "/api/v1/tenants")).unwrap_or_default();
    v["tenants"][0]["streams"][0].clone()
}

fn sink_ids(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if !p.file_name().unwrap().to_string_lossy().starts_with('.') {
                for l in std::fs::read_to_string(&p).unwrap().lines() {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    out.push(v["metadata"]["correlation_uid"].as_str().unwrap_or("").to_string());
                }
            }
        }
    }
    out
}

#[test]
fn every_injected_fault_is_survived_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let plan = "429,500,503,slow:3000,reset,truncated,malformed,401,429,reset,503,truncated";
    let (_mock, url) = start_listening(&["mock", "test-api", "--token", "tok", "--interval-ms", "200", "--faults", plan]);
    let mock = url.trim_start_matches("http://").to_string();
    let cfg = config(d, &url);
    let (daemon, admin, _logs) = start_daemon(&cfg);

    // Watch the stream while the faults are served: collect the errors it reports.
    let mut errors = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = stream(&admin);
        if let Some(e) = s["last_error"].as_str() {
            errors.insert(e.to_string());
        }
        let left: serde_json::Value = serde_json::from_str(&http_get(&mock, "/mock/faults")).unwrap();
        if left["left"] == 0 && s["lag_seconds"].as_i64().is_some_and(|l| l < 10) && s["last_error"].is_null() {
            break;
        }
        assert!(Instant::now() < deadline, "not recovered: {s}, faults {left}, errors {errors:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let all = errors.iter().cloned().collect::<Vec<_>>().join(" | ");
    assert!(all.contains("401") || all.to_lowercase().contains("authentication"), "the expired token is named: {all}");

    // An expired token that stays expired: runs fail clearly and the checkpoint does not move.
    let before = stream(&admin)["checkpoint"].clone();
    let (code, _) = http(&mock, "POST", "/mock/faults", None, Some("401,401,401,401,401"));
    assert_eq!(code, 204);
    let mut auth_error = String::new();
    wait_until("the auth failures to be reported", Duration::from_secs(20), || {
        auth_error = stream(&admin)["last_error"].as_str().unwrap_or("").to_string();
        auth_error.contains("401") || auth_error.to_lowercase().contains("authentication")
    });
    let during = stream(&admin)["checkpoint"].clone();
    assert_eq!(before["watermark"], during["watermark"], "the checkpoint moved while authentication failed: {auth_error}");
    assert!(auth_error.contains("faulty"), "the error names the tenant: {auth_error}");

    // Recovered: everything served is in the sink, each record once.
    wait_until("recovery after the expired token", Duration::from_secs(60), || {
        let s = stream(&admin);
        s["last_error"].is_null() && s["lag_seconds"].as_i64().is_some_and(|l| l < 10)
    });
    let body = http_get(&mock, "/mock/served");
    let served: BTreeSet<String> = serde_json::from_str::<Vec<String>>(&body).unwrap().into_iter().collect();
    let out = d.join("out");
    wait_until("every served record delivered", Duration::from_secs(30), || {
        let got: BTreeSet<String> = sink_ids(&out).into_iter().collect();
        served.is_subset(&got)
    });
    kill(&daemon.0, 15);
    drop(daemon);
    let ids = sink_ids(&out);
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "no record delivered twice");
    let injected: serde_json::Value = serde_json::from_str(&http_get(&mock, "/mock/faults")).unwrap();
    eprintln!("fault injection: {} faults injected, {} records served and delivered once, errors seen: {}", injected["injected"], served.len(), errors.len() + 1);
    assert!(served.len() > 500, "{}", served.len());
}

#[test]
fn a_vendor_clock_behind_ours_is_measured_warned_and_named_by_tenant_test() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_mock, url) = start_listening(&["mock", "test-api", "--token", "tok", "--interval-ms", "500", "--clock-offset-secs", "-300"]);
    let cfg = config(d, &url);
    let (daemon, admin, logs) = start_daemon(&cfg);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut warned = false;
    while !warned {
        let line = logs.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("a clock-skew warning");
        warned = line.contains("the vendor's clock differs") && line.contains("delay");
    }
    let skew = metric(&admin, "logfetch_vendor_clock_skew_seconds{host=\"127.0.0.1\"}").expect("the skew gauge");
    assert!((295.0..=305.0).contains(&skew), "{skew}");
    kill(&daemon.0, 15);
    drop(daemon);
    let out = std::process::Command::new(bin()).args(["tenant", "test", "faulty", "-c"]).arg(&cfg).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL  clock") && text.contains("+30"), "{text}");
}
