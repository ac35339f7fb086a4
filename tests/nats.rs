//! End-to-end: `logfetch run` into NATS JetStream on a real `nats-server` (started here on a free
//! loopback port with a temporary store). The server is restarted part-way: nothing is lost, and
//! `Nats-Msg-Id` de-duplicates both the retried and a forced replay.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

fn nats_server() -> Option<PathBuf> {
    ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"].iter().map(PathBuf::from).find(|p| p.exists())
}

fn start_nats(bin: &Path, port: u16, store: &Path) -> Proc {
    let child = Command::new(bin).args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"]).arg(store).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    wait_until("nats-server to listen", Duration::from_secs(10), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    Proc(child)
}

fn stream_messages(port: u16) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let c = async_nats::connect(format!("127.0.0.1:{port}")).await.unwrap();
        let js = async_nats::jetstream::new(c);
        let mut s = js.get_stream("LOGFETCH").await.unwrap();
        s.info().await.unwrap().state.messages
    })
}

#[test]
fn jetstream_publishes_survive_a_server_restart_and_replays_are_deduplicated() {
    let Some(bin) = nats_server() else {
        assert!(std::env::var_os("CI").is_none(), "nats-server is missing in CI (.ci/run installs it)");
        eprintln!("SKIPPED: nats-server is not installed (apt-get install -y nats-server)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let store = d.join("js");
    let nats = start_nats(&bin, port, &store);
    let (_src, src_url) = start_listening(&["mock", "test-api", "--token", "t", "--interval-ms", "2000"]);
    let cfg = d.join("logfetch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[service]\ndata_dir = \"{}\"\nadmin_listen = \"127.0.0.1:0\"\n\n[[tenant]]\nid = \"e2e\"\nvendor = \"test\"\nschedule = \"* * * * * *\"\ninitial_lookback = \"30m\"\nwindow = \"5m\"\n[tenant.connection]\nurl = \"{src_url}\"\ntoken = \"file:{}\"\n\n[[sink]]\nname = \"bus\"\ntype = \"nats\"\nurl = \"nats://127.0.0.1:{port}\"\n\n[[sink]]\nname = \"files\"\ntype = \"file\"\npath = \"{}\"\n",
            d.join("data").display(),
            secret_file(d, "tok", "t"),
            d.join("out").display()
        ),
    )
    .unwrap();
    let (daemon, addr, _logs) = start_daemon(&cfg);
    // Restart the server while the first windows are being delivered.
    std::thread::sleep(Duration::from_millis(700));
    drop(nats);
    std::thread::sleep(Duration::from_secs(2));
    let _nats = start_nats(&bin, port, &store);
    wait_until("both streams to catch up", Duration::from_secs(120), || {
        let b = http_get(&addr, "/api/v1/tenants");
        let v: serde_json::Value = serde_json::from_str(&b[b.find('{').unwrap_or(0)..=b.rfind('}').unwrap_or(0)]).unwrap_or_default();
        v["tenants"][0]["streams"].as_array().is_some_and(|s| s.len() == 2 && s.iter().all(|s| s["lag_seconds"].as_i64().is_some_and(|l| l < 6)))
    });
    kill(&daemon.0, 15);
    let mut daemon = daemon;
    let _ = daemon.0.wait();
    let (ids, _, _) = read_output(&d.join("out"));
    let unique: BTreeSet<&String> = ids.iter().collect();
    let first = stream_messages(port);
    assert_eq!(first as usize, unique.len(), "JetStream holds every event once (the file sink is the reference)");
    // Forced replay of the flow stream: no new messages for old events.
    let out = Command::new(support::bin()).args(["checkpoint", "reset", "e2e", "flow", "--yes", "-c"]).arg(&cfg).output().unwrap();
    assert!(out.status.success());
    let (daemon, addr, _logs) = start_daemon(&cfg);
    wait_until("the replay", Duration::from_secs(120), || {
        let b = http_get(&addr, "/api/v1/tenants");
        let v: serde_json::Value = serde_json::from_str(&b[b.find('{').unwrap_or(0)..=b.rfind('}').unwrap_or(0)]).unwrap_or_default();
        v["tenants"][0]["streams"].as_array().is_some_and(|s| s.iter().all(|s| s["runs_ok"].as_u64().unwrap_or(0) >= 1 && s["lag_seconds"].as_i64().is_some_and(|l| l < 6)))
    });
    kill(&daemon.0, 15);
    let (ids2, _, _) = read_output(&d.join("out"));
    let unique2: BTreeSet<&String> = ids2.iter().collect();
    let second = stream_messages(port);
    assert_eq!(second as usize, unique2.len(), "the replay added only events newer than the first run");
    assert!(second < first + 100);
}
