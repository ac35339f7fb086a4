//! The typed event model every connector maps into: [`FlowEvent`] and [`DnsEvent`], each with
//! the shared [`Envelope`]. Encoders (`ocsf`, `ecs`) turn these into JSON; nothing here knows
//! about a vendor's wire format.

use std::borrow::Cow;
use std::net::IpAddr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::text::short_cmp;

/// What kind of log a stream carries. Also the `kind=` directory of the file sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum LogKind {
    Flow,
    Dns,
    Finding,
}

impl LogKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LogKind::Flow => "flow",
            LogKind::Dns => "dns",
            LogKind::Finding => "finding",
        }
    }
}

impl std::fmt::Display for LogKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for LogKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "flow" => Ok(LogKind::Flow),
            "dns" => Ok(LogKind::Dns),
            "finding" => Ok(LogKind::Finding),
            other => Err(format!("unknown log kind `{other}` (expected flow, dns or finding)")),
        }
    }
}

/// The device that observed and reported the event (firewall, sensor, cloud service).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Observer {
    pub hostname: Option<String>,
    pub ip: Option<IpAddr>,
    pub serial: Option<String>,
    /// Device name as the management plane calls it (Panorama `device_name`).
    pub name: Option<String>,
}

impl Observer {
    pub fn is_empty(&self) -> bool {
        self.hostname.is_none() && self.ip.is_none() && self.serial.is_none() && self.name.is_none()
    }
}

/// The endpoint an EDR event happened on (SentinelOne agents).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostContext {
    pub name: Option<String>,
    /// The agent's id (SentinelOne agent UUID).
    pub agent_id: Option<String>,
    pub os: Option<String>,
    pub site: Option<String>,
    pub ip: Option<IpAddr>,
}

/// The process behind an EDR event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessContext {
    pub name: Option<String>,
    pub pid: Option<u64>,
    pub command_line: Option<String>,
    pub executable: Option<String>,
    pub sha1: Option<String>,
    pub user: Option<String>,
}

/// OCSF severity ids (`severity_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Severity {
    Unknown,
    #[default]
    Informational,
    Low,
    Medium,
    High,
    Critical,
    Fatal,
}

impl Severity {
    pub fn id(self) -> u8 {
        match self {
            Severity::Unknown => 0,
            Severity::Informational => 1,
            Severity::Low => 2,
            Severity::Medium => 3,
            Severity::High => 4,
            Severity::Critical => 5,
            Severity::Fatal => 6,
        }
    }
    pub fn caption(self) -> &'static str {
        match self {
            Severity::Unknown => "Unknown",
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
            Severity::Fatal => "Fatal",
        }
    }
    /// Syslog severity (0 emergency .. 7 debug) to OCSF.
    pub fn from_syslog(level: u8) -> Severity {
        match level {
            0 => Severity::Fatal,
            1 => Severity::Critical,
            2 => Severity::High,
            3 => Severity::Medium,
            4 => Severity::Low,
            _ => Severity::Informational,
        }
    }
}

/// Vendor fields with no home in the schema, kept sorted by name (the encoders write them in that
/// order). A vector rather than a map: an event carries a handful, and their names are mostly
/// `'static`, so filling one allocates only the values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Unmapped(Vec<(Cow<'static, str>, serde_json::Value)>);

impl Unmapped {
    /// Empty, with room for `n` fields: the connectors add a dozen or more to every event, and
    /// growing from nothing took four allocations.
    pub fn with_capacity(n: usize) -> Self {
        Unmapped(Vec::with_capacity(n))
    }

    /// Sets `name` to `value`; returns the value it replaces.
    ///
    /// Inlined for the usual case, a name past the last one: the pair is then built where it is
    /// stored. Passed by reference into a call, it was copied out of the caller's stack with loads
    /// wider than the stores that had built it (stalled store forwards, most of this function's
    /// time).
    #[inline(always)]
    pub fn insert(&mut self, name: impl Into<Cow<'static, str>>, value: serde_json::Value) -> Option<serde_json::Value> {
        let name = name.into();
        // Fields mostly arrive in order: try the end first.
        match self.0.last() {
            Some((last, _)) if short_cmp(last.as_bytes(), name.as_bytes()).is_ge() => self.insert_within(name, value),
            _ => {
                self.0.push((name, value));
                None
            }
        }
    }

    /// [`Unmapped::insert`] of a name that does not sort after every other.
    #[inline(never)]
    fn insert_within(&mut self, name: Cow<'static, str>, value: serde_json::Value) -> Option<serde_json::Value> {
        match self.0.binary_search_by(|(k, _)| short_cmp(k.as_bytes(), name.as_bytes())) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (name, value));
                None
            }
        }
    }

    /// Sets `name` to `value` unless it is set already (one search where `get` then `insert`
    /// took two); returns whether it was set.
    pub fn insert_new(&mut self, name: impl Into<Cow<'static, str>>, value: impl FnOnce() -> serde_json::Value) -> bool {
        let name = name.into();
        // As `insert`: a name past the last one goes at the end without a search.
        let at = match self.0.last() {
            Some((last, _)) if short_cmp(last.as_bytes(), name.as_bytes()).is_ge() => self.0.binary_search_by(|(k, _)| short_cmp(k.as_bytes(), name.as_bytes())),
            _ => Err(self.0.len()),
        };
        match at {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, (name, value()));
                true
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&serde_json::Value> {
        self.0.binary_search_by(|(k, _)| short_cmp(k.as_bytes(), name.as_bytes())).ok().map(|i| &self.0[i].1)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fields in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &serde_json::Value)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), v))
    }
}

/// `unmapped["name"]` reads `null` for an absent field, as indexing a JSON value does.
impl std::ops::Index<&str> for Unmapped {
    type Output = serde_json::Value;
    fn index(&self, name: &str) -> &serde_json::Value {
        static NULL: serde_json::Value = serde_json::Value::Null;
        self.get(name).unwrap_or(&NULL)
    }
}

impl Serialize for Unmapped {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Unmapped {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = std::collections::BTreeMap::<String, serde_json::Value>::deserialize(d)?;
        Ok(Unmapped(map.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect()))
    }
}

/// Fields every event carries, whatever its class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The tenant id from the config (`[[tenant]] id`).
    pub tenant: String,
    /// Vendor name as OCSF `metadata.product.vendor_name` wants it ("Cisco", "Palo Alto Networks").
    pub vendor: Cow<'static, str>,
    /// Product name ("ASA", "PAN-OS").
    pub product: Cow<'static, str>,
    /// The connector that produced it (`cisco`, `paloalto`, ...).
    pub connector: Cow<'static, str>,
    /// When the event happened (UTC).
    pub time: DateTime<Utc>,
    /// The time text exactly as the vendor wrote it.
    pub original_time: Option<String>,
    /// The vendor's own id for this record, where it has one.
    pub vendor_event_id: Option<String>,
    /// Stable id: derived from the vendor id, or from a hash of the raw record. Sinks may drop
    /// duplicates by it.
    pub event_id: String,
    /// Vendor message type (`ASA-6-302013`, `TRAFFIC/end`).
    pub event_code: Option<Cow<'static, str>>,
    pub severity: Severity,
    pub observer: Observer,
    /// The original record, verbatim (dropped when the tenant sets `keep_raw = false`).
    pub raw: Option<String>,
    /// Vendor fields with no home in the schema.
    pub unmapped: Unmapped,
    /// EDR events: the endpoint and the process.
    #[serde(default)]
    pub host: Option<Box<HostContext>>,
    #[serde(default)]
    pub process: Option<Box<ProcessContext>>,
    /// Threat-intelligence matches added at ingest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enrichments: Vec<Enrichment>,
}

impl Envelope {
    /// An envelope with a stable id computed from `vendor_event_id` when given, else from `raw`;
    /// a copy of `raw` is kept only when `keep_raw` says so (a tenant's `keep_raw = false`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        tenant: &str,
        vendor: &'static str,
        product: &'static str,
        connector: &'static str,
        time: DateTime<Utc>,
        vendor_event_id: Option<String>,
        raw: &str,
        keep_raw: bool,
    ) -> Envelope {
        let event_id = stable_event_id(tenant, connector, vendor_event_id.as_deref(), raw);
        Envelope {
            tenant: tenant.to_string(),
            vendor: Cow::Borrowed(vendor),
            product: Cow::Borrowed(product),
            connector: Cow::Borrowed(connector),
            time,
            original_time: None,
            vendor_event_id,
            event_id,
            event_code: None,
            severity: Severity::Informational,
            observer: Observer::default(),
            raw: keep_raw.then(|| raw.to_string()),
            unmapped: Unmapped::with_capacity(16),
            host: None,
            process: None,
            enrichments: Vec::new(),
        }
    }
}

/// A stable, deterministic event id: the same record always gets the same id, so a replayed
/// batch can be de-duplicated downstream. With a vendor id the id is a hash of
/// (tenant, connector, vendor id); without one, of (tenant, connector, raw record).
pub fn stable_event_id(tenant: &str, connector: &str, vendor_id: Option<&str>, raw: &str) -> String {
    let mut h = Sha256::new();
    h.update(tenant.as_bytes());
    h.update([0u8]);
    h.update(connector.as_bytes());
    h.update([0u8]);
    match vendor_id {
        Some(id) => {
            h.update(b"id\0");
            h.update(id.as_bytes());
        }
        None => {
            h.update(b"raw\0");
            h.update(raw.as_bytes());
        }
    }
    let digest = h.finalize();
    hex16(&digest[..16])
}

/// Lower-case hex of 16 bytes, built in an array (no per-character push or iterator).
fn hex16(b: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    for (pair, &x) in out.chunks_exact_mut(2).zip(b) {
        pair[0] = HEX[(x >> 4) as usize];
        pair[1] = HEX[(x & 15) as usize];
    }
    std::str::from_utf8(&out[..2 * b.len().min(16)]).expect("hex digits are ASCII").to_string()
}

/// One side of a connection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub ip: Option<IpAddr>,
    pub port: Option<u16>,
    pub hostname: Option<String>,
    pub interface: Option<String>,
    pub zone: Option<String>,
    /// The address after NAT (what the other side saw).
    pub nat_ip: Option<IpAddr>,
    pub nat_port: Option<u16>,
    pub user: Option<String>,
    // The enrichments below are boxed: most events never get them, and inline they made every
    // event 1.7 KB to move (parsers move an event several times on its way out).
    /// Enrichment: where the address is (GeoIP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Box<Location>>,
    /// Enrichment: the network it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autonomous_system: Option<Box<AutonomousSystem>>,
    /// Enrichment: who uses the address (directory caches, lease files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<Box<Owner>>,
}

/// GeoIP result for an address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    pub country_name: Option<String>,
    pub continent: Option<String>,
    pub region: Option<String>,
    pub city: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

/// ASN result for an address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AutonomousSystem {
    pub number: u32,
    pub name: Option<String>,
}

/// The person (or team) behind an address at the event's time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Owner {
    pub name: String,
    pub department: Option<String>,
    /// Asset owner, where it differs from the user.
    pub owner: Option<String>,
    /// Where the mapping came from (`sentinelone-agents`, `zia-users`, `users-file`).
    pub source: String,
}

/// A threat-intelligence match.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrichment {
    /// The event field that matched (`dst_endpoint.ip`, `query.hostname`).
    pub field: String,
    /// The value in the event.
    pub value: String,
    /// Indicator type: `ip`, `cidr`, `domain`, `url`.
    pub kind: String,
    /// The indicator as the feed wrote it.
    pub indicator: String,
    pub feed: String,
    /// 0..=100 where the feed says.
    pub confidence: Option<u8>,
    pub valid_until: Option<DateTime<Utc>>,
    /// `exact`, `subdomain`, `cidr`.
    pub matched_by: String,
    pub description: Option<String>,
}

impl Endpoint {
    pub fn is_empty(&self) -> bool {
        *self == Endpoint::default()
    }
}

/// OCSF Network Activity `activity_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FlowActivity {
    Unknown,
    Open,
    Close,
    Reset,
    Fail,
    Refuse,
    Traffic,
    Listen,
}

impl FlowActivity {
    pub fn id(self) -> u8 {
        match self {
            FlowActivity::Unknown => 0,
            FlowActivity::Open => 1,
            FlowActivity::Close => 2,
            FlowActivity::Reset => 3,
            FlowActivity::Fail => 4,
            FlowActivity::Refuse => 5,
            FlowActivity::Traffic => 6,
            FlowActivity::Listen => 7,
        }
    }
    pub fn caption(self) -> &'static str {
        match self {
            FlowActivity::Unknown => "Unknown",
            FlowActivity::Open => "Open",
            FlowActivity::Close => "Close",
            FlowActivity::Reset => "Reset",
            FlowActivity::Fail => "Fail",
            FlowActivity::Refuse => "Refuse",
            FlowActivity::Traffic => "Traffic",
            FlowActivity::Listen => "Listen",
        }
    }
}

/// OCSF `connection_info.direction_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Direction {
    #[default]
    Unknown,
    Inbound,
    Outbound,
    Lateral,
}

impl Direction {
    pub fn id(self) -> u8 {
        match self {
            Direction::Unknown => 0,
            Direction::Inbound => 1,
            Direction::Outbound => 2,
            Direction::Lateral => 3,
        }
    }
    pub fn caption(self) -> &'static str {
        match self {
            Direction::Unknown => "Unknown",
            Direction::Inbound => "Inbound",
            Direction::Outbound => "Outbound",
            Direction::Lateral => "Lateral",
        }
    }
    /// ECS `network.direction`.
    pub fn ecs(self) -> &'static str {
        match self {
            Direction::Unknown => "unknown",
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
            Direction::Lateral => "internal",
        }
    }
}

/// What the security control did (OCSF `action_id` + `disposition_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Disposition {
    #[default]
    Unknown,
    Allowed,
    Blocked,
    Dropped,
    Reset,
    Rejected,
    Logged,
    Alert,
}

impl Disposition {
    pub fn disposition_id(self) -> u8 {
        match self {
            Disposition::Unknown => 0,
            Disposition::Allowed => 1,
            Disposition::Blocked => 2,
            Disposition::Dropped => 6,
            Disposition::Logged => 17,
            Disposition::Alert => 19,
            Disposition::Reset => 21,
            Disposition::Rejected => 25,
        }
    }
    pub fn caption(self) -> &'static str {
        match self {
            Disposition::Unknown => "Unknown",
            Disposition::Allowed => "Allowed",
            Disposition::Blocked => "Blocked",
            Disposition::Dropped => "Dropped",
            Disposition::Logged => "Logged",
            Disposition::Alert => "Alert",
            Disposition::Reset => "Reset",
            Disposition::Rejected => "Rejected",
        }
    }
    /// OCSF `action_id`: 1 Allowed, 2 Denied, 0 Unknown.
    pub fn action_id(self) -> u8 {
        match self {
            Disposition::Unknown => 0,
            Disposition::Allowed | Disposition::Logged | Disposition::Alert => 1,
            Disposition::Blocked | Disposition::Dropped | Disposition::Reset | Disposition::Rejected => 2,
        }
    }
    pub fn action_caption(self) -> &'static str {
        match self.action_id() {
            1 => "Allowed",
            2 => "Denied",
            _ => "Unknown",
        }
    }
    /// ECS `event.outcome`-style verb for `event.action` / `event.type`.
    pub fn is_denied(self) -> bool {
        self.action_id() == 2
    }
}

/// One network connection or flow record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowEvent {
    pub envelope: Envelope,
    pub activity: FlowActivity,
    pub start_time: Option<DateTime<Utc>>,
    pub end_time: Option<DateTime<Utc>>,
    /// Connection duration in milliseconds.
    pub duration_ms: Option<u64>,
    /// The initiator (client).
    pub src: Endpoint,
    /// The responder (server).
    pub dst: Endpoint,
    /// IANA protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6).
    pub protocol_num: Option<u8>,
    pub direction: Direction,
    /// Bytes from initiator to responder.
    pub bytes_out: Option<u64>,
    /// Bytes from responder to initiator.
    pub bytes_in: Option<u64>,
    pub packets_out: Option<u64>,
    pub packets_in: Option<u64>,
    /// Total bytes where the vendor reports only a sum.
    pub bytes_total: Option<u64>,
    pub packets_total: Option<u64>,
    pub disposition: Disposition,
    pub rule: Option<String>,
    pub session_id: Option<String>,
    pub application: Option<String>,
    pub user: Option<String>,
    /// Why the session ended / was denied (vendor text).
    pub reason: Option<String>,
}

impl FlowEvent {
    pub fn new(envelope: Envelope, activity: FlowActivity) -> FlowEvent {
        FlowEvent {
            envelope,
            activity,
            start_time: None,
            end_time: None,
            duration_ms: None,
            src: Endpoint::default(),
            dst: Endpoint::default(),
            protocol_num: None,
            direction: Direction::Unknown,
            bytes_out: None,
            bytes_in: None,
            packets_out: None,
            packets_in: None,
            bytes_total: None,
            packets_total: None,
            disposition: Disposition::Unknown,
            rule: None,
            session_id: None,
            application: None,
            user: None,
            reason: None,
        }
    }
}

/// OCSF DNS Activity `activity_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DnsActivity {
    Unknown,
    Query,
    Response,
    Traffic,
}

impl DnsActivity {
    pub fn id(self) -> u8 {
        match self {
            DnsActivity::Unknown => 0,
            DnsActivity::Query => 1,
            DnsActivity::Response => 2,
            DnsActivity::Traffic => 6,
        }
    }
    pub fn caption(self) -> &'static str {
        match self {
            DnsActivity::Unknown => "Unknown",
            DnsActivity::Query => "Query",
            DnsActivity::Response => "Response",
            DnsActivity::Traffic => "Traffic",
        }
    }
}

/// One answer record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsAnswer {
    /// Record type as text (`A`, `AAAA`, `CNAME`).
    /// `Cow` because nearly every one is a constant (`A`, `IN`).
    pub rtype: Option<Cow<'static, str>>,
    pub class: Option<Cow<'static, str>>,
    pub data: String,
    pub ttl: Option<u32>,
}

/// One DNS query and (where known) its response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsEvent {
    pub envelope: Envelope,
    pub activity: DnsActivity,
    pub client: Endpoint,
    pub server: Endpoint,
    pub query_name: String,
    /// Query type as text (`A`, `AAAA`, `TXT`).
    pub query_type: Option<String>,
    pub query_class: Option<String>,
    /// DNS RCODE number (0 NOERROR, 3 NXDOMAIN...).
    pub rcode: Option<u16>,
    pub answers: Vec<DnsAnswer>,
    pub transaction_id: Option<u16>,
    pub disposition: Disposition,
    pub rule: Option<String>,
    pub user: Option<String>,
    pub protocol_num: Option<u8>,
}

impl DnsEvent {
    pub fn new(envelope: Envelope, activity: DnsActivity, query_name: &str) -> DnsEvent {
        DnsEvent {
            envelope,
            activity,
            client: Endpoint::default(),
            server: Endpoint::default(),
            query_name: query_name.to_string(),
            query_type: None,
            query_class: None,
            rcode: None,
            answers: Vec::new(),
            transaction_id: None,
            disposition: Disposition::Unknown,
            rule: None,
            user: None,
            protocol_num: None,
        }
    }
}

/// Any normalised event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Event {
    Flow(FlowEvent),
    Dns(DnsEvent),
}

impl Event {
    pub fn envelope(&self) -> &Envelope {
        match self {
            Event::Flow(e) => &e.envelope,
            Event::Dns(e) => &e.envelope,
        }
    }
    pub fn envelope_mut(&mut self) -> &mut Envelope {
        match self {
            Event::Flow(e) => &mut e.envelope,
            Event::Dns(e) => &mut e.envelope,
        }
    }
    pub fn kind(&self) -> LogKind {
        match self {
            Event::Flow(_) => LogKind::Flow,
            Event::Dns(_) => LogKind::Dns,
        }
    }
}

/// IANA protocol number to its keyword (lowercase, as ECS `network.transport` wants).
pub fn protocol_name(num: u8) -> Option<&'static str> {
    Some(match num {
        1 => "icmp",
        2 => "igmp",
        6 => "tcp",
        17 => "udp",
        41 => "ipv6",
        47 => "gre",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        89 => "ospf",
        103 => "pim",
        112 => "vrrp",
        132 => "sctp",
        _ => return None,
    })
}

/// Keyword (any case: `TCP`, `udp`, `icmp6`) to the IANA protocol number.
pub fn protocol_number(name: &str) -> Option<u8> {
    let n = name.trim();
    if let Ok(v) = n.parse::<u8>() {
        return Some(v);
    }
    // Lower-cased on the stack: the parsers try every word of a message until one is a protocol.
    let mut lower = [0u8; 9];
    let name = lower.get_mut(..n.len())?;
    name.copy_from_slice(n.as_bytes());
    name.make_ascii_lowercase();
    Some(match &*name {
        b"icmp" => 1,
        b"igmp" => 2,
        b"tcp" => 6,
        b"udp" => 17,
        b"gre" => 47,
        b"esp" => 50,
        b"ah" => 51,
        b"icmp6" | b"icmpv6" | b"ipv6-icmp" => 58,
        b"ospf" => 89,
        b"pim" => 103,
        b"vrrp" => 112,
        b"sctp" => 132,
        _ => return None,
    })
}

/// DNS RCODE number to its mnemonic (RFC 6895), as OCSF `rcode` captions it.
pub fn rcode_caption(code: u16) -> &'static str {
    match code {
        0 => "NoError",
        1 => "FormError",
        2 => "ServError",
        3 => "NXDomain",
        4 => "NotImp",
        5 => "Refused",
        6 => "YXDomain",
        7 => "YXRRSet",
        8 => "NXRRSet",
        9 => "NotAuth",
        10 => "NotZone",
        11 => "DSOTYPENI",
        16 => "BADSIG_VERS",
        17 => "BADKEY",
        18 => "BADTIME",
        19 => "BADMODE",
        20 => "BADNAME",
        21 => "BADALG",
        22 => "BADTRUNC",
        23 => "BADCOOKIE",
        _ => "Other",
    }
}

/// Parses an RCODE given as text (`NXDOMAIN`, `NoError`, `SERVFAIL`, `3`) into its number.
pub fn rcode_from_text(text: &str) -> Option<u16> {
    let t = text.trim();
    if let Ok(n) = t.parse::<u16>() {
        return Some(n);
    }
    // Upper-cased on the stack: every DNS record's answer (mostly an address) passes through.
    const LONGEST: usize = "NON-EXISTENT DOMAIN".len();
    if t.len() > LONGEST {
        return None;
    }
    let mut buf = [0u8; LONGEST];
    let up = &mut buf[..t.len()];
    up.copy_from_slice(t.as_bytes());
    up.make_ascii_uppercase();
    Some(match &*up {
        b"NOERROR" | b"NO ERROR" | b"NO_ERROR" | b"SUCCESS" => 0,
        b"FORMERR" | b"FORMERROR" => 1,
        b"SERVFAIL" | b"SERVERROR" | b"SERVER FAILURE" => 2,
        b"NXDOMAIN" | b"NAME ERROR" | b"NON-EXISTENT DOMAIN" => 3,
        b"NOTIMP" | b"NOTIMPL" | b"NOT IMPLEMENTED" => 4,
        b"REFUSED" => 5,
        b"YXDOMAIN" => 6,
        b"YXRRSET" => 7,
        b"NXRRSET" => 8,
        b"NOTAUTH" => 9,
        b"NOTZONE" => 10,
        _ => return None,
    })
}

/// ECS `dns.response_code` spelling (upper-case mnemonic).
pub fn rcode_ecs(code: u16) -> String {
    match code {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        other => rcode_caption(other).to_ascii_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmapped_keeps_names_sorted_and_replaces() {
        let mut u = Unmapped::default();
        assert!(u.is_empty());
        assert_eq!(u.insert("vsys", "vsys1".into()), None);
        assert_eq!(u.insert("category", "any".into()), None);
        assert_eq!(u.insert(String::from("seqno"), 7.into()), None);
        assert_eq!(u.insert("zone", true.into()), None);
        assert_eq!(u.insert("category", "web".into()), Some("any".into()));
        assert_eq!(u.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["category", "seqno", "vsys", "zone"]);
        assert_eq!(u["seqno"], 7);
        assert_eq!(u.get("nope"), None);
        assert!(u["nope"].is_null());
        // Serialised as a JSON object, in name order, and read back the same.
        let text = serde_json::to_string(&u).unwrap();
        assert_eq!(text, r#"{"category":"web","seqno":7,"vsys":"vsys1","zone":true}"#);
        assert_eq!(serde_json::from_str::<Unmapped>(&text).unwrap(), u);
        // The last name again replaces it rather than appending a second one.
        assert_eq!(u.insert("zone", false.into()), Some(true.into()));
        assert_eq!(u.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["category", "seqno", "vsys", "zone"]);
        // `insert_new` keeps what is there, wherever the name sorts.
        for (name, set) in [("zone", false), ("category", false), ("zzz", true), ("mid", true), ("a", true)] {
            assert_eq!(u.insert_new(name, || "new".into()), set, "{name}");
        }
        assert_eq!((u["zone"].clone(), u["category"].clone(), u["mid"].clone()), (false.into(), "web".into(), "new".into()));
        assert_eq!(u.iter().map(|(k, _)| k).collect::<Vec<_>>(), ["a", "category", "mid", "seqno", "vsys", "zone", "zzz"]);
    }

    #[test]
    fn stable_id_prefers_vendor_id_and_is_deterministic() {
        let a = stable_event_id("t1", "cisco", Some("42"), "raw line one");
        let b = stable_event_id("t1", "cisco", Some("42"), "raw line two");
        assert_eq!(a, b, "vendor id decides, not the raw text");
        let c = stable_event_id("t1", "cisco", None, "raw line one");
        let d = stable_event_id("t1", "cisco", None, "raw line two");
        assert_ne!(c, d);
        assert_eq!(c, stable_event_id("t1", "cisco", None, "raw line one"));
        assert_ne!(c, stable_event_id("t2", "cisco", None, "raw line one"), "tenant is part of the id");
        assert_eq!(c.len(), 32);
    }

    #[test]
    fn protocols_and_rcodes_round_trip() {
        assert_eq!(protocol_number("TCP"), Some(6));
        assert_eq!(protocol_number("icmp6"), Some(58));
        for (name, want) in [("IPv6-ICMP", Some(58)), (" udp ", Some(17)), ("47", Some(47)), ("", None), ("outbound", None), ("ipv6-icmpx", None), ("connection", None), ("ÜDP", None)] {
            assert_eq!(protocol_number(name), want, "{name:?}");
        }
        assert_eq!(protocol_name(17), Some("udp"));
        assert_eq!(rcode_from_text("NXDOMAIN"), Some(3));
        assert_eq!(rcode_from_text("ServFail"), Some(2));
        assert_eq!(rcode_caption(3), "NXDomain");
        assert_eq!(rcode_ecs(3), "NXDOMAIN");
        assert_eq!(rcode_from_text("bogus"), None);
        // The longest name, any case, padded; one byte longer, non-ASCII, an address.
        assert_eq!(rcode_from_text(" Non-Existent Domain "), Some(3));
        assert_eq!(rcode_from_text("NON-EXISTENT DOMAINS"), None);
        assert_eq!(rcode_from_text("nxdomaın"), None);
        assert_eq!(rcode_from_text("203.0.113.7"), None);
        assert_eq!(rcode_from_text(" 5 "), Some(5));
    }
}

/// Hand-built events for the encoder and validator tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;
    use chrono::TimeZone;

    pub fn flow() -> FlowEvent {
        let t = Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 5).unwrap();
        let mut env = Envelope::new("acme-fw", "Cisco", "ASA", "cisco", t, Some("302014:4242".into()), "%ASA-6-302014: Teardown TCP ...", true);
        env.event_code = Some("ASA-6-302014".into());
        env.original_time = Some("May 01 2024 12:00:05 CEST".into());
        env.observer.hostname = Some("asa-edge-1".into());
        let mut f = FlowEvent::new(env, FlowActivity::Close);
        f.start_time = Some(t - chrono::Duration::seconds(65));
        f.end_time = Some(t);
        f.duration_ms = Some(65_000);
        f.src = Endpoint {
            ip: Some("10.1.2.3".parse().unwrap()),
            port: Some(51515),
            interface: Some("inside".into()),
            nat_ip: Some("198.51.100.7".parse().unwrap()),
            nat_port: Some(40000),
            ..Endpoint::default()
        };
        f.dst = Endpoint { ip: Some("203.0.113.9".parse().unwrap()), port: Some(443), interface: Some("outside".into()), ..Endpoint::default() };
        f.protocol_num = Some(6);
        f.direction = Direction::Outbound;
        f.bytes_out = Some(1200);
        f.bytes_in = Some(34000);
        f.disposition = Disposition::Allowed;
        f.rule = Some("allow-web".into());
        f.session_id = Some("4242".into());
        f.user = Some("CORP\\alice".into());
        f.reason = Some("TCP FINs".into());
        f
    }

    /// A DNS event with endpoint and process context (EDR).
    pub fn edr() -> DnsEvent {
        let mut d = dns();
        d.envelope.host = Some(Box::new(HostContext { name: Some("pc-17".into()), agent_id: Some("a1b2".into()), os: Some("Windows 11".into()), site: Some("HQ".into()), ip: Some("10.0.0.5".parse().unwrap()) }));
        d.envelope.process = Some(Box::new(ProcessContext { name: Some("chrome.exe".into()), pid: Some(4242), command_line: Some("chrome.exe --x".into()), executable: Some("C:\\Apps\\chrome.exe".into()), sha1: Some("d8b12c9072fdcf68ec152befb004add14b5c25b8".into()), user: Some("CORP\\bob".into()) }));
        d
    }

    pub fn dns() -> DnsEvent {
        let t = Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap();
        let env = Envelope::new("zs", "Zscaler", "Internet Access", "zscaler", t, None, "{\"dns_req\":\"www.example.co.uk\"}", true);
        let mut d = DnsEvent::new(env, DnsActivity::Traffic, "www.example.co.uk");
        d.client = Endpoint { ip: Some("10.0.0.5".parse().unwrap()), port: Some(5353), ..Endpoint::default() };
        d.server = Endpoint { ip: Some("8.8.8.8".parse().unwrap()), port: Some(53), ..Endpoint::default() };
        d.query_type = Some("A".into());
        d.query_class = Some("IN".into());
        d.rcode = Some(0);
        d.transaction_id = Some(4711);
        d.answers = vec![
            DnsAnswer { rtype: Some("CNAME".into()), class: Some("IN".into()), data: "web.example.co.uk".into(), ttl: Some(300) },
            DnsAnswer { rtype: Some("A".into()), class: Some("IN".into()), data: "192.0.2.10".into(), ttl: Some(60) },
        ];
        d.protocol_num = Some(17);
        d.disposition = Disposition::Allowed;
        d.user = Some("bob@example.com".into());
        d
    }
}
