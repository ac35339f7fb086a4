//! PAN-OS records (from CSV syslog or XML API entries, both seen through [`Fields`]) to common
//! events: TRAFFIC → `FlowEvent`, DNS threat records → `DnsEvent`.

use std::net::IpAddr;

use chrono::{DateTime, Utc};
use logfetch_common::event::{Disposition, DnsActivity, DnsEvent, Endpoint, Envelope, Event, FlowActivity, FlowEvent, protocol_number};
use logfetch_common::text::ascii_lower;

use super::layout::Col;
use crate::ParseContext;

/// A field name as a [`Col`], its CSV positions worked out at compile time.
macro_rules! col {
    ($name:literal) => {
        const { $crate::paloalto::layout::Col::new($name) }
    };
}
pub(crate) use col;

/// Named access to a record's fields; empty values read as absent.
/// Names are [`Col`]s (`col!("src")`): a CSV row reads the column position worked out at
/// compile time, the other shapes look the name up.
pub trait Fields {
    fn raw(&self, c: Col) -> Option<&str>;
    fn get(&self, c: Col) -> Option<&str> {
        self.raw(c).map(logfetch_common::text::trim).filter(|v| !v.is_empty())
    }
}

/// Where the record came from, for the envelope.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The syslog header's host, when there was one.
    pub host: Option<&'a str>,
    pub raw: &'a str,
}

fn ip<F: Fields + ?Sized>(f: &F, k: Col) -> Result<Option<IpAddr>, String> {
    match f.get(k) {
        None => Ok(None),
        Some(v) => logfetch_common::text::parse_ip(v).map(Some).ok_or_else(|| format!("field `{}`: `{v}` is not an IP address", k.name)),
    }
}

fn num<F: Fields + ?Sized>(f: &F, k: Col) -> Result<Option<u64>, String> {
    match f.get(k) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| format!("field `{}`: `{v}` is not a number", k.name)),
    }
}

fn port<F: Fields + ?Sized>(f: &F, k: Col) -> Result<Option<u16>, String> {
    match f.get(k) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| format!("field `{}`: `{v}` is not a port", k.name)),
    }
}

/// NAT columns hold `0.0.0.0` / `0` when there is no translation.
fn nat_ip(v: Option<IpAddr>) -> Option<IpAddr> {
    v.filter(|i| !i.is_unspecified())
}

/// The event time: `high_res_timestamp` (it carries an offset) when present, else
/// `time_generated` / `receive_time` in the tenant's zone.
fn event_time<F: Fields + ?Sized>(f: &F, ctx: &ParseContext) -> Result<(DateTime<Utc>, String), String> {
    for k in [col!("high_res_timestamp"), col!("time_generated"), col!("receive_time")] {
        if let Some(v) = f.get(k) {
            let t = logfetch_common::time::parse_vendor_time(v, ctx.tz, ctx.now).map_err(|e| format!("field `{}`: {e}", k.name))?;
            return Ok((t, v.to_string()));
        }
    }
    Err("no time_generated, receive_time or high_res_timestamp".into())
}

fn envelope<F: Fields + ?Sized>(f: &F, o: Origin<'_>, ctx: &ParseContext, salt: &str) -> Result<Envelope, String> {
    let (time, original) = event_time(f, ctx)?;
    // serial + seqno identify a log on a device (and across a Panorama's devices).
    let serial = f.get(col!("serial"));
    let vendor_id = match (serial, f.get(col!("seqno"))) {
        (Some(s), Some(n)) => Some([s, ":", salt, n].concat()),
        _ => None,
    };
    let mut env = Envelope::new(&ctx.tenant, "Palo Alto Networks", "PAN-OS", "paloalto", time, vendor_id, o.raw, ctx.keep_raw);
    env.original_time = Some(original);
    env.event_code = match (f.get(col!("type")), f.get(col!("subtype"))) {
        (Some(t), Some(s)) => Some([t, "/", s].concat().into()),
        (Some(t), None) => Some(t.to_string().into()),
        _ => None,
    };
    let device_name = f.get(col!("device_name"));
    env.observer.hostname = device_name.or(o.host).map(str::to_string);
    env.observer.serial = serial.map(str::to_string);
    env.observer.name = device_name.map(str::to_string);
    for k in ENVELOPE_UNMAPPED {
        if let Some(v) = f.get(k) {
            env.unmapped.insert(k.name, v.into());
        }
    }
    Ok(env)
}

/// Fields every record keeps in `unmapped`, in name order, so each insert appends.
const ENVELOPE_UNMAPPED: [Col; 11] = [
    col!("action_source"),
    col!("category"),
    col!("dg_hier_level_1"),
    col!("dstloc"),
    col!("flags"),
    col!("logset"),
    col!("repeatcnt"),
    col!("rule_uuid"),
    col!("seqno"),
    col!("srcloc"),
    col!("vsys"),
];

fn disposition(action: Option<&str>) -> Disposition {
    match action.map(ascii_lower).as_deref() {
        Some("allow") | Some("continue") | Some("override") => Disposition::Allowed,
        Some("alert") => Disposition::Alert,
        Some("deny") | Some("block-url") | Some("block-ip") | Some("block-continue") | Some("block-override") | Some("override-lockout") => Disposition::Blocked,
        Some("drop") | Some("drop-icmp") | Some("drop-all") | Some("drop-all-packets") | Some("random-drop") => Disposition::Dropped,
        Some("reset-client") | Some("reset-server") | Some("reset-both") => Disposition::Reset,
        Some("sinkhole") => Disposition::Blocked,
        Some(_) | None => Disposition::Unknown,
    }
}

/// TRAFFIC (start, end, drop, deny, ...) → one flow event.
pub fn traffic<F: Fields + ?Sized>(f: &F, o: Origin<'_>, ctx: &ParseContext) -> Result<Event, String> {
    let env = envelope(f, o, ctx, "")?;
    let subtype = ascii_lower(f.get(col!("subtype")).unwrap_or(""));
    let disp = disposition(f.get(col!("action")));
    let activity = match subtype.as_ref() {
        "start" => FlowActivity::Open,
        "end" => FlowActivity::Close,
        "drop" | "deny" => FlowActivity::Refuse,
        _ if disp.is_denied() => FlowActivity::Refuse,
        _ => FlowActivity::Traffic,
    };
    let mut e = FlowEvent::new(env, activity);
    let src = ip(f, col!("src"))?.ok_or("field `src` is missing")?;
    let dst = ip(f, col!("dst"))?.ok_or("field `dst` is missing")?;
    e.src = Endpoint {
        ip: Some(src),
        port: port(f, col!("sport"))?,
        interface: f.get(col!("inbound_if")).map(str::to_string),
        zone: f.get(col!("from")).map(str::to_string),
        nat_ip: nat_ip(ip(f, col!("natsrc"))?),
        nat_port: port(f, col!("natsport"))?.filter(|p| *p != 0),
        user: f.get(col!("srcuser")).map(str::to_string),
        hostname: f.get(col!("src_host")).map(str::to_string),
        ..Endpoint::default()
    };
    e.dst = Endpoint {
        ip: Some(dst),
        port: port(f, col!("dport"))?,
        interface: f.get(col!("outbound_if")).map(str::to_string),
        zone: f.get(col!("to")).map(str::to_string),
        nat_ip: nat_ip(ip(f, col!("natdst"))?),
        nat_port: port(f, col!("natdport"))?.filter(|p| *p != 0),
        user: f.get(col!("dstuser")).map(str::to_string),
        hostname: f.get(col!("dst_host")).map(str::to_string),
        ..Endpoint::default()
    };
    if e.src.nat_ip.is_none() {
        e.src.nat_port = None;
    }
    if e.dst.nat_ip.is_none() {
        e.dst.nat_port = None;
    }
    e.protocol_num = f.get(col!("proto")).and_then(protocol_number);
    // bytes_sent is client → server (paloalto.md §4.3).
    e.bytes_out = num(f, col!("bytes_sent"))?;
    e.bytes_in = num(f, col!("bytes_received"))?;
    e.packets_out = num(f, col!("pkts_sent"))?;
    e.packets_in = num(f, col!("pkts_received"))?;
    e.bytes_total = num(f, col!("bytes"))?;
    e.packets_total = num(f, col!("packets"))?;
    e.disposition = if disp == Disposition::Unknown && activity != FlowActivity::Refuse { Disposition::Allowed } else { disp };
    e.rule = f.get(col!("rule")).map(str::to_string);
    e.session_id = f.get(col!("sessionid")).map(str::to_string);
    e.application = f.get(col!("app")).map(str::to_string);
    e.user = f.get(col!("srcuser")).map(str::to_string);
    e.reason = f.get(col!("session_end_reason")).filter(|r| *r != "n/a").map(str::to_string);
    if let Some(start) = f.get(col!("start")) {
        if let Ok(t) = logfetch_common::time::parse_vendor_time(start, ctx.tz, ctx.now) {
            e.start_time = Some(t);
        }
    }
    if let Some(el) = num(f, col!("elapsed"))? {
        e.duration_ms = el.checked_mul(1000);
        if activity == FlowActivity::Close {
            e.end_time = e.start_time.and_then(|s| el.checked_mul(1000).and_then(|ms| logfetch_common::time::after(s, ms))).or(Some(e.envelope.time));
        }
    }
    Ok(Event::Flow(e))
}

/// `Suspicious DNS Query (generic:comparetvs.net)(320511141)` → (`comparetvs.net`, 320511141).
pub fn dns_domain_in_threat_name(name: &str) -> Option<(&str, Option<u64>)> {
    let n = name.trim();
    let (rest, id) = match n.strip_suffix(')').and_then(|r| r.rsplit_once('(')) {
        Some((r, id)) if id.bytes().all(|b| b.is_ascii_digit()) => (r.trim_end(), id.parse().ok()),
        _ => (n, None),
    };
    let inner = rest.strip_suffix(')')?.rsplit_once('(')?.1;
    let domain = inner.rsplit_once(':').map_or(inner, |(_, d)| d).trim();
    let looks = domain.contains('.') && !domain.contains(' ') && domain.parse::<IpAddr>().is_err();
    looks.then_some((domain, id))
}

/// THREAT records: DNS ones (a domain in the threat name of a spyware/DNS record, or app `dns`
/// with DNS security categories) → a DNS event; everything else is not flow or DNS (`None`).
pub fn threat<F: Fields + ?Sized>(f: &F, o: Origin<'_>, ctx: &ParseContext) -> Result<Option<Event>, String> {
    let name = f.get(col!("threatid")).unwrap_or("");
    let app = f.get(col!("app")).unwrap_or("");
    let dns_category = f.get(col!("thr_category")).filter(|c| c.starts_with("dns")).or(f.get(col!("category-of-threatid")).filter(|c| c.starts_with("dns")));
    let found = dns_domain_in_threat_name(name);
    let is_dns = found.is_some() && (app.eq_ignore_ascii_case("dns") || name.contains("DNS") || f.get(col!("dport")) == Some("53") || dns_category.is_some());
    let Some((domain, id)) = found.filter(|_| is_dns) else { return Ok(None) };
    let env = envelope(f, o, ctx, "threat:")?;
    let mut d = DnsEvent::new(env, DnsActivity::Query, domain);
    d.client = Endpoint { ip: ip(f, col!("src"))?, port: port(f, col!("sport"))?, zone: f.get(col!("from")).map(str::to_string), user: f.get(col!("srcuser")).map(str::to_string), ..Endpoint::default() };
    d.server = Endpoint { ip: ip(f, col!("dst"))?, port: port(f, col!("dport"))?, zone: f.get(col!("to")).map(str::to_string), ..Endpoint::default() };
    d.protocol_num = f.get(col!("proto")).and_then(protocol_number);
    d.disposition = disposition(f.get(col!("action")));
    d.rule = f.get(col!("rule")).map(str::to_string);
    d.user = f.get(col!("srcuser")).map(str::to_string);
    let um = &mut d.envelope.unmapped;
    um.insert("threat_name", name.into());
    if let Some(id) = id {
        um.insert("threat_id", id.into());
    }
    for k in [col!("severity"), col!("thr_category"), col!("action"), col!("direction")] {
        if let Some(v) = f.get(k) {
            um.insert(k.name, v.into());
        }
    }
    if f.get(col!("action")) == Some("sinkhole") {
        um.insert("sinkholed", true.into());
    }
    Ok(Some(Event::Dns(d)))
}

/// A row of named columns (CSV).
pub struct Row<'r, 'a> {
    pub layout: &'static super::layout::Layout,
    pub cols: &'r [std::borrow::Cow<'a, str>],
}

impl Fields for Row<'_, '_> {
    #[inline]
    fn raw(&self, c: Col) -> Option<&str> {
        self.cols.get(c.position(self.layout)?).map(|c| c.as_ref())
    }
}

/// An XML API `<entry>`: child element name → text.
#[derive(Debug, Default, Clone)]
pub struct Entry {
    pub fields: Vec<(String, String)>,
}

impl Fields for Entry {
    fn raw(&self, c: Col) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == c.name).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_from_threat_name() {
        assert_eq!(dns_domain_in_threat_name("Suspicious DNS Query (generic:comparetvs.net)(320511141)"), Some(("comparetvs.net", Some(320511141))));
        assert_eq!(dns_domain_in_threat_name("Malware DNS Query (bad.example.org)(1234)"), Some(("bad.example.org", Some(1234))));
        assert_eq!(dns_domain_in_threat_name("PDF Exploit Evasion Found(34805)"), None);
        assert_eq!(dns_domain_in_threat_name("(9999)"), None);
    }

    #[test]
    fn envelope_unmapped_names_are_in_order_so_each_field_appends() {
        assert!(ENVELOPE_UNMAPPED.windows(2).all(|w| w[0].name < w[1].name));
    }
}
