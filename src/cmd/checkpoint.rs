//! `logfetch checkpoint list|show|reset|set`. Works on the store directly, which sled allows
//! only while the daemon is stopped; while it runs, the error says to use the admin API.

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

pub fn run(cmd: CheckpointCommand) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async move {
        match cmd {
            CheckpointCommand::List { config } => {
                let cfg = super::load_config(&config.config)?;
                let store = super::open_store(&cfg)?;
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
            CheckpointCommand::Show { tenant, stream, config } => {
                let cfg = super::load_config(&config.config)?;
                let store = super::open_store(&cfg)?;
                match store.get(&tenant, &stream)? {
                    Some(r) => {
                        println!("{}", serde_json::to_string_pretty(&r)?);
                        Ok(ExitCode::SUCCESS)
                    }
                    None => bail!("no checkpoint for tenant `{tenant}` stream `{stream}`"),
                }
            }
            CheckpointCommand::Reset { tenant, stream, yes, config } => {
                if !yes {
                    bail!("resetting makes tenant `{tenant}` stream `{stream}` collect again from its initial_lookback; add --yes to do it");
                }
                let cfg = super::load_config(&config.config)?;
                let store = super::open_store(&cfg)?;
                if store.remove(&tenant, &stream).await? {
                    println!("reset tenant `{tenant}` stream `{stream}`");
                } else {
                    println!("tenant `{tenant}` stream `{stream}` had no checkpoint");
                }
                Ok(ExitCode::SUCCESS)
            }
            CheckpointCommand::Set { tenant, stream, value, config } => {
                let cfg = super::load_config(&config.config)?;
                if cfg.tenant(&tenant).is_none() {
                    bail!("no tenant `{tenant}` in {}", config.config.display());
                }
                let v: serde_json::Value = serde_json::from_str(&value).context("the value must be JSON")?;
                let store = super::open_store(&cfg)?;
                let current = match store.get(&tenant, &stream) {
                    Ok(c) => c.map(|c| c.generation),
                    // Overwriting a corrupted value is what `set` is for; find its generation raw.
                    Err(e) => bail!("{e}; use `checkpoint reset --yes` first, then `set`"),
                };
                let g = store.compare_and_swap(&tenant, &stream, current, v).await?;
                println!("tenant `{tenant}` stream `{stream}` now at generation {g}");
                Ok(ExitCode::SUCCESS)
            }
        }
    })
}
