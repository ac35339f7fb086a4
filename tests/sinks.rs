//! End-to-end: `logfetch run` into Splunk HEC (with indexer acks, gzip, a receiver busy at first)
//! and Elasticsearch `_bulk` (throttled items, mapping errors to the dead-letter file, `_id`
//! de-duplicating a forced replay).

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::*;

fn stats(siem: &str) -> serde_json::Value {
    let body = http_get(siem.trim_start_matches("http://"), "/mock/stats");
    serde_json::from_str(&body[body.find('{').unwrap()..=body.rfind('}').unwrap()]).unwrap()
}

#[test]
fn hec_and_bulk_receive_everything_through_failures_and_replays_do_not_duplicate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_src, src_url) = start_listening(&["mock", "test-api", "--token", "t", "--interval-ms", "2000"]);
    let (_siem, siem) = start_listening(&["mock", "siem", "--hec-token", "hec-s3cret", "--hec-busy-first", "3", "--bulk-throttle-first", "5", "--reject-containing", "mail.example.org"]);
    let cfg = d.join("logfetch.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[service]
data_dir = "{data}"
admin_listen = "127.0.0.1:0"

[[tenant]]
id = "e2e"
vendor = "test"
schedule = "*/2 * * * * *"
initial_lookback = "30m"
[tenant.connection]
url = "{src_url}"
token = "file:{tok}"

[[sink]]
name = "splunk"
type = "splunk_hec"
url = "{siem}"
token = "file:{hec}"
ack = true
gzip = true

[[sink]]
name = "elastic"
type = "elasticsearch"
url = "{siem}"
format = "ecs"
dead_letter = "{dl}"
"#,
            data = d.join("data").display(),
            tok = secret_file(d, "tok", "t"),
            hec = secret_file(d, "hec", "hec-s3cret"),
            dl = d.join("dead.ndjson").display(),
        ),
    )
    .unwrap();
    let run = |cfg: &Path| {
        let (daemon, addr, _logs) = start_daemon(cfg);
        wait_until("both streams to run", Duration::from_secs(60), || {
            let b = http_get(&addr, "/api/v1/tenants");
            let v: serde_json::Value = serde_json::from_str(&b[b.find('{').unwrap_or(0)..=b.rfind('}').unwrap_or(0)]).unwrap_or_default();
            v["tenants"][0]["streams"].as_array().is_some_and(|s| s.len() == 2 && s.iter().all(|s| s["runs_ok"].as_u64().unwrap_or(0) >= 1 && s["lag_seconds"].as_i64().is_some_and(|l| l < 8)))
        });
        kill(&daemon.0, 15);
        let mut daemon = daemon;
        let _ = daemon.0.wait();
    };
    run(&cfg);
    let s = stats(&siem);
    let hec: Vec<String> = s["hec_event_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    let hec_set: BTreeSet<&String> = hec.iter().collect();
    assert_eq!(hec.len(), hec_set.len(), "HEC: the busy answers were retried without duplicates");
    assert!(hec.len() >= 1790, "about 900 flow + 900 dns records: {}", hec.len());
    let docs: BTreeSet<String> = s["doc_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    let dead: Vec<serde_json::Value> = std::fs::read_to_string(d.join("dead.ndjson")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!dead.is_empty());
    assert!(dead.iter().all(|x| x["reason"].as_str().unwrap().contains("mapper_parsing_exception") || x["reason"].as_str().unwrap().contains("failed to parse")), "{:?}", dead[0]);
    let dead_ids: BTreeSet<String> = dead.iter().map(|x| x["document"]["event"]["id"].as_str().unwrap().to_string()).collect();
    // Every event is either indexed or dead-lettered with its reason; none lost.
    let all: BTreeSet<String> = docs.union(&dead_ids).cloned().collect();
    assert_eq!(all.len(), hec_set.len(), "Elasticsearch + dead letter = everything HEC got");
    assert!(docs.is_disjoint(&dead_ids));

    // Forced replay: rewind the flow stream and run again; `_id` keeps Elasticsearch clean.
    let out = Command::new(bin()).args(["checkpoint", "reset", "e2e", "flow", "--yes", "-c"]).arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    run(&cfg);
    let s2 = stats(&siem);
    assert!(s2["conflicts"].as_u64().unwrap() >= 850, "the replayed flow documents were refused as duplicates: {}", s2["conflicts"]);
    let docs2: Vec<String> = s2["doc_ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert!(docs2.len() >= docs.len() && docs2.len() < docs.len() + 100, "only records newer than the first run were added: {} -> {}", docs.len(), docs2.len());
}
