//! Vendor connectors: for each vendor, the transport, the record parser (pure) and the mapping to
//! the common events (pure). The parser side is [`RecordParser`]: one raw record in, events (or
//! a reason it was skipped or rejected) out. `logfetch parse` and the live pipeline both go
//! through it, so every vendor parser is tested on the same path users run.
//!
//! Adding a vendor: a folder with its parser, and one line in [`registry::VENDORS`].

pub mod cisco;
pub mod http;
pub mod paloalto;
pub mod pull;
pub mod push;
pub mod registry;
pub mod sentinelone;
pub mod syslog;
pub mod test_vendor;
pub mod zscaler;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use logfetch_common::Event;

/// What a parser needs to know besides the record.
#[derive(Debug, Clone)]
pub struct ParseContext {
    pub tenant: String,
    /// Zone for timestamps that carry none.
    pub tz: Tz,
    /// "Now", for year-less dates.
    pub now: DateTime<Utc>,
    /// Keep the original record in the event.
    pub keep_raw: bool,
}

impl ParseContext {
    pub fn new(tenant: &str, tz: Tz) -> ParseContext {
        ParseContext { tenant: tenant.to_string(), tz, now: Utc::now(), keep_raw: true }
    }
}

/// The result of parsing one record.
#[derive(Debug)]
pub enum ParseOutcome {
    /// One or more events (an FTD connection event with DNS keys yields a flow and a DNS event).
    Events(Vec<Event>),
    /// A well-formed record that carries no flow or DNS information (counted, not an error).
    Skipped { reason: String },
    /// A malformed record: kept in the rejects file with this reason.
    Rejected { reason: String },
}

/// Turns one vendor record into common events.
pub trait RecordParser: Send + Sync {
    /// The vendor name used in config and on the command line.
    fn vendor(&self) -> &'static str;
    fn parse(&self, record: &str, ctx: &ParseContext) -> ParseOutcome;
    /// Whole-document formats (a saved PAN-OS XML API answer): `None` when the vendor has none
    /// or `text` is not one; else `on` gets one outcome per record inside, in order, as it is read.
    fn parse_document(&self, _text: &str, _ctx: &ParseContext, _on: &mut dyn FnMut(ParseOutcome)) -> Option<Result<(), String>> {
        None
    }
}
