//! ECS 9.4 JSON encoding. Field names and types follow `../shared/ecs/ecs_flat.yml`; a test checks
//! every field written here exists there.
//!
//! Like the OCSF encoder, events are written straight into a byte buffer ([`write_ecs`]) with keys
//! in sorted order; [`to_ecs`] gives the `Value` form.

use serde_json::Value;

use crate::event::{AutonomousSystem, DnsEvent, Endpoint, Enrichment, Envelope, Event, FlowActivity, FlowEvent, Location, Owner, protocol_name, rcode_ecs};
use crate::json::{Obj, to_value};

/// ECS version written into `ecs.version`.
pub const ECS_VERSION: &str = "9.4.0";

/// Encodes an event as an ECS document.
pub fn to_ecs(event: &Event) -> Value {
    let mut buf = Vec::with_capacity(1024);
    write_ecs(&mut buf, event);
    serde_json::from_slice(&buf).expect("the ECS writer produces valid JSON")
}

/// Appends the ECS JSON of `event` (one object, no newline) to `buf`.
pub fn write_ecs(buf: &mut Vec<u8>, event: &Event) {
    let mut o = Obj::begin(buf);
    match event {
        Event::Flow(f) => flow(&mut o, f),
        Event::Dns(d) => dns(&mut o, d),
    }
    o.end();
}

fn rfc3339_ms(t: chrono::DateTime<chrono::Utc>) -> impl std::fmt::Display {
    t.format("%Y-%m-%dT%H:%M:%S%.3fZ")
}

/// What differs between a flow and a DNS event in the `event` object.
struct EventExtra<'a> {
    kind: &'a str,
    types: &'a [&'a str],
    action: &'a str,
    outcome: Option<&'a str>,
    flow: Option<&'a FlowEvent>,
}

fn timestamp(o: &mut Obj<'_>, env: &Envelope) {
    o.fmt("@timestamp", format_args!("{}", rfc3339_ms(env.time)));
}

/// `agent` and `destination` come before `event` in key order; the caller writes those.
fn agent(o: &mut Obj<'_>, env: &Envelope) {
    if let Some(a) = env.host.as_ref().and_then(|h| h.agent_id.as_deref()) {
        o.obj("agent", |m| m.str("id", a));
    }
}

fn ecs_and_event(o: &mut Obj<'_>, env: &Envelope, x: &EventExtra<'_>) {
    o.obj("ecs", |m| m.str("version", ECS_VERSION));
    o.obj("event", |ev| {
        ev.str("action", x.action);
        ev.arr("category", |a| a.str("network"));
        ev.opt_str("code", env.event_code.as_deref());
        ev.fmt("dataset", format_args!("logfetch.{}", x.kind));
        if let Some(f) = x.flow {
            ev.opt_num("duration", f.duration_ms.map(|d| d.saturating_mul(1_000_000)));
            if let Some(t) = f.end_time {
                ev.fmt("end", format_args!("{}", rfc3339_ms(t)));
            }
        }
        ev.str("id", &env.event_id);
        ev.str("kind", "event");
        ev.str("module", &env.connector);
        ev.opt_str("original", env.raw.as_deref());
        ev.opt_str("outcome", x.outcome);
        if let Some(f) = x.flow {
            ev.opt_str("reason", f.reason.as_deref());
            ev.opt_str("reference", f.session_id.as_deref());
        }
        ev.num("severity", env.severity.id());
        if let Some(t) = x.flow.and_then(|f| f.start_time) {
            ev.fmt("start", format_args!("{}", rfc3339_ms(t)));
        }
        ev.arr("type", |a| x.types.iter().for_each(|t| a.str(t)));
    });
}

fn host(o: &mut Obj<'_>, env: &Envelope) {
    if let Some(h) = &env.host {
        o.obj("host", |m| {
            m.opt_str("hostname", h.name.as_deref());
            if let Some(ip) = h.ip {
                m.arr("ip", |a| a.ip(ip));
            }
            m.opt_str("name", h.name.as_deref());
            if let Some(os) = &h.os {
                m.obj("os", |x| x.str("name", os));
            }
        });
    }
}

fn logfetch_unmapped(o: &mut Obj<'_>, env: &Envelope) {
    if !env.unmapped.is_empty() {
        o.obj("logfetch", |m| {
            m.obj("unmapped", |u| {
                for (k, v) in env.unmapped.iter() {
                    u.dyn_value(k, v);
                }
            })
        });
    }
}

fn observer(o: &mut Obj<'_>, env: &Envelope, interfaces: Option<(&Endpoint, &Endpoint)>) {
    let side = |m: &mut Obj<'_>, key: &str, e: &Endpoint| {
        if e.interface.is_some() || e.zone.is_some() {
            m.obj(key, |s| {
                if let Some(i) = &e.interface {
                    s.obj("interface", |x| x.str("name", i));
                }
                s.opt_str("zone", e.zone.as_deref());
            });
        }
    };
    let obs = &env.observer;
    o.obj("observer", |m| {
        if let Some((_, dst)) = interfaces {
            side(m, "egress", dst);
        }
        m.opt_str("hostname", obs.hostname.as_deref());
        if let Some((src, _)) = interfaces {
            side(m, "ingress", src);
        }
        if let Some(ip) = obs.ip {
            m.arr("ip", |a| a.ip(ip));
        }
        m.opt_str("name", obs.name.as_deref());
        m.str("product", &env.product);
        m.opt_str("serial_number", obs.serial.as_deref());
        m.str("type", "firewall");
        m.str("vendor", &env.vendor);
    });
    o.obj("organization", |m| m.str("id", &env.tenant));
}

fn process(o: &mut Obj<'_>, env: &Envelope) {
    if let Some(p) = &env.process {
        o.obj("process", |m| {
            m.opt_str("command_line", p.command_line.as_deref());
            m.opt_str("executable", p.executable.as_deref());
            if let Some(h) = &p.sha1 {
                m.obj("hash", |x| x.str("sha1", h));
            }
            m.opt_str("name", p.name.as_deref());
            m.opt_num("pid", p.pid);
        });
    }
}

fn threat(o: &mut Obj<'_>, env: &Envelope) {
    if !env.enrichments.is_empty() {
        o.obj("threat", |t| {
            t.arr("enrichments", |a| {
                for e in &env.enrichments {
                    a.obj(|m| write_threat_enrichment(m, e));
                }
            })
        });
    }
}

fn endpoint(o: &mut Obj<'_>, e: &Endpoint, bytes: Option<u64>, packets: Option<u64>) {
    match e.ip {
        Some(ip) => o.ip("address", ip),
        None => o.opt_str("address", e.hostname.as_deref()),
    }
    if let Some(a) = &e.autonomous_system {
        o.obj("as", |m| write_as(m, a));
    }
    o.opt_num("bytes", bytes);
    o.opt_str("domain", e.hostname.as_deref());
    if let Some(l) = &e.location {
        o.obj("geo", |m| write_geo(m, l));
    }
    o.opt_ip("ip", e.ip);
    if e.nat_ip.is_some() || e.nat_port.is_some() {
        o.obj("nat", |m| {
            m.opt_ip("ip", e.nat_ip);
            m.opt_num("port", e.nat_port);
        });
    }
    o.opt_num("packets", packets);
    o.opt_num("port", e.port);
    if let Some(u) = &e.user {
        o.obj("user", |m| m.str("name", u));
    } else if let Some(ow) = &e.owner {
        o.obj("user", |m| write_owner(m, ow));
    }
}

fn write_geo(m: &mut Obj<'_>, l: &Location) {
    m.opt_str("city_name", l.city.as_deref());
    m.opt_str("continent_name", l.continent.as_deref());
    m.opt_str("country_iso_code", l.country.as_deref());
    m.opt_str("country_name", l.country_name.as_deref());
    if let (Some(lat), Some(lon)) = (l.lat, l.lon) {
        m.obj("location", |x| {
            x.f64("lat", lat);
            x.f64("lon", lon);
        });
    }
    m.opt_str("region_name", l.region.as_deref());
}

fn write_as(m: &mut Obj<'_>, a: &AutonomousSystem) {
    m.num("number", a.number);
    if let Some(n) = &a.name {
        m.obj("organization", |x| x.str("name", n));
    }
}

fn write_owner(m: &mut Obj<'_>, o: &Owner) {
    if let Some(d) = &o.department {
        m.obj("group", |x| x.str("name", d));
    }
    m.str("name", &o.name);
}

fn write_threat_enrichment(m: &mut Obj<'_>, e: &Enrichment) {
    let ind_type = match e.kind.as_str() {
        "ip" | "cidr" if e.value.contains(':') => "ipv6-addr",
        "ip" | "cidr" => "ipv4-addr",
        "url" => "url",
        _ => "domain-name",
    };
    m.obj("indicator", |ind| {
        if let Some(c) = e.confidence {
            ind.str("confidence", match c {
                0..=29 => "Low",
                30..=69 => "Medium",
                _ => "High",
            });
        }
        ind.opt_str("description", e.description.as_deref());
        if !matches!(ind_type, "url" | "domain-name") {
            ind.str("ip", &e.value);
        }
        ind.str("provider", &e.feed);
        ind.str("type", ind_type);
        match ind_type {
            "url" => ind.obj("url", |u| u.str("full", &e.value)),
            "domain-name" => ind.obj("url", |u| u.str("domain", &e.value)),
            _ => {}
        }
    });
    m.obj("matched", |x| {
        x.str("atomic", &e.value);
        x.str("field", &e.field);
        x.str("type", "indicator_match_rule");
    });
}

/// ECS `*.geo`.
pub fn geo_json(l: &Location) -> Value {
    to_value(|m| write_geo(m, l))
}

/// ECS `*.as`.
pub fn as_json(a: &AutonomousSystem) -> Value {
    to_value(|m| write_as(m, a))
}

/// ECS `*.user`; ECS has no department field, so it goes in `group.name`.
pub fn owner_json(o: &Owner) -> Value {
    to_value(|m| write_owner(m, o))
}

/// ECS `threat.enrichments[]` item.
pub fn threat_enrichment_json(e: &Enrichment) -> Value {
    to_value(|m| write_threat_enrichment(m, e))
}

fn network(o: &mut Obj<'_>, proto: Option<u8>, direction: &str, bytes: Option<u64>, packets: Option<u64>, app: Option<&str>, dns: bool) {
    o.obj("network", |n| {
        if let Some(app) = app {
            if app.bytes().any(|c| c.is_ascii_uppercase()) {
                n.str("application", &app.to_ascii_lowercase());
            } else {
                n.str("application", app);
            }
        }
        n.opt_num("bytes", bytes);
        n.str("direction", direction);
        if let Some(p) = proto {
            n.num_str("iana_number", p);
        }
        n.opt_num("packets", packets);
        if dns {
            n.str("protocol", "dns");
        }
        n.opt_str("transport", proto.and_then(protocol_name));
    });
}

fn sum(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0).saturating_add(b.unwrap_or(0))),
    }
}

fn outcome(d: crate::event::Disposition) -> Option<&'static str> {
    match (d.action_id(), d.is_denied()) {
        (0, _) => None,
        (_, true) => Some("failure"),
        _ => Some("success"),
    }
}

fn allowed_or_denied(d: crate::event::Disposition) -> Option<&'static str> {
    if d.is_denied() {
        Some("denied")
    } else if d.action_id() == 1 {
        Some("allowed")
    } else {
        None
    }
}

fn flow(o: &mut Obj<'_>, f: &FlowEvent) {
    let env = &f.envelope;
    let mut types: [&str; 3] = ["connection", "", ""];
    let mut n = 1;
    match f.activity {
        FlowActivity::Open => {
            types[n] = "start";
            n += 1;
        }
        FlowActivity::Close | FlowActivity::Reset => {
            types[n] = "end";
            n += 1;
        }
        _ => {}
    }
    if let Some(t) = allowed_or_denied(f.disposition) {
        types[n] = t;
        n += 1;
    }
    let action = match f.activity {
        FlowActivity::Open => "flow-opened",
        FlowActivity::Close => "flow-closed",
        FlowActivity::Reset => "flow-reset",
        FlowActivity::Refuse => "flow-refused",
        FlowActivity::Fail => "flow-failed",
        FlowActivity::Traffic => "flow-traffic",
        FlowActivity::Listen => "listen",
        FlowActivity::Unknown => "flow",
    };
    timestamp(o, env);
    agent(o, env);
    o.obj("destination", |m| endpoint(m, &f.dst, f.bytes_in, f.packets_in));
    let x = EventExtra { kind: "flow", types: &types[..n], action, outcome: outcome(f.disposition), flow: Some(f) };
    ecs_and_event(o, env, &x);
    host(o, env);
    logfetch_unmapped(o, env);
    let bytes = f.bytes_total.or(sum(f.bytes_out, f.bytes_in));
    let packets = f.packets_total.or(sum(f.packets_out, f.packets_in));
    network(o, f.protocol_num, f.direction.ecs(), bytes, packets, f.application.as_deref(), false);
    observer(o, env, Some((&f.src, &f.dst)));
    process(o, env);
    if let Some(rule) = &f.rule {
        o.obj("rule", |m| m.str("name", rule));
    }
    o.obj("source", |m| endpoint(m, &f.src, f.bytes_out, f.packets_out));
    threat(o, env);
    if let Some(u) = &f.user {
        o.obj("user", |m| m.str("name", u));
    }
}

/// A query name split with the Public Suffix List.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainParts {
    pub registered_domain: Option<String>,
    pub subdomain: Option<String>,
    pub top_level_domain: Option<String>,
}

/// Splits a DNS name into registered domain, subdomain and public suffix (ICANN and private
/// sections of the Public Suffix List, as the `psl` crate compiles it in).
pub fn split_domain(name: &str) -> DomainParts {
    let n = name.trim().trim_end_matches('.').to_ascii_lowercase();
    let none = DomainParts { registered_domain: None, subdomain: None, top_level_domain: None };
    if n.is_empty() || n.parse::<std::net::IpAddr>().is_ok() {
        return none;
    }
    let suffix = psl::suffix_str(&n).map(str::to_string);
    let registered = psl::domain_str(&n).map(str::to_string);
    let subdomain = registered.as_ref().and_then(|r| {
        n.strip_suffix(r.as_str()).and_then(|s| s.strip_suffix('.')).filter(|s| !s.is_empty()).map(str::to_string)
    });
    DomainParts { registered_domain: registered, subdomain, top_level_domain: suffix }
}

fn dns(o: &mut Obj<'_>, d: &DnsEvent) {
    let env = &d.envelope;
    let mut types: [&str; 2] = ["protocol", ""];
    let mut n = 1;
    if let Some(t) = allowed_or_denied(d.disposition) {
        types[n] = t;
        n += 1;
    }
    timestamp(o, env);
    agent(o, env);
    if !d.server.is_empty() {
        o.obj("destination", |m| endpoint(m, &d.server, None, None));
    }
    o.obj("dns", |dn| {
        if !d.answers.is_empty() {
            dn.arr("answers", |a| {
                for ans in &d.answers {
                    a.obj(|m| {
                        m.opt_str("class", ans.class.as_deref());
                        m.str("data", &ans.data);
                        m.str("name", &d.query_name);
                        m.opt_num("ttl", ans.ttl);
                        m.opt_str("type", ans.rtype.as_deref());
                    });
                }
            });
        }
        dn.opt_num_str("id", d.transaction_id);
        let parts = split_domain(&d.query_name);
        dn.obj("question", |q| {
            q.opt_str("class", d.query_class.as_deref());
            q.str("name", &d.query_name);
            q.opt_str("registered_domain", parts.registered_domain.as_deref());
            q.opt_str("subdomain", parts.subdomain.as_deref());
            q.opt_str("top_level_domain", parts.top_level_domain.as_deref());
            q.opt_str("type", d.query_type.as_deref());
        });
        if d.answers.iter().any(|a| a.data.parse::<std::net::IpAddr>().is_ok()) {
            dn.arr("resolved_ip", |a| {
                for ans in d.answers.iter().filter(|a| a.data.parse::<std::net::IpAddr>().is_ok()) {
                    a.str(&ans.data);
                }
            });
        }
        if let Some(rc) = d.rcode {
            dn.str("response_code", &rcode_ecs(rc));
        }
        dn.str("type", if d.rcode.is_some() || !d.answers.is_empty() { "answer" } else { "query" });
    });
    let x = EventExtra { kind: "dns", types: &types[..n], action: "dns-query", outcome: outcome(d.disposition), flow: None };
    ecs_and_event(o, env, &x);
    host(o, env);
    logfetch_unmapped(o, env);
    network(o, d.protocol_num, "unknown", None, None, None, true);
    observer(o, env, None);
    process(o, env);
    if let Some(rule) = &d.rule {
        o.obj("rule", |m| m.str("name", rule));
    }
    if !d.client.is_empty() {
        o.obj("source", |m| endpoint(m, &d.client, None, None));
    }
    threat(o, env);
    if let Some(u) = &d.user {
        o.obj("user", |m| m.str("name", u));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use crate::event::fixtures;

    #[test]
    fn flow_event_encodes_to_ecs() {
        let v = to_ecs(&Event::Flow(fixtures::flow()));
        assert_eq!(v["@timestamp"], "2024-05-01T10:00:05.000Z");
        assert_eq!(v["event"]["kind"], "event");
        assert_eq!(v["event"]["category"], json!(["network"]));
        assert_eq!(v["event"]["type"], json!(["connection", "end", "allowed"]));
        assert_eq!(v["event"]["code"], "ASA-6-302014");
        assert_eq!(v["event"]["duration"], 65_000_000_000u64);
        assert_eq!(v["event"]["outcome"], "success");
        assert_eq!(v["event"]["reason"], "TCP FINs");
        assert_eq!(v["source"]["ip"], "10.1.2.3");
        assert_eq!(v["source"]["port"], 51515);
        assert_eq!(v["source"]["bytes"], 1200);
        assert_eq!(v["source"]["nat"]["ip"], "198.51.100.7");
        assert_eq!(v["destination"]["bytes"], 34000);
        assert_eq!(v["network"]["transport"], "tcp");
        assert_eq!(v["network"]["iana_number"], "6");
        assert_eq!(v["network"]["direction"], "outbound");
        assert_eq!(v["network"]["bytes"], 35200);
        assert_eq!(v["observer"]["hostname"], "asa-edge-1");
        assert_eq!(v["observer"]["vendor"], "Cisco");
        assert_eq!(v["observer"]["ingress"]["interface"]["name"], "inside");
        assert_eq!(v["observer"]["egress"]["interface"]["name"], "outside");
        assert_eq!(v["rule"]["name"], "allow-web");
        assert_eq!(v["user"]["name"], "CORP\\alice");
        assert_eq!(v["organization"]["id"], "acme-fw");
    }

    #[test]
    fn dns_event_encodes_to_ecs_with_psl_split() {
        let v = to_ecs(&Event::Dns(fixtures::dns()));
        assert_eq!(v["dns"]["question"]["name"], "www.example.co.uk");
        assert_eq!(v["dns"]["question"]["registered_domain"], "example.co.uk");
        assert_eq!(v["dns"]["question"]["subdomain"], "www");
        assert_eq!(v["dns"]["question"]["top_level_domain"], "co.uk");
        assert_eq!(v["dns"]["question"]["type"], "A");
        assert_eq!(v["dns"]["response_code"], "NOERROR");
        assert_eq!(v["dns"]["id"], "4711");
        assert_eq!(v["dns"]["type"], "answer");
        assert_eq!(v["dns"]["answers"][1]["data"], "192.0.2.10");
        assert_eq!(v["dns"]["answers"][1]["ttl"], 60);
        assert_eq!(v["dns"]["resolved_ip"], json!(["192.0.2.10"]));
        assert_eq!(v["network"]["protocol"], "dns");
        assert_eq!(v["source"]["ip"], "10.0.0.5");
        assert_eq!(v["destination"]["ip"], "8.8.8.8");
    }

    #[test]
    fn public_suffix_split() {
        let p = split_domain("a.b.example.com.");
        assert_eq!(p.registered_domain.as_deref(), Some("example.com"));
        assert_eq!(p.subdomain.as_deref(), Some("a.b"));
        assert_eq!(p.top_level_domain.as_deref(), Some("com"));
        let p = split_domain("foo.blogspot.com");
        assert_eq!(p.top_level_domain.as_deref(), Some("blogspot.com"), "private section counts");
        assert_eq!(p.registered_domain.as_deref(), Some("foo.blogspot.com"));
        assert_eq!(p.subdomain, None);
        let p = split_domain("Example.COM");
        assert_eq!(p.registered_domain.as_deref(), Some("example.com"));
        assert_eq!(split_domain("192.0.2.1").registered_domain, None);
    }

    /// ECS field name -> type, from `../shared/ecs/ecs_flat.yml` (top-level keys are field names).
    fn ecs_fields() -> std::collections::HashMap<String, String> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/ecs/ecs_flat.yml");
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let mut out = std::collections::HashMap::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            if !line.starts_with(' ') && line.ends_with(':') {
                current = Some(line.trim_end_matches(':').trim_matches('\'').to_string());
            } else if let (Some(c), Some(t)) = (&current, line.strip_prefix("  type: ")) {
                out.insert(c.clone(), t.trim().to_string());
            }
        }
        out
    }

    fn leaves(prefix: &str, v: &Value, out: &mut Vec<(String, Value)>) {
        match v {
            Value::Object(m) => {
                for (k, vv) in m {
                    let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    leaves(&p, vv, out);
                }
            }
            Value::Array(items) if items.iter().all(Value::is_object) && !items.is_empty() => {
                out.push((prefix.to_string(), Value::Null));
                for it in items {
                    leaves(prefix, it, out);
                }
            }
            Value::Array(items) => {
                for it in items {
                    out.push((prefix.to_string(), it.clone()));
                }
            }
            other => out.push((prefix.to_string(), other.clone())),
        }
    }

    #[test]
    fn every_field_written_exists_in_ecs_with_a_compatible_type() {
        let fields = ecs_fields();
        assert!(fields.len() > 1000, "parsed {} ECS fields", fields.len());
        for ev in [Event::Flow(fixtures::flow()), Event::Dns(fixtures::dns()), Event::Dns(fixtures::edr())] {
            let mut out = Vec::new();
            leaves("", &to_ecs(&ev), &mut out);
            for (path, value) in out {
                if path.starts_with("logfetch.") {
                    continue; // our own namespace for unmapped vendor fields
                }
                let ty = fields.get(&path).unwrap_or_else(|| panic!("`{path}` is not an ECS 9.4 field"));
                let ok = match ty.as_str() {
                    "keyword" | "ip" | "date" | "constant_keyword" | "wildcard" | "match_only_text" | "text" => value.is_string(),
                    "long" | "integer" | "short" | "byte" | "float" | "double" | "scaled_float" | "unsigned_long" => value.is_number(),
                    "boolean" => value.is_boolean(),
                    "object" | "nested" | "flattened" => true,
                    other => panic!("{path}: unhandled ECS type {other}"),
                };
                assert!(ok || value.is_null(), "{path}: {value} does not fit ECS type {ty}");
            }
        }
    }
}
