//! Secret hygiene: canary secrets configured through `env:`, `file:`, `systemd:` and `keyring:`
//! references (one of them wrong, so error paths run too) never appear in the daemon's logs at trace level, in error
//! messages, metrics, the admin API, `status`, `config check`, `tenant test`, sink data or any
//! file under the data directory; `file:` secrets readable by others are refused.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

const CANARY_ENV: &str = "CANARY-env-7f3a9c1e5b";
const CANARY_FILE: &str = "CANARY-file-2d8e4b6a0c";
const CANARY_WRONG: &str = "CANARY-wrong-9b1c3e5d7f";
const CANARY_SYSTEMD: &str = "CANARY-systemd-4c6e8a0b2d";
const CANARY_KEYRING: &str = "CANARY-keyring-6a8c0e2b4d";
const CANARIES: [&str; 5] = [CANARY_ENV, CANARY_FILE, CANARY_WRONG, CANARY_SYSTEMD, CANARY_KEYRING];

fn grep_tree(dir: &Path, needles: &[&str]) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                for n in needles {
                    if bytes.windows(n.len()).any(|w| w == n.as_bytes()) {
                        hits.push(format!("{} contains {n}", p.display()));
                    }
                }
            }
        }
    }
    hits
}

#[test]
fn canary_secrets_never_leak_anywhere() {
    // The kernel keyring: this thread joins a fresh session keyring, which the processes it
    // starts inherit (as a login shell's children do), so `secret set` and the daemon share it.
    // A container whose seccomp profile forbids keyctl has no kernel keyring at all: then that
    // one mechanism is skipped, loudly, and the others are still checked.
    let keyring = match linux_keyutils::KeyRing::from_special_id(linux_keyutils::KeyRingIdentifier::Session, true) {
        Ok(_) => true,
        Err(e) => {
            eprintln!("SKIPPED the keyring canary: this machine has no usable kernel keyring ({e:?})");
            false
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_s1, s1_url) = start_listening(&["mock", "s1", "--token", CANARY_ENV]);
    let (_api3, api3_url) = start_listening(&["mock", "test-api", "--token", CANARY_KEYRING, "--seed", "9"]);
    let (_api, api_url) = start_listening(&["mock", "test-api", "--token", CANARY_FILE]);
    let (_api2, api2_url) = start_listening(&["mock", "test-api", "--token", CANARY_SYSTEMD, "--seed", "7"]);
    // systemd credentials: LoadCredential= puts them in $CREDENTIALS_DIRECTORY.
    let creds = d.join("credentials");
    std::fs::create_dir_all(&creds).unwrap();
    secret_file(&creds, "api-token", CANARY_SYSTEMD);
    let file_secret = secret_file(d, "token", CANARY_FILE);
    let data = d.join("data");
    let cfg = d.join("logfetch.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[service]
data_dir = "{data}"
admin_listen = "127.0.0.1:0"

[[tenant]]
id = "s1"
vendor = "sentinelone"
schedule = "* * * * * *"
initial_lookback = "10m"
[tenant.connection]
url = "{s1_url}"
token = "env:LF_CANARY_TOKEN"

[[tenant]]
id = "api"
vendor = "test"
schedule = "* * * * * *"
initial_lookback = "10m"
[tenant.connection]
url = "{api_url}"
token = "file:{file_secret}"

[[tenant]]
id = "api2"
vendor = "test"
schedule = "* * * * * *"
initial_lookback = "10m"
[tenant.connection]
url = "{api2_url}"
token = "systemd:api-token"

{kr_tenant}
[[tenant]]
id = "wrong"
vendor = "sentinelone"
schedule = "* * * * * *"
[tenant.connection]
url = "{s1_url}"
token = "env:LF_CANARY_WRONG"

[[sink]]
name = "files"
type = "file"
path = "{out}"
flush_interval = "200ms"
"#,
            data = data.display(),
            out = d.join("out").display(),
            kr_tenant = if keyring {
                format!("[[tenant]]\nid = \"kr\"\nvendor = \"test\"\nschedule = \"* * * * * *\"\ninitial_lookback = \"10m\"\n[tenant.connection]\nurl = \"{api3_url}\"\ntoken = \"keyring:logfetch-canary-test/kr\"\n")
            } else {
                String::new()
            }
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let creds_dir = creds.display().to_string();
    let envs = [
        ("LF_CANARY_TOKEN", CANARY_ENV),
        ("LF_CANARY_WRONG", CANARY_WRONG),
        ("RUST_LOG", "trace"),
        ("CREDENTIALS_DIRECTORY", creds_dir.as_str()),
    ];
    // Stored the way an operator stores it: `secret set` reading stdin.
    let mut set_out = String::new();
    if keyring {
        let mut set = Command::new(bin())
            .args(["-vvv", "secret", "set", "kr", "-c"])
            .arg(&cfg)
            .env("RUST_LOG", "trace")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut set.stdin.take().unwrap(), format!("{CANARY_KEYRING}\n").as_bytes()).unwrap();
        let set = set.wait_with_output().unwrap();
        set_out = format!("{}{}", String::from_utf8_lossy(&set.stdout), String::from_utf8_lossy(&set.stderr));
        assert!(set.status.success() && set_out.contains("keyring:logfetch-canary-test/kr"), "secret set: {set_out}");
    }
    let mut child = Command::new(bin())
        .args(["--log-format", "json", "-vvv", "run", "-c"])
        .arg(&cfg)
        .envs(envs)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let daemon = Proc(child);
    let mut log_lines: Vec<String> = Vec::new();
    let admin = loop {
        let line = rx.recv_timeout(Duration::from_secs(20)).expect("the daemon reports its admin address");
        let addr = serde_json::from_str::<serde_json::Value>(&line).ok().and_then(|v| v["fields"]["admin"].as_str().map(str::to_string));
        log_lines.push(line);
        if let Some(a) = addr {
            break a;
        }
    };
    let out = d.join("out");
    let good: &[&str] = if keyring { &["s1", "api", "api2", "kr"] } else { &["s1", "api", "api2"] };
    wait_until("events from every good tenant", Duration::from_secs(60), || {
        good.iter().all(|t| out.join(format!("tenant={t}")).exists())
    });
    let mut surfaces = Vec::new();
    for path in ["/metrics", "/api/v1/tenants", "/api/v1/checkpoints", "/healthz"] {
        surfaces.push((format!("GET {path}"), http(&admin, "GET", path, None, None).1));
    }
    let run = |args: &[&str]| {
        let o = Command::new(bin()).args(args).envs(envs).output().unwrap();
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
    };
    let c = cfg.display().to_string();
    let status = run(&["status", "-c", &c, "--admin", &format!("http://{admin}")]);
    assert!(status.contains("s1") && status.contains("api"), "{status}");
    surfaces.push(("status".into(), status));
    surfaces.push(("config check".into(), run(&["-vvv", "config", "check", "-c", &c])));
    surfaces.push(("tenant test wrong".into(), run(&["-vvv", "tenant", "test", "wrong", "-c", &c])));
    surfaces.push(("tenant show".into(), run(&["tenant", "show", "s1", "-c", &c])));
    if keyring {
        let kr_test = run(&["-vvv", "tenant", "test", "kr", "-c", &c]);
        assert!(
            kr_test.contains("(keyring:logfetch-canary-test/kr) is readable") && kr_test.contains("PASS  auth"),
            "tenant test read the keyring: {kr_test}"
        );
        surfaces.push(("tenant test kr".into(), kr_test));
        surfaces.push(("secret set".into(), set_out));
    }
    kill(&daemon.0, 15);
    drop(daemon);
    log_lines.extend(rx.iter());
    let log_text = log_lines.join("\n");
    assert!(log_text.lines().count() > 50, "trace logging produced output");
    assert!(
        log_text.contains("wrong") && (log_text.contains("401") || log_text.to_lowercase().contains("auth")),
        "the wrong token's error path ran"
    );
    surfaces.push(("daemon log (trace)".into(), log_text));
    for (what, text) in &surfaces {
        for canary in CANARIES {
            assert!(!text.contains(canary), "{canary} leaked into {what}");
        }
    }
    let hits = grep_tree(&data, &CANARIES);
    assert!(hits.is_empty(), "secrets on disk: {hits:?}");
    let hits = grep_tree(&out, &CANARIES);
    assert!(hits.is_empty(), "secrets in sink data: {hits:?}");
    eprintln!(
        "secret canaries: 5 secrets (env, file, systemd, keyring, a wrong one), {} surfaces checked, none leaked",
        surfaces.len() + 2
    );
}

#[test]
fn file_secrets_readable_by_others_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = d.join("token");
    std::fs::write(&p, "x").unwrap();
    std::fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    let cfg = d.join("logfetch.toml");
    std::fs::write(
        &cfg,
        format!("[service]\ndata_dir = \"{}\"\n[[tenant]]\nid = \"t\"\nvendor = \"test\"\n[tenant.connection]\nurl = \"http://127.0.0.1:9\"\ntoken = \"file:{}\"\n[[sink]]\nname = \"f\"\ntype = \"file\"\npath = \"{}\"\n", d.join("data").display(), p.display(), d.join("out").display()),
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let o = Command::new(bin()).args(["config", "check", "-c"]).arg(&cfg).output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(err.contains("chmod 600") || err.contains("readable by"), "{err}");
}
