//! ECS 9.4 JSON encoding. Field names and types follow `../shared/ecs/ecs_flat.yml`; a test checks
//! every field written here exists there.

use serde_json::{Map, Value, json};

use crate::event::{AutonomousSystem, DnsEvent, Endpoint, Enrichment, Envelope, Event, FlowActivity, FlowEvent, Location, Owner, protocol_name, rcode_ecs};

/// ECS version written into `ecs.version`.
pub const ECS_VERSION: &str = "9.4.0";

/// Encodes an event as an ECS document.
pub fn to_ecs(event: &Event) -> Value {
    match event {
        Event::Flow(f) => flow_to_ecs(f),
        Event::Dns(d) => dns_to_ecs(d),
    }
}

fn put<V: Into<Value>>(m: &mut Map<String, Value>, k: &str, v: Option<V>) {
    if let Some(v) = v {
        m.insert(k.to_string(), v.into());
    }
}

fn base(env: &Envelope, kind: &str, types: &[&str], action: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("@timestamp".into(), json!(env.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
    m.insert("ecs".into(), json!({"version": ECS_VERSION}));
    let mut ev = Map::new();
    ev.insert("kind".into(), json!("event"));
    ev.insert("category".into(), json!(["network"]));
    ev.insert("type".into(), json!(types));
    ev.insert("id".into(), json!(env.event_id));
    ev.insert("dataset".into(), json!(format!("logfetch.{kind}")));
    ev.insert("module".into(), json!(env.connector));
    ev.insert("severity".into(), json!(env.severity.id()));
    put(&mut ev, "code", env.event_code.clone());
    put(&mut ev, "action", action.map(str::to_string));
    put(&mut ev, "original", env.raw.clone());
    m.insert("event".into(), Value::Object(ev));
    m.insert("organization".into(), json!({"id": env.tenant}));
    let mut obs = Map::new();
    obs.insert("vendor".into(), json!(env.vendor));
    obs.insert("product".into(), json!(env.product));
    obs.insert("type".into(), json!("firewall"));
    put(&mut obs, "hostname", env.observer.hostname.clone());
    put(&mut obs, "ip", env.observer.ip.map(|i| vec![i.to_string()]));
    put(&mut obs, "serial_number", env.observer.serial.clone());
    put(&mut obs, "name", env.observer.name.clone());
    m.insert("observer".into(), Value::Object(obs));
    if !env.unmapped.is_empty() {
        m.insert("logfetch".into(), json!({"unmapped": env.unmapped}));
    }
    if !env.enrichments.is_empty() {
        m.insert("threat".into(), json!({"enrichments": env.enrichments.iter().map(threat_enrichment_json).collect::<Vec<_>>()}));
    }
    if let Some(h) = &env.host {
        let mut hm = Map::new();
        put(&mut hm, "name", h.name.clone());
        put(&mut hm, "hostname", h.name.clone());
        put(&mut hm, "ip", h.ip.map(|i| vec![i.to_string()]));
        if let Some(os) = &h.os {
            hm.insert("os".into(), json!({"name": os}));
        }
        m.insert("host".into(), Value::Object(hm));
        if let Some(a) = &h.agent_id {
            m.insert("agent".into(), json!({"id": a}));
        }
    }
    if let Some(p) = &env.process {
        let mut pm = Map::new();
        put(&mut pm, "name", p.name.clone());
        put(&mut pm, "pid", p.pid);
        put(&mut pm, "command_line", p.command_line.clone());
        put(&mut pm, "executable", p.executable.clone());
        if let Some(h) = &p.sha1 {
            pm.insert("hash".into(), json!({"sha1": h}));
        }
        m.insert("process".into(), Value::Object(pm));
    }
    m
}

fn endpoint(e: &Endpoint, bytes: Option<u64>, packets: Option<u64>) -> Value {
    let mut m = Map::new();
    put(&mut m, "ip", e.ip.map(|i| i.to_string()));
    put(&mut m, "address", e.ip.map(|i| i.to_string()).or_else(|| e.hostname.clone()));
    put(&mut m, "port", e.port);
    put(&mut m, "domain", e.hostname.clone());
    put(&mut m, "bytes", bytes);
    put(&mut m, "packets", packets);
    let mut nat = Map::new();
    put(&mut nat, "ip", e.nat_ip.map(|i| i.to_string()));
    put(&mut nat, "port", e.nat_port);
    if !nat.is_empty() {
        m.insert("nat".into(), Value::Object(nat));
    }
    if let Some(u) = &e.user {
        m.insert("user".into(), json!({"name": u}));
    } else if let Some(o) = &e.owner {
        m.insert("user".into(), owner_json(o));
    }
    if let Some(l) = &e.location {
        m.insert("geo".into(), geo_json(l));
    }
    if let Some(a) = &e.autonomous_system {
        m.insert("as".into(), as_json(a));
    }
    Value::Object(m)
}

/// ECS `*.geo`.
pub fn geo_json(l: &Location) -> Value {
    let mut m = Map::new();
    put(&mut m, "country_iso_code", l.country.clone());
    put(&mut m, "country_name", l.country_name.clone());
    put(&mut m, "continent_name", l.continent.clone());
    put(&mut m, "region_name", l.region.clone());
    put(&mut m, "city_name", l.city.clone());
    if let (Some(lat), Some(lon)) = (l.lat, l.lon) {
        m.insert("location".into(), json!({"lat": lat, "lon": lon}));
    }
    Value::Object(m)
}

/// ECS `*.as`.
pub fn as_json(a: &AutonomousSystem) -> Value {
    let mut m = Map::new();
    m.insert("number".into(), json!(a.number));
    if let Some(n) = &a.name {
        m.insert("organization".into(), json!({"name": n}));
    }
    Value::Object(m)
}

/// ECS `*.user`; ECS has no department field, so it goes in `group.name`.
pub fn owner_json(o: &Owner) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(o.name));
    if let Some(d) = &o.department {
        m.insert("group".into(), json!({"name": d}));
    }
    Value::Object(m)
}

/// ECS `threat.enrichments[]` item.
pub fn threat_enrichment_json(e: &Enrichment) -> Value {
    let ind_type = match e.kind.as_str() {
        "ip" | "cidr" if e.value.contains(':') => "ipv6-addr",
        "ip" | "cidr" => "ipv4-addr",
        "url" => "url",
        _ => "domain-name",
    };
    let mut ind = Map::new();
    ind.insert("type".into(), json!(ind_type));
    ind.insert("provider".into(), json!(e.feed));
    match ind_type {
        "url" => {
            ind.insert("url".into(), json!({"full": e.value}));
        }
        "domain-name" => {
            ind.insert("url".into(), json!({"domain": e.value}));
        }
        _ => {
            ind.insert("ip".into(), json!(e.value));
        }
    }
    if let Some(c) = e.confidence {
        ind.insert("confidence".into(), json!(match c { 0..=29 => "Low", 30..=69 => "Medium", _ => "High" }));
    }
    put(&mut ind, "description", e.description.clone());
    json!({"indicator": Value::Object(ind), "matched": {"atomic": e.value, "field": e.field, "type": "indicator_match_rule"}})
}

fn interfaces(m: &mut Map<String, Value>, src: &Endpoint, dst: &Endpoint) {
    let Some(Value::Object(obs)) = m.get_mut("observer") else { return };
    let mut side = |key: &str, e: &Endpoint| {
        let mut s = Map::new();
        if let Some(i) = &e.interface {
            s.insert("interface".into(), json!({"name": i}));
        }
        put(&mut s, "zone", e.zone.clone());
        if !s.is_empty() {
            obs.insert(key.into(), Value::Object(s));
        }
    };
    side("ingress", src);
    side("egress", dst);
}

fn network(proto: Option<u8>, direction: &str, bytes: Option<u64>, packets: Option<u64>, app: Option<&str>) -> Value {
    let mut n = Map::new();
    put(&mut n, "transport", proto.and_then(protocol_name));
    put(&mut n, "iana_number", proto.map(|p| p.to_string()));
    n.insert("direction".into(), json!(direction));
    put(&mut n, "bytes", bytes);
    put(&mut n, "packets", packets);
    put(&mut n, "application", app.map(|a| a.to_ascii_lowercase()));
    Value::Object(n)
}

fn sum(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    }
}

fn flow_to_ecs(f: &FlowEvent) -> Value {
    let env = &f.envelope;
    let mut types = vec!["connection"];
    match f.activity {
        FlowActivity::Open => types.push("start"),
        FlowActivity::Close | FlowActivity::Reset => types.push("end"),
        _ => {}
    }
    if f.disposition.is_denied() {
        types.push("denied");
    } else if f.disposition.action_id() == 1 {
        types.push("allowed");
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
    let mut m = base(env, "flow", &types, Some(action));
    if let Some(Value::Object(ev)) = m.get_mut("event") {
        put(ev, "start", f.start_time.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
        put(ev, "end", f.end_time.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)));
        put(ev, "duration", f.duration_ms.map(|d| d.saturating_mul(1_000_000)));
        put(ev, "reason", f.reason.clone());
        if f.disposition.action_id() != 0 {
            ev.insert("outcome".into(), json!(if f.disposition.is_denied() { "failure" } else { "success" }));
        }
    }
    m.insert("source".into(), endpoint(&f.src, f.bytes_out, f.packets_out));
    m.insert("destination".into(), endpoint(&f.dst, f.bytes_in, f.packets_in));
    let bytes = f.bytes_total.or(sum(f.bytes_out, f.bytes_in));
    let packets = f.packets_total.or(sum(f.packets_out, f.packets_in));
    m.insert("network".into(), network(f.protocol_num, f.direction.ecs(), bytes, packets, f.application.as_deref()));
    interfaces(&mut m, &f.src, &f.dst);
    if let Some(rule) = &f.rule {
        m.insert("rule".into(), json!({"name": rule}));
    }
    if let Some(u) = &f.user {
        m.insert("user".into(), json!({"name": u}));
    }
    if let Some(sid) = &f.session_id {
        if let Some(Value::Object(ev)) = m.get_mut("event") {
            ev.insert("reference".into(), json!(sid));
        }
    }
    Value::Object(m)
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

fn dns_to_ecs(d: &DnsEvent) -> Value {
    let env = &d.envelope;
    let mut types = vec!["protocol"];
    if d.disposition.is_denied() {
        types.push("denied");
    } else if d.disposition.action_id() == 1 {
        types.push("allowed");
    }
    let mut m = base(env, "dns", &types, Some("dns-query"));
    if let Some(Value::Object(ev)) = m.get_mut("event") {
        if d.disposition.action_id() != 0 {
            ev.insert("outcome".into(), json!(if d.disposition.is_denied() { "failure" } else { "success" }));
        }
    }
    let mut q = Map::new();
    q.insert("name".into(), json!(d.query_name));
    put(&mut q, "type", d.query_type.clone());
    put(&mut q, "class", d.query_class.clone());
    let parts = split_domain(&d.query_name);
    put(&mut q, "registered_domain", parts.registered_domain);
    put(&mut q, "subdomain", parts.subdomain);
    put(&mut q, "top_level_domain", parts.top_level_domain);
    let mut dns = Map::new();
    dns.insert("question".into(), Value::Object(q));
    dns.insert(
        "type".into(),
        json!(if d.rcode.is_some() || !d.answers.is_empty() { "answer" } else { "query" }),
    );
    put(&mut dns, "id", d.transaction_id.map(|t| t.to_string()));
    put(&mut dns, "response_code", d.rcode.map(rcode_ecs));
    if !d.answers.is_empty() {
        let answers: Vec<Value> = d
            .answers
            .iter()
            .map(|a| {
                let mut am = Map::new();
                am.insert("data".into(), json!(a.data));
                put(&mut am, "type", a.rtype.clone());
                put(&mut am, "class", a.class.clone());
                put(&mut am, "ttl", a.ttl);
                am.insert("name".into(), json!(d.query_name));
                Value::Object(am)
            })
            .collect();
        let ips: Vec<Value> = d.answers.iter().filter(|a| a.data.parse::<std::net::IpAddr>().is_ok()).map(|a| json!(a.data)).collect();
        dns.insert("answers".into(), Value::Array(answers));
        if !ips.is_empty() {
            dns.insert("resolved_ip".into(), Value::Array(ips));
        }
    }
    m.insert("dns".into(), Value::Object(dns));
    if !d.client.is_empty() {
        m.insert("source".into(), endpoint(&d.client, None, None));
    }
    if !d.server.is_empty() {
        m.insert("destination".into(), endpoint(&d.server, None, None));
    }
    let mut net = network(d.protocol_num, "unknown", None, None, None);
    if let Value::Object(n) = &mut net {
        n.insert("protocol".into(), json!("dns"));
    }
    m.insert("network".into(), net);
    if let Some(rule) = &d.rule {
        m.insert("rule".into(), json!({"name": rule}));
    }
    if let Some(u) = &d.user {
        m.insert("user".into(), json!({"name": u}));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
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
