//! `logfetch parse`: exported vendor logs in, OCSF/ECS NDJSON out. The offline path incident
//! responders use, and the path every vendor parser is tested through.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use logfetch_common::Format;
use logfetch_connectors::{ParseContext, ParseOutcome, RecordParser};
use serde_json::json;

#[derive(Args, Debug)]
pub struct ParseArgs {
    /// Which vendor's format the input is in (cisco, paloalto, zscaler, sentinelone, test).
    #[arg(long)]
    pub vendor: String,
    /// Output encoding.
    #[arg(long, value_enum, default_value = "ocsf")]
    pub format: FormatArg,
    /// IANA zone for timestamps that carry none (syslog, ASA, PAN-OS).
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    /// Tenant id written into every event.
    #[arg(long, default_value = "offline")]
    pub tenant: String,
    /// Write malformed records here (NDJSON: file, line, reason, record). Without it they are
    /// reported on stderr.
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Leave the original record out of the events.
    #[arg(long)]
    pub no_raw: bool,
    /// Input files (stdin when none, or for `-`).
    pub files: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FormatArg {
    Ocsf,
    Ecs,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Ocsf => Format::Ocsf,
            FormatArg::Ecs => Format::Ecs,
        }
    }
}

/// Encoded output is handed to the writer in chunks of about this many bytes.
const OUT_CHUNK: usize = 256 * 1024;

/// Counts of one parse run.
#[derive(Debug, Default, Clone)]
pub struct ParseStats {
    pub read: u64,
    pub emitted: u64,
    pub skipped: u64,
    pub rejected: u64,
    /// Why records were skipped (e.g. per Cisco message id), with counts.
    pub skip_reasons: std::collections::BTreeMap<String, u64>,
}

/// Parses every line of `input`, writing events to `out` and rejects to `rejects` (or stderr).
pub fn parse_stream(
    parser: &dyn RecordParser,
    ctx: &ParseContext,
    format: Format,
    name: &str,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    rejects: &mut Option<Box<dyn Write>>,
    stats: &mut ParseStats,
) -> anyhow::Result<()> {
    let mut line = String::new();
    let mut lineno = 0u64;
    // Events are encoded into one buffer and written out in large chunks.
    let mut buf: Vec<u8> = Vec::with_capacity(OUT_CHUNK + 8192);
    loop {
        line.clear();
        let n = match input.read_line(&mut line) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                // Not UTF-8: read the raw bytes of the line and keep them lossily in the reject.
                lineno += 1;
                let mut raw = Vec::new();
                input.read_until(b'\n', &mut raw)?;
                stats.read += 1;
                stats.rejected += 1;
                reject(rejects, name, lineno, "line is not valid UTF-8", &String::from_utf8_lossy(&raw))?;
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("reading {name}")),
        };
        if n == 0 {
            break;
        }
        lineno += 1;
        let record = line.trim_end_matches(['\n', '\r']);
        if record.trim().is_empty() {
            continue;
        }
        stats.read += 1;
        match parser.parse(record, ctx) {
            ParseOutcome::Events(events) => {
                for ev in &events {
                    logfetch_common::write_event(&mut buf, ev, format);
                    buf.push(b'\n');
                    stats.emitted += 1;
                }
                if buf.len() >= OUT_CHUNK {
                    out.write_all(&buf)?;
                    buf.clear();
                }
            }
            ParseOutcome::Skipped { reason } => {
                stats.skipped += 1;
                *stats.skip_reasons.entry(reason).or_default() += 1;
            }
            ParseOutcome::Rejected { reason } => {
                stats.rejected += 1;
                reject(rejects, name, lineno, &reason, record)?;
            }
        }
    }
    out.write_all(&buf)?;
    Ok(())
}

fn reject(rejects: &mut Option<Box<dyn Write>>, name: &str, line: u64, reason: &str, record: &str) -> anyhow::Result<()> {
    match rejects {
        Some(w) => {
            serde_json::to_writer(&mut *w, &json!({"file": name, "line": line, "reason": reason, "record": record}))?;
            w.write_all(b"\n")?;
        }
        None => eprintln!("rejected {name}:{line}: {reason}"),
    }
    Ok(())
}

/// An XML document starts with `<?xml`, `<!`, or `<name`; a syslog line starts with `<PRI>`
/// (digits), and must not be mistaken for one (that would read the whole file into memory).
fn looks_like_document(b: &[u8]) -> bool {
    match b {
        [b'<', b'?' | b'!', ..] => true,
        [b'<', c, ..] => c.is_ascii_alphabetic(),
        _ => false,
    }
}

pub fn run(args: ParseArgs) -> anyhow::Result<ExitCode> {
    let parser = logfetch_connectors::registry::parser_for(&args.vendor).map_err(anyhow::Error::msg)?;
    let tz = logfetch_common::time::parse_tz(&args.tz)?;
    let mut ctx = ParseContext::new(&args.tenant, tz);
    ctx.keep_raw = !args.no_raw;
    let format: Format = args.format.into();
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut rejects: Option<Box<dyn Write>> = match &args.rejects {
        Some(p) => Some(Box::new(BufWriter::new(File::create(p).with_context(|| format!("creating rejects file {}", p.display()))?))),
        None => None,
    };
    let mut stats = ParseStats::default();
    let files = if args.files.is_empty() { vec![PathBuf::from("-")] } else { args.files.clone() };
    for f in &files {
        if f.as_os_str() == "-" {
            let stdin = std::io::stdin();
            let mut input = BufReader::with_capacity(1 << 16, stdin.lock());
            parse_stream(&*parser, &ctx, format, "<stdin>", &mut input, &mut out, &mut rejects, &mut stats)?;
        } else {
            let file = File::open(f).with_context(|| format!("cannot read {}", f.display()))?;
            let mut input = BufReader::with_capacity(1 << 16, file);
            // Whole-document formats (a saved PAN-OS XML API answer) start with `<`.
            // Whole-document formats: XML (a saved PAN-OS answer) or pretty-printed JSON (a
            // PowerQuery table), as opposed to one record per line.
            let starts_with_tag = input
                .fill_buf()
                .map(|b| {
                    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
                    let first_line = b.split(|c| *c == b'\n').next().unwrap_or(&[]);
                    looks_like_document(&b[start..]) || matches!(first_line.trim_ascii(), b"{" | b"[")
                })
                .unwrap_or(false);
            if starts_with_tag {
                let text = std::fs::read_to_string(f).with_context(|| format!("cannot read {}", f.display()))?;
                let mut i = 0u64;
                let mut failure: Option<anyhow::Error> = None;
                let name = f.display().to_string();
                let handled = parser.parse_document(&text, &ctx, &mut |o| {
                    i += 1;
                    stats.read += 1;
                    let r: anyhow::Result<()> = (|| {
                        match o {
                            ParseOutcome::Events(evs) => {
                                let mut buf = Vec::with_capacity(1024);
                                for ev in &evs {
                                    logfetch_common::write_event(&mut buf, ev, format);
                                    buf.push(b'\n');
                                    stats.emitted += 1;
                                }
                                out.write_all(&buf)?;
                            }
                            ParseOutcome::Skipped { reason } => {
                                stats.skipped += 1;
                                *stats.skip_reasons.entry(reason).or_default() += 1;
                            }
                            ParseOutcome::Rejected { reason } => {
                                stats.rejected += 1;
                                reject(&mut rejects, &name, i, &reason, &format!("entry {i}"))?;
                            }
                        }
                        Ok(())
                    })();
                    if let (Err(e), None) = (r, &failure) {
                        failure = Some(e);
                    }
                });
                if let Some(result) = handled {
                    result.map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
                    if let Some(e) = failure {
                        return Err(e);
                    }
                    continue;
                }
            }
            parse_stream(&*parser, &ctx, format, &f.display().to_string(), &mut input, &mut out, &mut rejects, &mut stats)?;
        }
    }
    out.flush()?;
    if let Some(w) = rejects.as_mut() {
        w.flush()?;
    }
    eprintln!(
        "read {} record(s), emitted {} event(s), skipped {}, rejected {}{}",
        stats.read,
        stats.emitted,
        stats.skipped,
        stats.rejected,
        match (&args.rejects, stats.rejected) {
            (Some(p), n) if n > 0 => format!(" (see {})", p.display()),
            _ => String::new(),
        }
    );
    let mut reasons: Vec<_> = stats.skip_reasons.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1));
    for (reason, n) in reasons.iter().take(10) {
        eprintln!("  skipped {n:>6}: {reason}");
    }
    if reasons.len() > 10 {
        eprintln!("  ... and {} more skip reasons", reasons.len() - 10);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::looks_like_document;

    #[test]
    fn syslog_pri_is_not_an_xml_document() {
        assert!(looks_like_document(b"<?xml version=\"1.0\"?><response/>"));
        assert!(looks_like_document(b"<response status=\"success\">"));
        assert!(!looks_like_document(b"<14>Jun  5 08:00:00 fw01 1,2024/06/05"));
        assert!(!looks_like_document(b"<166>Jun  5 08:00:00 asa : %ASA-6-302013"));
        assert!(!looks_like_document(b"Jun  5 08:00:00"));
    }
}
