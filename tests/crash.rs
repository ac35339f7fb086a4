//! Crash harness: `logfetch run` pulling from the PAN-OS mock and receiving Cisco syslog over
//! TCP at the same time, SIGKILLed at random moments (while records arrive, mid-page, between a
//! sink write and its checkpoint, during spool writes) and restarted, 20 times here and
//! `LOGFETCH_CRASH_ROUNDS` times on demand (e.g. 200). At the end the sink must hold every record
//! the mock served and every syslog line the daemon accepted, with no duplicate except the same
//! event id again, and the state store must have reopened every time.
//!
//! What "accepted" means for TCP syslog: the sender waits until the daemon counts a batch as
//! received (it is in the flushed spool by then) before it calls the batch sent; a batch cut off
//! by a kill is sent again after the restart, as a device replays its TCP buffer.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use logfetch_connectors::cisco::CiscoParser;
use logfetch_connectors::{ParseContext, ParseOutcome, RecordParser};
use support::*;

/// A small deterministic generator (the seed is printed, so a failing run can be repeated).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn config(dir: &Path, pan_url: &str, syslog_port: u16) -> std::path::PathBuf {
    let pw = secret_file(dir, "pan-password", "pan-secret");
    let p = dir.join("logfetch.toml");
    std::fs::write(
        &p,
        format!(
            r#"[service]
data_dir = "{data}"
admin_listen = "127.0.0.1:0"

[[tenant]]
id = "pan"
vendor = "paloalto"
kinds = ["flow"]
schedule = "* * * * * *"
initial_lookback = "20m"
window = "2m"
delay = "2s"
[tenant.connection]
url = "{pan_url}"
username = "admin"
password = "file:{pw}"
page_size = 100
poll_interval = "20ms"

[[tenant]]
id = "asa"
vendor = "cisco"
kinds = ["flow"]
[tenant.connection]
listen = "tcp://127.0.0.1:{syslog_port}"

[[sink]]
name = "files"
type = "file"
path = "{out}"
flush_interval = "100ms"
batch_max_events = 300
"#,
            data = dir.join("data").display(),
            out = dir.join("out").display()
        ),
    )
    .unwrap();
    p
}

fn served(mock_url: &str) -> BTreeSet<String> {
    let body = http_get(mock_url.trim_start_matches("http://"), "/mock/served");
    let (s, e) = (body.find('[').unwrap(), body.rfind(']').unwrap());
    serde_json::from_str::<Vec<String>>(&body[s..=e]).unwrap().into_iter().collect()
}

/// (tenant, event id, correlation id) of every event in the sink. With `live`, files being
/// written are skipped.
fn sink(dir: &Path, live: bool) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if live && name.starts_with('.') {
                continue;
            }
            assert!(!name.starts_with('.'), "temporary file left behind: {}", p.display());
            for line in std::fs::read_to_string(&p).unwrap().lines() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: torn line ({e})", p.display()));
                out.push((
                    v["metadata"]["tenant_uid"].as_str().unwrap().to_string(),
                    v["metadata"]["uid"].as_str().unwrap().to_string(),
                    v["metadata"]["correlation_uid"].as_str().unwrap_or("").to_string(),
                ));
            }
        }
    }
    out
}

fn pan_key(corr: &str) -> String {
    match corr.split(':').collect::<Vec<_>>().as_slice() {
        [serial, "threat", seq] => format!("{serial}:{seq}:threat"),
        [serial, seq] => format!("{serial}:{seq}:traffic"),
        other => panic!("{other:?}"),
    }
}

/// GET that tolerates the daemon being killed mid-request.
fn try_get(addr: &str, path: &str) -> Option<String> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

fn received(admin: &str) -> u64 {
    metric_value(&try_get(admin, "/metrics").unwrap_or_default(), "logfetch_records_received_total{tenant=\"asa\",stream=\"push\"}").unwrap_or(0.0) as u64
}

/// Sends `lines` over one TCP connection and waits until the daemon counted them (`base` is its
/// counter before). `false` when the daemon went away first.
fn send_batch(port: u16, admin: &str, base: u64, lines: &[String]) -> bool {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else { return false };
    let mut buf = String::new();
    for l in lines {
        buf.push_str(l);
        buf.push('\n');
    }
    if s.write_all(buf.as_bytes()).is_err() {
        return false;
    }
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(admin).is_err() {
            return false;
        }
        if received(admin) >= base + lines.len() as u64 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn sigkill_at_random_moments_loses_nothing_accepted() {
    let rounds: u64 = std::env::var("LOGFETCH_CRASH_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let seed = std::env::var("LOGFETCH_CRASH_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
    eprintln!("crash harness: {rounds} rounds, seed {seed} (LOGFETCH_CRASH_SEED to repeat)");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_mock, pan_url) = start_listening(&["mock", "panos", "--history", "25m", "--interval-ms", "500", "--pending-polls", "1"]);
    let port = free_port();
    let cfg = config(d, &pan_url, port);
    let lines = logfetch_mocks::cisco_syslog::generate(seed % 1000, 400 * rounds as usize + 400, false, chrono::Utc::now() - chrono::Duration::minutes(5));
    let mut next_line = 0usize;
    let mut accepted: Vec<String> = Vec::new();
    let mut resent = 0usize;
    let mut kills = 0u64;
    for _ in 0..rounds {
        let (daemon, admin, logs) = start_daemon(&cfg);
        // The listener is up once it says so (the state store reopened, or start_daemon failed).
        listen_addrs(&logs, 1);
        // One batch fully accepted, then a second one racing the kill.
        let n1 = 50 + rng.below(250) as usize;
        let batch1: Vec<String> = lines[next_line..(next_line + n1).min(lines.len())].to_vec();
        let base = received(&admin);
        if send_batch(port, &admin, base, &batch1) {
            accepted.extend(batch1.iter().cloned());
            next_line += batch1.len();
        }
        let n2 = 20 + rng.below(150) as usize;
        let batch2: Vec<String> = lines[next_line..(next_line + n2).min(lines.len())].to_vec();
        // Kill while the second batch arrives, or later while pages are fetched, written and
        // checkpointed (the pull stream runs every second).
        let delay = Duration::from_millis(rng.below(1500));
        let killer = {
            let pid = daemon.0.id();
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            })
        };
        let base = received(&admin);
        if send_batch(port, &admin, base, &batch2) {
            accepted.extend(batch2.iter().cloned());
            next_line += batch2.len();
        } else {
            resent += batch2.len(); // sent again next round (a device replaying its TCP buffer)
        }
        killer.join().unwrap();
        kills += 1;
        drop(daemon);
    }
    // Final run: catch up and deliver; the last unaccepted batch goes in now.
    let (daemon, admin, logs) = start_daemon(&cfg);
    listen_addrs(&logs, 1);
    let rest: Vec<String> = lines[next_line..(next_line + 200).min(lines.len())].to_vec();
    let base = received(&admin);
    assert!(send_batch(port, &admin, base, &rest), "the final batch is accepted: base {base}, metrics:\n{}\nlogs:\n{}", http_get(&admin, "/metrics").lines().filter(|l| l.contains("asa")).collect::<Vec<_>>().join("\n"), logs.try_iter().collect::<Vec<_>>().join("\n"));
    accepted.extend(rest);

    // Expected push ids: what the parser makes of every accepted line.
    let parser = CiscoParser::default();
    let ctx = ParseContext::new("asa", chrono_tz::UTC);
    let mut want_push = BTreeSet::new();
    for l in &accepted {
        if let ParseOutcome::Events(evs) = parser.parse(l, &ctx) {
            // The tenant collects flows only (its DNS records are counted as skipped).
            want_push.extend(evs.iter().filter(|e| e.kind() == logfetch_common::LogKind::Flow).map(|e| e.envelope().event_id.clone()));
        }
    }
    // The pull stream catches up first; then everything served so far must arrive.
    wait_until("the pull stream to catch up", Duration::from_secs(120), || {
        let v: serde_json::Value = serde_json::from_str(&http_get(&admin, "/api/v1/tenants")).unwrap_or_default();
        v["tenants"].as_array().into_iter().flatten().filter(|t| t["id"] == "pan").flat_map(|t| t["streams"].as_array().cloned().unwrap_or_default()).any(|s| s["runs_ok"].as_u64().unwrap_or(0) >= 1 && s["lag_seconds"].as_i64().is_some_and(|l| l < 10))
    });
    let want_pull = served(&pan_url);
    let out = d.join("out");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = sink(&out, true);
        let push: BTreeSet<&String> = got.iter().filter(|(t, _, _)| t == "asa").map(|(_, id, _)| id).collect();
        let pull: BTreeSet<String> = got.iter().filter(|(t, _, _)| t == "pan").map(|(_, _, c)| pan_key(c)).collect();
        let missing_push = want_push.iter().filter(|id| !push.contains(id)).count();
        let missing_pull: Vec<&String> = want_pull.difference(&pull).take(5).collect();
        if missing_push == 0 && missing_pull.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not delivered after 120 s: {missing_push} of {} accepted syslog records, {} of {} served records (e.g. {missing_pull:?}); status: {}",
            want_push.len(),
            want_pull.difference(&pull).count(),
            want_pull.len(),
            {
                let v: serde_json::Value = serde_json::from_str(&http_get(&admin, "/api/v1/tenants")).unwrap_or_default();
                v["tenants"].as_array().into_iter().flatten().filter(|t| t["id"] == "asa").cloned().collect::<Vec<_>>().iter().map(|t| t.to_string()).collect::<Vec<_>>().join(" ")
                    + &logs.try_iter().filter(|l| l.contains("asa") || l.contains("spool") || l.contains("ERROR")).collect::<Vec<_>>().join("\n")
            }
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    kill(&daemon.0, 15);
    drop(daemon);

    let got = sink(&out, false);
    // Duplicates: only the same event again (same id, same record), never a different id for it.
    let mut per_id: BTreeMap<&String, usize> = BTreeMap::new();
    for (_, id, _) in &got {
        *per_id.entry(id).or_default() += 1;
    }
    let dups: usize = per_id.values().map(|n| n - 1).sum();
    let pull_keys: Vec<String> = got.iter().filter(|(t, _, _)| t == "pan").map(|(_, _, c)| pan_key(c)).collect();
    let pull_unique: BTreeSet<&String> = pull_keys.iter().collect();
    let pull_ids: BTreeSet<&String> = got.iter().filter(|(t, _, _)| t == "pan").map(|(_, id, _)| id).collect();
    assert_eq!(pull_unique.len(), pull_ids.len(), "a pulled record never appears under two ids");
    let served_now = served(&pan_url);
    assert!(pull_unique.iter().all(|k| served_now.contains(*k)), "nothing in the sink the mock did not serve");
    let push_ids: BTreeSet<&String> = got.iter().filter(|(t, _, _)| t == "asa").map(|(_, id, _)| id).collect();
    let missing_push = want_push.iter().filter(|id| !push_ids.contains(id)).count();
    assert_eq!(missing_push, 0, "accepted syslog records lost");
    eprintln!(
        "crash harness: {kills} SIGKILLs survived; compared {} pulled records (served) and {} accepted syslog records ({} lines re-sent after a kill); {} duplicate deliveries, all with the same event id",
        want_pull.len(),
        want_push.len(),
        resent,
        dups
    );
    assert!(want_pull.len() > 500 && want_push.len() > 500, "enough data compared: {} pulled, {} pushed", want_pull.len(), want_push.len());
}

