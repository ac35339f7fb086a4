//! OCSF 1.3.0 JSON encoding: Network Activity (4001) and DNS Activity (4003).
//!
//! The class, activity and enum numbers follow `../shared/ocsf/1.3.0` (`events/network/*.json`,
//! `dictionary.json`); `validate` checks what this module writes against the same facts.

use serde_json::{Map, Value, json};

use crate::event::{AutonomousSystem, DnsEvent, Endpoint, Enrichment, Envelope, Event, FlowEvent, Location, Observer, Owner, protocol_name, rcode_caption};

/// The OCSF version every event declares in `metadata.version`.
pub const OCSF_VERSION: &str = "1.3.0";
pub const CATEGORY_NETWORK: u32 = 4;
pub const CLASS_NETWORK_ACTIVITY: u32 = 4001;
pub const CLASS_DNS_ACTIVITY: u32 = 4003;

/// Encodes an event as an OCSF object.
pub fn to_ocsf(event: &Event) -> Value {
    match event {
        Event::Flow(f) => flow_to_ocsf(f),
        Event::Dns(d) => dns_to_ocsf(d),
    }
}

fn ms(t: chrono::DateTime<chrono::Utc>) -> Value {
    Value::from(t.timestamp_millis())
}

fn put<V: Into<Value>>(m: &mut Map<String, Value>, k: &str, v: Option<V>) {
    if let Some(v) = v {
        m.insert(k.to_string(), v.into());
    }
}

fn header(m: &mut Map<String, Value>, class_uid: u32, class_name: &str, activity_id: u8, activity: &str, env: &Envelope) {
    m.insert("category_uid".into(), json!(CATEGORY_NETWORK));
    m.insert("category_name".into(), json!("Network Activity"));
    m.insert("class_uid".into(), json!(class_uid));
    m.insert("class_name".into(), json!(class_name));
    m.insert("activity_id".into(), json!(activity_id));
    m.insert("activity_name".into(), json!(activity));
    m.insert("type_uid".into(), json!(class_uid as u64 * 100 + activity_id as u64));
    m.insert("type_name".into(), json!(format!("{class_name}: {activity}")));
    m.insert("severity_id".into(), json!(env.severity.id()));
    m.insert("severity".into(), json!(env.severity.caption()));
    m.insert("time".into(), ms(env.time));
}

fn metadata(env: &Envelope, log_name: &str, profiles: &[&str]) -> Value {
    let mut md = Map::new();
    md.insert("version".into(), json!(OCSF_VERSION));
    md.insert(
        "product".into(),
        json!({"vendor_name": env.vendor, "name": env.product}),
    );
    md.insert("uid".into(), json!(env.event_id));
    md.insert("tenant_uid".into(), json!(env.tenant));
    md.insert("log_name".into(), json!(log_name));
    md.insert("log_provider".into(), json!(env.connector));
    put(&mut md, "original_time", env.original_time.clone());
    put(&mut md, "event_code", env.event_code.clone());
    if let Some(id) = &env.vendor_event_id {
        md.insert("correlation_uid".into(), json!(id));
    }
    if !profiles.is_empty() {
        md.insert("profiles".into(), json!(profiles));
    }
    Value::Object(md)
}

fn endpoint(e: &Endpoint) -> Value {
    let mut m = Map::new();
    put(&mut m, "ip", e.ip.map(|ip| ip.to_string()));
    put(&mut m, "port", e.port);
    put(&mut m, "hostname", e.hostname.clone());
    put(&mut m, "interface_name", e.interface.clone());
    put(&mut m, "zone", e.zone.clone());
    if let Some(u) = &e.user {
        m.insert("owner".into(), json!({"name": u}));
    } else if let Some(o) = &e.owner {
        m.insert("owner".into(), owner_json(o));
    }
    if let Some(l) = &e.location {
        m.insert("location".into(), location_json(l));
    }
    if let Some(a) = &e.autonomous_system {
        m.insert("autonomous_system".into(), as_json(a));
    }
    Value::Object(m)
}

/// OCSF `location`.
pub fn location_json(l: &Location) -> Value {
    let mut m = Map::new();
    put(&mut m, "country", l.country.clone());
    put(&mut m, "continent", l.continent.clone());
    put(&mut m, "region", l.region.clone());
    put(&mut m, "city", l.city.clone());
    if let (Some(lat), Some(lon)) = (l.lat, l.lon) {
        m.insert("lat".into(), json!(lat));
        m.insert("long".into(), json!(lon));
        m.insert("coordinates".into(), json!([lon, lat]));
    }
    Value::Object(m)
}

/// OCSF `autonomous_system`.
pub fn as_json(a: &AutonomousSystem) -> Value {
    let mut m = Map::new();
    m.insert("number".into(), json!(a.number));
    put(&mut m, "name", a.name.clone());
    Value::Object(m)
}

/// OCSF `user` for an endpoint's owner; the department is the user's organisational unit.
pub fn owner_json(o: &Owner) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(o.name));
    m.insert("type_id".into(), json!(1));
    m.insert("type".into(), json!("User"));
    if let Some(d) = &o.department {
        m.insert("org".into(), json!({"ou_name": d}));
    }
    Value::Object(m)
}

/// OCSF `enrichment` for a threat-intelligence match.
pub fn enrichment_json(e: &Enrichment) -> Value {
    let mut data = Map::new();
    data.insert("indicator".into(), json!(e.indicator));
    data.insert("indicator_type".into(), json!(e.kind));
    data.insert("matched_by".into(), json!(e.matched_by));
    put(&mut data, "confidence", e.confidence);
    put(&mut data, "valid_until", e.valid_until.map(|t| t.to_rfc3339()));
    let mut m = Map::new();
    m.insert("name".into(), json!(e.field));
    m.insert("value".into(), json!(e.value));
    m.insert("type".into(), json!("threat_intel"));
    m.insert("provider".into(), json!(e.feed));
    put(&mut m, "short_desc", e.description.clone());
    m.insert("data".into(), Value::Object(data));
    Value::Object(m)
}

fn device(o: &Observer) -> Value {
    let mut m = Map::new();
    m.insert("type_id".into(), json!(9));
    m.insert("type".into(), json!("Firewall"));
    put(&mut m, "hostname", o.hostname.clone());
    put(&mut m, "ip", o.ip.map(|ip| ip.to_string()));
    put(&mut m, "uid", o.serial.clone());
    put(&mut m, "name", o.name.clone());
    Value::Object(m)
}

fn nat(m: &mut Map<String, Value>, src: &Endpoint, dst: &Endpoint) {
    let mut n = Map::new();
    put(&mut n, "src_nat_ip", src.nat_ip.map(|i| i.to_string()));
    put(&mut n, "src_nat_port", src.nat_port);
    put(&mut n, "dst_nat_ip", dst.nat_ip.map(|i| i.to_string()));
    put(&mut n, "dst_nat_port", dst.nat_port);
    for (k, v) in n {
        m.insert(k, v);
    }
}

fn host_device(h: &crate::event::HostContext) -> Value {
    let mut m = Map::new();
    m.insert("type_id".into(), json!(0));
    put(&mut m, "hostname", h.name.clone());
    put(&mut m, "uid", h.agent_id.clone());
    put(&mut m, "ip", h.ip.map(|i| i.to_string()));
    if let Some(os) = &h.os {
        m.insert("os".into(), json!({"name": os, "type_id": 0}));
    }
    if let Some(site) = &h.site {
        m.insert("org".into(), json!({"name": site}));
    }
    Value::Object(m)
}

fn process(p: &crate::event::ProcessContext) -> Value {
    let mut m = Map::new();
    put(&mut m, "name", p.name.clone());
    put(&mut m, "pid", p.pid);
    put(&mut m, "cmd_line", p.command_line.clone());
    if p.executable.is_some() || p.sha1.is_some() {
        let mut f = Map::new();
        f.insert("name".into(), json!(p.executable.as_deref().and_then(|e| e.rsplit(['\\', '/']).next()).or(p.name.as_deref()).unwrap_or("")));
        f.insert("type_id".into(), json!(1));
        put(&mut f, "path", p.executable.clone());
        if let Some(h) = &p.sha1 {
            f.insert("hashes".into(), json!([{"algorithm_id": 2, "algorithm": "SHA-1", "value": h}]));
        }
        m.insert("file".into(), Value::Object(f));
    }
    if let Some(u) = &p.user {
        m.insert("user".into(), json!({"name": u}));
    }
    Value::Object(m)
}

fn finish(m: &mut Map<String, Value>, env: &Envelope, unmapped: Map<String, Value>) {
    if let Some(raw) = &env.raw {
        m.insert("raw_data".into(), json!(raw));
    }
    if let Some(h) = &env.host {
        m.insert("device".into(), host_device(h));
    } else if !env.observer.is_empty() {
        m.insert("device".into(), device(&env.observer));
    }
    if let Some(p) = &env.process {
        let actor = m.entry("actor").or_insert_with(|| json!({}));
        if let Value::Object(a) = actor {
            a.insert("process".into(), process(p));
        }
    }
    if !env.enrichments.is_empty() {
        m.insert("enrichments".into(), Value::Array(env.enrichments.iter().map(enrichment_json).collect()));
    }
    if !unmapped.is_empty() {
        m.insert("unmapped".into(), Value::Object(unmapped));
    }
}

fn profiles_for(env: &Envelope, has_user: bool, has_disposition: bool) -> Vec<&'static str> {
    let mut p = Vec::new();
    if !env.observer.is_empty() || has_user || env.host.is_some() || env.process.is_some() {
        p.push("host");
    }
    if has_disposition {
        p.push("security_control");
    }
    p
}

fn flow_to_ocsf(f: &FlowEvent) -> Value {
    let env = &f.envelope;
    let mut m = Map::new();
    header(&mut m, CLASS_NETWORK_ACTIVITY, "Network Activity", f.activity.id(), f.activity.caption(), env);
    let has_disp = f.disposition != crate::event::Disposition::Unknown;
    m.insert("metadata".into(), metadata(env, "flow", &profiles_for(env, f.user.is_some(), has_disp)));
    put(&mut m, "start_time", f.start_time.map(ms));
    put(&mut m, "end_time", f.end_time.map(ms));
    put(&mut m, "duration", f.duration_ms);
    m.insert("src_endpoint".into(), endpoint(&f.src));
    m.insert("dst_endpoint".into(), endpoint(&f.dst));

    let mut ci = Map::new();
    ci.insert("direction_id".into(), json!(f.direction.id()));
    ci.insert("direction".into(), json!(f.direction.caption()));
    put(&mut ci, "protocol_num", f.protocol_num);
    put(&mut ci, "protocol_name", f.protocol_num.and_then(protocol_name));
    let ver = f.src.ip.or(f.dst.ip).map(|ip| if ip.is_ipv4() { 4 } else { 6 });
    put(&mut ci, "protocol_ver_id", ver);
    put(&mut ci, "uid", f.session_id.clone());
    m.insert("connection_info".into(), Value::Object(ci));

    let mut tr = Map::new();
    put(&mut tr, "bytes_out", f.bytes_out);
    put(&mut tr, "bytes_in", f.bytes_in);
    put(&mut tr, "packets_out", f.packets_out);
    put(&mut tr, "packets_in", f.packets_in);
    let bytes = f.bytes_total.or(match (f.bytes_out, f.bytes_in) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    });
    let packets = f.packets_total.or(match (f.packets_out, f.packets_in) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    });
    put(&mut tr, "bytes", bytes);
    put(&mut tr, "packets", packets);
    if !tr.is_empty() {
        m.insert("traffic".into(), Value::Object(tr));
    }
    if has_disp {
        m.insert("action_id".into(), json!(f.disposition.action_id()));
        m.insert("action".into(), json!(f.disposition.action_caption()));
        m.insert("disposition_id".into(), json!(f.disposition.disposition_id()));
        m.insert("disposition".into(), json!(f.disposition.caption()));
        if let Some(rule) = &f.rule {
            m.insert("firewall_rule".into(), json!({"name": rule}));
        }
    }
    put(&mut m, "app_name", f.application.clone());
    put(&mut m, "status_detail", f.reason.clone());
    if let Some(u) = &f.user {
        m.insert("actor".into(), json!({"user": {"name": u}}));
    }
    let mut unmapped = env.unmapped.clone();
    nat(&mut unmapped, &f.src, &f.dst);
    if let (Some(rule), false) = (&f.rule, has_disp) {
        unmapped.insert("rule".into(), json!(rule));
    }
    finish(&mut m, env, unmapped);
    Value::Object(m)
}

/// OCSF `rcode_id`: the RCODE when OCSF enumerates it, else 99 (Other).
pub fn rcode_id(code: u16) -> u16 {
    match code {
        0..=11 | 16..=23 => code,
        _ => 99,
    }
}

fn dns_to_ocsf(d: &DnsEvent) -> Value {
    let env = &d.envelope;
    let mut m = Map::new();
    header(&mut m, CLASS_DNS_ACTIVITY, "DNS Activity", d.activity.id(), d.activity.caption(), env);
    let has_disp = d.disposition != crate::event::Disposition::Unknown;
    m.insert("metadata".into(), metadata(env, "dns", &profiles_for(env, d.user.is_some(), has_disp)));
    let mut q = Map::new();
    q.insert("hostname".into(), json!(d.query_name));
    put(&mut q, "type", d.query_type.clone());
    put(&mut q, "class", d.query_class.clone());
    put(&mut q, "packet_uid", d.transaction_id);
    m.insert("query".into(), Value::Object(q));
    if !d.answers.is_empty() {
        let answers: Vec<Value> = d
            .answers
            .iter()
            .map(|a| {
                let mut am = Map::new();
                am.insert("rdata".into(), json!(a.data));
                put(&mut am, "type", a.rtype.clone());
                put(&mut am, "class", a.class.clone());
                put(&mut am, "ttl", a.ttl);
                Value::Object(am)
            })
            .collect();
        m.insert("answers".into(), Value::Array(answers));
    }
    if let Some(code) = d.rcode {
        let id = rcode_id(code);
        m.insert("rcode_id".into(), json!(id));
        m.insert("rcode".into(), json!(if id == 99 { format!("{code}") } else { rcode_caption(code).to_string() }));
    }
    if !d.client.is_empty() {
        m.insert("src_endpoint".into(), endpoint(&d.client));
    }
    if !d.server.is_empty() {
        m.insert("dst_endpoint".into(), endpoint(&d.server));
    }
    if let Some(p) = d.protocol_num {
        m.insert(
            "connection_info".into(),
            json!({"direction_id": 0, "direction": "Unknown", "protocol_num": p, "protocol_name": protocol_name(p)}),
        );
    }
    if has_disp {
        m.insert("action_id".into(), json!(d.disposition.action_id()));
        m.insert("action".into(), json!(d.disposition.action_caption()));
        m.insert("disposition_id".into(), json!(d.disposition.disposition_id()));
        m.insert("disposition".into(), json!(d.disposition.caption()));
        if let Some(rule) = &d.rule {
            m.insert("firewall_rule".into(), json!({"name": rule}));
        }
    }
    let mut unmapped = env.unmapped.clone();
    if let Some(u) = &d.user {
        m.insert("actor".into(), json!({"user": {"name": u}}));
    }
    if let (Some(rule), false) = (&d.rule, has_disp) {
        unmapped.insert("rule".into(), json!(rule));
    }
    finish(&mut m, env, unmapped);
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::fixtures;
    use crate::event::{DnsActivity, Disposition, FlowActivity};
    use crate::validate::validate;

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
