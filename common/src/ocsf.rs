//! OCSF 1.3.0 JSON encoding: Network Activity (4001) and DNS Activity (4003).
//!
//! The class, activity and enum numbers follow `../shared/ocsf/1.3.0` (`events/network/*.json`,
//! `dictionary.json`); `validate` checks what this module writes against the same facts.
//!
//! Events are written straight into a byte buffer ([`write_ocsf`]); [`to_ocsf`] parses that back
//! into a `Value` for callers off the hot path (tests, the validator, enrichment previews). Keys are
//! written in sorted order, so the output is the same as a sorted map would give.

use std::sync::OnceLock;

use serde_json::Value;

use crate::event::{AutonomousSystem, Disposition, DnsEvent, Endpoint, Enrichment, Envelope, Event, FlowEvent, Location, Observer, Owner, protocol_name, rcode_caption};
use crate::json::{Obj, to_value};

/// The OCSF version every event declares in `metadata.version`.
pub const OCSF_VERSION: &str = "1.3.0";
pub const CATEGORY_NETWORK: u32 = 4;
pub const CLASS_NETWORK_ACTIVITY: u32 = 4001;
pub const CLASS_DNS_ACTIVITY: u32 = 4003;

/// Encodes an event as an OCSF object.
pub fn to_ocsf(event: &Event) -> Value {
    let mut buf = Vec::with_capacity(1024);
    write_ocsf(&mut buf, event);
    serde_json::from_slice(&buf).expect("the OCSF writer produces valid JSON")
}

/// Appends the OCSF JSON of `event` (one object, no newline) to `buf`.
pub fn write_ocsf(buf: &mut Vec<u8>, event: &Event) {
    let mut o = Obj::begin(buf);
    match event {
        Event::Flow(f) => flow(&mut o, f),
        Event::Dns(d) => dns(&mut o, d),
    }
    o.end();
}

/// Members that depend only on one fieldless enum value (a severity, a disposition, an
/// activity), rendered by the writer functions on first use and copied after that: they were
/// formatted anew, key by key, for every event.
struct Rendered([OnceLock<Box<str>>; 16]);

impl Rendered {
    const fn new() -> Self {
        Rendered([const { OnceLock::new() }; 16])
    }

    /// Writes what `render` writes for `variant` (the enum's discriminant).
    fn write(&'static self, o: &mut Obj<'_>, variant: usize, render: impl FnOnce(&mut Obj<'_>)) {
        let Some(slot) = self.0.get(variant) else {
            return render(o);
        };
        let run = slot.get_or_init(|| {
            let mut b = Vec::new();
            let mut m = Obj::begin(&mut b);
            render(&mut m);
            m.end();
            String::from_utf8_lossy(&b[1..b.len() - 1]).into()
        });
        o.rendered_members(run);
    }
}

static ACTION: Rendered = Rendered::new();
static DISPOSITION: Rendered = Rendered::new();
static SEVERITY: Rendered = Rendered::new();
static DIRECTION: Rendered = Rendered::new();
static FLOW_ACTIVITY: Rendered = Rendered::new();
static FLOW_TYPE: Rendered = Rendered::new();
static DNS_ACTIVITY: Rendered = Rendered::new();
static DNS_TYPE: Rendered = Rendered::new();
static PROFILES: Rendered = Rendered::new();

fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

fn disposition(o: &mut Obj<'_>, d: Disposition) {
    o.str("action", d.action_caption());
    o.num("action_id", d.action_id());
}

fn activity(o: &mut Obj<'_>, id: u8, caption: &str) {
    o.num("activity_id", id);
    o.str("activity_name", caption);
}

fn actor(o: &mut Obj<'_>, user: Option<&str>, env: &Envelope) {
    if user.is_none() && env.process.is_none() {
        return;
    }
    o.obj("actor", |a| {
        if let Some(p) = &env.process {
            a.obj("process", |m| process(m, p));
        }
        if let Some(u) = user {
            a.obj("user", |m| m.str("name", u));
        }
    });
}

fn class(o: &mut Obj<'_>, class_uid: u32, class_name: &str) {
    // The two classes every record lands in: their four members are one constant run.
    match (class_uid, class_name) {
        (CLASS_NETWORK_ACTIVITY, "Network Activity") => {
            return o.members(r#""category_name":"Network Activity","category_uid":4,"class_name":"Network Activity","class_uid":4001"#);
        }
        (CLASS_DNS_ACTIVITY, "DNS Activity") => {
            return o.members(r#""category_name":"Network Activity","category_uid":4,"class_name":"DNS Activity","class_uid":4003"#);
        }
        _ => {}
    }
    class_members(o, class_uid, class_name);
}

fn class_members(o: &mut Obj<'_>, class_uid: u32, class_name: &str) {
    o.str("category_name", "Network Activity");
    o.num("category_uid", CATEGORY_NETWORK);
    o.str("class_name", class_name);
    o.num("class_uid", class_uid);
}

fn device(o: &mut Obj<'_>, env: &Envelope) {
    if let Some(h) = &env.host {
        o.obj("device", |m| host_device(m, h));
    } else if !env.observer.is_empty() {
        o.obj("device", |m| observer(m, &env.observer));
    }
}

fn disposition_tail(o: &mut Obj<'_>, d: Disposition) {
    o.str("disposition", d.caption());
    o.num("disposition_id", d.disposition_id());
}

fn enrichments(o: &mut Obj<'_>, env: &Envelope) {
    if !env.enrichments.is_empty() {
        o.arr("enrichments", |a| {
            for e in &env.enrichments {
                a.obj(|m| enrichment(m, e));
            }
        });
    }
}

fn metadata(o: &mut Obj<'_>, env: &Envelope, log_name: &str, (variant, profiles): (usize, &[&str])) {
    o.obj("metadata", |md| {
        md.opt_str("correlation_uid", env.vendor_event_id.as_deref());
        md.opt_str("event_code", env.event_code.as_deref());
        md.str("log_name", log_name);
        md.str("log_provider", &env.connector);
        md.opt_str("original_time", env.original_time.as_deref());
        md.obj("product", |p| {
            p.str("name", &env.product);
            p.str("vendor_name", &env.vendor);
        });
        if !profiles.is_empty() {
            PROFILES.write(md, variant, |m| m.arr("profiles", |a| profiles.iter().for_each(|p| a.str(p))));
        }
        md.str("tenant_uid", &env.tenant);
        md.str("uid", &env.event_id);
        md.str("version", OCSF_VERSION);
    });
}

fn severity(o: &mut Obj<'_>, env: &Envelope) {
    o.str("severity", env.severity.caption());
    o.num("severity_id", env.severity.id());
}

fn type_fields(o: &mut Obj<'_>, class_uid: u32, class_name: &str, activity_id: u8, activity: &str) {
    o.str_parts("type_name", &[class_name, ": ", activity]);
    o.num("type_uid", class_uid as u64 * 100 + activity_id as u64);
}

/// `unmapped`: the vendor's own fields plus what the encoder adds (NAT, a rule without a
/// disposition), in key order; an added key replaces a vendor field of the same name.
fn unmapped(o: &mut Obj<'_>, env: &Envelope, extra: &mut [(&'static str, Extra<'_>)]) {
    if env.unmapped.is_empty() && extra.is_empty() {
        return;
    }
    extra.sort_unstable_by_key(|e| e.0);
    o.obj("unmapped", |m| {
        let mut vendor = env.unmapped.iter().peekable();
        let mut added = extra.iter().peekable();
        loop {
            match (vendor.peek(), added.peek()) {
                (None, None) => break,
                // Names are short: compared a word at a time, not by a call to `memcmp`.
                (Some((vk, _)), Some((ak, _))) if crate::text::short_cmp(vk.as_bytes(), ak.as_bytes()).is_ge() => {
                    if vk == ak {
                        vendor.next();
                    }
                    let (k, v) = added.next().expect("peeked");
                    v.write(m, k);
                }
                (Some(_), _) => {
                    let (k, v) = vendor.next().expect("peeked");
                    m.dyn_value(k, v);
                }
                (None, Some(_)) => {
                    let (k, v) = added.next().expect("peeked");
                    v.write(m, k);
                }
            }
        }
    });
}

/// A value the encoder adds to `unmapped`.
enum Extra<'a> {
    Ip(std::net::IpAddr),
    Port(u16),
    Str(&'a str),
}

impl Extra<'_> {
    fn write(&self, o: &mut Obj<'_>, k: &'static str) {
        match self {
            Extra::Ip(ip) => o.ip(k, *ip),
            Extra::Port(p) => o.num(k, *p),
            Extra::Str(s) => o.str(k, s),
        }
    }
}

/// NAT addresses after translation.
fn nat_extras<'a>(src: &Endpoint, dst: &Endpoint, out: &mut Vec<(&'static str, Extra<'a>)>) {
    if let Some(ip) = dst.nat_ip {
        out.push(("dst_nat_ip", Extra::Ip(ip)));
    }
    if let Some(p) = dst.nat_port {
        out.push(("dst_nat_port", Extra::Port(p)));
    }
    if let Some(ip) = src.nat_ip {
        out.push(("src_nat_ip", Extra::Ip(ip)));
    }
    if let Some(p) = src.nat_port {
        out.push(("src_nat_port", Extra::Port(p)));
    }
}

fn endpoint(o: &mut Obj<'_>, e: &Endpoint) {
    if let Some(a) = &e.autonomous_system {
        o.obj("autonomous_system", |m| write_as(m, a));
    }
    o.opt_str("hostname", e.hostname.as_deref());
    o.opt_str("interface_name", e.interface.as_deref());
    o.opt_ip("ip", e.ip);
    if let Some(l) = &e.location {
        o.obj("location", |m| write_location(m, l));
    }
    if let Some(u) = &e.user {
        o.obj("owner", |m| m.str("name", u));
    } else if let Some(ow) = &e.owner {
        o.obj("owner", |m| write_owner(m, ow));
    }
    o.opt_num("port", e.port);
    o.opt_str("zone", e.zone.as_deref());
}

fn write_location(m: &mut Obj<'_>, l: &Location) {
    m.opt_str("city", l.city.as_deref());
    m.opt_str("continent", l.continent.as_deref());
    let coords = l.lat.zip(l.lon);
    if let Some((lat, lon)) = coords {
        m.arr("coordinates", |a| {
            a.f64(lon);
            a.f64(lat);
        });
    }
    m.opt_str("country", l.country.as_deref());
    if let Some((lat, lon)) = coords {
        m.f64("lat", lat);
        m.f64("long", lon);
    }
    m.opt_str("region", l.region.as_deref());
}

fn write_as(m: &mut Obj<'_>, a: &AutonomousSystem) {
    m.opt_str("name", a.name.as_deref());
    m.num("number", a.number);
}

fn write_owner(m: &mut Obj<'_>, o: &Owner) {
    m.str("name", &o.name);
    if let Some(d) = &o.department {
        m.obj("org", |g| g.str("ou_name", d));
    }
    m.str("type", "User");
    m.num("type_id", 1u8);
}

fn enrichment(m: &mut Obj<'_>, e: &Enrichment) {
    m.obj("data", |d| {
        d.opt_num("confidence", e.confidence);
        d.str("indicator", &e.indicator);
        d.str("indicator_type", &e.kind);
        d.str("matched_by", &e.matched_by);
        if let Some(t) = e.valid_until {
            d.str("valid_until", &t.to_rfc3339());
        }
    });
    m.str("name", &e.field);
    m.str("provider", &e.feed);
    m.opt_str("short_desc", e.description.as_deref());
    m.str("type", "threat_intel");
    m.str("value", &e.value);
}

/// OCSF `location`.
pub fn location_json(l: &Location) -> Value {
    to_value(|m| write_location(m, l))
}

/// OCSF `autonomous_system`.
pub fn as_json(a: &AutonomousSystem) -> Value {
    to_value(|m| write_as(m, a))
}

/// OCSF `user` for an endpoint's owner; the department is the user's organisational unit.
pub fn owner_json(o: &Owner) -> Value {
    to_value(|m| write_owner(m, o))
}

/// OCSF `enrichment` for a threat-intelligence match.
pub fn enrichment_json(e: &Enrichment) -> Value {
    to_value(|m| enrichment(m, e))
}

fn observer(m: &mut Obj<'_>, o: &Observer) {
    m.opt_str("hostname", o.hostname.as_deref());
    m.opt_ip("ip", o.ip);
    m.opt_str("name", o.name.as_deref());
    m.str("type", "Firewall");
    m.num("type_id", 9u8);
    m.opt_str("uid", o.serial.as_deref());
}

fn host_device(m: &mut Obj<'_>, h: &crate::event::HostContext) {
    m.opt_str("hostname", h.name.as_deref());
    m.opt_ip("ip", h.ip);
    if let Some(site) = &h.site {
        m.obj("org", |g| g.str("name", site));
    }
    if let Some(os) = &h.os {
        m.obj("os", |g| {
            g.str("name", os);
            g.num("type_id", 0u8);
        });
    }
    m.num("type_id", 0u8);
    m.opt_str("uid", h.agent_id.as_deref());
}

fn process(m: &mut Obj<'_>, p: &crate::event::ProcessContext) {
    m.opt_str("cmd_line", p.command_line.as_deref());
    if p.executable.is_some() || p.sha1.is_some() {
        m.obj("file", |f| {
            if let Some(h) = &p.sha1 {
                f.arr("hashes", |a| {
                    a.obj(|x| {
                        x.str("algorithm", "SHA-1");
                        x.num("algorithm_id", 2u8);
                        x.str("value", h);
                    })
                });
            }
            let name = p.executable.as_deref().and_then(|e| e.rsplit(['\\', '/']).next()).or(p.name.as_deref()).unwrap_or("");
            f.str("name", name);
            f.opt_str("path", p.executable.as_deref());
            f.num("type_id", 1u8);
        });
    }
    m.opt_str("name", p.name.as_deref());
    m.opt_num("pid", p.pid);
    if let Some(u) = &p.user {
        m.obj("user", |x| x.str("name", u));
    }
}

/// The profiles an event declares, and which of the four lists that is (for [`PROFILES`]).
fn profiles_for(env: &Envelope, has_user: bool, has_disposition: bool) -> (usize, &'static [&'static str]) {
    let host = !env.observer.is_empty() || has_user || env.host.is_some() || env.process.is_some();
    match (host, has_disposition) {
        (true, true) => (0, &["host", "security_control"]),
        (true, false) => (1, &["host"]),
        (false, true) => (2, &["security_control"]),
        (false, false) => (3, &[]),
    }
}

fn sum(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    }
}

fn flow(o: &mut Obj<'_>, f: &FlowEvent) {
    let env = &f.envelope;
    let has_disp = f.disposition != Disposition::Unknown;
    let (id, caption) = (f.activity.id(), f.activity.caption());
    if has_disp {
        ACTION.write(o, f.disposition as usize, |m| disposition(m, f.disposition));
    }
    FLOW_ACTIVITY.write(o, f.activity as usize, |m| activity(m, id, caption));
    actor(o, f.user.as_deref(), env);
    o.opt_str("app_name", f.application.as_deref());
    class(o, CLASS_NETWORK_ACTIVITY, "Network Activity");
    o.obj("connection_info", |ci| {
        DIRECTION.write(ci, f.direction as usize, |m| {
            m.str("direction", f.direction.caption());
            m.num("direction_id", f.direction.id());
        });
        ci.opt_str("protocol_name", f.protocol_num.and_then(protocol_name));
        ci.opt_num("protocol_num", f.protocol_num);
        ci.opt_num("protocol_ver_id", f.src.ip.or(f.dst.ip).map(|ip| if ip.is_ipv4() { 4u8 } else { 6 }));
        ci.opt_str("uid", f.session_id.as_deref());
    });
    device(o, env);
    if has_disp {
        DISPOSITION.write(o, f.disposition as usize, |m| disposition_tail(m, f.disposition));
    }
    o.obj("dst_endpoint", |m| endpoint(m, &f.dst));
    o.opt_num("duration", f.duration_ms.map(|d| d.min(i64::MAX as u64)));
    o.opt_num("end_time", f.end_time.map(ms));
    enrichments(o, env);
    if let (true, Some(rule)) = (has_disp, &f.rule) {
        o.obj("firewall_rule", |m| m.str("name", rule));
    }
    metadata(o, env, "flow", profiles_for(env, f.user.is_some(), has_disp));
    o.opt_str("raw_data", env.raw.as_deref());
    SEVERITY.write(o, env.severity as usize, |m| severity(m, env));
    o.obj("src_endpoint", |m| endpoint(m, &f.src));
    o.opt_num("start_time", f.start_time.map(ms));
    o.opt_str("status_detail", f.reason.as_deref());
    o.num("time", ms(env.time));
    let bytes = f.bytes_total.or(sum(f.bytes_out, f.bytes_in));
    let packets = f.packets_total.or(sum(f.packets_out, f.packets_in));
    // OCSF counters are `long_t` (signed 64-bit): a vendor value beyond that is capped.
    let long = |v: Option<u64>| v.map(|v| v.min(i64::MAX as u64));
    o.obj_nonempty("traffic", |t| {
        t.opt_num("bytes", long(bytes));
        t.opt_num("bytes_in", long(f.bytes_in));
        t.opt_num("bytes_out", long(f.bytes_out));
        t.opt_num("packets", long(packets));
        t.opt_num("packets_in", long(f.packets_in));
        t.opt_num("packets_out", long(f.packets_out));
    });
    FLOW_TYPE.write(o, f.activity as usize, |m| type_fields(m, CLASS_NETWORK_ACTIVITY, "Network Activity", id, caption));
    let mut extra = Vec::new();
    nat_extras(&f.src, &f.dst, &mut extra);
    if let (Some(rule), false) = (&f.rule, has_disp) {
        extra.push(("rule", Extra::Str(rule)));
    }
    unmapped(o, env, &mut extra);
}

/// OCSF `rcode_id`: the RCODE when OCSF enumerates it, else 99 (Other).
pub fn rcode_id(code: u16) -> u16 {
    match code {
        0..=11 | 16..=23 => code,
        _ => 99,
    }
}

fn dns(o: &mut Obj<'_>, d: &DnsEvent) {
    let env = &d.envelope;
    let has_disp = d.disposition != Disposition::Unknown;
    let (id, caption) = (d.activity.id(), d.activity.caption());
    if has_disp {
        ACTION.write(o, d.disposition as usize, |m| disposition(m, d.disposition));
    }
    DNS_ACTIVITY.write(o, d.activity as usize, |m| activity(m, id, caption));
    actor(o, d.user.as_deref(), env);
    if !d.answers.is_empty() {
        o.arr("answers", |a| {
            for ans in &d.answers {
                a.obj(|m| {
                    m.opt_str("class", ans.class.as_deref());
                    m.str("rdata", &ans.data);
                    m.opt_num("ttl", ans.ttl);
                    m.opt_str("type", ans.rtype.as_deref());
                });
            }
        });
    }
    class(o, CLASS_DNS_ACTIVITY, "DNS Activity");
    if let Some(p) = d.protocol_num {
        o.obj("connection_info", |ci| {
            ci.str("direction", "Unknown");
            ci.num("direction_id", 0u8);
            match protocol_name(p) {
                Some(n) => ci.str("protocol_name", n),
                None => ci.null("protocol_name"),
            }
            ci.num("protocol_num", p);
        });
    }
    device(o, env);
    if has_disp {
        DISPOSITION.write(o, d.disposition as usize, |m| disposition_tail(m, d.disposition));
    }
    if !d.server.is_empty() {
        o.obj("dst_endpoint", |m| endpoint(m, &d.server));
    }
    enrichments(o, env);
    if let (true, Some(rule)) = (has_disp, &d.rule) {
        o.obj("firewall_rule", |m| m.str("name", rule));
    }
    metadata(o, env, "dns", profiles_for(env, d.user.is_some(), has_disp));
    o.obj("query", |q| {
        q.opt_str("class", d.query_class.as_deref());
        q.str("hostname", &d.query_name);
        q.opt_num("packet_uid", d.transaction_id);
        q.opt_str("type", d.query_type.as_deref());
    });
    o.opt_str("raw_data", env.raw.as_deref());
    if let Some(code) = d.rcode {
        let rid = rcode_id(code);
        if rid == 99 {
            o.fmt("rcode", format_args!("{code}"));
        } else {
            o.str("rcode", rcode_caption(code));
        }
        o.num("rcode_id", rid);
    }
    SEVERITY.write(o, env.severity as usize, |m| severity(m, env));
    if !d.client.is_empty() {
        o.obj("src_endpoint", |m| endpoint(m, &d.client));
    }
    o.num("time", ms(env.time));
    DNS_TYPE.write(o, d.activity as usize, |m| type_fields(m, CLASS_DNS_ACTIVITY, "DNS Activity", id, caption));
    let mut extra = Vec::new();
    if let (Some(rule), false) = (&d.rule, has_disp) {
        extra.push(("rule", Extra::Str(rule)));
    }
    unmapped(o, env, &mut extra);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::fixtures;
    use crate::event::{DnsActivity, Disposition, FlowActivity};
    use crate::validate::validate;

    #[test]
    fn constant_class_runs_match_the_member_by_member_writer() {
        for (uid, name) in [(CLASS_NETWORK_ACTIVITY, "Network Activity"), (CLASS_DNS_ACTIVITY, "DNS Activity")] {
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            for (buf, f) in [(&mut fast, class as fn(&mut Obj<'_>, u32, &str)), (&mut slow, class_members)] {
                let mut o = Obj::begin(buf);
                o.str("action", "Allowed");
                f(&mut o, uid, name);
                o.num("type_uid", 1);
                o.end();
            }
            assert_eq!(String::from_utf8(fast).unwrap(), String::from_utf8(slow).unwrap());
        }
    }

    #[test]
    fn rendered_runs_match_the_member_by_member_writers_for_every_variant() {
        use crate::event::{Direction, Severity};
        let dispositions = [Disposition::Allowed, Disposition::Blocked, Disposition::Dropped, Disposition::Reset, Disposition::Rejected, Disposition::Logged, Disposition::Alert];
        let severities = [Severity::Unknown, Severity::Informational, Severity::Low, Severity::Medium, Severity::High, Severity::Critical, Severity::Fatal];
        let flows = [FlowActivity::Unknown, FlowActivity::Open, FlowActivity::Close, FlowActivity::Reset, FlowActivity::Fail, FlowActivity::Refuse, FlowActivity::Traffic, FlowActivity::Listen];
        let dnss = [DnsActivity::Unknown, DnsActivity::Query, DnsActivity::Response, DnsActivity::Traffic];
        let directions = [Direction::Unknown, Direction::Inbound, Direction::Outbound, Direction::Lateral];
        // Twice round: the first renders each run, the second copies it.
        for _ in 0..2 {
            for (i, &disp) in dispositions.iter().enumerate() {
                let mut f = fixtures::flow();
                f.disposition = disp;
                f.envelope.severity = severities[i % severities.len()];
                f.activity = flows[i % flows.len()];
                f.direction = directions[i % directions.len()];
                let v = to_ocsf(&Event::Flow(f.clone()));
                assert_eq!((v["action"].as_str(), v["action_id"].as_u64()), (Some(disp.action_caption()), Some(disp.action_id() as u64)));
                assert_eq!((v["disposition"].as_str(), v["disposition_id"].as_u64()), (Some(disp.caption()), Some(disp.disposition_id() as u64)));
                assert_eq!((v["severity"].as_str(), v["severity_id"].as_u64()), (Some(f.envelope.severity.caption()), Some(f.envelope.severity.id() as u64)));
                assert_eq!((v["activity_name"].as_str(), v["activity_id"].as_u64()), (Some(f.activity.caption()), Some(f.activity.id() as u64)));
                assert_eq!(v["type_uid"].as_u64(), Some(400100 + f.activity.id() as u64));
                assert_eq!(v["type_name"].as_str(), Some(format!("Network Activity: {}", f.activity.caption()).as_str()));
                assert_eq!((v["connection_info"]["direction"].as_str(), v["connection_info"]["direction_id"].as_u64()), (Some(f.direction.caption()), Some(f.direction.id() as u64)));
                let mut d = fixtures::dns();
                d.activity = dnss[i % dnss.len()];
                d.disposition = disp;
                let v = to_ocsf(&Event::Dns(d.clone()));
                assert_eq!((v["activity_name"].as_str(), v["activity_id"].as_u64()), (Some(d.activity.caption()), Some(d.activity.id() as u64)));
                assert_eq!(v["type_uid"].as_u64(), Some(400300 + d.activity.id() as u64));
                assert_eq!(v["action"].as_str(), Some(disp.action_caption()));
            }
        }
    }

    #[test]
    fn profiles_follow_the_event_on_every_pass() {
        for _ in 0..2 {
            for (host, disp, want) in [(true, true, vec!["host", "security_control"]), (true, false, vec!["host"]), (false, true, vec!["security_control"]), (false, false, vec![])] {
                let mut f = fixtures::flow();
                f.user = None;
                f.envelope.observer = Default::default();
                f.envelope.host = None;
                f.envelope.process = None;
                if host {
                    f.envelope.observer.hostname = Some("fw-1".into());
                }
                f.disposition = if disp { Disposition::Blocked } else { Disposition::Unknown };
                let v = to_ocsf(&Event::Flow(f));
                let got: Vec<&str> = v["metadata"]["profiles"].as_array().map(|a| a.iter().filter_map(|p| p.as_str()).collect()).unwrap_or_default();
                assert_eq!(got, want, "host {host} disposition {disp}");
            }
        }
    }

    #[test]
    fn flow_event_encodes_to_network_activity() {
        let v = to_ocsf(&Event::Flow(fixtures::flow()));
        assert_eq!(v["class_uid"], 4001);
        assert_eq!(v["category_uid"], 4);
        assert_eq!(v["activity_id"], 2);
        assert_eq!(v["activity_name"], "Close");
        assert_eq!(v["type_uid"], 400102);
        assert_eq!(v["type_name"], "Network Activity: Close");
        assert_eq!(v["severity_id"], 1);
        assert_eq!(v["time"], 1714557605000i64);
        assert_eq!(v["start_time"], 1714557540000i64);
        assert_eq!(v["duration"], 65000);
        assert_eq!(v["metadata"]["version"], "1.3.0");
        assert_eq!(v["metadata"]["product"]["vendor_name"], "Cisco");
        assert_eq!(v["metadata"]["product"]["name"], "ASA");
        assert_eq!(v["metadata"]["tenant_uid"], "acme-fw");
        assert_eq!(v["metadata"]["event_code"], "ASA-6-302014");
        assert_eq!(v["metadata"]["original_time"], "May 01 2024 12:00:05 CEST");
        assert_eq!(v["metadata"]["profiles"], serde_json::json!(["host", "security_control"]));
        assert_eq!(v["src_endpoint"]["ip"], "10.1.2.3");
        assert_eq!(v["src_endpoint"]["port"], 51515);
        assert_eq!(v["src_endpoint"]["interface_name"], "inside");
        assert_eq!(v["dst_endpoint"]["ip"], "203.0.113.9");
        assert_eq!(v["dst_endpoint"]["port"], 443);
        assert_eq!(v["connection_info"]["direction_id"], 2);
        assert_eq!(v["connection_info"]["protocol_num"], 6);
        assert_eq!(v["connection_info"]["protocol_name"], "tcp");
        assert_eq!(v["connection_info"]["protocol_ver_id"], 4);
        assert_eq!(v["connection_info"]["uid"], "4242");
        assert_eq!(v["traffic"]["bytes_out"], 1200);
        assert_eq!(v["traffic"]["bytes_in"], 34000);
        assert_eq!(v["traffic"]["bytes"], 35200);
        assert_eq!(v["action_id"], 1);
        assert_eq!(v["disposition_id"], 1);
        assert_eq!(v["firewall_rule"]["name"], "allow-web");
        assert_eq!(v["actor"]["user"]["name"], "CORP\\alice");
        assert_eq!(v["device"]["hostname"], "asa-edge-1");
        assert_eq!(v["device"]["type_id"], 9);
        assert_eq!(v["status_detail"], "TCP FINs");
        assert_eq!(v["unmapped"]["src_nat_ip"], "198.51.100.7");
        assert_eq!(v["unmapped"]["src_nat_port"], 40000);
        assert_eq!(v["raw_data"], "%ASA-6-302014: Teardown TCP ...");
        let r = validate(&v);
        assert!(r.is_valid(), "{:?}", r.violations);
    }

    #[test]
    fn deny_maps_to_refuse_and_blocked() {
        let mut f = fixtures::flow();
        f.activity = FlowActivity::Refuse;
        f.disposition = Disposition::Blocked;
        let v = to_ocsf(&Event::Flow(f));
        assert_eq!(v["activity_id"], 5);
        assert_eq!(v["type_uid"], 400105);
        assert_eq!(v["action_id"], 2);
        assert_eq!(v["action"], "Denied");
        assert_eq!(v["disposition_id"], 2);
        assert_eq!(v["disposition"], "Blocked");
        assert!(validate(&v).is_valid());
    }

    #[test]
    fn dns_event_encodes_to_dns_activity() {
        let v = to_ocsf(&Event::Dns(fixtures::dns()));
        assert_eq!(v["class_uid"], 4003);
        assert_eq!(v["activity_id"], 6);
        assert_eq!(v["type_uid"], 400306);
        assert_eq!(v["query"]["hostname"], "www.example.co.uk");
        assert_eq!(v["query"]["type"], "A");
        assert_eq!(v["query"]["class"], "IN");
        assert_eq!(v["query"]["packet_uid"], 4711);
        assert_eq!(v["answers"][0]["type"], "CNAME");
        assert_eq!(v["answers"][1]["rdata"], "192.0.2.10");
        assert_eq!(v["answers"][1]["ttl"], 60);
        assert_eq!(v["rcode_id"], 0);
        assert_eq!(v["rcode"], "NoError");
        assert_eq!(v["src_endpoint"]["ip"], "10.0.0.5");
        assert_eq!(v["dst_endpoint"]["port"], 53);
        assert_eq!(v["connection_info"]["protocol_name"], "udp");
        assert_eq!(v["actor"]["user"]["name"], "bob@example.com");
        assert_eq!(v["metadata"]["log_name"], "dns");
        let r = validate(&v);
        assert!(r.is_valid(), "{:?}", r.violations);
    }

    #[test]
    fn nxdomain_and_unusual_rcodes() {
        let mut d = fixtures::dns();
        d.rcode = Some(3);
        d.activity = DnsActivity::Response;
        let v = to_ocsf(&Event::Dns(d.clone()));
        assert_eq!(v["rcode_id"], 3);
        assert_eq!(v["rcode"], "NXDomain");
        d.rcode = Some(14);
        let v = to_ocsf(&Event::Dns(d));
        assert_eq!(v["rcode_id"], 99);
        assert_eq!(v["rcode"], "14");
        assert!(validate(&v).is_valid());
    }

    #[test]
    fn edr_context_goes_to_device_and_actor_process() {
        let v = to_ocsf(&Event::Dns(fixtures::edr()));
        assert_eq!(v["device"]["hostname"], "pc-17");
        assert_eq!(v["device"]["uid"], "a1b2");
        assert_eq!(v["device"]["os"]["name"], "Windows 11");
        assert_eq!(v["actor"]["process"]["pid"], 4242);
        assert_eq!(v["actor"]["process"]["file"]["name"], "chrome.exe");
        assert_eq!(v["actor"]["process"]["file"]["path"], "C:\\Apps\\chrome.exe");
        assert_eq!(v["actor"]["process"]["user"]["name"], "CORP\\bob");
        assert_eq!(v["actor"]["user"]["name"], "bob@example.com");
        let r = validate(&v);
        assert!(r.is_valid(), "{:?}", r.violations);
    }

    #[test]
    fn raw_can_be_left_out() {
        let mut f = fixtures::flow();
        f.envelope.raw = None;
        let v = to_ocsf(&Event::Flow(f));
        assert!(v.get("raw_data").is_none());
    }
}
