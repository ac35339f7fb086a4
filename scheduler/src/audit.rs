//! The audit trail: an append-only JSON-lines file (`<data_dir>/audit.jsonl`) of every
//! administrative action — config reloads with what changed, on-demand pulls, checkpoint
//! changes, secret changes (the reference, never the value), and admin API calls that change
//! something or are refused — with time, actor and outcome. Each line is written with one
//! `write` on an `O_APPEND` descriptor and synced.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde_json::{Value, json};

pub const FILE: &str = "audit.jsonl";

pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE)
}

/// Who acts from the command line: `user@host`.
pub fn cli_actor() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| format!("uid:{}", unsafe_uid()));
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "localhost".into());
    format!("cli:{user}@{host}")
}

fn unsafe_uid() -> String {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m).to_string()).unwrap_or_else(|_| "?".into())
}

/// Appends one entry. A failure is logged (and returned) but never undoes the action.
pub fn record(data_dir: &Path, action: &str, actor: &str, details: Value, outcome: Result<(), String>) -> std::io::Result<()> {
    let entry = json!({
        "time": Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "action": action,
        "actor": actor,
        "outcome": if outcome.is_ok() { "ok" } else { "error" },
        "error": outcome.err(),
        "details": details,
    });
    let res = (|| {
        std::fs::create_dir_all(data_dir)?;
        let mut line = serde_json::to_vec(&entry).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path(data_dir))?;
        f.write_all(&line)?;
        f.sync_data()
    })();
    if let Err(e) = &res {
        tracing::error!(action, error = %e, "cannot write the audit trail");
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_append_with_outcome() {
        let d = tempfile::tempdir().unwrap();
        record(d.path(), "checkpoint_reset", "cli:alice@h", json!({"tenant": "t"}), Ok(())).unwrap();
        record(d.path(), "pull_started", "admin-api:127.0.0.1", json!({}), Err("boom".into())).unwrap();
        let text = std::fs::read_to_string(path(d.path())).unwrap();
        let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!((lines[0]["action"].as_str(), lines[0]["outcome"].as_str()), (Some("checkpoint_reset"), Some("ok")));
        assert_eq!((lines[1]["outcome"].as_str(), lines[1]["error"].as_str()), (Some("error"), Some("boom")));
    }
}
