//! End-to-end enrichment: the daemon pulling from the `test` vendor mock with
//! `enrich = ["geo", "asn", "threat_intel", "user"]` (CIDR and subdomain indicators, a STIX
//! feed, a users file), then `logfetch enrich` offline with GeoIP/ASN databases swapped between
//! two runs, and `logfetch ti lookup`.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use logfetch_scheduler::enrich::mmdb_writer::{MmdbWriter, asn_record, city_record};
use support::*;

fn write_city(path: &Path, iso: &str, country: &str, city: &str) {
    let mut w = MmdbWriter::new("GeoLite2-City");
    w.insert("8.8.8.0".parse().unwrap(), 24, &city_record(iso, country, "North America", city, 37.4, -122.1));
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, w.finish()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

fn setup(d: &Path, mock_url: &str) -> std::path::PathBuf {
    write_city(&d.join("city.mmdb"), "US", "United States", "Mountain View");
    let mut w = MmdbWriter::new("GeoLite2-ASN");
    w.insert("8.8.8.0".parse().unwrap(), 24, &asn_record(15169, "GOOGLE"));
    std::fs::write(d.join("asn.mmdb"), w.finish()).unwrap();
    std::fs::write(d.join("blocklist.txt"), "# test feed\n198.51.100.0/25\nexample.org\n").unwrap();
    std::fs::write(
        d.join("stix.json"),
        r#"{"type":"bundle","id":"bundle--1","objects":[{"type":"indicator","id":"indicator--1","name":"phishing kit","pattern":"[domain-name:value = 'login.example.org']","pattern_type":"stix","valid_until":"2099-01-01T00:00:00Z","confidence":90}]}"#,
    )
    .unwrap();
    std::fs::write(d.join("users.csv"), "network,user,department,valid_from,valid_to\n10.0.0.0/22,alice,Finance,,\n").unwrap();
    let tok = secret_file(d, "token", "e2e-token");
    let cfg = d.join("logfetch.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[service]
data_dir = "{data}"
admin_listen = "127.0.0.1:0"

[enrichment]
geoip = "{d}/city.mmdb"
asn = "{d}/asn.mmdb"
users_file = "{d}/users.csv"
watch_interval = "200ms"

[[enrichment.feed]]
name = "blocklist"
path = "{d}/blocklist.txt"
subdomains = true
confidence = 60

[[enrichment.feed]]
name = "stix-intel"
path = "{d}/stix.json"
format = "stix"

[[tenant]]
id = "t1"
vendor = "test"
schedule = "* * * * * *"
initial_lookback = "10m"
window = "10m"
enrich = ["geo", "asn", "threat_intel", "user"]
[tenant.connection]
url = "{mock_url}"
token = "file:{tok}"
page_size = 500

[[sink]]
name = "files"
type = "file"
path = "{out}"
"#,
            data = d.join("data").display(),
            d = d.display(),
            out = d.join("out").display(),
        ),
    )
    .unwrap();
    cfg
}

fn events(dir: &Path) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else if !e.file_name().to_string_lossy().starts_with('.') {
                out.extend(std::fs::read_to_string(e.path()).unwrap().lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()));
            }
        }
    }
    out
}

#[test]
fn the_daemon_enriches_with_threat_intel_and_users_and_offline_enrich_follows_a_swapped_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_mock, url) = start_listening(&["mock", "test-api", "--token", "e2e-token", "--interval-ms", "500"]);
    let cfg = setup(d, &url);
    let (daemon, addr, _logs) = start_daemon(&cfg);
    wait_until("flow and DNS events", Duration::from_secs(60), || {
        let ev = events(&d.join("out"));
        ev.iter().any(|e| e["class_uid"] == 4001) && ev.iter().any(|e| e["class_uid"] == 4003)
    });
    let metrics = http_get(&addr, "/metrics");
    kill(&daemon.0, 15);
    drop(daemon);
    let ev = events(&d.join("out"));
    // Flows to 198.51.100.0-127 match the CIDR; 128-255 do not.
    let mut cidr_hits = 0;
    for e in ev.iter().filter(|e| e["class_uid"] == 4001) {
        let last: u8 = e["dst_endpoint"]["ip"].as_str().unwrap().rsplit('.').next().unwrap().parse().unwrap();
        let enr = e["enrichments"].as_array();
        if last < 128 {
            let m = &enr.unwrap_or_else(|| panic!("no enrichment: {e}"))[0];
            assert_eq!((m["name"].as_str(), m["provider"].as_str(), m["data"]["matched_by"].as_str(), m["data"]["confidence"].as_u64()), (Some("dst_endpoint.ip"), Some("blocklist"), Some("cidr"), Some(60)));
            cidr_hits += 1;
        } else {
            assert!(enr.is_none(), "{e}");
        }
        // The users file: 10.0.0.0/22 is alice in Finance; other clients have no owner.
        let third: u8 = e["src_endpoint"]["ip"].as_str().unwrap().split('.').nth(2).unwrap().parse().unwrap();
        assert_eq!(e["src_endpoint"]["owner"]["name"].as_str(), Some("alice").filter(|_| third < 4), "{e}");
        assert_eq!(e["src_endpoint"]["owner"]["org"]["ou_name"], "Finance");
    }
    assert!(cidr_hits > 0);
    // DNS: `example.org` covers its subdomains; the STIX feed names login.example.org exactly.
    for e in ev.iter().filter(|e| e["class_uid"] == 4003) {
        let q = e["query"]["hostname"].as_str().unwrap();
        let feeds: Vec<&str> = e["enrichments"].as_array().map(|a| a.iter().filter(|m| m["name"] == "query.hostname").map(|m| m["provider"].as_str().unwrap()).collect()).unwrap_or_default();
        let want: &[&str] = match q {
            "login.example.org" => &["blocklist", "stix-intel"],
            "mail.example.org" => &["blocklist"],
            _ => &[],
        };
        let mut feeds = feeds;
        feeds.sort();
        assert_eq!(feeds, want, "{q}");
    }
    assert!(metrics.contains("logfetch_enrich_ti_matches_total") && metrics.contains("logfetch_enrich_indicators 3"), "{metrics}");
    // Every enriched event is still valid OCSF.
    let files: Vec<_> = walk(&d.join("out"));
    let v = Command::new(bin()).arg("validate").args(&files).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));

    // Offline: GeoIP/ASN on a public address; then the database is replaced and the next run follows it.
    let input = d.join("in.ndjson");
    std::fs::write(&input, r#"{"class_uid":4001,"time":1767225600000,"src_endpoint":{"ip":"10.0.1.5"},"dst_endpoint":{"ip":"8.8.8.8","port":53}}"#.to_string() + "\n").unwrap();
    let run = || {
        let o = Command::new(bin()).args(["enrich", "-c"]).arg(&cfg).arg(&input).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()
    };
    let v = run();
    assert_eq!(v["dst_endpoint"]["location"]["country"], "US");
    assert_eq!(v["dst_endpoint"]["location"]["city"], "Mountain View");
    assert_eq!(v["dst_endpoint"]["autonomous_system"]["number"], 15169);
    assert_eq!(v["src_endpoint"]["owner"]["name"], "alice");
    assert!(v["src_endpoint"].get("location").is_none(), "private addresses are not looked up");
    write_city(&d.join("city.mmdb"), "CA", "Canada", "Toronto");
    assert_eq!(run()["dst_endpoint"]["location"]["city"], "Toronto");

    let o = Command::new(bin()).args(["ti", "lookup", "-c"]).arg(&cfg).arg("198.51.100.7").output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success() && text.contains("feed `blocklist`") && text.contains("inside 198.51.100.0/25") && text.contains("confidence 60"), "{text}");
    let o = Command::new(bin()).args(["ti", "lookup", "-c"]).arg(&cfg).arg("a.b.example.org").output().unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).contains("a subdomain of example.org"));
    let o = Command::new(bin()).args(["ti", "lookup", "-c"]).arg(&cfg).arg("example.com").output().unwrap();
    assert_eq!(o.status.code(), Some(1), "no match exits 1");
}

/// The delivered batch files below `dir`. A dot-file is the file sink's batch in progress (written
/// under a temporary name, then renamed): the daemon is stopped with SIGTERM and then SIGKILL, which
/// can leave one behind, cut anywhere, and it was never delivered. `events` skips them too.
fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else if !e.file_name().to_string_lossy().starts_with('.') {
                out.push(e.path());
            }
        }
    }
    out
}
