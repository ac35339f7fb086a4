//! Tenant onboarding end to end: `tenant add` (flags and a pseudo-terminal), `tenant test` against
//! the mocks (wrong password, self-signed certificate, token without scope, silent push tenant),
//! `tenant list|show|remove`, and a running daemon picking the new tenant up on reload.

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

fn logfetch(args: &[&str]) -> (i32, String) {
    let out = Command::new(bin()).args(args).stdin(Stdio::null()).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), text)
}

fn base_config(d: &Path) -> String {
    let cfg = d.join("logfetch.toml");
    let text = format!(
        "# Collector for the lab\n[service]\ndata_dir = \"{}\"   # state\nadmin_listen = \"127.0.0.1:0\"\n\n[[sink]]\nname = \"files\"\ntype = \"file\"\npath = \"{}\"\nflush_interval = \"200ms\"\n",
        d.join("data").display(),
        d.join("out").display()
    );
    std::fs::write(&cfg, text).unwrap();
    cfg.display().to_string()
}

#[test]
fn add_then_test_then_run_and_the_wrong_password_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = base_config(d);
    // A push tenant already running: reloads must leave its listener alone.
    let mut f = std::fs::OpenOptions::new().append(true).open(&cfg).unwrap();
    write!(f, "\n[[tenant]]\nid = \"asa-keep\"\nvendor = \"cisco\"\n[tenant.connection]\nlisten = \"tcp://127.0.0.1:0\"\n").unwrap();
    drop(f);
    let (_pan, url) = start_listening(&["mock", "panos", "--interval-ms", "200", "--history", "30m"]);
    let (daemon, admin, logs) = start_daemon(Path::new(&cfg));
    let keep_addr = listen_addrs(&logs, 1)["asa-keep"].clone();

    // Wrong password: the tenant is written, the test names the authentication step.
    let wrong = secret_file(d, "pw-wrong", "not-the-password");
    let (code, out) = logfetch(&["tenant", "add", "-c", &cfg, "--non-interactive", "--id", "pan-wrong", "--vendor", "paloalto", "--url", &url, "--username", "admin", "--secret-ref", &format!("file:{wrong}")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL  auth") && out.contains("Invalid Credential") && out.contains(&format!("password = file:{wrong}")), "{out}");
    assert!(out.contains("The tenant was added."), "{out}");
    let (code, out) = logfetch(&["tenant", "remove", "pan-wrong", "-c", &cfg, "--yes"]);
    assert_eq!(code, 0, "{out}");

    // The right one: every step passes and the dry run shows normalised records.
    let pw = secret_file(d, "pw", "pan-secret");
    let (code, out) = logfetch(&["tenant", "add", "-c", &cfg, "--non-interactive", "--id", "pan-1", "--vendor", "paloalto", "--url", &url, "--username", "admin", "--secret-ref", &format!("file:{pw}"), "--kinds", "flow", "--schedule", "*/2 * * * * *"]);
    assert_eq!(code, 0, "{out}");
    for step in ["PASS  dns", "PASS  tcp", "PASS  clock", "PASS  auth", "PASS  perm flow", "PASS  dry-run flow", "All checks passed."] {
        assert!(out.contains(step), "missing `{step}` in:\n{out}");
    }
    let shown = out.lines().filter(|l| l.starts_with("      ") && l.contains(" -> ")).count();
    assert_eq!(shown, 5, "five normalised records in the dry run:\n{out}");
    // The dry run touched no checkpoint.
    assert!(!d.join("data/state").exists() || logfetch(&["checkpoint", "list", "-c", &cfg]).1.lines().all(|l| !l.contains("pan-1")));
    let text = std::fs::read_to_string(&cfg).unwrap();
    assert!(text.starts_with("# Collector for the lab\n[service]\n"), "comments and layout kept:\n{text}");
    assert!(text.contains("data_dir = \"") && text.contains("\"   # state"), "{text}");
    assert!(!text.contains("pan-secret"), "the secret value is never written");

    // The running daemon picks the tenant up on reload.
    let (status, body) = http(&admin, "POST", "/api/v1/reload", None, None);
    assert_eq!(status, 200, "{body}");
    let out_dir = d.join("out").join("tenant=pan-1");
    wait_until("events from pan-1 after reload", Duration::from_secs(60), || out_dir.exists() && !read_output(&out_dir).0.is_empty());

    let (_, listed) = logfetch(&["tenant", "list", "-c", &cfg]);
    assert!(listed.contains("pan-1") && listed.contains("paloalto") && !listed.contains("pan-wrong"), "{listed}");
    let (_, shown) = logfetch(&["tenant", "show", "pan-1", "-c", &cfg]);
    assert!(shown.contains("XML API > Log") && shown.contains(&format!("password = \"file:{pw}\"")), "{shown}");

    // Removing it: the daemon stops its stream on reload; the other tenant keeps its listener.
    let (code, out) = logfetch(&["tenant", "remove", "pan-1", "-c", &cfg, "--keep-checkpoints"]);
    assert_eq!(code, 0, "{out}");
    assert!(!std::fs::read_to_string(&cfg).unwrap().contains("pan-1"));
    let (status, body) = http(&admin, "POST", "/api/v1/reload", None, None);
    assert_eq!(status, 200, "{body}");
    wait_until("pan-1 gone from the daemon", Duration::from_secs(30), || !http(&admin, "GET", "/api/v1/tenants", None, None).1.contains("\"pan-1\""));
    let lines = logfetch_mocks::cisco_syslog::generate(3, 30, false, chrono::Utc::now());
    let f = d.join("keep.log");
    std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    run_mock(&["cisco-syslog", "--target", &keep_addr, "--transport", "tcp", "--file", &f.display().to_string()]);
    let keep_dir = d.join("out").join("tenant=asa-keep");
    wait_until("asa-keep still receiving on its first address", Duration::from_secs(30), || keep_dir.exists() && !read_output(&keep_dir).0.is_empty());
    drop(daemon);
}

#[test]
fn a_token_without_scope_is_named_as_a_permission_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = base_config(d);
    let (_s1, url) = start_listening(&["mock", "s1"]);
    let tok = secret_file(d, "s1", "s1-noscope");
    let (code, out) = logfetch(&["tenant", "add", "-c", &cfg, "--non-interactive", "--id", "s1-lab", "--vendor", "sentinelone", "--url", &url, "--secret-ref", &format!("file:{tok}")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("PASS  auth"), "the token itself is valid:\n{out}");
    assert!(out.contains("FAIL  perm flow") && out.contains("Insufficient permissions") && out.contains("Skylight Query API view"), "{out}");
    assert!(!out.contains("s1-noscope"), "the token never appears in the output");
}

#[test]
fn a_self_signed_certificate_without_ca_file_fails_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = base_config(d);
    let (port, _cert_pem) = self_signed_https(d);
    let url = format!("https://127.0.0.1:{port}");
    let key = secret_file(d, "key", "k");
    let (code, out) = logfetch(&["tenant", "add", "-c", &cfg, "--non-interactive", "--id", "pan-tls", "--vendor", "paloalto", "--url", &url, "--secret-ref", &format!("file:{key}")]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("FAIL  tls") && out.contains("not trusted"), "{out}");
    assert!(out.contains("(self-signed)") && out.contains("expires") && out.contains("SHA-256"), "the certificate is described:\n{out}");
    let saved = d.join("data/certs/pan-tls.pem");
    assert!(out.contains(&format!("ca_file = \"{}\"", saved.display())), "{out}");
    assert!(std::fs::read_to_string(&saved).unwrap().contains("BEGIN CERTIFICATE"));
    assert!(!out.contains("PASS  auth"), "nothing is sent before the certificate is trusted");

    // With the saved chain as ca_file the TLS step passes.
    logfetch(&["tenant", "remove", "pan-tls", "-c", &cfg, "--keep-checkpoints"]);
    let (_, out) = logfetch(&["tenant", "add", "-c", &cfg, "--non-interactive", "--id", "pan-tls", "--vendor", "paloalto", "--url", &url, "--secret-ref", &format!("file:{key}"), "--ca-file", &saved.display().to_string()]);
    assert!(out.contains("PASS  tls") && out.contains("certificate verified"), "{out}");
}

#[test]
fn a_push_tenant_that_receives_nothing_says_what_the_device_must_send() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = base_config(d);
    let (code, out) = logfetch(&["tenant", "add", "-c", &cfg, "--non-interactive", "--id", "asa-lab", "--vendor", "cisco", "--listen", "tcp://127.0.0.1:0", "--no-test"]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = logfetch(&["tenant", "test", "asa-lab", "-c", &cfg, "--listen-secs", "2"]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("PASS  listen") && out.contains("FAIL  receive") && out.contains("nothing arrived"), "{out}");
    assert!(out.contains("logging host <interface> <logfetch-ip> tcp/") && out.contains("logging timestamp"), "{out}");

    // And one that does receive shows the records.
    let (code, out) = logfetch(&["tenant", "add", "-c", &cfg, "--non-interactive", "--id", "asa-busy", "--vendor", "cisco", "--listen", "tcp://127.0.0.1:0", "--no-test"]);
    assert_eq!(code, 0, "{out}");
    let mut child = Command::new(bin()).args(["--log-format", "json", "tenant", "test", "asa-busy", "-c", &cfg, "--listen-secs", "20"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    let addr = loop {
        let mut line = String::new();
        assert!(std::io::BufRead::read_line(&mut stdout, &mut line).unwrap() > 0, "no listen line:\n{text}");
        text.push_str(&line);
        if let Some(rest) = line.strip_prefix("PASS  listen         listening on ") {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let lines = logfetch_mocks::cisco_syslog::generate(7, 40, false, chrono::Utc::now());
    let f = d.join("asa.log");
    std::fs::write(&f, lines.join("\n") + "\n").unwrap();
    run_mock(&["cisco-syslog", "--target", &addr, "--transport", "tcp", "--file", &f.display().to_string()]);
    stdout.read_to_string(&mut text).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{text}");
    assert!(text.contains("PASS  receive") && text.contains("from 127.0.0.1") && text.contains("PASS  parse"), "{text}");
    assert!(text.lines().filter(|l| l.starts_with("      ") && l.contains(" -> ")).count() >= 1, "{text}");
}

#[test]
fn interactive_add_on_a_terminal_asks_checks_and_writes() {
    if Command::new("script").arg("--version").output().is_err() {
        panic!("`script` (util-linux) is needed for the pseudo-terminal test");
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = base_config(d);
    // vendor, id (default), pull/push, URL (bad, then good), kinds (default), schedule (bad, then
    // default), time zone (bad, then good), user (empty: API key), secret reference, sinks.
    let answers = "paloalto\n\npull\nnot a url\nhttps://fw.example.net\n\n* * *\n\nMars/Olympus\nEurope/Berlin\n\nenv:PAN_KEY\nfiles\n\n";
    let cmd = format!("{} tenant add -c {} --no-test", bin(), cfg);
    let mut child = Command::new("script").args(["-qec", &cmd, "/dev/null"]).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(answers.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("Vendor (cisco, paloalto, sentinelone, zscaler)") && text.contains("Tenant id [paloalto-1]"), "{text}");
    assert!(text.contains("`not a url` is not a URL"), "a bad answer is explained and asked again:\n{text}");
    assert!(text.contains("unknown IANA time zone `Mars/Olympus`"), "{text}");
    assert!(text.contains("added tenant `paloalto-1`"), "{text}");
    let written = std::fs::read_to_string(&cfg).unwrap();
    assert!(written.starts_with("# Collector for the lab\n"), "{written}");
    for want in ["id = \"paloalto-1\"", "vendor = \"paloalto\"", "timezone = \"Europe/Berlin\"", "schedule = \"*/5 * * * *\"", "sinks = [\"files\"]", "url = \"https://fw.example.net\"", "api_key = \"env:PAN_KEY\""] {
        assert!(written.contains(want), "missing {want} in:\n{written}");
    }
    let check = Command::new(bin()).args(["config", "check", "-c", &cfg]).env("PAN_KEY", "k").output().unwrap();
    assert!(check.status.success(), "the written file passes `config check`: {}", String::from_utf8_lossy(&check.stderr));
}
