//! `logfetch run`: the daemon.

use std::process::ExitCode;

use clap::Args;
use tokio_util::sync::CancellationToken;

use crate::ConfigPath;

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigPath,
}

pub fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let cfg = super::load_config(&args.config.config)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(logfetch_scheduler::service::run_daemon(args.config.config.clone(), cfg, CancellationToken::new(), None))?;
    Ok(ExitCode::SUCCESS)
}
