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
        http_get(&admin, "/metrics").lines().any(|l| l.starts_with("logfetch_duplicates_dropped_total{tenant=\"zia\"") && l.ends_with(&format!(" {dropped}")))
    });
    let (ids, _, _) = read_output(&out);
    let unique: BTreeSet<&String> = ids.iter().collect();
    assert_eq!(ids.len(), distinct, "every distinct record once");
    assert_eq!(unique.len(), distinct);
    assert_eq!(distinct, 7);
    kill(&daemon.0, 15);
}
