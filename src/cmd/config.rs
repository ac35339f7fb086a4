//! `logfetch config check`.

use std::process::ExitCode;

use clap::Subcommand;
use logfetch_config::secret::ProcessEnv;

use crate::ConfigPath;

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate a config: syntax, unknown keys, vendors, zones, sinks and secret references
    /// (each secret is fetched, never printed). Prints a summary; exits 1 on any problem.
    Check {
        #[command(flatten)]
        config: ConfigPath,
        /// Do not try to fetch secrets (e.g. on a machine without them).
        #[arg(long)]
        skip_secrets: bool,
    },
}

pub fn run(cmd: ConfigCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        ConfigCommand::Check { config, skip_secrets } => {
            let cfg = super::load_config(&config.config)?;
            let mut failed = false;
            if !skip_secrets {
                for e in cfg.check_secrets(&ProcessEnv) {
                    eprintln!("error: {}: {e}", config.config.display());
                    failed = true;
                }
            }
            println!("{}: {} tenant(s), {} sink(s)", config.config.display(), cfg.tenants.len(), cfg.sinks.len());
            println!("  data_dir     {}", cfg.service.data_dir.display());
            println!("  admin_listen {}", cfg.service.admin_listen);
            for t in &cfg.tenants {
                let kinds: Vec<_> = t.kinds.iter().map(|k| k.as_str()).collect();
                let sinks: Vec<_> = t.routes(&cfg).iter().map(|s| s.name.get_ref().clone()).collect();
                println!(
                    "  tenant {:<20} vendor={:<12} kinds={:<9} tz={} schedule=\"{}\" sinks={}{}",
                    t.id(),
                    t.vendor(),
                    kinds.join(","),
                    t.timezone.get_ref(),
                    t.schedule.get_ref(),
                    sinks.join(","),
                    if t.enabled { "" } else { " (disabled)" }
                );
            }
            for t in &cfg.tenants {
                match logfetch_scheduler::schedule::CronSchedule::parse(t.schedule.get_ref(), t.tz()) {
                    Ok(sched) => {
                        let next: Vec<String> = sched.upcoming(chrono::Utc::now(), 5).iter().map(|n| n.with_timezone(&t.tz()).to_rfc3339()).collect();
                        println!("    next runs of {}: {}", t.id(), next.join(", "));
                    }
                    Err(e) => {
                        let (line, col) = logfetch_config::line_col(&std::fs::read_to_string(&config.config).unwrap_or_default(), t.schedule.span().start);
                        eprintln!("error: {}:{line}:{col}: tenant `{}`: {e}", config.config.display(), t.id());
                        failed = true;
                    }
                }
            }
            for s in &cfg.sinks {
                println!("  sink   {:<20} type={:?} format={:?}{}", s.name.get_ref(), s.kind, s.format, s.path.as_ref().map(|p| format!(" path={}", p.display())).unwrap_or_default());
            }
            if failed {
                eprintln!("config check failed");
                return Ok(ExitCode::FAILURE);
            }
            println!("ok");
            Ok(ExitCode::SUCCESS)
        }
    }
}
