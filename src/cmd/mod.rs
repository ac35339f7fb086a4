//! One module per subcommand.

pub mod bench;
pub mod checkpoint;
pub mod config;
pub mod demo;
pub mod enrich;
pub mod evidence;
pub mod hunt;
pub mod mock;
pub mod pull;
pub mod run;
pub mod status;
pub mod tenant;
pub mod parse;
pub mod secret;
pub mod validate;
pub mod zscaler;

use anyhow::{Context, bail};
use logfetch_config::Config;

/// Loads and checks a config file, printing every problem.
pub fn load_config(path: &std::path::Path) -> anyhow::Result<Config> {
    let vendors = logfetch_connectors::registry::vendor_names();
    match Config::load(path, &vendors) {
        Ok(c) => Ok(c),
        Err(errs) => {
            for e in &errs {
                eprintln!("error: {e}");
            }
            bail!("{} has {} problem(s)", path.display(), errs.len())
        }
    }
}

/// Opens the checkpoint store of a config's data dir.
pub fn open_store(cfg: &Config) -> anyhow::Result<logfetch_common::checkpoint::SledCheckpointStore> {
    let dir = cfg.service.data_dir.join("state");
    std::fs::create_dir_all(&cfg.service.data_dir).with_context(|| format!("creating data dir {}", cfg.service.data_dir.display()))?;
    Ok(logfetch_common::checkpoint::SledCheckpointStore::open(&dir)?)
}
