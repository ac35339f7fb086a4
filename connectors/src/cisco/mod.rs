//! Cisco ASA and Secure Firewall (FTD) syslog: header ([`header`]), ASA message families
//! ([`asa`]), FTD key/value connection events ([`ftd`]), and the mapping to common events here.
//!
//! Teardown messages carry no direction; the parser remembers the orientation of recent Built
//! messages by connection id (bounded), and otherwise treats the side on a well-known port as
//! the responder.

pub mod asa;
pub mod ftd;
pub mod header;
pub mod lexer;

use std::borrow::Cow;
use std::net::IpAddr;
use std::sync::Mutex;

use logfetch_common::event::{Direction, Disposition, DnsActivity, DnsEvent, Endpoint, Envelope, Event, FlowActivity, FlowEvent, Severity};

use crate::{ParseContext, ParseOutcome, RecordParser};
use asa::{AsaFlow, Side, Verb};

/// Connection ids remembered for orienting Teardown messages: 2^16 buckets of 4, 4 MiB.
const CONN_BUCKETS: usize = 1 << 16;
const CONN_WAYS: usize = 4;

/// Recent Built messages, conn id -> initiator as an [`endpoint_key`], in a fixed
/// set-associative table: a bucket is one 64-byte cache line of 4 (id, key) pairs, newest first,
/// so remembering or looking up a connection touches one line, and a full bucket forgets its
/// oldest. (A hash map with a separate FIFO of ids touched three or four lines per connection,
/// grew by rehashing, and was 4-5 % of an ASA parse.) Allocated on the first Built message.
#[derive(Default)]
struct ConnMemory {
    table: Vec<[(u64, u64); CONN_WAYS]>,
}

impl ConnMemory {
    /// The bucket of `id`. Connection ids count up: multiply to spread neighbours over them.
    fn index(id: u64) -> usize {
        (id.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 48) as usize % CONN_BUCKETS
    }

    fn bucket(&mut self, id: u64) -> &mut [(u64, u64); CONN_WAYS] {
        if self.table.is_empty() {
            // Zeroed pages come from the OS on first touch.
            self.table = vec![[(0, 0); CONN_WAYS]; CONN_BUCKETS];
        }
        &mut self.table[Self::index(id)]
    }

    /// Starts loading `id`'s bucket into the cache. The table is larger than the caches, so a
    /// lookup waited on memory (half of the parser's own time); asked for before the event id
    /// is hashed, the line has arrived by the time the lookup comes.
    fn prefetch(&self, id: u64) {
        #[cfg(target_arch = "x86_64")]
        if let Some(b) = self.table.get(Self::index(id)) {
            // SAFETY: SSE is part of every x86-64 CPU (the target's baseline), and a prefetch is a
            // hint only: nothing is read or written, whatever the address.
            unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(b.as_ptr().cast()) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = id;
    }

    /// Remembers `id`'s initiator (a key is never 0: see [`endpoint_key`]).
    fn insert(&mut self, id: u64, key: u64) {
        let b = self.bucket(id);
        // An id already here is replaced; otherwise the oldest (last) entry makes room.
        let pos = b.iter().position(|e| e.1 != 0 && e.0 == id).unwrap_or(CONN_WAYS - 1);
        b.copy_within(0..pos, 1);
        b[0] = (id, key);
    }

    /// Forgets `id`, giving its initiator if it was remembered.
    fn remove(&mut self, id: u64) -> Option<u64> {
        if self.table.is_empty() {
            return None;
        }
        let b = self.bucket(id);
        let pos = b.iter().position(|e| e.1 != 0 && e.0 == id)?;
        let key = b[pos].1;
        b.copy_within(pos + 1.., pos);
        b[CONN_WAYS - 1] = (0, 0);
        Some(key)
    }
}

/// An (address, port) pair as one word: exact for IPv4 (top bit set, then a port-present bit, the
/// port and the address), and a 63-bit hash for IPv6 (top bit clear), so two different IPv6
/// endpoints share a key with odds of 2^-63 — then a Teardown is oriented as its ports suggest.
fn endpoint_key(ip: IpAddr, port: Option<u16>) -> u64 {
    let port = port.map_or(0, |p| 1 << 16 | p as u64);
    match ip {
        IpAddr::V4(v4) => 1 << 63 | port << 32 | u32::from(v4) as u64,
        IpAddr::V6(v6) => {
            let x = u128::from(v6);
            let h = ((x as u64) ^ port).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((x >> 64) as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
            // Never 0, which marks an empty slot in [`ConnMemory`].
            ((h ^ h >> 29) & !(1 << 63)).max(1)
        }
    }
}

/// The Cisco record parser.
#[derive(Default)]
pub struct CiscoParser {
    conns: Mutex<ConnMemory>,
}

fn endpoint(s: &Side<'_>) -> Endpoint {
    Endpoint {
        ip: s.ip,
        port: s.port,
        interface: s.ifc.map(str::to_string),
        nat_ip: s.mapped_ip.filter(|m| Some(*m) != s.ip),
        nat_port: s.mapped_port.filter(|_| s.mapped_ip.is_some_and(|m| Some(m) != s.ip) || s.mapped_port != s.port),
        user: s.user.map(str::to_string),
        hostname: s.host.map(str::to_string),
        ..Endpoint::default()
    }
}

fn is_service_port(p: Option<u16>) -> bool {
    p.is_some_and(|p| p < 1024)
}

impl CiscoParser {
    fn remember(&self, id: u64, src: &Side<'_>) {
        let Some(ip) = src.ip else { return };
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).insert(id, endpoint_key(ip, src.port));
    }

    /// Orients a Teardown (connection `id`, when it has a numeric one): by the remembered Built,
    /// else by ports.
    fn orient(&self, id: Option<u64>, f: &mut AsaFlow<'_>) {
        let known = id.and_then(|id| self.conns.lock().unwrap_or_else(|p| p.into_inner()).remove(id));
        let swap = match known {
            Some(initiator) => f.dst.ip.is_some_and(|ip| endpoint_key(ip, f.dst.port) == initiator),
            None => is_service_port(f.src.port) && !is_service_port(f.dst.port),
        };
        if swap {
            std::mem::swap(&mut f.src, &mut f.dst);
            // A trailing user belongs to whoever initiated.
            if f.src.user.is_none() {
                f.src.user = f.dst.user.take();
            }
        }
    }

    /// Starts loading what [`CiscoParser::connect`] will look at for `f` (see
    /// [`ConnMemory::prefetch`]); gives `f`'s connection id as a number, for `connect`.
    fn prefetch(&self, f: &AsaFlow<'_>) -> Option<u64> {
        let id = f.conn_id.and_then(|id| id.parse::<u64>().ok())?;
        self.conns.lock().unwrap_or_else(|p| p.into_inner()).prefetch(id);
        Some(id)
    }

    /// Remembers a Built connection's initiator, or orients a Teardown by it (`id`: what
    /// [`CiscoParser::prefetch`] read).
    fn connect(&self, msgid: u32, id: Option<u64>, f: &mut AsaFlow<'_>) {
        match msgid {
            302013 | 302015 | 302022 => {
                if let Some(id) = id {
                    self.remember(id, &f.src);
                }
            }
            302014 | 302016 | 302023 => self.orient(id, f),
            _ => {}
        }
    }

    /// The flow an ASA message describes, as written (see [`CiscoParser::connect`]).
    fn asa<'a>(h: &header::Header<'a>) -> Result<Option<AsaFlow<'a>>, String> {
        let b = h.body;
        Ok(Some(match h.msgid {
            302013 | 302015 | 302022 | 302014 | 302016 | 302023 => asa::connection(b)?,
            302020 | 302021 => asa::icmp(b)?,
            106023 | 106010 | 106014 => asa::deny_src_dst(b)?,
            106100 => asa::acl_log(b)?,
            106001 | 106006 | 106007 | 106015 | 106016 | 106021 | 710003 | 710005 | 410001 => asa::from_to(h.msgid, b)?,
            305011 | 305012 => asa::nat(b)?,
            338001..=338008 | 338101..=338104 | 338201 | 338202 => asa::dynamic_filter(b)?,
            _ => return Ok(None),
        }))
    }
}

/// The envelope; takes the header's timestamp text (kept as the original time without a second
/// copy: a padded `Jun  5` was already copied once to join its parts).
fn envelope(h: &mut header::Header<'_>, line: &str, ctx: &ParseContext) -> Result<Envelope, String> {
    let time = match &h.timestamp {
        Some(t) => logfetch_common::time::parse_vendor_time(t, ctx.tz, ctx.now).map_err(|e| format!("header timestamp: {e}"))?,
        // Raw messages without a syslog header: the time they were read.
        None => ctx.now,
    };
    let product = match h.product {
        "FTD" | "NGIPS" => "Secure Firewall Threat Defense",
        "FWSM" => "FWSM",
        "PIX" => "PIX",
        _ => "ASA",
    };
    let mut env = Envelope::new(&ctx.tenant, "Cisco", product, "cisco", time, None, line, ctx.keep_raw);
    env.original_time = h.timestamp.take().map(Cow::into_owned);
    // `ASA-6-302013`, without the formatting machinery (one per record).
    let mut code = String::with_capacity(h.product.len() + 12);
    let mut n = itoa::Buffer::new();
    code.push_str(h.product);
    code.push('-');
    code.push_str(n.format(h.severity));
    code.push('-');
    code.push_str(n.format(h.msgid));
    env.event_code = Some(code.into());
    env.severity = Severity::from_syslog(h.severity);
    env.observer.hostname = h.host.map(str::to_string);
    Ok(env)
}

/// The ASA flow as one event. The event is built where it ends up, in the outcome's vector:
/// it is about a kilobyte, and moving it from call to call cost more than filling it.
fn map_asa(f: AsaFlow<'_>, env: Envelope) -> Vec<Event> {
    let activity = match f.verb {
        Verb::Built => FlowActivity::Open,
        Verb::Teardown => FlowActivity::Close,
        Verb::Denied | Verb::Dropped => FlowActivity::Refuse,
        Verb::Permitted | Verb::Monitored => FlowActivity::Traffic,
    };
    let mut out = Vec::with_capacity(1);
    out.push(Event::Flow(FlowEvent::new(env, activity)));
    if let Some(Event::Flow(e)) = out.last_mut() {
        fill_asa(f, activity, e);
    }
    out
}

fn fill_asa(f: AsaFlow<'_>, activity: FlowActivity, e: &mut FlowEvent) {
    e.src = endpoint(&f.src);
    e.dst = endpoint(&f.dst);
    e.protocol_num = f.protocol;
    e.direction = match f.direction {
        Some("inbound") => Direction::Inbound,
        Some("outbound") => Direction::Outbound,
        _ => Direction::Unknown,
    };
    e.disposition = match f.verb {
        Verb::Built | Verb::Teardown | Verb::Permitted => Disposition::Allowed,
        Verb::Denied => Disposition::Blocked,
        Verb::Dropped => Disposition::Dropped,
        Verb::Monitored => Disposition::Alert,
    };
    e.session_id = f.conn_id.map(str::to_string);
    e.bytes_total = f.bytes;
    e.duration_ms = f.duration_ms;
    if activity == FlowActivity::Close {
        e.end_time = Some(e.envelope.time);
        e.start_time = f.duration_ms.and_then(|d| logfetch_common::time::before(e.envelope.time, d));
    } else if activity == FlowActivity::Open {
        e.start_time = Some(e.envelope.time);
    }
    e.reason = f.reason.map(str::to_string);
    e.rule = f.rule.map(str::to_string);
    e.user = f.src.user.or(f.dst.user).map(str::to_string);
    let um = &mut e.envelope.unmapped;
    if let Some(h) = f.hit_count {
        um.insert("hit_count", h.into());
    }
    if let Some((t, c)) = f.icmp {
        um.insert("icmp_type", t.into());
        um.insert("icmp_code", c.into());
    }
    if let Some(d) = f.domain {
        um.insert("dynamic_filter_domain", d.into());
        e.dst.hostname = Some(d.to_string()).filter(|d| d.parse::<IpAddr>().is_err() && !d.contains('/'));
    }
    if f.nat_only {
        um.insert("nat_translation", true.into());
    }
}

/// User values FTD writes when there is no user.
fn real_user(u: &str) -> Option<&str> {
    match u {
        "No Authentication Required" | "Not Found" | "Unknown" | "Pending" => None,
        _ => Some(u),
    }
}

fn map_ftd(msgid: u32, body: &str, env: Envelope) -> Result<Vec<Event>, String> {
    let p = ftd::pairs(body);
    if p.is_empty() {
        return Err("no Key: Value pairs in the FTD connection event".into());
    }
    let g = |k: &str| ftd::get(&p, k);
    let ip = |k: &str| -> Result<Option<IpAddr>, String> { g(k).map(|v| v.parse().map_err(|_| format!("field `{k}`: `{v}` is not an IP address"))).transpose() };
    let port = |k: &str| -> Result<Option<u16>, String> { g(k).map(|v| v.parse().map_err(|_| format!("field `{k}`: `{v}` is not a port"))).transpose() };
    let num = |k: &str| -> Result<Option<u64>, String> { g(k).map(|v| v.parse().map_err(|_| format!("field `{k}`: `{v}` is not a number"))).transpose() };
    let action = g("AccessControlRuleAction").map(|a| a.trim_start_matches("<br/>").trim());
    let disposition = match action.map(str::to_ascii_lowercase).as_deref() {
        Some("allow") | Some("trust") | Some("fastpath") => Disposition::Allowed,
        Some("block") | Some("block with reset") | Some("interactive block") | Some("interactive block with reset") => {
            if action.is_some_and(|a| a.to_ascii_lowercase().contains("reset")) { Disposition::Reset } else { Disposition::Blocked }
        }
        Some("monitor") => Disposition::Logged,
        Some(_) | None => Disposition::Unknown,
    };
    let src_ip = ip("SrcIP")?.ok_or("field `SrcIP` is missing")?;
    let dst_ip = ip("DstIP")?.ok_or("field `DstIP` is missing")?;
    let activity = match (msgid, disposition.is_denied()) {
        (_, true) => FlowActivity::Refuse,
        (430002, false) => FlowActivity::Open,
        _ => FlowActivity::Close,
    };
    let mut f = FlowEvent::new(env.clone(), activity);
    f.src = Endpoint { ip: Some(src_ip), port: port("SrcPort")?, interface: g("IngressInterface").map(str::to_string), zone: g("IngressZone").map(str::to_string), nat_ip: ip("NAT_InitiatorIP")?, nat_port: port("NAT_InitiatorPort")?, ..Endpoint::default() };
    f.dst = Endpoint { ip: Some(dst_ip), port: port("DstPort")?, interface: g("EgressInterface").map(str::to_string), zone: g("EgressZone").map(str::to_string), nat_ip: ip("NAT_ResponderIP")?, nat_port: port("NAT_ResponderPort")?, ..Endpoint::default() };
    f.protocol_num = g("Protocol").and_then(logfetch_common::event::protocol_number);
    f.bytes_out = num("InitiatorBytes")?;
    f.bytes_in = num("ResponderBytes")?;
    f.packets_out = num("InitiatorPackets")?;
    f.packets_in = num("ResponderPackets")?;
    f.disposition = disposition;
    f.rule = g("AccessControlRuleName").map(str::to_string);
    f.session_id = g("ConnectionID").map(str::to_string);
    f.application = g("ApplicationProtocol").or(g("WebApplication")).or(g("Client")).map(str::to_string);
    f.user = g("User").and_then(real_user).map(str::to_string);
    f.reason = g("AccessControlRuleReason").map(str::to_string);
    let first = g("FirstPacketSecond").and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&chrono::Utc));
    if let Some(d) = num("ConnectionDuration")? {
        f.duration_ms = d.checked_mul(1000);
        f.end_time = Some(env.time);
        f.start_time = first.or_else(|| d.checked_mul(1000).and_then(|ms| logfetch_common::time::before(env.time, ms))).or(Some(env.time));
    } else {
        f.start_time = first.or(Some(env.time));
    }
    for k in ["ACPolicy", "Prefilter Policy", "NAPPolicy", "URL", "URLCategory", "URLReputation", "SSLServerName", "ReferencedHost", "ICMPType", "ICMPCode", "DNSSICategory", "DNS_Sinkhole", "IPReputationSICategory", "URLSICategory", "SecIntMatchingIP", "EventPriority", "DeviceUUID", "InstanceID"] {
        if let Some(v) = g(k) {
            f.envelope.unmapped.insert(k, v.into());
        }
    }
    let mut out = vec![Event::Flow(f.clone())];
    if let Some(q) = g("DNSQuery") {
        let mut env = env;
        // A distinct id for the DNS event derived from the same line.
        env.event_id = logfetch_common::event::stable_event_id(&env.tenant, "cisco/dns", None, env.raw.as_deref().unwrap_or(body));
        let rcode = g("DNSResponseType").map(|r| ftd::response_code(r).ok_or_else(|| format!("field `DNSResponseType`: unknown `{r}`"))).transpose()?;
        let mut d = DnsEvent::new(env, if rcode.is_some() || msgid == 430003 { DnsActivity::Traffic } else { DnsActivity::Query }, q);
        d.client = Endpoint { ip: f.src.ip, port: f.src.port, ..Endpoint::default() };
        d.server = Endpoint { ip: f.dst.ip, port: f.dst.port, ..Endpoint::default() };
        d.query_type = g("DNSRecordType").map(|t| ftd::record_type(t).map(str::to_string).unwrap_or_else(|| t.to_string()));
        d.rcode = rcode;
        d.protocol_num = f.protocol_num;
        d.disposition = if g("DNS_Sinkhole").is_some() { Disposition::Blocked } else { disposition };
        d.rule = f.rule.clone();
        d.user = f.user.clone();
        if let Some(ttl) = g("DNS_TTL") {
            d.envelope.unmapped.insert("dns_ttl", ttl.parse::<u64>().map(Into::into).unwrap_or_else(|_| ttl.into()));
        }
        for k in ["DNSSICategory", "DNS_Sinkhole"] {
            if let Some(v) = g(k) {
                d.envelope.unmapped.insert(k, v.into());
            }
        }
        out.push(Event::Dns(d));
    }
    Ok(out)
}

impl RecordParser for CiscoParser {
    fn vendor(&self) -> &'static str {
        "cisco"
    }

    fn parse(&self, record: &str, ctx: &ParseContext) -> ParseOutcome {
        let line = record.trim_end_matches(['\r', '\n']);
        let Some(mut h) = header::parse(line) else {
            return ParseOutcome::Rejected { reason: "no %ASA-/%FTD- message tag found".into() };
        };
        // The body is read before the envelope so that a connection's memory can be fetched while
        // the event id is hashed; its errors still come after the envelope's, as before.
        let flow = match h.msgid {
            430001..=430005 => Ok(None),
            _ => Self::asa(&h),
        };
        let conn = match &flow {
            Ok(Some(f)) => self.prefetch(f),
            _ => None,
        };
        let env = match envelope(&mut h, line, ctx) {
            Ok(e) => e,
            Err(reason) => return ParseOutcome::Rejected { reason: format!("message {}: {reason}", h.msgid) },
        };
        match h.msgid {
            430002 | 430003 => match map_ftd(h.msgid, h.body, env) {
                Ok(evs) => ParseOutcome::Events(evs),
                Err(reason) => ParseOutcome::Rejected { reason: format!("message {}: {reason}", h.msgid) },
            },
            430001 | 430004 | 430005 => ParseOutcome::Skipped { reason: format!("message {} (FTD intrusion/file event) is not a flow or DNS record", h.msgid) },
            id => match flow {
                Ok(Some(mut f)) => {
                    self.connect(id, conn, &mut f);
                    ParseOutcome::Events(map_asa(f, env))
                }
                Ok(None) => ParseOutcome::Skipped { reason: format!("message id {id} carries no flow or DNS record") },
                Err(reason) => ParseOutcome::Rejected { reason: format!("message {id}: {reason}") },
            },
        }
    }
}

#[cfg(test)]
mod tests;
