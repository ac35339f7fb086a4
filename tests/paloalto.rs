//! End-to-end: `logfetch run` and `logfetch pull` against the PAN-OS XML API mock, for a
//! firewall and for a Panorama; SIGKILL between pages and restart, several times; what the sink
//! holds must be exactly what the mock served (by serial and seqno), with no duplicates.

mod support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

fn start_pan_mock(extra: &[&str]) -> (Proc, String) {
    let mut child = Command::new(bin())
        .args(["mock", "panos", "--tz", "Europe/Berlin", "--history", "40m", "--interval-ms", "1000", "--pending-polls", "2"])
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

fn config(dir: &Path, url: &str) -> std::path::PathBuf {
    let pw = secret_file(dir, "pan-password", "pan-secret");
    let p = dir.join("logfetch.toml");
    std::fs::write(
        &p,
        format!(
            r#"[service]
data_dir = "{data}"
admin_listen = "127.0.0.1:0"
incidents_dir = "{inc}"

[[tenant]]
id = "pan"
vendor = "paloalto"
kinds = ["flow", "dns"]
timezone = "Europe/Berlin"
schedule = "* * * * * *"
initial_lookback = "30m"
window = "5m"
delay = "2s"
[tenant.connection]
url = "{url}"
username = "admin"
password = "file:{pw}"
page_size = 400
poll_interval = "20ms"

[[sink]]
name = "files"
type = "file"
path = "{out}"
"#,
            data = dir.join("data").display(),
            inc = dir.join("incidents").display(),
            out = dir.join("out").display()
        ),
    )
    .unwrap();
    p
}

/// `serial:seqno:traffic|threat` of every event under `dir`, plus the event ids. With `live`
/// the daemon may still be writing: its temporary files are skipped instead of failing.
fn delivered(dir: &Path, live: bool) -> (Vec<String>, Vec<String>) {
    let (mut keys, mut ids) = (Vec::new(), Vec::new());
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if (live && name.starts_with('.')) || name == "manifest.json" {
                continue;
            }
            assert!(!name.starts_with('.'), "temporary file left: {}", p.display());
            for line in std::fs::read_to_string(&p).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                let corr = v["metadata"]["correlation_uid"].as_str().unwrap().to_string();
                ids.push(v["metadata"]["uid"].as_str().unwrap().to_string());
                keys.push(match corr.split(':').collect::<Vec<_>>().as_slice() {
                    [serial, "threat", seq] => format!("{serial}:{seq}:threat"),
                    [serial, seq] => format!("{serial}:{seq}:traffic"),
                    other => panic!("{other:?}"),
                });
            }
        }
    }
    (keys, ids)
}

fn served(mock_url: &str) -> BTreeSet<String> {
    let addr = mock_url.trim_start_matches("http://");
    let body = http_get(addr, "/mock/served");
    let start = body.find('[').unwrap();
    let end = body.rfind(']').unwrap();
    serde_json::from_str::<Vec<String>>(&body[start..=end]).unwrap().into_iter().collect()
}

/// Waits until every record in `want` is in the file sink under `out`, stops the daemon with
/// SIGTERM, checks that no event id was delivered twice, and returns the delivered record keys.
fn stop_once_delivered(daemon: Proc, out: &Path, want: &BTreeSet<String>) -> BTreeSet<String> {
    wait_until("everything served to be delivered", Duration::from_secs(60), || {
        let got: BTreeSet<String> = delivered(out, true).0.into_iter().collect();
        want.is_subset(&got)
    });
    kill(&daemon.0, 15);
    drop(daemon);
    let (keys, ids) = delivered(out, false);
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "duplicates in the sink");
    keys.into_iter().collect()
}

fn lag_ok(addr: &str) -> bool {
    let body = http_get(addr, "/api/v1/tenants");
    let (Some(s), Some(e)) = (body.find('{'), body.rfind('}')) else { return false };
    let v: serde_json::Value = serde_json::from_str(&body[s..=e]).unwrap_or_default();
    let streams = v["tenants"][0]["streams"].as_array().cloned().unwrap_or_default();
    streams.len() == 2 && streams.iter().all(|s| s["runs_ok"].as_u64().unwrap_or(0) >= 1 && s["lag_seconds"].as_i64().is_some_and(|l| l < 10))
}

fn collect_with_kills(panorama: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (_mock, url) = start_pan_mock(if panorama { &["--panorama"] } else { &[] });
    let cfg = config(dir.path(), &url);
    for round in 0..3u64 {
        let (daemon, _addr, _logs) = start_daemon(&cfg);
        std::thread::sleep(Duration::from_millis(400 + 300 * round));
        kill(&daemon.0, 9);
        drop(daemon);
    }
    let (daemon, addr, _logs) = start_daemon(&cfg);
    wait_until("both streams to catch up", Duration::from_secs(90), || lag_ok(&addr));
    // The mock keeps producing and the daemon keeps collecting: everything served up to now
    // (including pages served to runs that were killed) must reach the sink.
    let want = served(&url);
    assert!(want.len() > 1500, "{} served", want.len());
    let got = stop_once_delivered(daemon, &dir.path().join("out"), &want);
    // A run in flight at SIGTERM may have fetched newer records without delivering them (its
    // checkpoint did not move, so the next start fetches them again): those are not lost.
    let served_now = served(&url);
    let missing: Vec<_> = want.difference(&got).take(5).collect();
    let extra: Vec<_> = got.difference(&served_now).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing {missing:?}, extra {extra:?}");
    // Per serial, TRAFFIC seqnos are contiguous (the mock steps by 2): no gap anywhere.
    let serials: BTreeSet<String> = got.iter().map(|k| k.split(':').next().unwrap().to_string()).collect();
    assert_eq!(serials.len(), if panorama { 3 } else { 1 });
    for s in &serials {
        let mut seq: Vec<u64> = got.iter().filter(|k| k.starts_with(&format!("{s}:")) && k.ends_with(":traffic")).map(|k| k.split(':').nth(1).unwrap().parse().unwrap()).collect();
        seq.sort();
        assert!(seq.windows(2).all(|w| w[1] - w[0] == 2), "gap for serial {s}");
    }
}

#[test]
fn firewall_collection_survives_sigkill_without_gaps_or_duplicates() {
    collect_with_kills(false);
}

#[test]
fn panorama_collection_keeps_every_serial_without_gaps_or_duplicates() {
    collect_with_kills(true);
}

#[test]
fn pull_fetches_a_range_exactly_and_reports_progress() {
    let dir = tempfile::tempdir().unwrap();
    let (_mock, url) = start_pan_mock(&[]);
    let cfg = config(dir.path(), &url);
    let until = chrono::Utc::now() - chrono::Duration::minutes(10);
    let until = until - chrono::Duration::seconds(until.timestamp() % 60);
    let since = until - chrono::Duration::minutes(10);
    let out_dir = dir.path().join("case");
    let out = Command::new(bin())
        .args(["-v", "pull", "pan", "--kind", "flow", "--since", &since.to_rfc3339(), "--until", &until.to_rfc3339(), "--out"])
        .arg(&out_dir)
        .arg("-c")
        .arg(&cfg)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("600 events in 2 pages"), "{err}");
    assert!(err.contains("events/s"), "progress lines: {err}");
    let (keys, _) = delivered(&out_dir, false);
    let got: BTreeSet<String> = keys.into_iter().collect();
    assert_eq!(got, served(&url));
    assert_eq!(got.len(), 600);
}

/// The first stream's state from the admin API.
fn pan_stream(admin: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&http_get(admin, "/api/v1/tenants")).unwrap_or_default();
    v["tenants"][0]["streams"][0].clone()
}

fn faults_left(mock_url: &str) -> serde_json::Value {
    serde_json::from_str(&http_get(mock_url.trim_start_matches("http://"), "/mock/faults")).unwrap()
}

#[test]
fn xml_faults_and_an_expired_key_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // Every page fault hits a finished log page; `expire` invalidates the key in use, so the
    // daemon must make a new one with keygen and carry on.
    let plan = "503,truncated,expire,malformed,500,reset,html,truncated,expire,reset,malformed";
    let (_mock, url) = start_pan_mock(&["--faults", plan]);
    let cfg = config(dir.path(), &url);
    let (daemon, admin, logs) = start_daemon(&cfg);
    wait_until("every fault served and both streams caught up", Duration::from_secs(120), || faults_left(&url)["left"] == 0 && lag_ok(&admin));
    let want = served(&url);
    let got = stop_once_delivered(daemon, &dir.path().join("out"), &want);
    let log: Vec<String> = logs.try_iter().collect();
    let log = log.join("\n");
    // A truncated page read as a short last page would end the window early: the entries after
    // the cut are then never asked for. Contiguous seqnos show that did not happen.
    let mut seq: Vec<u64> = got.iter().filter(|k| k.ends_with(":traffic")).map(|k| k.split(':').nth(1).unwrap().parse().unwrap()).collect();
    seq.sort();
    assert!(seq.len() > 1500, "{} traffic records", seq.len());
    let gaps: Vec<_> = seq.windows(2).filter(|w| w[1] - w[0] != 2).take(5).collect();
    assert!(gaps.is_empty(), "gaps in the TRAFFIC seqnos: {gaps:?}");
    for what in ["truncated", "XML error", "not a PAN-OS API response", "made a new API key"] {
        assert!(log.contains(what), "the log names `{what}`");
    }
    assert!(!log.contains("LUFRPT1"), "an API key appears in the log");
    eprintln!("PAN-OS fault injection: {} faults injected, {} records served and delivered once", faults_left(&url)["injected"], want.len());
}

#[test]
fn an_expired_api_key_without_credentials_fails_clearly_and_keeps_the_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (_mock, url) = start_pan_mock(&[]);
    let cfg = config(dir.path(), &url);
    let key = secret_file(dir.path(), "pan-key", "LUFRPT1-static-test-key==");
    let text = std::fs::read_to_string(&cfg).unwrap();
    let start = text.find("username = ").unwrap();
    let end = text[start..].find("page_size").unwrap() + start;
    let text = format!("{}api_key = \"file:{}\"\n{}", &text[..start], key, &text[end..]).replace(r#"kinds = ["flow", "dns"]"#, r#"kinds = ["flow"]"#);
    std::fs::write(&cfg, text).unwrap();
    let (daemon, admin, _logs) = start_daemon(&cfg);
    wait_until("the stream to catch up", Duration::from_secs(60), || pan_stream(&admin)["lag_seconds"].as_i64().is_some_and(|l| l < 10));
    let (code, _) = http(url.trim_start_matches("http://"), "POST", "/mock/faults", None, Some("expire"));
    assert_eq!(code, 204);
    let mut error = String::new();
    wait_until("the refused key to be reported", Duration::from_secs(20), || {
        error = pan_stream(&admin)["last_error"].as_str().unwrap_or("").to_string();
        error.contains("Invalid Credential")
    });
    let before = pan_stream(&admin)["checkpoint"]["watermark"].clone();
    std::thread::sleep(Duration::from_secs(3));
    let s = pan_stream(&admin);
    assert_eq!(s["checkpoint"]["watermark"], before, "the checkpoint moved while the key was refused");
    assert!(s["runs_failed"].as_u64().unwrap_or(0) >= 2, "runs keep failing: {s}");
    assert!(error.contains("pan"), "the error names the tenant: {error}");
    assert!(!error.contains("LUFRPT1"), "the key appears in the error: {error}");
    kill(&daemon.0, 15);
}
