//! SentinelOne endpoint telemetry (sentinelone.md §4.4, §5.4): Cloud Funnel / Singularity Data
//! Lake JSON (flattened dotted keys such as `event.dns.request`, `src.ip.address`) and Deep
//! Visibility event JSON (`dnsRequest`, `srcIp`, ...), DNS events to `DnsEvent`, IP connect/listen
//! to `FlowEvent`, with the endpoint (agent, host, site, OS) and the process (name, pid, command
//! line, image, SHA-1, user) kept as context. PowerQuery tables (`columns` + rows) are documents.

pub mod agents;
pub mod dv;
pub mod lrq;
pub mod retry;

/// The pull factory: LRQ unless the tenant asks for Deep Visibility.
pub fn build_pull(s: &crate::pull::PullSettings) -> Result<Box<dyn crate::pull::PullSource>, crate::pull::PullError> {
    match s.api.as_deref() {
        None | Some("lrq") => lrq::build(s),
        Some("dv") => dv::build(s),
        Some(other) => Err(crate::pull::PullError::Config { tenant: s.tenant.clone(), why: format!("connection.api `{other}` is not `lrq` or `dv`") }),
    }
}

use std::net::IpAddr;

use logfetch_common::event::{
    Direction, DnsActivity, DnsAnswer, DnsEvent, Endpoint, Envelope, Event, FlowActivity, FlowEvent, HostContext, ProcessContext, protocol_number,
};
use serde_json::{Map, Value};

use crate::{ParseContext, ParseOutcome, RecordParser};

#[derive(Default)]
pub struct SentinelOneParser;

/// One record's fields, whichever naming it uses.
struct Rec<'a> {
    m: &'a Map<String, Value>,
}

impl Rec<'_> {
    /// The first present, non-empty value among `keys`, as text.
    fn get(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| match self.m.get(*k) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::Bool(b)) => Some(b.to_string()),
            _ => None,
        })
    }
    fn ip(&self, keys: &[&str]) -> Result<Option<IpAddr>, String> {
        match self.get(keys) {
            None => Ok(None),
            Some(v) => logfetch_common::text::parse_ip(&v).map(Some).ok_or_else(|| format!("field `{}`: `{v}` is not an IP address", keys[0])),
        }
    }
    fn port(&self, keys: &[&str]) -> Result<Option<u16>, String> {
        match self.get(keys) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| format!("field `{}`: `{v}` is not a port", keys[0])),
        }
    }
}

/// `type:  5 arc.trafficmanager.net;type:  5 x.cloudapp.azure.com;20.82.209.183;` → answers.
pub fn dns_answers(resp: &str) -> Vec<DnsAnswer> {
    resp.split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            if let Some(rest) = p.strip_prefix("type:") {
                let rest = rest.trim_start();
                let (code, data) = rest.split_once(' ').unwrap_or(("", rest));
                let rtype = match code.trim() {
                    "1" => "A",
                    "2" => "NS",
                    "5" => "CNAME",
                    "6" => "SOA",
                    "12" => "PTR",
                    "15" => "MX",
                    "16" => "TXT",
                    "28" => "AAAA",
                    "33" => "SRV",
                    "65" => "HTTPS",
                    other => return DnsAnswer { rtype: Some(format!("TYPE{other}").into()), class: Some("IN".into()), data: data.trim().to_string(), ttl: None },
                };
                DnsAnswer { rtype: Some(rtype.into()), class: Some("IN".into()), data: data.trim().to_string(), ttl: None }
            } else {
                let rtype = match p.parse::<IpAddr>() {
                    Ok(IpAddr::V4(_)) => Some("A".into()),
                    Ok(IpAddr::V6(_)) => Some("AAAA".into()),
                    Err(_) => None,
                };
                DnsAnswer { rtype, class: Some("IN".into()), data: p.to_string(), ttl: None }
            }
        })
        .collect()
}

fn envelope(r: &Rec<'_>, raw: &str, ctx: &ParseContext) -> Result<Envelope, String> {
    let time = match (r.get(&["event.time"]), r.get(&["createdAt", "eventTime", "timestamp"])) {
        (Some(ms), _) => logfetch_common::time::parse_vendor_time(&ms, ctx.tz, ctx.now).map_err(|e| format!("field `event.time`: {e}"))?,
        (None, Some(t)) => logfetch_common::time::parse_vendor_time(&t, ctx.tz, ctx.now).map_err(|e| format!("field `createdAt`: {e}"))?,
        (None, None) => return Err("no `event.time` or `createdAt`".into()),
    };
    let id = r.get(&["event.id", "id"]);
    let mut env = Envelope::new(&ctx.tenant, "SentinelOne", "Singularity", "sentinelone", time, id, raw, ctx.keep_raw);
    env.original_time = r.get(&["event.time", "createdAt", "eventTime"]);
    env.event_code = r.get(&["event.type", "eventType", "meta.event.name"]).map(Into::into);
    env.host = Some(Box::new(HostContext {
        name: r.get(&["endpoint.name", "agentName", "agent.name"]),
        agent_id: r.get(&["agent.uuid", "agentUuid", "agentId"]),
        os: r.get(&["os.name", "endpoint.os", "agentOs"]),
        site: r.get(&["site.name", "siteName"]),
        ip: r.get(&["agentIp"]).and_then(|v| v.parse().ok()),
    }));
    let p = ProcessContext {
        name: r.get(&["src.process.name", "processName"]),
        pid: r.get(&["src.process.pid", "pid"]).and_then(|v| v.parse().ok()),
        command_line: r.get(&["src.process.cmdline", "processCmd"]),
        executable: r.get(&["src.process.image.path", "processImagePath"]),
        sha1: r.get(&["src.process.image.sha1", "processImageSha1Hash"]),
        user: r.get(&["src.process.user", "processUserName", "user"]),
    };
    if p != ProcessContext::default() {
        env.process = Some(Box::new(p));
    }
    for (k, v) in [("site_id", r.get(&["site.id"])), ("account_id", r.get(&["account.id"])), ("storyline_id", r.get(&["src.process.storyline.id"])), ("mgmt_url", r.get(&["mgmt.url"]))] {
        if let Some(v) = v {
            env.unmapped.insert(k, v.into());
        }
    }
    Ok(env)
}

/// Maps one SDL / Cloud Funnel / DV record; `Ok(None)` for event types that are not DNS or IP.
pub fn map_record(m: &Map<String, Value>, raw: &str, ctx: &ParseContext) -> Result<Option<Event>, String> {
    let r = Rec { m };
    let category = r.get(&["event.category"]).unwrap_or_default().to_ascii_lowercase();
    let etype = r.get(&["event.type", "eventType"]).unwrap_or_default();
    let et = etype.to_ascii_lowercase().replace(' ', "");
    let is_dns = category == "dns" || et.starts_with("dns") || r.get(&["event.dns.request", "dnsRequest"]).is_some();
    let is_ip = category == "ip" || et.starts_with("ip") || r.get(&["dst.ip.address", "dstIp"]).is_some();
    if is_dns {
        let q = r.get(&["event.dns.request", "dnsRequest"]).ok_or("field `event.dns.request` is missing")?;
        let env = envelope(&r, raw, ctx)?;
        let user = env.process.as_ref().and_then(|p| p.user.clone());
        let mut d = DnsEvent::new(env, DnsActivity::Traffic, &q);
        if let Some(resp) = r.get(&["event.dns.response", "dnsResponse"]) {
            d.answers = dns_answers(&resp);
        }
        // "DNS Unresolved": the lookup failed; the exact RCODE is not in the record.
        if et.contains("unresolved") {
            d.envelope.unmapped.insert("resolved", false.into());
        } else if !d.answers.is_empty() {
            d.rcode = Some(0);
        }
        d.client.ip = r.ip(&["src.ip.address", "agentIp"])?;
        d.user = user;
        return Ok(Some(Event::Dns(d)));
    }
    if is_ip {
        let env = envelope(&r, raw, ctx)?;
        let user = env.process.as_ref().and_then(|p| p.user.clone());
        let activity = if et.contains("listen") { FlowActivity::Listen } else { FlowActivity::Open };
        let mut f = FlowEvent::new(env, activity);
        f.src = Endpoint { ip: r.ip(&["src.ip.address", "srcIp"])?, port: r.port(&["src.port.number", "srcPort"])?, ..Endpoint::default() };
        f.dst = Endpoint { ip: r.ip(&["dst.ip.address", "dstIp"])?, port: r.port(&["dst.port.number", "dstPort"])?, ..Endpoint::default() };
        f.direction = match r.get(&["event.network.direction", "direction"]).map(|d| d.to_ascii_uppercase()).as_deref() {
            Some("OUTGOING") | Some("OUTBOUND") => Direction::Outbound,
            Some("INCOMING") | Some("INBOUND") => Direction::Inbound,
            _ => Direction::Unknown,
        };
        f.protocol_num = match r.get(&["meta.event.name"]).map(|n| n.to_ascii_uppercase()) {
            Some(n) if n.starts_with("TCP") => Some(6),
            Some(n) if n.starts_with("UDP") => Some(17),
            _ => r.get(&["netProtocolName"]).and_then(|p| protocol_number(&p)),
        };
        f.application = r.get(&["event.network.protocolName", "networkMethod"]);
        f.user = user;
        if let Some(s) = r.get(&["event.network.connectionStatus", "connectionStatus"]) {
            f.envelope.unmapped.insert("connection_status", s.into());
        }
        if let Some(n) = r.get(&["event.repetitionCount"]) {
            f.envelope.unmapped.insert("repetition_count", n.into());
        }
        return Ok(Some(Event::Flow(f)));
    }
    Ok(None)
}

impl RecordParser for SentinelOneParser {
    fn vendor(&self) -> &'static str {
        "sentinelone"
    }

    fn parse(&self, record: &str, ctx: &ParseContext) -> ParseOutcome {
        let line = record.trim();
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => return ParseOutcome::Rejected { reason: format!("not JSON: {e}") },
        };
        let Some(m) = v.as_object() else { return ParseOutcome::Rejected { reason: "a record must be a JSON object".into() } };
        match map_record(m, line, ctx) {
            Ok(Some(e)) => ParseOutcome::Events(vec![e]),
            Ok(None) => ParseOutcome::Skipped { reason: format!("event type `{}` is not DNS or IP", m.get("event.type").or(m.get("eventType")).and_then(Value::as_str).unwrap_or("?")) },
            Err(reason) => ParseOutcome::Rejected { reason },
        }
    }

    fn parse_document(&self, text: &str, ctx: &ParseContext, on: &mut dyn FnMut(ParseOutcome)) -> Option<Result<(), String>> {
        // A PowerQuery / LRQ table: {"data": {"columns": [...], "data"|"values": [[...]]}}.
        let v: Value = serde_json::from_str(text.trim()).ok()?;
        let d = v.get("data").filter(|d| d.get("columns").is_some()).or_else(|| v.get("columns").map(|_| &v))?;
        let cols: Vec<String> = d["columns"].as_array()?.iter().map(|c| c["name"].as_str().unwrap_or("").to_string()).collect();
        let rows = d.get("values").or(d.get("data")).and_then(Value::as_array)?;
        for row in rows {
            let Some(cells) = row.as_array() else {
                on(ParseOutcome::Rejected { reason: "a table row is not an array".into() });
                continue;
            };
            let m: Map<String, Value> = cols.iter().cloned().zip(cells.iter().cloned()).collect();
            let raw = Value::Object(m.clone()).to_string();
            on(match map_record(&m, &raw, ctx) {
                Ok(Some(e)) => ParseOutcome::Events(vec![e]),
                Ok(None) => ParseOutcome::Skipped { reason: format!("table row with columns {cols:?} carries no DNS or IP event") },
                Err(reason) => ParseOutcome::Rejected { reason },
            });
        }
        Some(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use logfetch_common::{ocsf, validate};

    fn sample(rel: &str) -> String {
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/samples/sentinelone").join(rel)).unwrap()
    }

    fn one(line: &str) -> Event {
        match SentinelOneParser.parse(line, &ParseContext::new("s1", chrono_tz::UTC)) {
            ParseOutcome::Events(mut v) => {
                let e = v.remove(0);
                let r = validate::validate(&ocsf::to_ocsf(&e));
                assert!(r.is_valid(), "{:?}", r.violations);
                e
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn cloud_funnel_dns_with_endpoint_and_process() {
        let Event::Dns(d) = one(sample("elastic-integrations__cloud_funnel__test-dns.log").trim()) else { panic!() };
        let v: Value = serde_json::from_str(sample("elastic-integrations__cloud_funnel__test-dns.log").trim()).unwrap();
        assert_eq!(d.query_name, v["event.dns.request"].as_str().unwrap());
        assert_eq!(d.envelope.time.timestamp_millis(), 1664811149495);
        let h = d.envelope.host.as_ref().unwrap();
        assert_eq!(h.name.as_deref(), Some("asdf1"));
        assert_eq!(h.site.as_deref(), Some("ASDF"));
        let p = d.envelope.process.as_ref().unwrap();
        assert_eq!(p.user.as_deref(), Some("asdf\\SYSTEM"));
        assert_eq!(p.sha1.as_deref(), Some("d8b12c9072fdcf68ec152befb004add14b5c25b8"));
        let o = ocsf::to_ocsf(&Event::Dns(d.clone()));
        assert_eq!(o["device"]["hostname"], "asdf1");
        assert_eq!(o["actor"]["process"]["file"]["hashes"][0]["value"], "d8b12c9072fdcf68ec152befb004add14b5c25b8");
        let e = logfetch_common::ecs::to_ecs(&Event::Dns(d));
        assert_eq!(e["host"]["name"], "asdf1");
        assert_eq!(e["process"]["hash"]["sha1"], "d8b12c9072fdcf68ec152befb004add14b5c25b8");
    }

    #[test]
    fn cloud_funnel_ip_connect() {
        let Event::Flow(f) = one(sample("elastic-integrations__cloud_funnel__test-network-action.log").trim()) else { panic!() };
        assert_eq!((f.src.port, f.dst.port), (Some(56473), Some(443)));
        assert_eq!(f.protocol_num, Some(6));
        assert_eq!(f.application.as_deref(), Some("https"));
        assert_eq!(f.activity, FlowActivity::Open);
        assert_eq!(f.envelope.process.as_ref().unwrap().pid, Some(12952));
    }

    #[test]
    fn dv_events_and_answer_lists() {
        let dv = r#"{"id":"e1","eventType":"DNS Resolved","createdAt":"2018-02-27T04:49:26.257525Z","dnsRequest":"www.example.com","dnsResponse":"type:  5 edge.example.net;192.0.2.7;","agentName":"pc1","agentUuid":"u-1","processName":"chrome.exe","pid":4242}"#;
        let Event::Dns(d) = one(dv) else { panic!() };
        assert_eq!(d.answers.len(), 2);
        assert_eq!((d.answers[0].rtype.as_deref(), d.answers[0].data.as_str()), (Some("CNAME"), "edge.example.net"));
        assert_eq!((d.answers[1].rtype.as_deref(), d.rcode), (Some("A"), Some(0)));
        assert_eq!(d.envelope.vendor_event_id.as_deref(), Some("e1"));
        let ip = r#"{"id":"e2","eventType":"IP Listen","createdAt":"2018-02-27T04:49:26Z","srcIp":"10.0.0.5","srcPort":8080,"direction":"INCOMING"}"#;
        let Event::Flow(f) = one(ip) else { panic!() };
        assert_eq!((f.activity, f.direction), (FlowActivity::Listen, Direction::Inbound));
        assert!(matches!(SentinelOneParser.parse(r#"{"eventType":"Process Creation","createdAt":"2018-02-27T04:49:26Z"}"#, &ParseContext::new("s1", chrono_tz::UTC)), ParseOutcome::Skipped { .. }));
        assert!(matches!(SentinelOneParser.parse("nope", &ParseContext::new("s1", chrono_tz::UTC)), ParseOutcome::Rejected { .. }));
    }

    #[test]
    fn powerquery_tables_are_documents() {
        let mut outs = Vec::new();
        SentinelOneParser.parse_document(&sample("content__get_power_query_response.json"), &ParseContext::new("s1", chrono_tz::UTC), &mut |o| outs.push(o)).unwrap().unwrap();
        assert_eq!(outs.len(), 10);
        assert!(outs.iter().all(|o| matches!(o, ParseOutcome::Skipped { .. })), "eventTime/agentUuid/siteId rows carry no DNS or IP event");
        let table = r#"{"data":{"columns":[{"name":"event.time"},{"name":"event.category"},{"name":"event.dns.request"}],"values":[[1700000000000,"dns","a.example.com"]]}}"#;
        let mut outs = Vec::new();
        SentinelOneParser.parse_document(table, &ParseContext::new("s1", chrono_tz::UTC), &mut |o| outs.push(o)).unwrap().unwrap();
        assert!(matches!(&outs[0], ParseOutcome::Events(e) if matches!(&e[0], Event::Dns(d) if d.query_name == "a.example.com")));
    }
}
