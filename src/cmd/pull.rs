//! `logfetch pull`: an ad-hoc, incident-mode pull. Never moves the scheduled checkpoint.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use chrono::Utc;
use clap::Args;
use logfetch_common::{Format, LogKind};
use logfetch_connectors::http::RateLimiter;
use logfetch_scheduler::metrics::Metrics;
use logfetch_scheduler::runner::RunSummary;
use logfetch_scheduler::sink::Sink;
use tokio_util::sync::CancellationToken;

use crate::ConfigPath;

#[derive(Args, Debug)]
pub struct PullArgs {
    /// Tenant id from the config.
    pub tenant: String,
    /// What to pull.
    #[arg(long, value_parser = ["flow", "dns"])]
    pub kind: String,
    /// Start: RFC 3339 time, or a duration back from now (`2h`, `30m`, `1d`).
    #[arg(long)]
    pub since: String,
    /// End (default: now): RFC 3339 or a duration back from now.
    #[arg(long)]
    pub until: Option<String>,
    /// Output directory, or `-` for NDJSON on stdout
    /// (default: <incidents_dir>/<UTC timestamp>-<tenant>-<kind>/).
    #[arg(long)]
    pub out: Option<String>,
    /// Output encoding (default: the tenant's first sink's, else OCSF).
    #[arg(long, value_parser = ["ocsf", "ecs"])]
    pub format: Option<String>,
    #[command(flatten)]
    pub config: ConfigPath,
}

pub fn run(args: PullArgs) -> anyhow::Result<ExitCode> {
    let cfg = super::load_config(&args.config.config)?;
    let t = cfg.tenant(&args.tenant).with_context(|| format!("no tenant `{}` in {}", args.tenant, args.config.config.display()))?.clone();
    let kind: LogKind = args.kind.parse().map_err(anyhow::Error::msg)?;
    if !t.kinds.contains(&kind) {
        bail!("tenant `{}` does not collect `{kind}` (kinds = {:?})", args.tenant, t.kinds);
    }
    let now = Utc::now();
    let since = logfetch_scheduler::admin::parse_time_arg(&args.since, now).map_err(anyhow::Error::msg)?;
    let until = match &args.until {
        Some(u) => logfetch_scheduler::admin::parse_time_arg(u, now).map_err(anyhow::Error::msg)?,
        None => now,
    };
    if since >= until {
        bail!("--since ({since}) must be before --until ({until})");
    }
    let format: Format = match &args.format {
        Some(f) => f.parse().map_err(anyhow::Error::msg)?,
        None => t.routes(&cfg).first().map(|s| s.format).unwrap_or_default(),
    };
    let key = logfetch_scheduler::evidence::configured_key(&cfg).map_err(anyhow::Error::msg)?;
    let mut out_dir: Option<PathBuf> = None;
    let (sink, where_): (Arc<dyn Sink>, String) = match args.out.as_deref() {
        Some("-") => (Arc::new(logfetch_scheduler::sink::stdout::StdoutSink::new("stdout", format)), "stdout".into()),
        other => {
            let dir = match other {
                Some(d) => PathBuf::from(d),
                None => cfg.service.incidents_dir.join(format!("{}-{}-{}", now.format("%Y%m%dT%H%M%SZ"), args.tenant, kind)),
            };
            out_dir = Some(dir.clone());
            (Arc::new(logfetch_scheduler::sink::file::FileSink::new("incident", dir.clone(), format, false)), dir.display().to_string())
        }
    };
    let _ = logfetch_scheduler::audit::record(&cfg.service.data_dir, "pull_started", &logfetch_scheduler::audit::cli_actor(), serde_json::json!({"tenant": args.tenant, "kind": kind.as_str(), "since": since, "until": until, "out": where_}), Ok(()));
    let rt = tokio::runtime::Runtime::new()?;
    let cancel = CancellationToken::new();
    let progress = if std::io::stderr().is_terminal() {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_style(indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}").unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()));
        pb.enable_steady_tick(std::time::Duration::from_millis(200));
        Some(pb)
    } else {
        None
    };
    let started = std::time::Instant::now();
    let pb2 = progress.clone();
    let on_page = move |s: &RunSummary| {
        let rate = s.events as f64 / started.elapsed().as_secs_f64().max(0.001);
        let msg = format!("{} events, {} pages, {} rejected, {:.0} events/s", s.events, s.pages, s.rejected, rate);
        match &pb2 {
            Some(pb) => pb.set_message(msg),
            None => tracing::info!("{msg}"),
        }
    };
    let result = rt.block_on(async {
        let c2 = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                eprintln!("interrupted: finishing the current page");
                c2.cancel();
            }
        });
        let metrics = Metrics::default();
        let enricher = crate::cmd::enrich::tenant_enricher(&cfg, &t).await?;
        logfetch_scheduler::service::adhoc_pull_to(&cfg, &t, kind, since, until, &[sink], RateLimiter::new(t.rate_limit), &metrics, cancel.clone(), Some(&on_page), enricher.as_ref()).await
    });
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    if let Some(dir) = &out_dir {
        // The evidence manifest, also for a pull that stopped early or failed (it says so).
        let summary = result.as_ref().cloned().unwrap_or_default();
        let m = logfetch_scheduler::evidence::pull_manifest(&t, kind, since, until, format, now, &summary, result.as_ref().is_ok_and(|s| !s.cancelled));
        let p = logfetch_scheduler::evidence::write_manifest(dir, m, key.as_ref()).with_context(|| format!("writing the manifest in {}", dir.display()))?;
        eprintln!("evidence manifest: {}{}", p.display(), if key.is_some() { " (signed)" } else { "" });
    }
    {
        let details = serde_json::json!({"tenant": args.tenant, "kind": kind.as_str(), "since": since, "until": until, "out": where_, "events": result.as_ref().map(|s| s.events).unwrap_or(0), "cancelled": result.as_ref().is_ok_and(|s| s.cancelled)});
        let _ = logfetch_scheduler::audit::record(&cfg.service.data_dir, "pull", &logfetch_scheduler::audit::cli_actor(), details, result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
    }
    match result {
        Ok(s) => {
            eprintln!(
                "{} pull of tenant `{}` {kind} from {since} to {until}: {} events in {} pages, {} rejected; written to {where_}",
                if s.cancelled { "stopped" } else { "finished" },
                args.tenant,
                s.events,
                s.pages,
                s.rejected
            );
            Ok(if s.cancelled { ExitCode::from(130) } else { ExitCode::SUCCESS })
        }
        Err(e) => bail!("pull failed: {e}"),
    }
}
