//! `logfetch hunt`: DNS hunting over OCSF or ECS NDJSON (any vendor's `parse` or sink output),
//! domain scoring for triage, and the evaluation on the labelled samples.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use logfetch_scheduler::hunt::{self, HuntConfig, Hunter, Query, dga, eval};

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HuntArgs {
    #[command(subcommand)]
    pub command: Option<HuntCommand>,
    /// Tenant id written into the findings.
    #[arg(long, default_value = "offline")]
    pub tenant: String,
    /// A brand domain whose look-alikes are findings (repeatable).
    #[arg(long = "brand")]
    pub brands: Vec<String>,
    /// Window for per-domain and per-client state, in minutes.
    #[arg(long, default_value_t = 10)]
    pub window_minutes: i64,
    /// OCSF or ECS NDJSON DNS events (stdin when none), in time order; findings (OCSF 2004) go to stdout.
    pub files: Vec<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum HuntCommand {
    /// Score domains (one per line, stdin when no file): `domain<TAB>score<TAB>dga|benign`.
    ScoreDomains { file: Option<PathBuf> },
    /// Detection and false-positive rates on the labelled samples (held-out halves).
    Eval {
        #[arg(long, default_value = "../shared/samples")]
        samples: PathBuf,
    },
    /// Train the DGA model from the samples' training halves and write it as JSON.
    #[command(hide = true)]
    Train {
        #[arg(long, default_value = "../shared/samples")]
        samples: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Train on the test halves and report on the training halves (a check of how much the
        /// figures depend on the split; the shipped model never uses it).
        #[arg(long)]
        swap_halves: bool,
    },
}

fn lines(file: Option<&PathBuf>) -> anyhow::Result<(String, Box<dyn BufRead>)> {
    Ok(match file {
        None => ("<stdin>".into(), Box::new(BufReader::new(std::io::stdin()))),
        Some(f) if f.as_os_str() == "-" => ("<stdin>".into(), Box::new(BufReader::new(std::io::stdin()))),
        Some(f) => (f.display().to_string(), Box::new(BufReader::new(File::open(f).with_context(|| format!("cannot read {}", f.display()))?))),
    })
}

pub fn run(args: HuntArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        Some(HuntCommand::ScoreDomains { file }) => {
            let m = dga::model();
            let (name, r) = lines(file.as_ref())?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for l in r.lines() {
                let l = l.with_context(|| format!("reading {name}"))?;
                let d = l.trim();
                if d.is_empty() || d.starts_with('#') {
                    continue;
                }
                let s = m.score(d);
                writeln!(out, "{d}\t{s:.3}\t{}", if s >= m.threshold { "dga" } else { "benign" })?;
            }
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Some(HuntCommand::Eval { samples }) => {
            let s = eval::load(&samples).map_err(|e| anyhow::anyhow!("loading the samples: {e}"))?;
            let (report, ok) = eval::evaluate(&s, dga::model());
            print!("{report}");
            println!("{}", if ok { "all targets met" } else { "some targets NOT met" });
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Some(HuntCommand::Train { samples, out, swap_halves }) => {
            let mut s = eval::load(&samples).map_err(|e| anyhow::anyhow!("loading the samples: {e}"))?;
            s.swap_halves = swap_halves;
            let m = eval::train_model(&s);
            std::fs::write(&out, serde_json::to_string(&m)?).with_context(|| format!("writing {}", out.display()))?;
            let (report, ok) = eval::evaluate(&s, &m);
            print!("{report}");
            eprintln!("model written to {} ({} trigrams); {}", out.display(), m.trigrams.len(), if ok { "all targets met" } else { "some targets NOT met" });
            Ok(ExitCode::SUCCESS)
        }
        None => {
            if args.window_minutes <= 0 {
                bail!("--window-minutes must be positive");
            }
            let mut h = Hunter::new(HuntConfig { window_ms: args.window_minutes * 60_000, brands: args.brands.clone(), ..HuntConfig::default() });
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let files: Vec<Option<PathBuf>> = if args.files.is_empty() { vec![None] } else { args.files.into_iter().map(Some).collect() };
            let (mut events, mut findings, mut skipped) = (0u64, 0u64, 0u64);
            for f in &files {
                let (name, r) = lines(f.as_ref())?;
                for (i, l) in r.lines().enumerate() {
                    let l = l.with_context(|| format!("reading {name}"))?;
                    if l.trim().is_empty() {
                        continue;
                    }
                    let v: serde_json::Value = match serde_json::from_str(&l) {
                        Ok(v) => v,
                        Err(e) => {
                            eprintln!("{name}:{}: not JSON ({e}); skipped", i + 1);
                            skipped += 1;
                            continue;
                        }
                    };
                    let Some((time, client, qname, qtype, rcode, uid, feeds)) = hunt::query_from_json(&v) else {
                        skipped += 1;
                        continue;
                    };
                    events += 1;
                    let q = Query { time, client: &client, name: &qname, qtype: qtype.as_deref(), rcode, uid: &uid, ti_feeds: feeds };
                    for f in h.observe(&q) {
                        serde_json::to_writer(&mut out, &f.to_ocsf(&args.tenant))?;
                        out.write_all(b"\n")?;
                        findings += 1;
                    }
                }
            }
            out.flush()?;
            eprintln!("{events} DNS events read ({skipped} other lines skipped), {findings} findings");
            Ok(ExitCode::SUCCESS)
        }
    }
}
