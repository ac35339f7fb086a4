//! TLS towards vendors: verification is on by default, so a pull from a server with a
//! self-signed certificate fails with a certificate error unless the tenant names the CA in
//! `ca_file`; turning verification off must be spelled out per tenant and is logged as a warning
//! at every start. Also: the admin API refuses to listen off loopback without a token.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use support::*;

fn config(d: &Path, port: u16, extra: &str) -> std::path::PathBuf {
    let token = secret_file(d, "token", "t0ken");
    let p = d.join("logfetch.toml");
    std::fs::write(
        &p,
        format!(
            "[service]\ndata_dir = \"{}\"\nadmin_listen = \"127.0.0.1:0\"\n\n[[tenant]]\nid = \"tls\"\nvendor = \"test\"\nkinds = [\"flow\"]\nschedule = \"* * * * * *\"\n[tenant.connection]\nurl = \"https://127.0.0.1:{port}\"\ntoken = \"file:{token}\"\nmax_retries = 0\n{extra}\n\n[[sink]]\nname = \"files\"\ntype = \"file\"\npath = \"{}\"\n",
            d.join("data").display(),
            d.join("out").display()
        ),
    )
    .unwrap();
    p
}

fn last_error(admin: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&http_get(admin, "/api/v1/tenants")).unwrap_or_default();
    v["tenants"][0]["streams"][0]["last_error"].as_str().unwrap_or("").to_string()
}

fn logs_until(logs: &std::sync::mpsc::Receiver<String>, what: &str) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while let Ok(l) = logs.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now())) {
        if l.contains(what) {
            return true;
        }
    }
    false
}

#[test]
fn verification_is_on_unless_the_tenant_names_its_ca_or_turns_it_off_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (port, pem) = self_signed_https(d);

    // Default: the self-signed certificate is refused.
    let cfg = config(d, port, "");
    let (daemon, admin, _logs) = start_daemon(&cfg);
    let mut err = String::new();
    wait_until("a certificate error", Duration::from_secs(30), || {
        err = last_error(&admin);
        !err.is_empty()
    });
    assert!(err.to_lowercase().contains("certificate") || err.contains("UnknownIssuer"), "{err}");
    drop(daemon);

    // With ca_file the handshake succeeds: whatever fails now, it is not the certificate.
    let cfg = config(d, port, &format!("ca_file = \"{}\"", pem.display()));
    let (daemon, admin, _logs) = start_daemon(&cfg);
    wait_until("a run past TLS", Duration::from_secs(30), || {
        err = last_error(&admin);
        !err.is_empty()
    });
    assert!(!err.to_lowercase().contains("certificate") && !err.contains("UnknownIssuer"), "{err}");
    drop(daemon);

    // tls_verify = false: accepted, and a warning at every start.
    let cfg = config(d, port, "tls_verify = false");
    for start in 0..2 {
        let (daemon, _admin, logs) = start_daemon(&cfg);
        assert!(logs_until(&logs, "TLS certificate verification is OFF"), "warning at start {start}");
        kill(&daemon.0, 15);
        drop(daemon);
    }
}

#[test]
fn the_admin_api_needs_a_token_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = config(d, 9, "");
    let text = std::fs::read_to_string(&cfg).unwrap().replace("admin_listen = \"127.0.0.1:0\"", "admin_listen = \"0.0.0.0:0\"");
    std::fs::write(&cfg, text).unwrap();
    let o = Command::new(bin()).args(["config", "check", "-c"]).arg(&cfg).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("admin_token"), "{err}");
}
