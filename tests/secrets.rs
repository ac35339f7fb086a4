//! Secret hygiene: canary secrets configured through `env:`, `file:` and `systemd:` references (one of them
//! wrong, so error paths run too) never appear in the daemon's logs at trace level, in error
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
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_s1, s1_url) = start_listening(&["mock", "s1", "--token", CANARY_ENV]);
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
            out = d.join("out").display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&cfg, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let creds_dir = creds.display().to_string();
    let envs = [("LF_CANARY_TOKEN", CANARY_ENV), ("LF_CANARY_WRONG", CANARY_WRONG), ("RUST_LOG", "trace"), ("CREDENTIALS_DIRECTORY", creds_dir.as_str())];
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
    wait_until("events from the three good tenants", Duration::from_secs(60), || ["s1", "api", "api2"].iter().all(|t| out.join(format!("tenant={t}")).exists()));
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
    kill(&daemon.0, 15);
    drop(daemon);
    log_lines.extend(rx.iter());
    let log_text = log_lines.join("\n");
    assert!(log_text.lines().count() > 50, "trace logging produced output");
    assert!(log_text.contains("wrong") && (log_text.contains("401") || log_text.to_lowercase().contains("auth")), "the wrong token's error path ran");
    surfaces.push(("daemon log (trace)".into(), log_text));
    for (what, text) in &surfaces {
        for canary in [CANARY_ENV, CANARY_FILE, CANARY_WRONG, CANARY_SYSTEMD] {
            assert!(!text.contains(canary), "{canary} leaked into {what}");
        }
    }
    let hits = grep_tree(&data, &[CANARY_ENV, CANARY_FILE, CANARY_WRONG, CANARY_SYSTEMD]);
    assert!(hits.is_empty(), "secrets on disk: {hits:?}");
    let hits = grep_tree(&out, &[CANARY_ENV, CANARY_FILE, CANARY_WRONG, CANARY_SYSTEMD]);
    assert!(hits.is_empty(), "secrets in sink data: {hits:?}");
    eprintln!("secret canaries: 4 secrets (env, file, systemd, a wrong one), {} surfaces checked, none leaked", surfaces.len() + 2);
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
