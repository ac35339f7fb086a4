//! The documentation's commands run: every `$ ` line of a ```console block in `docs/*.md`, in
//! order, in one working directory with a `logfetch.toml` whose tenants `fw1` (PAN-OS) and `lab`
//! (logfetch's test vendor) point at mocks on loopback. A command that fails fails the test with
//! the document and the line.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

fn commands(doc: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in doc.lines() {
        let t = line.trim();
        if t.starts_with("```") {
            inside = !inside && t == "```console";
            continue;
        }
        if inside {
            if let Some(cmd) = t.strip_prefix("$ ") {
                out.push(cmd.to_string());
            }
        }
    }
    out
}

#[test]
fn every_documented_command_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let samples = root.join("../shared/samples").canonicalize().expect("../shared/samples beside the repository");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (_api, api_url) = start_listening(&["mock", "test-api", "--token", "docs-token", "--interval-ms", "1000"]);
    let (_pan, pan_url) = start_listening(&["mock", "panos", "--tz", "Europe/Berlin", "--history", "40m", "--interval-ms", "1000"]);
    let tok = secret_file(d, "lab-token", "docs-token");
    let pw = secret_file(d, "pan-password", "pan-secret");
    std::fs::write(
        d.join("logfetch.toml"),
        format!(
            "[service]\ndata_dir = \"data\"\nadmin_listen = \"127.0.0.1:0\"\n\n[[tenant]]\nid = \"fw1\"\nvendor = \"paloalto\"\ntimezone = \"Europe/Berlin\"\nwindow = \"10m\"\n[tenant.connection]\nurl = \"{pan_url}\"\nusername = \"admin\"\npassword = \"file:{pw}\"\npage_size = 500\npoll_interval = \"20ms\"\n\n[[tenant]]\nid = \"lab\"\nvendor = \"test\"\n[tenant.connection]\nurl = \"{api_url}\"\ntoken = \"file:{tok}\"\npage_size = 500\n\n[[sink]]\nname = \"files\"\ntype = \"file\"\npath = \"out\"\nhash_chain = true\n"
        ),
    )
    .unwrap();
    let bin_dir: PathBuf = Path::new(bin()).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default());
    let docs = ["first-hour.md", "incident-collection.md", "onboarding.md", "hunting-triage.md", "operations.md"];
    let mut ran = 0;
    for doc in docs {
        let text = std::fs::read_to_string(root.join("docs").join(doc)).unwrap();
        for cmd in commands(&text) {
            let o = Command::new("bash").args(["-o", "pipefail", "-c", &cmd]).current_dir(d).env("PATH", &path).env("SAMPLES", &samples).output().unwrap();
            assert!(o.status.success(), "docs/{doc}: `{cmd}` failed ({}):\n{}\n{}", o.status, String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
            ran += 1;
        }
    }
    assert!(ran >= 15, "{ran} commands");
    // What the procedures produced is what they promise.
    assert!(d.join("case-4711/fw1-flow/manifest.json").exists());
    assert!(std::fs::read_to_string(d.join("data/audit.jsonl")).unwrap().contains("\"checkpoint_reset\""));
}
