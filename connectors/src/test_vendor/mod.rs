//! The `test` vendor: logfetch's own JSON-lines format, used by `logfetch demo` and the service
//! tests before (and besides) any real vendor. One JSON object per line:
//!
//! ```json
//! {"type":"flow","id":"f-1","time":"2024-05-01T10:00:00Z","src_ip":"10.0.0.1","src_port":5000,
//!  "dst_ip":"192.0.2.1","dst_port":443,"proto":"tcp","bytes_out":100,"bytes_in":2000,"action":"allow"}
//! {"type":"dns","id":"d-1","time":"2024-05-01T10:00:00Z","client_ip":"10.0.0.1","query":"example.com",
//!  "qtype":"A","rcode":"NOERROR","answers":["192.0.2.1"]}
//! ```

pub mod api;
pub mod receiver;

use logfetch_common::event::{
    Direction, Disposition, DnsActivity, DnsAnswer, DnsEvent, Envelope, Event, FlowActivity, FlowEvent, protocol_number, rcode_from_text,
};
use serde::Deserialize;

use crate::{ParseContext, ParseOutcome, RecordParser};

/// A test record, borrowed from the input line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRecord<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: &'a str,
    #[serde(borrow)]
    pub id: Option<&'a str>,
    #[serde(borrow)]
    pub time: &'a str,
    #[serde(borrow)]
    pub src_ip: Option<&'a str>,
    pub src_port: Option<u16>,
    #[serde(borrow)]
    pub dst_ip: Option<&'a str>,
    pub dst_port: Option<u16>,
    #[serde(borrow)]
    pub proto: Option<&'a str>,
    pub bytes_out: Option<u64>,
    pub bytes_in: Option<u64>,
    #[serde(borrow)]
    pub action: Option<&'a str>,
    #[serde(borrow)]
    pub client_ip: Option<&'a str>,
    #[serde(borrow)]
    pub query: Option<&'a str>,
    #[serde(borrow)]
    pub qtype: Option<&'a str>,
    #[serde(borrow)]
    pub rcode: Option<&'a str>,
    #[serde(default, borrow)]
    pub answers: Vec<&'a str>,
}

pub struct TestParser;

fn ip(field: &str, v: Option<&str>) -> Result<Option<std::net::IpAddr>, String> {
    v.map(|s| s.parse().map_err(|_| format!("field `{field}`: `{s}` is not an IP address"))).transpose()
}

fn disposition(action: Option<&str>) -> Result<Disposition, String> {
    Ok(match action {
        None => Disposition::Unknown,
        Some("allow") => Disposition::Allowed,
        Some("deny") => Disposition::Blocked,
        Some("drop") => Disposition::Dropped,
        Some(o) => return Err(format!("field `action`: `{o}` is not allow, deny or drop")),
    })
}

impl TestParser {
    fn map(&self, rec: &TestRecord<'_>, line: &str, ctx: &ParseContext) -> Result<Event, String> {
        let time = logfetch_common::time::parse_vendor_time(rec.time, ctx.tz, ctx.now).map_err(|e| format!("field `time`: {e}"))?;
        let mut env = Envelope::new(&ctx.tenant, "logfetch", "Test Source", "test", time, rec.id.map(str::to_string), line, ctx.keep_raw);
        env.original_time = Some(rec.time.to_string());
        match rec.kind {
            "flow" => {
                let disp = disposition(rec.action)?;
                let act = if disp.is_denied() { FlowActivity::Refuse } else { FlowActivity::Traffic };
                let mut f = FlowEvent::new(env, act);
                f.src.ip = ip("src_ip", rec.src_ip)?;
                f.src.port = rec.src_port;
                f.dst.ip = ip("dst_ip", rec.dst_ip)?;
                f.dst.port = rec.dst_port;
                if f.dst.ip.is_none() {
                    return Err("field `dst_ip` is required for a flow".into());
                }
                f.protocol_num = match rec.proto {
                    Some(p) => Some(protocol_number(p).ok_or_else(|| format!("field `proto`: unknown protocol `{p}`"))?),
                    None => None,
                };
                f.direction = Direction::Unknown;
                f.bytes_out = rec.bytes_out;
                f.bytes_in = rec.bytes_in;
                f.disposition = disp;
                Ok(Event::Flow(f))
            }
            "dns" => {
                let q = rec.query.filter(|q| !q.is_empty()).ok_or("field `query` is required for a dns record")?;
                let mut d = DnsEvent::new(env, DnsActivity::Traffic, q);
                d.client.ip = ip("client_ip", rec.client_ip)?;
                d.query_type = rec.qtype.map(str::to_string);
                d.rcode = match rec.rcode {
                    Some(r) => Some(rcode_from_text(r).ok_or_else(|| format!("field `rcode`: unknown response code `{r}`"))?),
                    None => None,
                };
                d.answers = rec
                    .answers
                    .iter()
                    .map(|a| DnsAnswer {
                        rtype: Some(if a.contains(':') { "AAAA" } else if a.parse::<std::net::Ipv4Addr>().is_ok() { "A" } else { "CNAME" }.into()),
                        class: Some("IN".into()),
                        data: a.to_string(),
                        ttl: None,
                    })
                    .collect();
                d.disposition = disposition(rec.action)?;
                Ok(Event::Dns(d))
            }
            other => Err(format!("field `type`: `{other}` is not flow or dns")),
        }
    }
}

impl RecordParser for TestParser {
    fn vendor(&self) -> &'static str {
        "test"
    }

    fn parse(&self, record: &str, ctx: &ParseContext) -> ParseOutcome {
        let line = record.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return ParseOutcome::Skipped { reason: "empty line".into() };
        }
        let rec: TestRecord<'_> = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(e) => return ParseOutcome::Rejected { reason: format!("not a test record: {e}") },
        };
        match self.map(&rec, line, ctx) {
            Ok(ev) => ParseOutcome::Events(vec![ev]),
            Err(reason) => ParseOutcome::Rejected { reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logfetch_common::validate::validate;

    fn ctx() -> ParseContext {
        ParseContext::new("t1", chrono_tz::UTC)
    }

    fn one(line: &str) -> Event {
        match TestParser.parse(line, &ctx()) {
            ParseOutcome::Events(mut v) => v.remove(0),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flow_records_map_with_values() {
        let ev = one(r#"{"type":"flow","id":"f-1","time":"2024-05-01T10:00:00Z","src_ip":"10.0.0.1","src_port":5000,"dst_ip":"192.0.2.1","dst_port":443,"proto":"tcp","bytes_out":100,"bytes_in":2000,"action":"deny"}"#);
        let Event::Flow(f) = &ev else { panic!() };
        assert_eq!(f.src.ip.unwrap().to_string(), "10.0.0.1");
        assert_eq!(f.dst.port, Some(443));
        assert_eq!(f.protocol_num, Some(6));
        assert_eq!(f.bytes_in, Some(2000));
        assert_eq!(f.disposition, Disposition::Blocked);
        assert_eq!(f.activity, FlowActivity::Refuse);
        assert_eq!(f.envelope.vendor_event_id.as_deref(), Some("f-1"));
        assert!(validate(&logfetch_common::ocsf::to_ocsf(&ev)).is_valid());
    }

    #[test]
    fn dns_records_map_with_values() {
        let ev = one(r#"{"type":"dns","id":"d-1","time":"2024-05-01T10:00:00Z","client_ip":"10.0.0.1","query":"www.example.com","qtype":"A","rcode":"NXDOMAIN","answers":["192.0.2.1","alias.example.com"]}"#);
        let Event::Dns(d) = &ev else { panic!() };
        assert_eq!(d.query_name, "www.example.com");
        assert_eq!(d.rcode, Some(3));
        assert_eq!(d.answers[0].rtype.as_deref(), Some("A"));
        assert_eq!(d.answers[1].rtype.as_deref(), Some("CNAME"));
        assert!(validate(&logfetch_common::ocsf::to_ocsf(&ev)).is_valid());
    }

    #[test]
    fn malformed_records_are_rejected_with_the_field() {
        for (line, want) in [
            ("not json", "not a test record"),
            (r#"{"type":"flow","time":"2024-05-01T10:00:00Z","dst_ip":"300.1.1.1"}"#, "field `dst_ip`"),
            (r#"{"type":"flow","time":"yesterday","dst_ip":"1.1.1.1"}"#, "field `time`"),
            (r#"{"type":"dns","time":"2024-05-01T10:00:00Z"}"#, "field `query`"),
            (r#"{"type":"dns","time":"2024-05-01T10:00:00Z","query":"a.b","rcode":"WAT"}"#, "field `rcode`"),
            (r#"{"type":"x","time":"2024-05-01T10:00:00Z"}"#, "field `type`"),
            (r#"{"type":"flow","time":"2024-05-01T10:00:00Z","dst_ip":"1.1.1.1","extra":1}"#, "unknown field `extra`"),
        ] {
            match TestParser.parse(line, &ctx()) {
                ParseOutcome::Rejected { reason } => assert!(reason.contains(want), "{line}: {reason}"),
                other => panic!("{line}: {other:?}"),
            }
        }
    }
}
