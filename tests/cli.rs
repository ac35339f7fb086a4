//! End-to-end tests of the offline commands through the real binary.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn logfetch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_logfetch"))
}

fn run_with_stdin(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

const FLOW: &str = r#"{"type":"flow","id":"f-1","time":"2024-05-01T10:00:00Z","src_ip":"10.0.0.1","src_port":5000,"dst_ip":"192.0.2.1","dst_port":443,"proto":"tcp","bytes_out":100,"bytes_in":2000,"action":"allow"}"#;
const DNS: &str = r#"{"type":"dns","id":"d-1","time":"2024-05-01 12:00:00","client_ip":"10.0.0.1","query":"www.example.co.uk","qtype":"A","rcode":"NOERROR","answers":["192.0.2.1"]}"#;

#[test]
fn parse_emits_ndjson_counts_and_keeps_rejects() {
    let dir = tempfile::tempdir().unwrap();
    let rejects = dir.path().join("rejects.ndjson");
    let input = format!("{FLOW}\nthis is not json\n{DNS}\n");
    let mut cmd = logfetch();
    cmd.args(["parse", "--vendor", "test", "--tz", "Europe/Berlin", "--format", "ecs", "--rejects"]).arg(&rejects);
    let out = run_with_stdin(cmd, &input);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let events: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["source"]["ip"], "10.0.0.1");
    assert_eq!(events[0]["destination"]["port"], 443);
    assert_eq!(events[1]["dns"]["question"]["registered_domain"], "example.co.uk");
    // Zone-less time read in the --tz zone: 12:00 CEST = 10:00Z.
    assert_eq!(events[1]["@timestamp"], "2024-05-01T10:00:00.000Z");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("read 3 record(s), emitted 2 event(s), skipped 0, rejected 1"), "{stderr}");
    let rej: serde_json::Value = serde_json::from_str(std::fs::read_to_string(&rejects).unwrap().trim()).unwrap();
    assert_eq!(rej["line"], 2);
    assert_eq!(rej["file"], "<stdin>");
    assert_eq!(rej["record"], "this is not json");
    assert!(rej["reason"].as_str().unwrap().contains("not a test record"));
}

#[test]
fn parse_then_validate_round_trip_and_validate_catches_bad_events() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.log");
    std::fs::write(&input, format!("{FLOW}\n{DNS}\n")).unwrap();
    let out = logfetch().args(["parse", "--vendor", "test"]).arg(&input).output().unwrap();
    assert!(out.status.success());
    let ocsf = dir.path().join("out.ndjson");
    std::fs::write(&ocsf, &out.stdout).unwrap();
    let v = logfetch().arg("validate").arg(&ocsf).output().unwrap();
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(v.status.success(), "{text}");
    assert!(text.contains("2 event(s): 2 valid, 0 invalid"), "{text}");

    let mut first: serde_json::Value = serde_json::from_str(std::str::from_utf8(&out.stdout).unwrap().lines().next().unwrap()).unwrap();
    first.as_object_mut().unwrap().remove("severity_id");
    let bad = dir.path().join("bad.ndjson");
    std::fs::write(&bad, format!("{first}\n")).unwrap();
    let v = logfetch().arg("validate").arg(&bad).output().unwrap();
    let text = String::from_utf8_lossy(&v.stdout);
    assert_eq!(v.status.code(), Some(1), "{text}");
    assert!(text.contains(":1: severity_id: required attribute is missing"), "{text}");
}

#[test]
fn parse_reports_unreadable_input_and_unknown_vendor() {
    let out = logfetch().args(["parse", "--vendor", "test", "/nonexistent/file.log"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read /nonexistent/file.log"));
    let out = logfetch().args(["parse", "--vendor", "fortinet"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown vendor `fortinet`"));
}

fn write_config(dir: &Path, extra: &str) -> std::path::PathBuf {
    let p = dir.join("logfetch.toml");
    std::fs::write(
        &p,
        format!(
            r#"[service]
data_dir = "{}"

[[tenant]]
id = "t1"
vendor = "test"
{extra}
[[sink]]
name = "files"
type = "file"
path = "{}"
"#,
            dir.join("data").display(),
            dir.join("out").display()
        ),
    )
    .unwrap();
    p
}

#[test]
fn config_check_summarises_or_fails_precisely() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let out = logfetch().args(["config", "check", "-c"]).arg(&cfg).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("1 tenant(s), 1 sink(s)") && stdout.contains("tenant t1"), "{stdout}");

    let cfg = write_config(dir.path(), "colour = \"blue\"\n");
    let out = logfetch().args(["config", "check", "-c"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("logfetch.toml:7:1: unknown field `colour`"), "{stderr}");

    let cfg = write_config(dir.path(), "[tenant.connection]\ntoken = \"env:LOGFETCH_TEST_SURELY_UNSET\"\n");
    let out = logfetch().args(["config", "check", "-c"]).arg(&cfg).env_remove("LOGFETCH_TEST_SURELY_UNSET").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tenant `t1`, connection.token (env:LOGFETCH_TEST_SURELY_UNSET): environment variable `LOGFETCH_TEST_SURELY_UNSET` is not set"), "{stderr}");
    let out = logfetch().args(["config", "check", "-c"]).arg(&cfg).env("LOGFETCH_TEST_SURELY_UNSET", "sekrit-value").output().unwrap();
    assert!(out.status.success());
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains("sekrit-value"), "secret leaked: {all}");
}

#[test]
fn checkpoint_commands_inspect_set_and_reset() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), "");
    let run = |args: &[&str]| {
        let out = logfetch().args(args).arg("-c").arg(&cfg).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (code, out, _) = run(&["checkpoint", "list"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("no checkpoints yet"));
    let (code, out, err) = run(&["checkpoint", "set", "t1", "flow", r#"{"watermark":"2024-05-01T00:00:00Z"}"#]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("generation 1"));
    let (_, out, _) = run(&["checkpoint", "show", "t1", "flow"]);
    assert!(out.contains("\"watermark\": \"2024-05-01T00:00:00Z\""), "{out}");
    let (code, _, err) = run(&["checkpoint", "reset", "t1", "flow"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("--yes"));
    let (code, out, _) = run(&["checkpoint", "reset", "t1", "flow", "--yes"]);
    assert_eq!(code, Some(0));
    assert!(out.contains("reset tenant `t1` stream `flow`"));
    let (code, _, err) = run(&["checkpoint", "show", "t1", "flow"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("no checkpoint for tenant `t1` stream `flow`"));
}

#[test]
fn demo_runs_the_real_pipeline_and_its_output_validates() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("demo-out");
    let out = logfetch().args(["demo", "--duration", "10s", "--out"]).arg(&out_dir).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // The summary table: one row per tenant and kind with events, batches, rejects, checkpoint.
    let row = stdout.lines().find(|l| l.starts_with("demo-test") && l.contains("flow")).unwrap_or_else(|| panic!("{stdout}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    // How much arrives in the time depends on the machine's load: every source must deliver,
    // the exact volumes are asserted by the per-vendor end-to-end tests.
    let events: u64 = cols[2].parse().unwrap();
    assert!(events > 0, "{row}");
    assert!(cols[5..].join(" ").starts_with("watermark 20"), "{row}");
    let asa = stdout.lines().find(|l| l.starts_with("demo-asa") && l.contains("flow")).unwrap_or_else(|| panic!("{stdout}"));
    let asa_events: u64 = asa.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(asa_events > 0, "the simulated ASA's syslog arrived: {asa}");
    let pan = stdout.lines().find(|l| l.starts_with("demo-panos") && l.contains("flow")).unwrap_or_else(|| panic!("{stdout}"));
    let pan_events: u64 = pan.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(pan_events > 0, "PAN-OS traffic arrived: {pan}");
    let zia = stdout.lines().find(|l| l.starts_with("demo-zia") && l.contains("dns")).unwrap_or_else(|| panic!("{stdout}"));
    let zia_events: u64 = zia.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!(zia_events > 0 && zia_events <= 600, "the Cloud NSS feed's DNS records, each once: {zia}");
    for kind in ["flow", "dns"] {
        let s1 = stdout.lines().find(|l| l.starts_with("demo-s1") && l.contains(kind)).unwrap_or_else(|| panic!("{stdout}"));
        let n: u64 = s1.split_whitespace().nth(2).unwrap().parse().unwrap();
        assert!(n > 0, "SentinelOne {kind} telemetry arrived: {s1}");
    }
    assert!(stdout.contains("\"class_uid\": 4001") && stdout.contains("\"class_uid\": 4003"), "two sample records");
    // Every batch validates.
    let mut files = Vec::new();
    let mut stack = vec![out_dir.join("batches")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    assert!(!files.is_empty());
    let v = logfetch().arg("validate").args(&files).output().unwrap();
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
    // The directory, as the demo's last line suggests, stands for the same files.
    let batches = out_dir.join("batches");
    assert!(stdout.contains(&format!("`logfetch validate {}`", batches.display())), "{stdout}");
    let by_dir = logfetch().arg("validate").arg(&batches).output().unwrap();
    assert!(by_dir.status.success(), "{}", String::from_utf8_lossy(&by_dir.stdout));
    let first = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or_default().to_string();
    assert!(first(&v).contains(" valid, 0 invalid"), "{}", first(&v));
    assert_eq!(first(&by_dir), first(&v));
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let none = logfetch().arg("validate").arg(&empty).output().unwrap();
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no .ndjson or .json files under"), "{}", String::from_utf8_lossy(&none.stderr));
}
