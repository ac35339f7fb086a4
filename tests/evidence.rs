//! End-to-end evidence: a signed manifest for `logfetch pull`, verified with the right key and
//! refused with another; a flipped byte and an added file are named; the daemon's file sink keeps
//! a hash chain that catches a deleted batch.

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

fn verify(dir: &std::path::Path, key: Option<&str>) -> (bool, String) {
    let mut c = Command::new(bin());
    c.args(["evidence", "verify"]).arg(dir);
    if let Some(k) = key {
        c.args(["--public-key", k]);
    }
    let o = c.output().unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stdout).to_string())
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn signed_pull_manifests_and_sink_hash_chains_verify_and_name_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_mock, url) = start_listening(&["mock", "test-api", "--token", "e2e-token", "--interval-ms", "1000"]);
    let keygen = Command::new(bin()).args(["evidence", "keygen", "--out"]).arg(d.join("signing.key")).output().unwrap();
    assert!(keygen.status.success(), "{}", String::from_utf8_lossy(&keygen.stderr));
    let public = String::from_utf8_lossy(&keygen.stdout).trim().to_string();
    let tok = secret_file(d, "token", "e2e-token");
    let cfg = d.join("logfetch.toml");
    std::fs::write(
        &cfg,
        format!(
            "[service]\ndata_dir = \"{}\"\nadmin_listen = \"127.0.0.1:0\"\nevidence_signing_key = \"file:{}\"\n\n[[tenant]]\nid = \"t1\"\nvendor = \"test\"\nschedule = \"* * * * * *\"\ninitial_lookback = \"10m\"\n[tenant.connection]\nurl = \"{url}\"\ntoken = \"file:{tok}\"\npage_size = 200\n\n[[sink]]\nname = \"files\"\ntype = \"file\"\npath = \"{}\"\nhash_chain = true\n",
            d.join("data").display(),
            d.join("signing.key").display(),
            d.join("out").display()
        ),
    )
    .unwrap();
    // An incident pull with its manifest.
    let pull_dir = d.join("incident");
    let o = Command::new(bin()).args(["pull", "t1", "--kind", "flow", "--since", "10m", "--out"]).arg(&pull_dir).arg("-c").arg(&cfg).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(pull_dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!((m["tenant"].as_str(), m["kinds"][0].as_str(), m["completed"].as_bool(), m["signed_by"].as_str()), (Some("t1"), Some("flow"), Some(true), Some(public.as_str())));
    assert!(m["events"].as_u64().unwrap() >= 500, "{m}");
    let lines: u64 = m["files"].as_array().unwrap().iter().map(|f| f["lines"].as_u64().unwrap()).sum();
    assert_eq!(lines, m["events"].as_u64().unwrap(), "every event is in a hashed file");
    assert!(!std::fs::read_to_string(pull_dir.join("manifest.json")).unwrap().contains("e2e-token"), "no secret in the manifest");
    let (ok, out) = verify(&pull_dir, Some(&public));
    assert!(ok && out.contains("signature valid"), "{out}");
    // Another key.
    let other = Command::new(bin()).args(["evidence", "keygen", "--out"]).arg(d.join("other.key")).output().unwrap();
    let (ok, out) = verify(&pull_dir, Some(String::from_utf8_lossy(&other.stdout).trim()));
    assert!(!ok && out.contains("signature does not match"), "{out}");
    // One flipped byte, and an added file: both named.
    let files: Vec<_> = walk(&pull_dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "ndjson")).collect();
    let victim = &files[0];
    let mut bytes = std::fs::read(victim).unwrap();
    bytes[10] ^= 1;
    std::fs::write(victim, bytes).unwrap();
    std::fs::write(pull_dir.join("extra.ndjson"), "{}\n").unwrap();
    let (ok, out) = verify(&pull_dir, Some(&public));
    let rel = victim.strip_prefix(&pull_dir).unwrap().display().to_string();
    assert!(!ok && out.contains(&format!("FAIL: {rel}: changed")) && out.contains("FAIL: extra.ndjson: not in the manifest"), "{out}");

    // The daemon's sink with a hash chain.
    let (daemon, addr, _logs) = start_daemon(&cfg);
    let out_dir = d.join("out");
    wait_until("chained batches", Duration::from_secs(30), || walk(&out_dir).iter().filter(|p| p.extension().is_some_and(|e| e == "ndjson")).count() >= 2);
    // A tenant is added, then the daemon reloads.
    let mut text = std::fs::read_to_string(&cfg).unwrap();
    text.push_str(&format!("\n[[tenant]]\nid = \"t2\"\nvendor = \"test\"\nenabled = false\n[tenant.connection]\nurl = \"{url}\"\ntoken = \"file:{tok}\"\n"));
    std::fs::write(&cfg, text).unwrap();
    let (status, _) = http(&addr, "POST", "/api/v1/reload", None, None);
    assert_eq!(status, 200);
    kill(&daemon.0, 15);
    drop(daemon);
    let o = Command::new(bin()).args(["checkpoint", "reset", "t1", "flow", "--yes", "-c"]).arg(&cfg).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The audit trail has each administrative action, with actor and outcome.
    let audit: Vec<serde_json::Value> = std::fs::read_to_string(d.join("data/audit.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let actions: Vec<(&str, &str)> = audit.iter().map(|a| (a["action"].as_str().unwrap(), a["outcome"].as_str().unwrap())).collect();
    for want in [("pull_started", "ok"), ("pull", "ok"), ("config_reload", "ok"), ("admin_api", "ok"), ("checkpoint_reset", "ok")] {
        assert!(actions.contains(&want), "{want:?} in {actions:?}");
    }
    let reload = audit.iter().find(|a| a["action"] == "config_reload").unwrap();
    assert_eq!(reload["details"]["tenants_added"], serde_json::json!(["t2"]), "{reload}");
    let api = audit.iter().find(|a| a["action"] == "admin_api").unwrap();
    assert_eq!((api["actor"].as_str(), api["details"]["path"].as_str()), (Some("admin-api:127.0.0.1"), Some("/api/v1/reload")));
    assert!(audit.iter().find(|a| a["action"] == "pull").unwrap()["actor"].as_str().unwrap().starts_with("cli:"));
    assert!(!std::fs::read_to_string(d.join("data/audit.jsonl")).unwrap().contains("e2e-token"), "no secret in the audit trail");
    let (ok, out) = verify(&out_dir, None);
    assert!(ok, "{out}");
    let batch = walk(&out_dir).into_iter().find(|p| p.extension().is_some_and(|e| e == "ndjson")).unwrap();
    std::fs::remove_file(&batch).unwrap();
    let (ok, out) = verify(&out_dir, None);
    assert!(!ok && out.contains(&format!("{}: batch in the chain but missing", batch.display())), "{out}");
}
