//! `logfetch demo`: the pipeline on bundled, generated sample data.

use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use logfetch_common::Format;
use logfetch_connectors::ParseContext;

use super::parse::{ParseStats, parse_stream};

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where to write the normalised output.
    #[arg(long, default_value = "demo-out")]
    pub out: PathBuf,
    /// Records per kind to generate.
    #[arg(long, default_value_t = 500)]
    pub records: usize,
}

pub fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let parser = logfetch_connectors::registry::parser_for("test").map_err(anyhow::Error::msg)?;
    let ctx = ParseContext::new("demo", chrono_tz::UTC);
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    println!("{:<8} {:<6} {:>8} {:>8} {:>8}  output", "tenant", "kind", "read", "events", "rejects");
    let mut samples = Vec::new();
    for kind in ["flow", "dns"] {
        let mut lines: Vec<String> = logfetch_mocks::test_source::generate(42, kind, args.records, start, chrono::Duration::hours(1)).into_iter().map(|r| r.line).collect();
        // One malformed record per kind, to show where rejects go.
        lines.push(format!(r#"{{"type":"{kind}","time":"not a time"}}"#));
        let input = lines.join("\n");
        let out_path = args.out.join(format!("{kind}.ocsf.ndjson"));
        let rej_path = args.out.join(format!("{kind}.rejects.ndjson"));
        let mut out = BufWriter::new(std::fs::File::create(&out_path)?);
        let mut rejects: Option<Box<dyn Write>> = Some(Box::new(BufWriter::new(std::fs::File::create(&rej_path)?)));
        let mut stats = ParseStats::default();
        parse_stream(&*parser, &ctx, Format::Ocsf, kind, &mut BufReader::new(input.as_bytes()), &mut out, &mut rejects, &mut stats)?;
        out.flush()?;
        if let Some(r) = rejects.as_mut() {
            r.flush()?;
        }
        println!("{:<8} {:<6} {:>8} {:>8} {:>8}  {}", "demo", kind, stats.read, stats.emitted, stats.rejected, out_path.display());
        let first = std::fs::read_to_string(&out_path)?.lines().next().map(str::to_string);
        samples.extend(first);
    }
    for s in samples {
        let v: serde_json::Value = serde_json::from_str(&s)?;
        println!("\n{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(ExitCode::SUCCESS)
}
