//! The OCSF 1.3.0 validator: required attributes, types and enum values of the classes logfetch
//! emits, plus coverage of the recommended attributes.
//!
//! The tables below are logfetch's own representation of facts from the OCSF schema files
//! (`../shared/ocsf/1.3.0`); `tests/ocsf_schema.rs` re-derives them from those files so the two
//! cannot drift apart.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::ocsf::OCSF_VERSION;

/// How the schema ranks an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Req {
    Required,
    Recommended,
    Optional,
}

/// The JSON shape an attribute must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Str,
    /// Milliseconds since the epoch.
    Timestamp,
    Object(&'static str),
    ObjectArray(&'static str),
    Any,
}

/// One attribute of a class, profile or object.
#[derive(Debug, Clone, Copy)]
pub struct Attr {
    pub name: &'static str,
    pub req: Req,
    pub kind: Kind,
    /// Allowed values for integer enums (empty: not an enum).
    pub values: &'static [i64],
}

const fn a(name: &'static str, req: Req, kind: Kind) -> Attr {
    Attr { name, req, kind, values: &[] }
}
const fn e(name: &'static str, req: Req, values: &'static [i64]) -> Attr {
    Attr { name, req, kind: Kind::Int, values }
}

use Kind::*;
use Req::*;

const SEVERITY: &[i64] = &[0, 1, 2, 3, 4, 5, 6, 99];
const STATUS: &[i64] = &[0, 1, 2, 99];
const DISPOSITION: &[i64] = &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 99];
const ACTION: &[i64] = &[0, 1, 2, 99];

/// Attributes every network-category class has (base_event + network).
const NETWORK_COMMON: &[Attr] = &[
    e("category_uid", Required, &[4]),
    a("category_name", Optional, Str),
    a("class_name", Optional, Str),
    a("activity_name", Optional, Str),
    a("type_uid", Required, Int),
    a("type_name", Optional, Str),
    e("severity_id", Required, SEVERITY),
    a("severity", Optional, Str),
    a("time", Required, Timestamp),
    a("metadata", Required, Object("metadata")),
    a("message", Recommended, Str),
    a("observables", Recommended, ObjectArray("observable")),
    a("proxy", Recommended, Object("network_proxy")),
    a("src_endpoint", Recommended, Object("network_endpoint")),
    a("status", Recommended, Str),
    a("status_code", Recommended, Str),
    a("status_detail", Recommended, Str),
    e("status_id", Recommended, STATUS),
    a("timezone_offset", Recommended, Int),
    a("count", Optional, Int),
    a("duration", Optional, Int),
    a("start_time", Optional, Timestamp),
    a("end_time", Optional, Timestamp),
    a("enrichments", Optional, ObjectArray("enrichment")),
    a("raw_data", Optional, Str),
    a("unmapped", Optional, Object("object")),
    a("app_name", Optional, Str),
    a("ja4_fingerprint_list", Optional, ObjectArray("ja4_fingerprint")),
    a("tls", Optional, Object("tls")),
];

/// The shared attribute list, exposed so the schema test can compare it with the OCSF files.
#[doc(hidden)]
pub const NETWORK_COMMON_FOR_TESTS: &[Attr] = NETWORK_COMMON;

/// Attributes of every Findings-category class (base_event + finding).
const FINDING_COMMON: &[Attr] = &[
    e("category_uid", Required, &[2]),
    a("category_name", Optional, Str),
    a("class_name", Optional, Str),
    a("activity_name", Optional, Str),
    e("activity_id", Required, &[0, 1, 2, 3, 99]),
    a("type_uid", Required, Int),
    a("type_name", Optional, Str),
    e("severity_id", Required, SEVERITY),
    a("severity", Optional, Str),
    a("time", Required, Timestamp),
    a("metadata", Required, Object("metadata")),
    a("message", Recommended, Str),
    a("observables", Recommended, ObjectArray("observable")),
    a("status", Optional, Str),
    a("status_code", Recommended, Str),
    a("status_detail", Recommended, Str),
    e("status_id", Recommended, &[0, 1, 2, 3, 4, 99]),
    a("timezone_offset", Recommended, Int),
    a("count", Optional, Int),
    a("duration", Optional, Int),
    a("start_time", Optional, Timestamp),
    a("end_time", Optional, Timestamp),
    a("enrichments", Optional, ObjectArray("enrichment")),
    a("raw_data", Optional, Str),
    a("unmapped", Optional, Object("object")),
    a("comment", Optional, Str),
    a("confidence", Optional, Str),
    e("confidence_id", Recommended, &[0, 1, 2, 3, 99]),
    a("confidence_score", Optional, Int),
    a("device", Recommended, Object("device")),
    a("finding_info", Required, Object("finding_info")),
];

/// A class: its uid, the attributes of its category and those it adds.
#[derive(Debug)]
pub struct ClassRules {
    pub uid: i64,
    pub name: &'static str,
    /// The category's shared attributes ([`NETWORK_COMMON`] or the findings').
    pub common: &'static [Attr],
    pub attrs: &'static [Attr],
}

pub const NETWORK_ACTIVITY: ClassRules = ClassRules {
    uid: 4001,
    name: "network_activity",
    common: NETWORK_COMMON,
    attrs: &[
        e("class_uid", Required, &[4001]),
        e("activity_id", Required, &[0, 1, 2, 3, 4, 5, 6, 7, 99]),
        a("dst_endpoint", Required, Object("network_endpoint")),
        a("connection_info", Recommended, Object("network_connection_info")),
        a("traffic", Recommended, Object("network_traffic")),
        a("url", Recommended, Object("url")),
    ],
};

pub const DNS_ACTIVITY: ClassRules = ClassRules {
    uid: 4003,
    name: "dns_activity",
    common: NETWORK_COMMON,
    attrs: &[
        e("class_uid", Required, &[4003]),
        e("activity_id", Required, &[0, 1, 2, 6, 99]),
        a("dst_endpoint", Recommended, Object("network_endpoint")),
        a("connection_info", Optional, Object("network_connection_info")),
        a("traffic", Optional, Object("network_traffic")),
        a("query", Recommended, Object("dns_query")),
        a("answers", Recommended, ObjectArray("dns_answer")),
        a("query_time", Recommended, Timestamp),
        a("response_time", Recommended, Timestamp),
        a("rcode", Recommended, Str),
        e("rcode_id", Recommended, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 99]),
    ],
};

/// Detection Finding: what logfetch's DNS hunting raises.
pub const DETECTION_FINDING: ClassRules = ClassRules {
    uid: 2004,
    name: "detection_finding",
    common: FINDING_COMMON,
    attrs: &[
        e("class_uid", Required, &[2004]),
        a("evidences", Recommended, ObjectArray("evidences")),
        a("resources", Recommended, ObjectArray("resource_details")),
        a("impact", Optional, Str),
        e("impact_id", Optional, &[0, 1, 2, 3, 4, 99]),
        a("impact_score", Optional, Int),
        a("remediation", Optional, Object("remediation")),
        a("risk_details", Optional, Str),
        a("risk_level", Optional, Str),
        e("risk_level_id", Optional, &[0, 1, 2, 3, 4, 99]),
        a("risk_score", Optional, Int),
        a("vulnerabilities", Optional, ObjectArray("vulnerability")),
    ],
};

/// Profiles an event opts into through `metadata.profiles`.
pub const PROFILES: &[(&str, &[Attr])] = &[
    (
        "security_control",
        &[
            e("action_id", Required, ACTION),
            a("action", Optional, Str),
            e("disposition_id", Recommended, DISPOSITION),
            a("disposition", Optional, Str),
            a("firewall_rule", Optional, Object("firewall_rule")),
            a("attacks", Optional, ObjectArray("attack")),
            a("authorizations", Optional, ObjectArray("authorization")),
            a("malware", Optional, ObjectArray("malware")),
        ],
    ),
    ("host", &[a("device", Recommended, Object("device")), a("actor", Optional, Object("actor"))]),
];

/// Objects whose attributes are checked (others are only checked for being objects).
pub const OBJECTS: &[(&str, &[Attr])] = &[
    (
        "metadata",
        &[
            a("version", Required, Str),
            a("product", Required, Object("product")),
            a("log_name", Recommended, Str),
            a("log_provider", Recommended, Str),
            a("original_time", Recommended, Str),
            a("tenant_uid", Recommended, Str),
        ],
    ),
    (
        "product",
        &[
            a("vendor_name", Required, Str),
            a("name", Recommended, Str),
            a("uid", Recommended, Str),
            a("version", Recommended, Str),
        ],
    ),
    (
        "network_endpoint",
        &[
            a("ip", Recommended, Str),
            a("port", Recommended, Int),
            a("hostname", Recommended, Str),
            a("interface_name", Recommended, Str),
            a("interface_uid", Recommended, Str),
            a("instance_uid", Recommended, Str),
            a("name", Recommended, Str),
            a("owner", Recommended, Object("user")),
            a("svc_name", Recommended, Str),
            e("type_id", Recommended, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 99]),
            a("uid", Recommended, Str),
            a("zone", Optional, Str),
            a("location", Optional, Object("location")),
            a("autonomous_system", Optional, Object("autonomous_system")),
        ],
    ),
    (
        "location",
        &[
            a("city", Recommended, Str),
            a("continent", Recommended, Str),
            a("country", Recommended, Str),
            a("region", Optional, Str),
            a("lat", Optional, Any),
            a("long", Optional, Any),
            a("coordinates", Optional, Any),
        ],
    ),
    ("autonomous_system", &[a("number", Recommended, Int), a("name", Recommended, Str)]),
    (
        "enrichment",
        &[
            a("name", Required, Str),
            a("value", Required, Str),
            a("data", Required, Any),
            a("provider", Recommended, Str),
            a("type", Recommended, Str),
            a("short_desc", Recommended, Str),
        ],
    ),
    ("organization", &[a("ou_name", Recommended, Str)]),
    (
        "network_connection_info",
        &[
            e("direction_id", Required, &[0, 1, 2, 3, 99]),
            e("boundary_id", Recommended, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 99]),
            a("protocol_name", Recommended, Str),
            a("protocol_num", Recommended, Int),
            e("protocol_ver_id", Recommended, &[0, 4, 6, 99]),
            a("uid", Recommended, Str),
        ],
    ),
    (
        "network_traffic",
        &[
            a("bytes", Recommended, Int),
            a("packets", Recommended, Int),
            a("bytes_in", Optional, Int),
            a("bytes_out", Optional, Int),
            a("packets_in", Optional, Int),
            a("packets_out", Optional, Int),
        ],
    ),
    (
        "dns_query",
        &[
            a("hostname", Required, Str),
            a("type", Recommended, Str),
            a("class", Recommended, Str),
            e("opcode_id", Recommended, &[0, 1, 2, 3, 4, 5, 6, 99]),
            a("packet_uid", Recommended, Int),
        ],
    ),
    (
        "dns_answer",
        &[
            a("rdata", Required, Str),
            a("type", Recommended, Str),
            a("class", Recommended, Str),
            a("ttl", Recommended, Int),
            a("packet_uid", Recommended, Int),
        ],
    ),
    (
        "device",
        &[
            e("type_id", Required, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 99]),
            a("hostname", Recommended, Str),
            a("ip", Optional, Str),
            a("uid", Recommended, Str),
            a("name", Optional, Str),
        ],
    ),
    ("firewall_rule", &[a("name", Recommended, Str), a("uid", Recommended, Str)]),
    ("user", &[a("name", Recommended, Str), a("uid", Recommended, Str), e("type_id", Recommended, &[0, 1, 2, 3, 99]), a("org", Optional, Object("organization"))]),
    ("actor", &[a("user", Recommended, Object("user")), a("process", Recommended, Object("process"))]),
    (
        "finding_info",
        &[
            a("uid", Required, Str),
            a("title", Required, Str),
            a("analytic", Recommended, Object("analytic")),
            a("desc", Optional, Str),
            a("types", Optional, Any),
            a("related_events", Optional, ObjectArray("related_event")),
            a("first_seen_time", Optional, Timestamp),
            a("last_seen_time", Optional, Timestamp),
            a("created_time", Optional, Timestamp),
        ],
    ),
    ("analytic", &[e("type_id", Required, &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 99]), a("name", Recommended, Str), a("uid", Recommended, Str), a("type", Optional, Str)]),
    ("related_event", &[a("uid", Required, Str), a("type_uid", Recommended, Int), a("type", Optional, Str)]),
    (
        "evidences",
        &[
            a("data", Optional, Any),
            a("src_endpoint", Recommended, Object("network_endpoint")),
            a("dst_endpoint", Recommended, Object("network_endpoint")),
            a("query", Recommended, Object("dns_query")),
            a("connection_info", Recommended, Object("network_connection_info")),
            a("device", Recommended, Object("device")),
        ],
    ),
];

/// Objects whose attributes must all be known: an attribute the schema does not define there is
/// a violation (the other objects are only checked for what is listed).
const CLOSED_OBJECTS: &[(&str, &[&str])] = &[
    ("finding_info", &["analytic", "attacks", "created_time", "data_sources", "desc", "first_seen_time", "kill_chain", "last_seen_time", "modified_time", "product_uid", "related_analytics", "related_events", "src_url", "title", "types", "uid"]),
    ("analytic", &["category", "desc", "name", "related_analytics", "type", "type_id", "uid", "version"]),
    ("evidences", &["actor", "api", "connection_info", "container", "data", "database", "databucket", "device", "dst_endpoint", "email", "file", "job", "process", "query", "src_endpoint", "url", "user"]),
];

/// The classes logfetch emits.
pub const CLASSES: &[&ClassRules] = &[&NETWORK_ACTIVITY, &DNS_ACTIVITY, &DETECTION_FINDING];

/// The closed objects' attribute lists, exposed so the schema test can compare them.
#[doc(hidden)]
pub const CLOSED_OBJECTS_FOR_TESTS: &[(&str, &[&str])] = CLOSED_OBJECTS;

/// One problem found in an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON path (`metadata.product.vendor_name`).
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// What the validator found in one event.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub class_uid: Option<i64>,
    pub violations: Vec<Violation>,
    /// Recommended top-level attributes present / expected.
    pub recommended_present: usize,
    pub recommended_total: usize,
    pub recommended_missing: Vec<&'static str>,
}

impl Report {
    pub fn is_valid(&self) -> bool {
        self.violations.is_empty()
    }
}

fn object_rules(name: &str) -> Option<&'static [Attr]> {
    OBJECTS.iter().find(|(n, _)| *n == name).map(|(_, a)| *a)
}

fn check_value(path: &str, attr: &Attr, v: &Value, out: &mut Vec<Violation>) {
    let bad = |msg: String| Violation { path: path.to_string(), message: msg };
    match attr.kind {
        Int | Timestamp => {
            let Some(n) = v.as_i64() else {
                out.push(bad(format!("expected an integer, found {}", kind_of(v))));
                return;
            };
            if !attr.values.is_empty() && !attr.values.contains(&n) {
                out.push(bad(format!("{n} is not a defined value (allowed: {:?})", attr.values)));
            }
        }
        Str => {
            if !v.is_string() {
                out.push(bad(format!("expected a string, found {}", kind_of(v))));
            }
        }
        Object(obj) => match v {
            Value::Object(_) => check_object(path, obj, v, out),
            _ => out.push(bad(format!("expected an object ({obj}), found {}", kind_of(v)))),
        },
        ObjectArray(obj) => match v {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let p = format!("{path}[{i}]");
                    if item.is_object() {
                        check_object(&p, obj, item, out);
                    } else {
                        out.push(Violation { path: p, message: format!("expected an object ({obj}), found {}", kind_of(item)) });
                    }
                }
            }
            _ => out.push(bad(format!("expected an array of {obj}, found {}", kind_of(v)))),
        },
        Any => {}
    }
}

fn check_object(path: &str, obj: &str, v: &Value, out: &mut Vec<Violation>) {
    let Value::Object(map) = v else { return };
    if let Some((_, known)) = CLOSED_OBJECTS.iter().find(|(n, _)| *n == obj) {
        for k in map.keys().filter(|k| !known.contains(&k.as_str())) {
            out.push(Violation { path: format!("{path}.{k}"), message: format!("not an attribute of {obj} in OCSF {OCSF_VERSION}") });
        }
    }
    let Some(rules) = object_rules(obj) else { return };
    for attr in rules {
        let p = format!("{path}.{}", attr.name);
        match map.get(attr.name) {
            None | Some(Value::Null) if attr.req == Required => {
                out.push(Violation { path: p, message: format!("required attribute of {obj} is missing") })
            }
            None | Some(Value::Null) => {}
            Some(val) => check_value(&p, attr, val, out),
        }
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Validates one OCSF event against the pinned schema.
pub fn validate(event: &Value) -> Report {
    let mut report = Report::default();
    let out = &mut report.violations;
    let Value::Object(map) = event else {
        out.push(Violation { path: "$".into(), message: format!("expected a JSON object, found {}", kind_of(event)) });
        return report;
    };
    let class_uid = map.get("class_uid").and_then(Value::as_i64);
    report.class_uid = class_uid;
    let Some(class) = class_uid.and_then(|uid| CLASSES.iter().find(|c| c.uid == uid)) else {
        out.push(Violation {
            path: "class_uid".into(),
            message: match class_uid {
                Some(uid) => format!("class {uid} is not one logfetch validates (4001, 4003, 2004)"),
                None => "required attribute is missing or not an integer".into(),
            },
        });
        return report;
    };
    // Which profiles the event declares.
    let declared: Vec<&str> = map
        .get("metadata")
        .and_then(|m| m.get("profiles"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut attrs: BTreeMap<&str, Attr> = BTreeMap::new();
    for at in class.common.iter().chain(class.attrs.iter()) {
        attrs.insert(at.name, *at);
    }
    for p in &declared {
        match PROFILES.iter().find(|(n, _)| n == p) {
            Some((_, pattrs)) => {
                for at in *pattrs {
                    attrs.insert(at.name, *at);
                }
            }
            None => out.push(Violation { path: "metadata.profiles".into(), message: format!("unknown profile `{p}`") }),
        }
    }
    for (name, attr) in &attrs {
        match map.get(*name) {
            None | Some(Value::Null) => match attr.req {
                Required => out.push(Violation { path: name.to_string(), message: "required attribute is missing".into() }),
                Recommended => {
                    report.recommended_total += 1;
                    report.recommended_missing.push(attr.name);
                }
                Optional => {}
            },
            Some(v) => {
                if attr.req == Recommended {
                    report.recommended_total += 1;
                    report.recommended_present += 1;
                }
                check_value(name, attr, v, out);
            }
        }
    }
    for key in map.keys() {
        if !attrs.contains_key(key.as_str()) {
            let hint = PROFILES
                .iter()
                .find(|(_, pa)| pa.iter().any(|a| a.name == key))
                .map(|(p, _)| format!(" (it belongs to profile `{p}`: list it in metadata.profiles)"))
                .unwrap_or_else(|| " (vendor fields go under `unmapped`)".into());
            out.push(Violation { path: key.clone(), message: format!("not an attribute of {}{hint}", class.name) });
        }
    }
    // Consistency between the numbers.
    if let (Some(act), Some(t)) = (map.get("activity_id").and_then(Value::as_i64), map.get("type_uid").and_then(Value::as_i64)) {
        if t != class.uid * 100 + act {
            out.push(Violation { path: "type_uid".into(), message: format!("{t} should be class_uid * 100 + activity_id = {}", class.uid * 100 + act) });
        }
    }
    if let Some(v) = map.get("metadata").and_then(|m| m.get("version")).and_then(Value::as_str) {
        if v != OCSF_VERSION {
            out.push(Violation { path: "metadata.version".into(), message: format!("`{v}` is not the pinned OCSF version {OCSF_VERSION}") });
        }
    }
    if let Some(t) = map.get("time").and_then(Value::as_i64) {
        // Milliseconds: anything before 2001 or after 2100 is almost surely seconds or garbage.
        if !(978_307_200_000..=4_102_444_800_000).contains(&t) {
            out.push(Violation { path: "time".into(), message: format!("{t} does not look like milliseconds since the epoch") });
        }
    }
    report
}

/// Totals over many events, for `logfetch validate`.
#[derive(Debug, Default)]
pub struct Summary {
    pub events: usize,
    pub valid: usize,
    pub per_class: BTreeMap<i64, (usize, usize)>,
    pub recommended_present: usize,
    pub recommended_total: usize,
    pub missing_recommended: BTreeMap<&'static str, usize>,
}

impl Summary {
    pub fn add(&mut self, r: &Report) {
        self.events += 1;
        if r.is_valid() {
            self.valid += 1;
        }
        let entry = self.per_class.entry(r.class_uid.unwrap_or(0)).or_default();
        entry.0 += 1;
        if r.is_valid() {
            entry.1 += 1;
        }
        self.recommended_present += r.recommended_present;
        self.recommended_total += r.recommended_total;
        for m in &r.recommended_missing {
            *self.missing_recommended.entry(m).or_default() += 1;
        }
    }
    /// Share of recommended attributes present, in percent.
    pub fn coverage_percent(&self) -> f64 {
        if self.recommended_total == 0 { 100.0 } else { 100.0 * self.recommended_present as f64 / self.recommended_total as f64 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, fixtures};
    use crate::ocsf::to_ocsf;
    use serde_json::json;

    fn flow() -> Value {
        to_ocsf(&Event::Flow(fixtures::flow()))
    }

    fn paths(r: &Report) -> Vec<String> {
        r.violations.iter().map(|v| v.path.clone()).collect()
    }

    #[test]
    fn a_good_event_passes_with_coverage() {
        let r = validate(&flow());
        assert!(r.is_valid(), "{:?}", r.violations);
        assert!(r.recommended_present > 5);
        assert!(r.recommended_present < r.recommended_total, "some recommended ones are absent, e.g. url");
        assert!(r.recommended_missing.contains(&"url"));
    }

    #[test]
    fn missing_required_attributes_fail() {
        for field in ["class_uid", "activity_id", "severity_id", "time", "metadata", "dst_endpoint", "type_uid", "category_uid"] {
            let mut v = flow();
            v.as_object_mut().unwrap().remove(field);
            let r = validate(&v);
            assert!(!r.is_valid(), "removing {field} must fail");
        }
        let mut v = flow();
        v["metadata"]["product"].as_object_mut().unwrap().remove("vendor_name");
        assert_eq!(paths(&validate(&v)), ["metadata.product.vendor_name"]);
        let mut v = flow();
        v["connection_info"].as_object_mut().unwrap().remove("direction_id");
        assert_eq!(paths(&validate(&v)), ["connection_info.direction_id"]);
        // Profile attribute required once the profile is declared.
        let mut v = flow();
        v.as_object_mut().unwrap().remove("action_id");
        assert_eq!(paths(&validate(&v)), ["action_id"]);
    }

    #[test]
    fn bad_enum_values_types_and_consistency_fail() {
        let mut v = flow();
        v["activity_id"] = json!(42);
        let p = paths(&validate(&v));
        assert!(p.contains(&"activity_id".to_string()) && p.contains(&"type_uid".to_string()), "{p:?}");
        let mut v = flow();
        v["severity_id"] = json!("high");
        assert_eq!(paths(&validate(&v)), ["severity_id"]);
        let mut v = flow();
        v["metadata"]["version"] = json!("1.1.0");
        assert_eq!(paths(&validate(&v)), ["metadata.version"]);
        let mut v = flow();
        v["time"] = json!(1714557605);
        assert_eq!(paths(&validate(&v)), ["time"], "seconds instead of ms");
        let mut v = flow();
        v["disposition_id"] = json!(77);
        assert_eq!(paths(&validate(&v)), ["disposition_id"]);
        let mut v = flow();
        v["vendor_field"] = json!(1);
        assert_eq!(paths(&validate(&v)), ["vendor_field"]);
        let mut v = flow();
        v["metadata"]["profiles"] = json!(["host"]);
        let p = paths(&validate(&v));
        assert!(p.contains(&"action_id".to_string()), "security_control attrs without the profile: {p:?}");
        let mut v = to_ocsf(&Event::Dns(fixtures::dns()));
        v["answers"][0].as_object_mut().unwrap().remove("rdata");
        assert_eq!(paths(&validate(&v)), ["answers[0].rdata"]);
        let mut v = to_ocsf(&Event::Dns(fixtures::dns()));
        v["rcode_id"] = json!(12);
        assert_eq!(paths(&validate(&v)), ["rcode_id"]);
        assert!(!validate(&json!({"class_uid": 1001})).is_valid());
        assert!(!validate(&json!([1, 2])).is_valid());
    }
}
