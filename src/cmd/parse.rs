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
///
/// Lines are parsed where they lie in the reader's buffer; only a line that crosses the buffer's
/// end is copied. A line that is not UTF-8 is rejected with its bytes (lossily) and reading goes
/// on with the next line.
#[allow(clippy::too_many_arguments)]
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
    let mut state = LineSink { parser, ctx, format, name, out, rejects, stats, lineno: 0, buf: Vec::with_capacity(OUT_CHUNK + 8192) };
    let mut long_line: Vec<u8> = Vec::new();
    loop {
        let window = input.fill_buf().with_context(|| format!("reading {name}"))?;
        if window.is_empty() {
            break;
        }
        if let Some(end) = memchr::memchr(b'\n', window) {
            state.line(&window[..end])?;
            input.consume(end + 1);
            continue;
        }
        // The line runs past the buffer (or the file ends without a newline): gather it.
        long_line.clear();
        input.read_until(b'\n', &mut long_line).with_context(|| format!("reading {name}"))?;
        let line = long_line.strip_suffix(b"\n").unwrap_or(&long_line);
        state.line(line)?;
    }
    state.out.write_all(&state.buf)?;
    Ok(())
}

/// Where [`parse_stream`] sends each line.
struct LineSink<'s> {
    parser: &'s dyn RecordParser,
    ctx: &'s ParseContext,
    format: Format,
    name: &'s str,
    out: &'s mut dyn Write,
    rejects: &'s mut Option<Box<dyn Write>>,
    stats: &'s mut ParseStats,
    lineno: u64,
    /// Events are encoded into one buffer and written out in large chunks.
    buf: Vec<u8>,
}

impl LineSink<'_> {
    /// One line, without its `\n`.
    fn line(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.lineno += 1;
        // A CRLF line's `\r` stays out of the reject too.
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let Some(record) = logfetch_common::text::utf8(bytes) else {
            self.stats.read += 1;
            self.stats.rejected += 1;
            return reject(self.rejects, self.name, self.lineno, "line is not valid UTF-8", &String::from_utf8_lossy(bytes));
        };
        let record = record.trim_end_matches(['\n', '\r']);
        if record.trim().is_empty() {
            return Ok(());
        }
        self.stats.read += 1;
        match self.parser.parse(record, self.ctx) {
            ParseOutcome::Events(events) => {
                for ev in &events {
                    logfetch_common::write_event(&mut self.buf, ev, self.format);
                    self.buf.push(b'\n');
                    self.stats.emitted += 1;
                }
                if self.buf.len() >= OUT_CHUNK {
                    self.out.write_all(&self.buf)?;
                    self.buf.clear();
                }
            }
            ParseOutcome::Skipped { reason } => {
                self.stats.skipped += 1;
                *self.stats.skip_reasons.entry(reason).or_default() += 1;
            }
            ParseOutcome::Rejected { reason } => {
                self.stats.rejected += 1;
                reject(self.rejects, self.name, self.lineno, &reason, record)?;
            }
        }
        Ok(())
    }
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
    use super::*;

    /// A writer the test can read back after `parse_stream` has taken it as `Box<dyn Write>`.
    #[derive(Clone, Default)]
    struct Shared(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_read_once_whatever_the_buffer_and_bad_bytes() {
        let asa = |n: u32| format!("<166>Jun  5 08:00:00 fw1 : %ASA-6-302013: Built inbound TCP connection {n} for outside:192.0.2.{n}/5000 (192.0.2.{n}/5000) to inside:10.0.0.1/80 (10.0.0.1/80)");
        let mut input = Vec::new();
        input.extend_from_slice(format!("{}\n", asa(1)).as_bytes());
        // Not UTF-8: rejected with its own bytes; the next line must still be read.
        input.extend_from_slice(asa(2).as_bytes());
        input.extend_from_slice(b" \xff\xfe\n");
        input.extend_from_slice(format!("{}\r\n\n   \n", asa(3)).as_bytes());
        input.extend_from_slice(asa(4).as_bytes()); // no newline at the end
        // Buffers smaller than a line, about a line, and larger than the input.
        for cap in [7, 64, 150, 1 << 16] {
            let mut reader = std::io::BufReader::with_capacity(cap, input.as_slice());
            let mut out = Vec::new();
            let sink = Shared::default();
            let mut rejects: Option<Box<dyn Write>> = Some(Box::new(sink.clone()));
            let mut stats = ParseStats::default();
            let ctx = ParseContext::new("t", chrono_tz::UTC);
            let parser = logfetch_connectors::cisco::CiscoParser::default();
            parse_stream(&parser, &ctx, Format::Ocsf, "in.log", &mut reader, &mut out, &mut rejects, &mut stats).unwrap();
            assert_eq!((stats.read, stats.emitted, stats.rejected), (4, 3, 1), "buffer {cap}");
            let events: Vec<serde_json::Value> = out.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
            let sessions: Vec<&str> = events.iter().map(|e| e["connection_info"]["uid"].as_str().unwrap()).collect();
            assert_eq!(sessions, ["1", "3", "4"], "buffer {cap}");
            let rejected: serde_json::Value = serde_json::from_slice(&sink.0.borrow()).unwrap();
            assert_eq!(rejected["line"], 2);
            assert_eq!(rejected["reason"], "line is not valid UTF-8");
            assert!(rejected["record"].as_str().unwrap().contains("connection 2 for"), "the bad line's own bytes: {rejected}");
        }
    }

    #[test]
    fn syslog_pri_is_not_an_xml_document() {
        assert!(looks_like_document(b"<?xml version=\"1.0\"?><response/>"));
        assert!(looks_like_document(b"<response status=\"success\">"));
        assert!(!looks_like_document(b"<14>Jun  5 08:00:00 fw01 1,2024/06/05"));
        assert!(!looks_like_document(b"<166>Jun  5 08:00:00 asa : %ASA-6-302013"));
        assert!(!looks_like_document(b"Jun  5 08:00:00"));
    }
}
