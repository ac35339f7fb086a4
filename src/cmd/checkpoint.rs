//! `logfetch checkpoint list|show|reset|set`. Works on the store directly while no daemon runs;
//! while one does (sled holds an exclusive lock), the same operations go through its admin API.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use logfetch_common::checkpoint::CheckpointStore;

use crate::ConfigPath;

#[derive(Subcommand, Debug)]
pub enum CheckpointCommand {
    /// List every checkpoint: tenant, stream, generation, last update.
    List {
        #[command(flatten)]
        config: ConfigPath,
    },
    /// Print one checkpoint's value as JSON.
    Show {
        tenant: String,
        /// Stream name (`flow`, `dns`).
        stream: String,
        #[command(flatten)]
        config: ConfigPath,
    },
    /// Delete a checkpoint: the stream starts again from `initial_lookback`.
    Reset {
        tenant: String,
        stream: String,
        /// Required: resetting re-collects data.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        config: ConfigPath,
    },
    /// Replace a checkpoint's value with the given JSON (to rewind or skip ahead).
    Set {
        tenant: String,
        stream: String,
        /// The connector's checkpoint value, as JSON (see `checkpoint show`).
        value: String,
        #[command(flatten)]
        config: ConfigPath,
    },
}

/// The same operations through a running daemon's admin API.
fn via_admin(cmd: &CheckpointCommand, cfg: &logfetch_config::Config) -> anyhow::Result<ExitCode> {
    use reqwest::Method;
    let req = |m: Method, p: &str, b: Option<serde_json::Value>| super::status::admin_request(cfg, None, m, p, b);
    eprintln!("(the daemon holds the checkpoint store; going through its admin API at {})", cfg.service.admin_listen);
    match cmd {
        CheckpointCommand::List { .. } => {
            let v = req(Method::GET, "/api/v1/checkpoints", None)?;
            for c in v.as_array().into_iter().flatten() {
                println!("{:<20} {:<8} generation={:<6} updated={} value={}", c["tenant"].as_str().unwrap_or("?"), c["stream"].as_str().unwrap_or("?"), c["generation"], c["updated_at"].as_str().unwrap_or("?"), c["value"]);
            }
        }
        CheckpointCommand::Show { tenant, stream, .. } => {
            let v = req(Method::GET, "/api/v1/checkpoints", None)?;
            let found = v.as_array().into_iter().flatten().find(|c| c["tenant"] == tenant.as_str() && c["stream"] == stream.as_str());
            match found {
                Some(c) => println!("{}", serde_json::to_string_pretty(c)?),
                None => bail!("no checkpoint for tenant `{tenant}` stream `{stream}`"),
            }
        }
        CheckpointCommand::Reset { tenant, stream, .. } => {
            let v = req(Method::DELETE, &format!("/api/v1/checkpoints/{tenant}/{stream}"), None)?;
            println!("{}", if v["removed"] == true { format!("reset tenant `{tenant}` stream `{stream}`") } else { format!("tenant `{tenant}` stream `{stream}` had no checkpoint") });
        }
        CheckpointCommand::Set { tenant, stream, value, .. } => {
            let body: serde_json::Value = serde_json::from_str(value).context("the value must be JSON")?;
            let v = req(Method::PUT, &format!("/api/v1/checkpoints/{tenant}/{stream}"), Some(body))?;
            println!("tenant `{tenant}` stream `{stream}` now at generation {}", v["generation"]);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn config_of(cmd: &CheckpointCommand) -> &ConfigPath {
    match cmd {
        CheckpointCommand::List { config } | CheckpointCommand::Show { config, .. } | CheckpointCommand::Reset { config, .. } | CheckpointCommand::Set { config, .. } => config,
    }
}

pub fn run(cmd: CheckpointCommand) -> anyhow::Result<ExitCode> {
    if let CheckpointCommand::Reset { yes: false, tenant, stream, .. } = &cmd {
        bail!("resetting makes tenant `{tenant}` stream `{stream}` collect again from its initial_lookback; add --yes to do it");
    }
    let cfg = super::load_config(&config_of(&cmd).config)?;
    let store = match super::open_store(&cfg) {
        Err(e) if e.downcast_ref::<logfetch_common::checkpoint::CheckpointError>().is_some_and(|c| matches!(c, logfetch_common::checkpoint::CheckpointError::Locked { .. })) => {
            return via_admin(&cmd, &cfg).map_err(|admin_err| anyhow::anyhow!("{e}\nand the admin API did not answer: {admin_err:#}"));
        }
        Err(e) => return Err(e),
        // One open per process: sled releases its file lock from a background thread after the
        // handle drops, so a second open right after a drop can find the store still locked.
        Ok(store) => store,
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        match cmd {
            CheckpointCommand::List { .. } => {
                let all = store.list()?;
                if all.is_empty() {
                    println!("no checkpoints yet");
                }
                for (tenant, stream, rec) in all {
                    match rec {
                        Ok(r) => println!("{tenant:<20} {stream:<8} generation={:<6} updated={} value={}", r.generation, r.updated_at.to_rfc3339(), r.value),
                        Err(e) => println!("{tenant:<20} {stream:<8} ERROR: {e}"),
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            CheckpointCommand::Show { tenant, stream, .. } => {
                match store.get(&tenant, &stream)? {
                    Some(r) => {
                        println!("{}", serde_json::to_string_pretty(&r)?);
                        Ok(ExitCode::SUCCESS)
                    }
                    None => bail!("no checkpoint for tenant `{tenant}` stream `{stream}`"),
                }
            }
            // Without `--yes` it was refused before the store was opened.
            CheckpointCommand::Reset { tenant, stream, .. } => {
                let existed = store.remove(&tenant, &stream).await?;
                let _ = logfetch_scheduler::audit::record(&cfg.service.data_dir, "checkpoint_reset", &logfetch_scheduler::audit::cli_actor(), serde_json::json!({"tenant": tenant, "stream": stream, "existed": existed}), Ok(()));
                if existed {
                    println!("reset tenant `{tenant}` stream `{stream}`");
                } else {
                    println!("tenant `{tenant}` stream `{stream}` had no checkpoint");
                }
                Ok(ExitCode::SUCCESS)
            }
            CheckpointCommand::Set { tenant, stream, value, config } => {
                if cfg.tenant(&tenant).is_none() {
                    bail!("no tenant `{tenant}` in {}", config.config.display());
                }
                let v: serde_json::Value = serde_json::from_str(&value).context("the value must be JSON")?;
                let current = match store.get(&tenant, &stream) {
                    Ok(c) => c.map(|c| c.generation),
                    // Overwriting a corrupted value is what `set` is for; find its generation raw.
                    Err(e) => bail!("{e}; use `checkpoint reset --yes` first, then `set`"),
                };
                let g = store.compare_and_swap(&tenant, &stream, current, v.clone()).await?;
                let _ = logfetch_scheduler::audit::record(&cfg.service.data_dir, "checkpoint_set", &logfetch_scheduler::audit::cli_actor(), serde_json::json!({"tenant": tenant, "stream": stream, "value": v, "generation": g}), Ok(()));
                println!("tenant `{tenant}` stream `{stream}` now at generation {g}");
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
