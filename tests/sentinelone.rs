//! End-to-end: `logfetch run` pulling SentinelOne DNS and IP telemetry through the Long Running
//! Query mock, with 429s, window splitting at the row limit and SIGKILL rounds: the sink holds
//! exactly what the mock served, no duplicates.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use support::*;

/// Event ids the mock served (`/mock/served`).
fn served(mock_addr: &str) -> BTreeSet<String> {
    let b = http_get(mock_addr, "/mock/served");
    serde_json::from_str::<Vec<String>>(&b[b.find('[').unwrap()..=b.rfind(']').unwrap()]).unwrap().into_iter().collect()
}

/// What the sink under `out` holds, by the vendor's event id (`live`: the daemon may be writing,
/// so its temporary files are skipped).
fn delivered(out: &Path, live: bool) -> Vec<String> {
    let mut got = Vec::new();
    let mut stack = vec![out.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else if live && e.file_name().to_string_lossy().starts_with('.') {
                continue;
            } else {
                for l in std::fs::read_to_string(e.path()).unwrap().lines() {
                    let v: serde_json::Value = serde_json::from_str(l).unwrap();
                    got.push(v["metadata"]["correlation_uid"].as_str().unwrap().to_string());
                }
            }
        }
    }
    got
}

/// Both streams of the only tenant ran and lag less than `max_lag` seconds.
fn caught_up(admin: &str, max_lag: i64) -> bool {
    let b = http_get(admin, "/api/v1/tenants");
    let v: serde_json::Value = serde_json::from_str(&b[b.find('{').unwrap_or(0)..=b.rfind('}').unwrap_or(0)]).unwrap_or_default();
    v["tenants"][0]["streams"].as_array().is_some_and(|s| s.len() == 2 && s.iter().all(|s| s["runs_ok"].as_u64().unwrap_or(0) >= 1 && s["lag_seconds"].as_i64().is_some_and(|l| l < max_lag)))
}

#[test]
fn lrq_collection_with_splits_429s_and_kills_has_no_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // 2 agents x 1 event/s per kind; windows of 10 min hold 1 200 rows; a 700-row limit forces one split per window.
    let (_mock, url) = start_listening(&["mock", "s1", "--interval-ms", "1000", "--max-rows", "700", "--rate-limit-first", "2", "--fail-queries", "FAILED,QUERY_EXPIRED,QUERY_CANCEL"]);
    let tok = secret_file(d, "tok", "s1-token");
    let cfg = d.join("logfetch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[service]\ndata_dir = \"{}\"\nadmin_listen = \"127.0.0.1:0\"\n\n[[tenant]]\nid = \"s1\"\nvendor = \"sentinelone\"\nschedule = \"* * * * * *\"\ninitial_lookback = \"30m\"\nwindow = \"10m\"\noverlap = \"10s\"\n[tenant.connection]\nurl = \"{url}\"\ntoken = \"file:{}\"\npage_size = 700\npoll_interval = \"20ms\"\n\n[[sink]]\nname = \"files\"\ntype = \"file\"\npath = \"{}\"\n",
            d.join("data").display(),
            tok,
            d.join("out").display()
        ),
    )
    .unwrap();
    for round in 0..3u64 {
        let (daemon, _a, _l) = start_daemon(&cfg);
        std::thread::sleep(Duration::from_millis(500 + 400 * round));
        kill(&daemon.0, 9);
        drop(daemon);
    }
    let (daemon, addr, _logs) = start_daemon(&cfg);
    wait_until("both streams to catch up", Duration::from_secs(120), || caught_up(&addr, 8));
    let served = || served(url.trim_start_matches("http://"));
    let out = d.join("out");
    let delivered = |live: bool| delivered(&out, live);
    // Everything served so far, including to killed runs, must reach the sink.
    let want = served();
    wait_until("everything served to be delivered", Duration::from_secs(60), || want.is_subset(&delivered(true).into_iter().collect()));
    kill(&daemon.0, 15);
    drop(daemon);
    let got = delivered(false);
    let set: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(set.len(), got.len(), "no duplicates in the sink");
    assert!(set.len() > 6000, "30 minutes of 2 agents x 2 kinds: {}", set.len());
    // A run in flight at SIGTERM may have fetched newer rows without delivering them (its
    // checkpoint did not move): those are fetched again next time, not lost. Nothing else may differ.
    let served_now = served();
    assert!(want.is_subset(&set) && set.is_subset(&served_now), "the sink holds exactly what was served (truncated answers were split, not kept)");
    // The agents sync ran alongside and stored its incremental cursor as a checkpoint.
    let out = std::process::Command::new(bin()).args(["checkpoint", "show", "s1", "agents", "-c"]).arg(&cfg).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("2026-01-28T00:00:00.000000Z"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// Every `(category, t, agent)` event id the S1 mock holds in `[from_ms, to_ms)` (1 s interval, 2 agents).
fn expected_ids(cat: &str, from_ms: i64, to_ms: i64) -> BTreeSet<String> {
    let first = (from_ms + 999).div_euclid(1000) * 1000;
    (0..).map(|i| first + i * 1000).take_while(|t| *t < to_ms).flat_map(|t| (0..2).map(move |a| format!("{cat}-{t}-{a}"))).collect()
}

#[test]
fn deep_visibility_collection_with_failures_kills_late_events_and_sunset_has_no_gap_or_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Events show up to 4 s late; the first query fails and the second expires; a 429 storm
    // opens (half the answers without Retry-After) on top of the mock's own DV limits.
    let (mock, url) = start_listening(&["mock", "s1", "--interval-ms", "1000", "--ingest-lag-ms", "4000", "--dv-init-interval-ms", "300", "--fail-queries", "FAILED,QUERY_EXPIRED", "--rate-limit-first", "4"]);
    let mock_addr = url.trim_start_matches("http://").to_string();
    let tok = secret_file(d, "tok", "s1-token");
    let cfg = d.join("logfetch.toml");
    // A 10-minute window holds 1 200 events: the 1 100-event query limit truncates it (two
    // cursor pages) and the window is split in halves.
    std::fs::write(
        &cfg,
        format!(
            "[service]\ndata_dir = \"{}\"\nadmin_listen = \"127.0.0.1:0\"\n\n[[tenant]]\nid = \"s1dv\"\nvendor = \"sentinelone\"\nschedule = \"* * * * * *\"\ninitial_lookback = \"10m\"\nwindow = \"10m\"\ndelay = \"1s\"\noverlap = \"10s\"\n[tenant.connection]\nurl = \"{url}\"\ntoken = \"file:{}\"\napi = \"dv\"\nquery_launch_interval = \"300ms\"\npage_size = 1100\npoll_interval = \"20ms\"\n\n[[sink]]\nname = \"files\"\ntype = \"file\"\npath = \"{}\"\n",
            d.join("data").display(),
            tok,
            d.join("out").display()
        ),
    )
    .unwrap();
    for round in 0..3u64 {
        let (daemon, _a, _l) = start_daemon(&cfg);
        std::thread::sleep(Duration::from_millis(2500 + 1500 * round));
        kill(&daemon.0, 9);
        drop(daemon);
    }
    let (daemon, addr, logs) = start_daemon(&cfg);
    wait_until("both DV streams to catch up", Duration::from_secs(120), || caught_up(&addr, 15));
    let stats = http_get(&mock_addr, "/mock/stats");
    assert!(stats.contains("\"failed_on_purpose\":2") && stats.contains("\"planned_failures_left\":0"), "{stats}");
    // The console retires DV: the daemon goes on through LRQ by itself.
    http(&mock_addr, "POST", "/mock/sunset", None, None);
    std::thread::sleep(Duration::from_secs(3));
    // Freeze the data: from here on the test knows exactly what exists.
    let (_, body) = http(&mock_addr, "POST", "/mock/freeze", None, None);
    let frozen: i64 = serde_json::from_str::<serde_json::Value>(&body[body.find('{').unwrap()..=body.rfind('}').unwrap()]).unwrap()["frozen_at_ms"].as_i64().unwrap();
    let out = d.join("out");
    let delivered = |live: bool| delivered(&out, live);
    let first_ms = |ids: &[String], cat: &str| ids.iter().filter_map(|i| i.strip_prefix(&format!("{cat}-"))).filter_map(|r| r.split('-').next()?.parse::<i64>().ok()).min().unwrap();
    let got = delivered(true);
    let want: BTreeSet<String> = ["dns", "ip"].iter().flat_map(|c| expected_ids(c, first_ms(&got, c), frozen)).collect();
    wait_until("every event before the freeze to be delivered", Duration::from_secs(60), || want.is_subset(&delivered(true).into_iter().collect()));
    kill(&daemon.0, 15);
    drop(daemon);
    let got = delivered(false);
    let set: BTreeSet<String> = got.iter().cloned().collect();
    assert_eq!(set.len(), got.len(), "no duplicates in the sink");
    assert!(want.len() >= 2 * 2 * 600, "{}", want.len());
    assert_eq!(set, want, "exactly every event up to the freeze, late ones included");
    let served = served(&mock_addr);
    assert!(served.is_subset(&set), "everything served was delivered");
    let logs: Vec<String> = logs.try_iter().collect();
    let sunset_lines = logs.iter().filter(|l| l.contains("Deep Visibility is gone")).count();
    assert_eq!(sunset_lines, 1, "the fallback is announced once");
    let stats = http_get(&mock_addr, "/mock/stats");
    let too_many = serde_json::from_str::<serde_json::Value>(&stats[stats.find('{').unwrap()..=stats.rfind('}').unwrap()]).unwrap()["too_many_requests"].as_u64().unwrap();
    assert!(too_many >= 4, "{stats}");
    drop(mock);
}
