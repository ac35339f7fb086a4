//! Helpers shared by the end-to-end tests: start the real binary, talk HTTP to its admin API,
//! read what the file sink wrote.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_logfetch")
}

pub struct Proc(pub Child);
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn kill(child: &Child, sig: i32) {
    unsafe extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    unsafe { kill(child.id() as i32, sig) };
}

/// Starts `logfetch run` and returns it with its admin address (read from the JSON log).
pub fn start_daemon(cfg: &Path) -> (Proc, String, mpsc::Receiver<String>) {
    let mut child = Command::new(bin())
        .args(["--log-format", "json", "run", "-c"])
        .arg(cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let line = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("daemon did not report its admin address");
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
            if let Some(addr) = v["fields"]["admin"].as_str() {
                return (Proc(child), addr.to_string(), rx);
            }
        }
    }
}

thread_local! {
    static LAST_BODY: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

pub fn http_get(addr: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    LAST_BODY.with(|b| *b.borrow_mut() = out.clone());
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default()
}

/// Any request; returns (status code, body).
pub fn http(addr: &str, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let body = body.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, out.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

pub fn wait_until(what: &str, timeout: Duration, f: impl FnMut() -> bool) {
    wait_until_logged(what, timeout, None, f)
}

/// `wait_until` that, on timeout, also prints the daemon's log lines so far.
pub fn wait_until_logged(what: &str, timeout: Duration, logs: Option<&mpsc::Receiver<String>>, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        if Instant::now() >= deadline {
            let lines: Vec<String> = logs.map(|rx| rx.try_iter().collect()).unwrap_or_default();
            panic!("timed out waiting for {what}: {}\n--- daemon log ---\n{}", LAST_BODY.with(|b| b.borrow().clone()), lines.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every `.ndjson` file under `dir`: (event ids, event times in ms, partial files).
pub fn read_output(dir: &Path) -> (Vec<String>, Vec<i64>, Vec<PathBuf>) {
    let (mut ids, mut times, mut partial) = (Vec::new(), Vec::new(), Vec::new());
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with('.') || !name.ends_with(".ndjson") {
            partial.push(f);
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(text.ends_with('\n'), "{} is truncated", f.display());
        for line in text.lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{}: bad line: {e}", f.display()));
            ids.push(v["metadata"]["uid"].as_str().unwrap().to_string());
            times.push(v["time"].as_i64().unwrap());
        }
    }
    (ids, times, partial)
}

/// Reads the daemon's JSON log until `n` push listeners reported their bound address;
/// returns tenant -> address.
pub fn listen_addrs(logs: &mpsc::Receiver<String>, n: usize) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < n {
        let line = logs
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| panic!("only {} of {n} listeners reported: {out:?}", out.len()));
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
            if let (Some(t), Some(l)) = (v["fields"]["tenant"].as_str(), v["fields"]["listen"].as_str()) {
                out.insert(t.to_string(), l.to_string());
            } else if let Some(e) = v["fields"]["error"].as_str() {
                panic!("daemon error: {e}");
            }
        }
    }
    out
}

/// Runs `logfetch mock ...` to completion.
pub fn run_mock(args: &[&str]) {
    let out = Command::new(bin()).arg("mock").args(args).stdout(Stdio::null()).stderr(Stdio::piped()).output().unwrap();
    assert!(out.status.success(), "mock failed: {}", String::from_utf8_lossy(&out.stderr));
    let _ = (BufReader::new(&out.stderr[..]).lines().count(), ());
}

/// Starts `logfetch ARGS` (a mock) and returns it with the URL it prints (`listening on URL`).
pub fn start_listening(args: &[&str]) -> (Proc, String) {
    let mut child = Command::new(bin()).args(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("listening on ").unwrap_or_else(|| panic!("no address from {args:?}: {line}")).to_string();
    (Proc(child), url)
}

/// Writes a secret file readable by its owner only (mode 0600); returns its path.
pub fn secret_file(dir: &Path, name: &str, value: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::write(&p, value).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p.display().to_string()
}

/// An HTTPS server on 127.0.0.1 with a fresh self-signed certificate (for 127.0.0.1 and
/// localhost) that answers every request with an empty `200` carrying a `Date` header. Returns
/// its port and the certificate's PEM file (written into `dir`).
#[allow(dead_code)]
pub fn self_signed_https(dir: &Path) -> (u16, PathBuf) {
    use std::io::{Read, Write};
    use std::sync::Arc;
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let pem = dir.join("self-signed.pem");
    std::fs::write(&pem, cert.cert.pem()).unwrap();
    let server_cfg = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], rustls::pki_types::PrivateKeyDer::Pkcs8(cert.signing_key.serialize_der().into()))
            .unwrap(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let cfg = server_cfg.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let conn = rustls::ServerConnection::new(cfg).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, stream);
                let mut buf = [0u8; 4096];
                if tls.read(&mut buf).unwrap_or(0) > 0 {
                    let date = chrono::Utc::now().format("%a, %d %b %Y %H:%M:%S GMT");
                    let _ = tls.write_all(format!("HTTP/1.1 200 OK\r\nDate: {date}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes());
                    let _ = tls.flush();
                }
            });
        }
    });
    (port, pem)
}

/// The value of one Prometheus series in `text`, `series` being its full name and labels as the
/// daemon prints them (`logfetch_records_received_total{tenant="asa",stream="push"}`). Matches
/// the whole series, never a prefix: `{tenant="asa"` alone would also match the tenant's other
/// streams, whichever sorts first.
pub fn metric_value(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        let (s, v) = l.rsplit_once(' ')?;
        if s == series { v.parse().ok() } else { None }
    })
}

/// [`metric_value`] from the daemon's `/metrics`.
pub fn metric(admin: &str, series: &str) -> Option<f64> {
    metric_value(&http_get(admin, "/metrics"), series)
}
