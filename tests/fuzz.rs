//! Runs every cargo-fuzz target (`fuzz/fuzz_targets/`) for a bounded time: syslog framing, the
//! Cisco, PAN-OS (CSV/CEF/LEEF/JSON/XML), Zscaler and SentinelOne parsers, and the config file.
//! Each starts from the corpus kept in `fuzz/corpus/<target>`, the inputs that once crashed it
//! (`fuzz/regressions/<target>`) and the vendor samples in
//! `../shared`, and must finish without a crash. `LOGFETCH_FUZZ_SECS` sets the time per target
//! (default 30). Needs nightly and cargo-fuzz (`.ci/run` installs cargo-fuzz); without them the
//! test says SKIPPED.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGETS: [(&str, &[&str]); 6] = [
    ("syslog_framing", &["samples/cisco_asa", "samples/cisco_ftd", "samples/panos_syslog", "bench/samples/input-asa.log"]),
    ("cisco", &["samples/cisco_asa", "samples/cisco_ftd", "bench/samples/input-asa.log"]),
    ("paloalto", &["samples/panos_syslog", "samples/panos_xml", "bench/samples/input-panos.log"]),
    ("zscaler", &["samples/zscaler_dns", "samples/zscaler_fw", "bench/samples/input-zscaler.log"]),
    ("sentinelone", &["samples/sentinelone"]),
    ("config", &[]),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn tool_available() -> bool {
    Command::new("cargo").args(["+nightly", "fuzz", "--version"]).output().is_ok_and(|o| o.status.success())
}

/// Seed files: the kept corpus, then each sample file's lines (one file per line; whole files
/// for XML and pretty JSON documents).
fn seed(target: &str, sources: &[&str], into: &Path) -> usize {
    std::fs::create_dir_all(into).unwrap();
    let mut n = 0;
    for dir in ["fuzz/corpus", "fuzz/regressions"] {
        for e in std::fs::read_dir(root().join(dir).join(target)).into_iter().flatten().flatten() {
            std::fs::copy(e.path(), into.join(e.file_name())).unwrap();
            n += 1;
        }
    }
    let shared = root().join("../shared");
    for s in sources {
        let p = shared.join(s);
        let files: Vec<PathBuf> = if p.is_dir() { std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()).collect() } else { vec![p] };
        for f in files {
            let Ok(text) = std::fs::read_to_string(&f) else { continue };
            let whole = text.trim_start().starts_with('<') && !text.trim_start().starts_with("<1") || text.trim_start().starts_with("{\n") || text.trim_start().starts_with('[');
            let parts: Vec<&str> = if whole { vec![text.as_str()] } else { text.lines().filter(|l| !l.trim().is_empty()).take(200).collect() };
            for part in parts {
                std::fs::write(into.join(format!("seed-{n}")), part).unwrap();
                n += 1;
            }
        }
    }
    if target == "config" {
        for doc in ["README.md", "docs/onboarding.md"] {
            let text = std::fs::read_to_string(root().join(doc)).unwrap_or_default();
            for block in text.split("```toml").skip(1) {
                let body = block.split("```").next().unwrap_or("");
                std::fs::write(into.join(format!("seed-{n}")), body.replace("\n# ", "\n")).unwrap();
                n += 1;
            }
        }
    }
    n
}

#[test]
fn every_fuzz_target_runs_clean_for_a_bounded_time() {
    if !tool_available() {
        eprintln!("SKIPPED: `cargo +nightly fuzz` is not available (rustup toolchain install nightly; cargo install cargo-fuzz)");
        return;
    }
    let secs: u64 = std::env::var("LOGFETCH_FUZZ_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let build = Command::new("cargo").args(["+nightly", "fuzz", "build", "-O"]).current_dir(root()).output().unwrap();
    assert!(build.status.success(), "cargo fuzz build failed:\n{}", String::from_utf8_lossy(&build.stderr));
    let tmp = tempfile::tempdir().unwrap();
    let mut report = Vec::new();
    for (target, sources) in TARGETS {
        let corpus = tmp.path().join(target);
        let seeds = seed(target, sources, &corpus);
        let artifacts = tmp.path().join(format!("{target}-artifacts"));
        std::fs::create_dir_all(&artifacts).unwrap();
        let out = Command::new("cargo")
            .args(["+nightly", "fuzz", "run", "-O", target])
            .arg(&corpus)
            .args(["--", &format!("-max_total_time={secs}"), "-rss_limit_mb=2048", "-max_len=65536", "-print_final_stats=1"])
            .arg(format!("-artifact_prefix={}/", artifacts.display()))
            .current_dir(root())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        let crash: Vec<String> = std::fs::read_dir(&artifacts).unwrap().flatten().map(|e| e.path().display().to_string()).collect();
        assert!(out.status.success() && crash.is_empty(), "fuzz target `{target}` failed (inputs: {crash:?}):\n{}", err.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n"));
        let execs = err.lines().find_map(|l| l.strip_prefix("stat::number_of_executed_units:")).map(|v| v.trim().to_string()).unwrap_or_else(|| "?".into());
        report.push(format!("{target}: {execs} executions in {secs} s from {seeds} seeds"));
    }
    eprintln!("fuzzing:\n  {}", report.join("\n  "));
}
