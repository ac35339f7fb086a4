//! `logfetch validate`: the OCSF validator over NDJSON files.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use logfetch_common::validate::{Summary, validate};

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// At most this many problems are printed (all are counted).
    #[arg(long, default_value_t = 50)]
    pub max_errors: usize,
    /// NDJSON files of OCSF events (stdin when none, or for `-`). A directory stands for every
    /// `.ndjson` and `.json` file below it (a file sink's batches directory, say).
    pub files: Vec<PathBuf>,
}

pub fn run(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let mut summary = Summary::default();
    let mut printed = 0usize;
    let mut unparsable = 0usize;
    let mut files = Vec::new();
    for f in if args.files.is_empty() { vec![PathBuf::from("-")] } else { args.files } {
        if f.is_dir() {
            let before = files.len();
            ndjson_below(&f, &mut files).with_context(|| format!("reading directory {}", f.display()))?;
            anyhow::ensure!(files.len() > before, "no .ndjson or .json files under {}", f.display());
        } else {
            files.push(f);
        }
    }
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
            let v: serde_json::Value = match serde_json::from_str(&line) {
                Ok(v) => v,
                Err(e) => {
                    unparsable += 1;
                    if printed < args.max_errors {
                        println!("{name}:{}: not JSON: {e}", i + 1);
                        printed += 1;
                    }
                    continue;
                }
            };
            let r = validate(&v);
            for viol in &r.violations {
                if printed < args.max_errors {
                    println!("{name}:{}: {viol}", i + 1);
                    printed += 1;
                }
            }
            summary.add(&r);
        }
    }
    println!(
        "{} event(s): {} valid, {} invalid, {} not JSON; recommended attributes present: {:.1}%",
        summary.events,
        summary.valid,
        summary.events - summary.valid,
        unparsable,
        summary.coverage_percent()
    );
    for (class, (n, ok)) in &summary.per_class {
        println!("  class {class}: {n} event(s), {ok} valid");
    }
    let mut missing: Vec<_> = summary.missing_recommended.iter().collect();
    missing.sort_by(|a, b| b.1.cmp(a.1));
    if !missing.is_empty() {
        let top: Vec<String> = missing.iter().take(8).map(|(k, n)| format!("{k} ({n})")).collect();
        println!("  most often missing recommended: {}", top.join(", "));
    }
    Ok(if summary.valid == summary.events && unparsable == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Every `.ndjson` and `.json` file below `dir`, in name order.
fn ndjson_below(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            ndjson_below(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "ndjson" || x == "json") {
            out.push(p);
        }
    }
    Ok(())
}
