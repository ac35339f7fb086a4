//! `logfetch enrich` (offline enrichment of OCSF/ECS NDJSON) and `logfetch ti lookup` (which
//! feeds match a value, and why).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use logfetch_config::{Config, TenantConfig};
use logfetch_scheduler::enrich::{EnrichSources, TenantEnricher};

#[derive(Args, Debug)]
pub struct EnrichArgs {
    /// The configuration whose `[enrichment]` sources are used.
    #[arg(short, long, default_value = "logfetch.toml")]
    pub config: PathBuf,
    /// Apply what this tenant's `enrich = [...]` asks for (default: every configured source).
    #[arg(long)]
    pub tenant: Option<String>,
    /// OCSF or ECS NDJSON files (stdin when none); enriched events go to stdout.
    pub files: Vec<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum TiCommand {
    /// Show which feeds match an IP address, domain or URL, how, and until when.
    Lookup {
        #[arg(short, long, default_value = "logfetch.toml")]
        config: PathBuf,
        /// An IP address, domain name or URL.
        value: String,
    },
}

fn resolve(r: &logfetch_config::SecretRef) -> Result<String, String> {
    r.resolve(&logfetch_config::secret::ProcessEnv).map(|s| s.expose().to_string()).map_err(|e| e.to_string())
}

async fn sources(cfg: &Config) -> anyhow::Result<Arc<EnrichSources>> {
    EnrichSources::open(&cfg.enrichment, None, &resolve).await.map_err(|e| anyhow::anyhow!(e))
}

/// The enrichment a tenant asked for, with its sources opened (for `pull`).
pub async fn tenant_enricher(cfg: &Config, t: &TenantConfig) -> Result<Option<TenantEnricher>, String> {
    if t.enrich.is_empty() {
        return Ok(None);
    }
    let s = EnrichSources::open(&cfg.enrichment, None, &resolve).await?;
    Ok(TenantEnricher::new(s, &t.enrich.iter().map(|e| e.get_ref().clone()).collect::<Vec<_>>()))
}

pub fn run(args: EnrichArgs) -> anyhow::Result<ExitCode> {
    let cfg = super::load_config(&args.config)?;
    let wanted: Vec<String> = match &args.tenant {
        Some(id) => {
            let t = cfg.tenants.iter().find(|t| t.id() == id.as_str()).with_context(|| format!("no tenant `{id}` in {}", args.config.display()))?;
            t.enrich.iter().map(|e| e.get_ref().clone()).collect()
        }
        None => {
            let e = &cfg.enrichment;
            [("geo", e.geoip.is_some()), ("asn", e.asn.is_some()), ("threat_intel", !e.feeds.is_empty()), ("user", e.users_file.is_some())].iter().filter(|(_, on)| *on).map(|(k, _)| k.to_string()).collect()
        }
    };
    let rt = tokio::runtime::Runtime::new()?;
    let src = rt.block_on(sources(&cfg))?;
    let Some(en) = TenantEnricher::new(src.clone(), &wanted) else { bail!("nothing to enrich with: configure `[enrichment]` sources (or give a tenant with `enrich = [...]`)") };
    let files = if args.files.is_empty() { vec![PathBuf::from("-")] } else { args.files };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let (mut n, mut bad) = (0u64, 0u64);
    for f in &files {
        let (name, reader): (String, Box<dyn BufRead>) = if f.as_os_str() == "-" {
            ("<stdin>".into(), Box::new(BufReader::new(std::io::stdin())))
        } else {
            (f.display().to_string(), Box::new(BufReader::new(File::open(f).with_context(|| format!("cannot read {}", f.display()))?)))
        };
        for (i, line) in reader.lines().enumerate() {
            let line = line.with_context(|| format!("reading {name}"))?;
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<serde_json::Value>(&line) {
                Ok(mut v) => {
                    en.enrich_json(&mut v);
                    serde_json::to_writer(&mut out, &v)?;
                    out.write_all(b"\n")?;
                    n += 1;
                }
                Err(e) => {
                    bad += 1;
                    eprintln!("{name}:{}: not JSON ({e}); passed through unchanged", i + 1);
                    writeln!(out, "{line}")?;
                }
            }
        }
    }
    out.flush()?;
    let st = &src.stats;
    use std::sync::atomic::Ordering::Relaxed;
    eprintln!("{n} events enriched ({bad} not JSON): {} geo, {} asn, {} threat-intel matches, {} users", st.geo_hits.load(Relaxed), st.asn_hits.load(Relaxed), st.ti_matches.load(Relaxed), st.user_hits.load(Relaxed));
    Ok(ExitCode::SUCCESS)
}

pub fn run_ti(cmd: TiCommand) -> anyhow::Result<ExitCode> {
    let TiCommand::Lookup { config, value } = cmd;
    let cfg = super::load_config(&config)?;
    if cfg.enrichment.feeds.is_empty() {
        bail!("{} has no `[[enrichment.feed]]`", config.display());
    }
    let rt = tokio::runtime::Runtime::new()?;
    let src = rt.block_on(sources(&cfg))?;
    let store = src.ti();
    let now = chrono::Utc::now().timestamp();
    let matches = if let Ok(ip) = value.parse::<IpAddr>() {
        store.match_ip(ip, now)
    } else if value.contains("://") {
        store.match_url(&value, now)
    } else {
        store.match_domain(&value, now)
    };
    println!("{} indicators loaded from {} feed(s)", store.len(), store.feeds.len());
    if matches.is_empty() {
        println!("{value}: no match");
        return Ok(ExitCode::from(1));
    }
    for m in &matches {
        let i = m.indicator;
        let until = i.valid_until.and_then(|u| chrono::DateTime::from_timestamp(u, 0)).map_or("no expiry".to_string(), |t| format!("valid until {}", t.to_rfc3339()));
        let conf = i.confidence.map_or("confidence unknown".to_string(), |c| format!("confidence {c}"));
        let why = match m.by {
            "cidr" => format!("inside {}", i.value),
            "subdomain" => format!("a subdomain of {} (the feed covers subdomains)", i.value),
            _ => format!("equals {}", i.value),
        };
        println!("{value}: feed `{}` {} indicator, {why}; {conf}; {until}{}", m.feed, i.kind.as_str(), i.description.as_deref().map(|d| format!("; {d}")).unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}
