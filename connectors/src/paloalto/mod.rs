//! Palo Alto Networks PAN-OS: syslog CSV rows (TRAFFIC, THREAT; layouts by field count),
//! Strata Logging Service / HTTPS JSON (incl. DNS Security), CEF and LEEF — format detected per
//! record — and XML API responses (streamed, see [`xml`]).

pub mod api;
pub mod csv;
pub mod formats;
pub mod layout;
pub mod map;
pub mod xml;

use logfetch_common::Event;

use crate::{ParseContext, ParseOutcome, RecordParser};
use map::{Origin, Row};

#[derive(Default)]
pub struct PanParser;

/// Finds where the CSV starts after an optional syslog header: the PAN-OS program field begins
/// with `1,` followed by the receive time (paloalto.md §4.1).
fn csv_start(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    let mut i = 0;
    while let Some(p) = line[i..].find("1,") {
        let at = i + p;
        let before_ok = at == 0 || b[at - 1] == b' ';
        let date = line.get(at + 2..at + 12);
        if before_ok && date.is_some_and(|d| d.as_bytes()[4] == b'/' && d.as_bytes()[7] == b'/') {
            return Some(at);
        }
        i = at + 2;
    }
    None
}

fn syslog_host(header: &str) -> Option<&str> {
    header.split_whitespace().last().filter(|h| !h.contains(':') || h.parse::<std::net::IpAddr>().is_ok())
}

/// Maps one CSV row (already split) of any PAN-OS type.
pub fn csv_record(cols: &[std::borrow::Cow<'_, str>], o: Origin<'_>, ctx: &ParseContext) -> Result<Option<Event>, String> {
    let kind = cols.get(3).map(|c| c.as_ref()).unwrap_or("");
    if cols.len() < 30 {
        let what = if kind.is_empty() { "CSV" } else { kind };
        return Err(format!("{what} row has only {} columns (a TRAFFIC or THREAT row has at least 30)", cols.len()));
    }
    match kind {
        "TRAFFIC" => map::traffic(&Row { layout: &layout::TRAFFIC, cols }, o, ctx).map(Some),
        "THREAT" => map::threat(&Row { layout: &layout::THREAT, cols }, o, ctx),
        _ => Ok(None),
    }
}

impl RecordParser for PanParser {
    fn vendor(&self) -> &'static str {
        "paloalto"
    }

    fn parse(&self, record: &str, ctx: &ParseContext) -> ParseOutcome {
        let line = record.trim_end_matches(['\r', '\n']);
        let trimmed = line.trim_start();
        let origin = Origin { host: None, raw: line };
        // A CSV row is told by its start; a `CEF:` or `LEEF:` before that start makes it a CEF or
        // LEEF record whose text holds something CSV-like. (Only the header is searched for them:
        // a CSV field that mentions `CEF:` does not turn the row into CEF.)
        let csv_at = if trimmed.starts_with('{') { None } else { csv_start(line).filter(|&at| !is_cef_or_leef(&line[..at])) };
        let result = if trimmed.starts_with('{') {
            formats::json(trimmed, origin, ctx).map(|e| (e, "JSON"))
        } else if csv_at.is_none() && is_cef_or_leef(line) {
            formats::cef_or_leef(line, origin, ctx).map(|e| (e, "CEF/LEEF"))
        } else if let Some(at) = csv_at {
            let o = Origin { host: syslog_host(&line[..at]), raw: line };
            match csv::split(&line[at..]) {
                Ok(cols) => csv_record(&cols, o, ctx).map(|e| (e, "CSV")).map_err(|e| match cols.get(3) {
                    Some(t) => format!("{}/{}: {e}", t, cols.get(4).map(|s| s.as_ref()).unwrap_or("")),
                    None => e,
                }),
                Err(e) => Err(format!("CSV: {e}")),
            }
        } else {
            return ParseOutcome::Rejected { reason: "not a PAN-OS record (no `1,<date>` CSV, JSON, CEF or LEEF)".into() };
        };
        match result {
            Ok((Some(ev), _)) => ParseOutcome::Events(vec![ev]),
            Ok((None, fmt)) => ParseOutcome::Skipped { reason: format!("{fmt} record type {} is not a flow or DNS record", record_type(line)) },
            Err(reason) => ParseOutcome::Rejected { reason },
        }
    }

    fn parse_document(&self, text: &str, ctx: &ParseContext, on: &mut dyn FnMut(ParseOutcome)) -> Option<Result<(), String>> {
        let t = text.trim_start();
        (t.starts_with("<response") || t.starts_with("<?xml")).then(|| parse_xml_document(t, ctx, on))
    }
}

/// Whether the line holds `CEF:` or `LEEF:`: one pass for their common `EF:`.
fn is_cef_or_leef(line: &str) -> bool {
    static EF: std::sync::LazyLock<memchr::memmem::Finder<'static>> = std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"EF:"));
    let b = line.as_bytes();
    EF.find_iter(b).any(|at| b[..at].ends_with(b"C") || b[..at].ends_with(b"LE"))
}

fn record_type(line: &str) -> String {
    csv_start(line)
        .and_then(|at| {
            let mut it = line[at..].split(',');
            let t = it.nth(3)?;
            let s = it.next().unwrap_or("");
            Some(format!("{t}/{s}"))
        })
        .unwrap_or_else(|| "(other)".into())
}

/// Parses a whole XML API response (`parse` on a saved `type=log` answer), handing each
/// entry's outcome to `on` as it is read.
pub fn parse_xml_document(xml: &str, ctx: &ParseContext, on: &mut dyn FnMut(ParseOutcome)) -> Result<(), String> {
    let resp = xml::read(xml, |entry| {
        let raw = entry.fields.iter().map(|(k, v)| format!("<{k}>{v}</{k}>")).collect::<String>();
        let o = Origin { host: None, raw: &raw };
        let kind = map::Fields::get(&entry, map::col!("type")).unwrap_or("").to_string();
        let r = match kind.as_str() {
            "TRAFFIC" => map::traffic(&entry, o, ctx).map(Some),
            "THREAT" => map::threat(&entry, o, ctx),
            _ => Ok(None),
        };
        on(match r {
            Ok(Some(e)) => ParseOutcome::Events(vec![e]),
            Ok(None) => ParseOutcome::Skipped { reason: format!("XML entry type {kind} is not a flow or DNS record") },
            Err(reason) => ParseOutcome::Rejected { reason },
        });
    })?;
    if !resp.is_success() {
        return Err(format!("the response is an error (code {}): {}", resp.code.unwrap_or_default(), resp.msg.unwrap_or_default()));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
