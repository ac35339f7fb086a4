//! `logfetch status`: the per-stream table from a running daemon's admin API.

use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use logfetch_config::secret::ProcessEnv;

use crate::ConfigPath;

#[derive(Args, Debug)]
pub struct StatusArgs {
    #[command(flatten)]
    pub config: ConfigPath,
    /// Admin API base URL (default: from the config's admin_listen).
    #[arg(long)]
    pub admin: Option<String>,
    /// Print the raw JSON.
    #[arg(long)]
    pub json: bool,
}

/// GET/POST/PUT/DELETE against the admin API with the configured token.
pub fn admin_request(cfg: &logfetch_config::Config, admin: Option<&str>, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> anyhow::Result<serde_json::Value> {
    let base = admin.map(str::to_string).unwrap_or_else(|| format!("http://{}", cfg.service.admin_listen));
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build()?;
        let mut rb = client.request(method, &url);
        if let Some(r) = &cfg.service.admin_token {
            rb = rb.bearer_auth(r.resolve(&ProcessEnv)?.expose());
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.with_context(|| format!("cannot reach the logfetch admin API at {base} (is `logfetch run` running?)"))?;
        let status = resp.status();
        let v: serde_json::Value = resp.json().await.unwrap_or(serde_json::Value::Null);
        if !status.is_success() {
            bail!("{url}: HTTP {status}: {}", v.get("error").and_then(|e| e.as_str()).unwrap_or(""));
        }
        Ok(v)
    })
}

pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let cfg = super::load_config(&args.config.config)?;
    let v = admin_request(&cfg, args.admin.as_deref(), reqwest::Method::GET, "/api/v1/tenants", None)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{:<20} {:<6} {:<8} {:>9} {:>8} {:>10}  {:<20} {:<20} last error", "tenant", "stream", "state", "events", "rejects", "lag", "last run end", "next run");
    let short = |x: &serde_json::Value| x.as_str().map(|s| s.get(..19).unwrap_or(s).replace('T', " ")).unwrap_or_else(|| "-".into());
    for t in v["tenants"].as_array().into_iter().flatten() {
        for s in t["streams"].as_array().into_iter().flatten() {
            let state = if s["running"].as_bool() == Some(true) { "running" } else if s["last_error"].is_string() { "failing" } else { "idle" };
            let lag = s["lag_seconds"].as_i64().map(|l| format!("{l}s")).unwrap_or_else(|| "-".into());
            println!(
                "{:<20} {:<6} {:<8} {:>9} {:>8} {:>10}  {:<20} {:<20} {}",
                t["id"].as_str().unwrap_or("?"),
                s["kind"].as_str().unwrap_or("?"),
                state,
                s["events_emitted"],
                s["records_rejected"],
                lag,
                short(&s["last_run_end"]),
                short(&s["next_run"]),
                s["last_error"].as_str().unwrap_or("")
            );
        }
    }
    println!();
    println!("{:<20} {:<14} {:<8} {:>9} {:>9} {:>10}  last error", "sink", "type", "state", "batches", "failures", "events");
    for s in v["sinks"].as_array().into_iter().flatten() {
        println!(
            "{:<20} {:<14} {:<8} {:>9} {:>9} {:>10}  {}",
            s["name"].as_str().unwrap_or("?"),
            s["type"].as_str().unwrap_or("?"),
            s["state"].as_str().unwrap_or("?"),
            s["batches"],
            s["failures"],
            s["events"],
            s["last_error"].as_str().unwrap_or("")
        );
    }
    Ok(ExitCode::SUCCESS)
}
