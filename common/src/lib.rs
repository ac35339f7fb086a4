//! logfetch's common ground: the normalised event model ([`event`]), its OCSF 1.3.0 and ECS 9.4
//! encodings ([`ocsf`], [`ecs`]), the OCSF validator ([`validate`]), vendor time handling
//! ([`time`]) and the checkpoint store ([`checkpoint`]).
//!
//! Connectors map vendor records into [`event::Event`]; sinks call [`encode`] once per event.
//! Nothing in this crate does network I/O or knows a vendor's wire format.

pub mod checkpoint;
pub mod ecs;
pub mod event;
pub mod json;
pub mod spool;
pub mod text;
pub mod ocsf;
pub mod time;
pub mod validate;

pub use event::{DnsEvent, Event, FlowEvent, LogKind};

/// The JSON encodings logfetch writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    Ocsf,
    Ecs,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ocsf" => Ok(Format::Ocsf),
            "ecs" => Ok(Format::Ecs),
            o => Err(format!("unknown format `{o}` (expected ocsf or ecs)")),
        }
    }
}

/// Appends one event in the chosen format to `buf` (no newline): the hot path for sinks and
/// `logfetch parse`.
pub fn write_event(buf: &mut Vec<u8>, event: &event::Event, format: Format) {
    match format {
        Format::Ocsf => ocsf::write_ocsf(buf, event),
        Format::Ecs => ecs::write_ecs(buf, event),
    }
}

/// Encodes one event in the chosen format as a `Value` (tests, validation, previews).
pub fn encode(event: &event::Event, format: Format) -> serde_json::Value {
    match format {
        Format::Ocsf => ocsf::to_ocsf(event),
        Format::Ecs => ecs::to_ecs(event),
    }
}
