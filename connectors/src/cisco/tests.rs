//! The Cisco parser against the real sample lines in `../shared/samples/cisco_*`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use logfetch_common::event::{Disposition, FlowActivity};
use logfetch_common::{Event, ecs, ocsf, validate};

use super::*;

fn samples(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/samples").join(dir)
}

/// Every raw line of every sample file: `.log` lines, Cribl `_raw`, Wazuh `log N pass = `.
fn sample_lines() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in ["cisco_asa", "cisco_ftd"] {
        let mut files: Vec<_> = std::fs::read_dir(samples(dir)).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files {
            let name = f.file_name().unwrap().to_string_lossy().to_string();
            let text = std::fs::read_to_string(&f).unwrap();
            if name.ends_with(".log") {
                out.extend(text.lines().filter(|l| !l.trim().is_empty()).map(|l| (name.clone(), l.to_string())));
            } else if name.ends_with(".json") && !name.contains("expected") {
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                out.extend(v.as_array().unwrap().iter().map(|e| (name.clone(), e["_raw"].as_str().unwrap().to_string())));
            } else if name.ends_with(".ini") {
                out.extend(text.lines().filter_map(|l| l.split_once(" pass = ").map(|(_, r)| (name.clone(), r.to_string()))));
            }
        }
    }
    out
}

fn ctx() -> ParseContext {
    let mut c = ParseContext::new("t1", chrono_tz::UTC);
    c.now = chrono::DateTime::parse_from_rfc3339("2026-09-01T00:00:00Z").unwrap().with_timezone(&chrono::Utc);
    c
}

const FLOW_IDS: &[u32] = &[
    302013, 302014, 302015, 302016, 302020, 302021, 302022, 302023, 106001, 106006, 106007, 106010, 106014, 106015, 106016, 106021, 106023, 106100, 305011, 305012, 710003, 710005, 410001, 338001, 338002, 338003, 338004, 338005, 338006, 338007, 338008, 338101, 338102, 338103, 338104, 338201, 338202, 430002, 430003,
];

/// Lines in the samples that are malformed on purpose: a dotted quad with an octet over 255.
fn known_malformed(line: &str) -> bool {
    line.split(|c: char| !(c.is_ascii_digit() || c == '.')).any(|piece| {
        let parts: Vec<&str> = piece.split('.').collect();
        parts.len() == 4 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) && parts.iter().any(|p| p.parse::<u32>().map_or(true, |v| v > 255))
    })
}

#[test]
fn every_flow_and_dns_line_in_the_samples_parses_and_validates() {
    let parser = CiscoParser::default();
    let c = ctx();
    let (mut events, mut skipped, mut flow_lines, mut rejected) = (0, BTreeMap::<u32, usize>::new(), 0, 0);
    for (file, line) in sample_lines() {
        let h = header::parse(&line);
        let id = h.as_ref().map(|h| h.msgid).unwrap_or(0);
        match parser.parse(&line, &c) {
            ParseOutcome::Events(evs) => {
                assert!(FLOW_IDS.contains(&id), "{file}: unexpected events for {id}: {line}");
                flow_lines += 1;
                for ev in &evs {
                    let r = validate::validate(&ocsf::to_ocsf(ev));
                    assert!(r.is_valid(), "{file}: {line}\n{:?}", r.violations);
                    events += 1;
                }
            }
            ParseOutcome::Skipped { .. } => {
                assert!(!FLOW_IDS.contains(&id), "{file}: flow message {id} skipped: {line}");
                *skipped.entry(id).or_default() += 1;
            }
            ParseOutcome::Rejected { reason } => {
                // Acceptable only for the samples' deliberately broken lines: an impossible
                // address, or a mistyped tag (`%FDT-`).
                let tagless = h.is_none() && reason.contains("no %ASA-/%FTD- message tag");
                assert!(known_malformed(&line) || tagless, "{file}: rejected ({reason}): {line}");
                rejected += 1;
            }
        }
    }
    assert!(flow_lines >= 400, "{flow_lines} flow lines");
    assert_eq!(rejected, 2, "only the two lines with impossible addresses");
    assert!(events > flow_lines, "FTD DNS lines give two events each");
    // Non-flow ids are recognised and counted, e.g. AAA (113005) and VPN (716039) messages.
    assert!(skipped.get(&113005).copied().unwrap_or(0) >= 1, "{skipped:?}");
    assert!(skipped.len() > 30, "{} distinct skipped ids", skipped.len());
}

fn one(line: &str) -> Vec<Event> {
    match CiscoParser::default().parse(line, &ctx()) {
        ParseOutcome::Events(v) => v,
        other => panic!("{other:?} for {line}"),
    }
}

fn flow(line: &str) -> logfetch_common::FlowEvent {
    match one(line).remove(0) {
        Event::Flow(f) => f,
        e => panic!("{e:?}"),
    }
}

#[test]
fn teardown_values_and_start_time() {
    let f = flow("Apr 29 2013 12:59:50: %ASA-6-302014: Teardown TCP connection 447236 for outside:192.168.2.222/1234 to dmz:192.168.1.34/5678 duration 1:00:05 bytes 14804 TCP FINs");
    assert_eq!(f.activity, FlowActivity::Close);
    assert_eq!(f.src.ip.unwrap().to_string(), "192.168.2.222");
    assert_eq!(f.dst.port, Some(5678));
    assert_eq!(f.src.interface.as_deref(), Some("outside"));
    assert_eq!(f.bytes_total, Some(14804));
    assert_eq!(f.duration_ms, Some(3_605_000));
    assert_eq!(f.reason.as_deref(), Some("TCP FINs"));
    assert_eq!(f.session_id.as_deref(), Some("447236"));
    assert_eq!(f.envelope.time.to_rfc3339(), "2013-04-29T12:59:50+00:00");
    assert_eq!(f.start_time.unwrap().to_rfc3339(), "2013-04-29T11:59:45+00:00");
    assert_eq!(f.envelope.event_code.as_deref(), Some("ASA-6-302014"));
    let o = ocsf::to_ocsf(&Event::Flow(f));
    assert_eq!(o["traffic"]["bytes"], 14804);
    assert_eq!(o["activity_id"], 2);
}

#[test]
fn teardown_is_oriented_by_the_earlier_built() {
    let p = CiscoParser::default();
    let c = ctx();
    let built = "%ASA-6-302015: Built outbound UDP connection 11758 for outside:100.66.80.32/53 (100.66.80.32/53) to inside:172.31.98.44/56132 (172.31.98.44/56132)";
    let tear = "%ASA-6-302016: Teardown UDP connection 11758 for outside:100.66.80.32/53 to inside:172.31.98.44/56132 duration 0:00:00 bytes 148";
    for l in [built, tear] {
        let ParseOutcome::Events(evs) = p.parse(l, &c) else { panic!() };
        let Event::Flow(f) = &evs[0] else { panic!() };
        assert_eq!(f.src.ip.unwrap().to_string(), "172.31.98.44", "{l}");
        assert_eq!(f.dst.port, Some(53), "{l}");
    }
    // Where the ports would suggest the other way round, the remembered Built decides: for IPv4
    // (exact keys) and IPv6 (hashed keys) alike.
    for (outside, inside) in [("203.0.113.9", "10.1.1.5"), ("2001:db8:1::9", "2001:db8:2::5")] {
        let built = format!("%ASA-6-302013: Built outbound TCP connection 77 for outside:{outside}/50000 ({outside}/50000) to inside:{inside}/443 ({inside}/443)");
        let tear = format!("%ASA-6-302014: Teardown TCP connection 77 for outside:{outside}/50000 to inside:{inside}/443 duration 0:00:01 bytes 10 TCP FINs");
        let again = format!("%ASA-6-302014: Teardown TCP connection 77 for outside:{outside}/50000 to inside:{inside}/443 duration 0:00:01 bytes 10 TCP FINs");
        for (l, initiator) in [(&built, inside), (&tear, inside), (&again, outside)] {
            let ParseOutcome::Events(evs) = p.parse(l, &c) else { panic!("{l}") };
            let Event::Flow(f) = &evs[0] else { panic!() };
            assert_eq!(f.src.ip.unwrap().to_string(), initiator, "{l}");
        }
    }
}

#[test]
fn a_bad_header_is_reported_first_and_leaves_no_connection_behind() {
    // The body is read before the envelope (to fetch the connection memory early), but a header
    // the envelope refuses still decides the reason, and its Built is not remembered.
    let p = CiscoParser::default();
    let c = ctx();
    let reason = |l: &str| match p.parse(l, &c) {
        ParseOutcome::Rejected { reason } => reason,
        other => panic!("{other:?} for {l}"),
    };
    assert!(reason("<166>Jun 31 25:61:00 fw-1 : %ASA-6-302013: Built garbage").starts_with("message 302013: header timestamp:"));
    assert!(reason("<166>Jun 31 25:61:00 fw-1 : %ASA-6-999999: anything").starts_with("message 999999: header timestamp:"));
    assert_eq!(reason("<166>Jun  5 08:00:00 fw-1 : %ASA-6-302013: Built garbage"), "message 302013: no protocol");
    let built = "<166>Jun 31 25:61:00 fw-1 : %ASA-6-302013: Built outbound TCP connection 78 for outside:203.0.113.9/50000 (203.0.113.9/50000) to inside:10.1.1.5/443 (10.1.1.5/443)";
    assert!(reason(built).contains("header timestamp"));
    // Without the Built, the Teardown is oriented by its ports: the service port is the responder.
    let tear = "%ASA-6-302014: Teardown TCP connection 78 for outside:203.0.113.9/50000 to inside:10.1.1.5/443 duration 0:00:01 bytes 10 TCP FINs";
    let ParseOutcome::Events(evs) = p.parse(tear, &c) else { panic!("{tear}") };
    let Event::Flow(f) = &evs[0] else { panic!() };
    assert_eq!(f.src.ip.unwrap().to_string(), "203.0.113.9");
}

#[test]
fn denies_nat_and_users() {
    let f = flow("Apr 15 2013 09:36:50: %ASA-4-106023: Deny tcp src dmz:10.1.2.30/63016 dst outside:192.168.0.8/53 by access-group \"acl_dmz\" [0xe3aab522, 0x0]");
    assert_eq!((f.activity, f.disposition, f.rule.as_deref()), (FlowActivity::Refuse, Disposition::Blocked, Some("acl_dmz")));
    let o = ocsf::to_ocsf(&Event::Flow(f));
    assert_eq!((o["action_id"].as_u64(), o["disposition_id"].as_u64(), o["activity_id"].as_u64()), (Some(2), Some(2), Some(5)));
    let f = flow("%ASA-6-302015: Built inbound UDP connection 261311655 for OUTSIDE:67.43.156.15/63790 (81.2.69.193/63790)(LOCAL\\domain\\USER001) to INSIDE:192.168.0.1/53 (192.168.0.1/53) (domain\\USER001)");
    assert_eq!(f.user.as_deref(), Some("domain\\USER001"));
    assert_eq!(f.src.nat_ip.unwrap().to_string(), "81.2.69.193");
    assert_eq!(f.direction, logfetch_common::event::Direction::Inbound);
    let f = flow("Apr 24 2013 16:00:27 INT-FW01 : %ASA-6-106100: access-list inside permitted udp inside/172.29.2.3(1065) -> outside/192.168.2.57(53) hit-cnt 144 300-second interval [0xe982c7a4, 0x0]");
    assert_eq!(f.envelope.unmapped["hit_count"], 144);
    assert_eq!(f.envelope.observer.hostname.as_deref(), Some("INT-FW01"));
    assert_eq!(f.disposition, Disposition::Allowed);
}

#[test]
fn ftd_connection_and_dns_events() {
    let evs = one("2019-08-26T23:11:03Z siem-ftd  %FTD-1-430003: AccessControlRuleAction: Allow, AccessControlRuleReason: Intrusion Monitor, SrcIP: 10.0.1.20, DstIP: 81.2.69.144, SrcPort: 51389, DstPort: 53, Protocol: udp, IngressInterface: inside, EgressInterface: outside, IngressZone: input-zone, EgressZone: output-zone, ACPolicy: default, AccessControlRuleName: Intrusion-Rule, Prefilter Policy: Default Prefilter Policy, User: No Authentication Required, Client: DNS client, ApplicationProtocol: DNS, ConnectionDuration: 0, IPSCount: 1, InitiatorPackets: 1, ResponderPackets: 1, InitiatorBytes: 93, ResponderBytes: 193, NAPPolicy: Balanced Security and Connectivity, DNSQuery: elastic.co, DNSRecordType: IP6 Address, DNS_TTL: 299");
    assert_eq!(evs.len(), 2);
    let Event::Flow(f) = &evs[0] else { panic!() };
    assert_eq!((f.bytes_out, f.bytes_in, f.packets_out, f.packets_in), (Some(93), Some(193), Some(1), Some(1)));
    assert_eq!(f.src.zone.as_deref(), Some("input-zone"));
    assert_eq!(f.user, None, "`No Authentication Required` is not a user");
    assert_eq!(f.activity, FlowActivity::Close);
    let Event::Dns(d) = &evs[1] else { panic!() };
    assert_eq!(d.query_name, "elastic.co");
    assert_eq!(d.query_type.as_deref(), Some("AAAA"));
    assert_eq!(d.client.port, Some(51389));
    assert_eq!(d.envelope.unmapped["dns_ttl"], 299);
    assert_ne!(d.envelope.event_id, f.envelope.event_id);
    let evs = one("%FTD-1-430003: EventPriority: Low, SrcIP: 3.3.3.3, DstIP: 1.1.1.1, SrcPort: 56901, DstPort: 53, Protocol: udp, AccessControlRuleAction: Allow, ConnectionDuration: 0, DNSQuery: 1.fr.pool.ntp.example.org, DNSRecordType: a host address, DNSResponseType: Non-Existent Domain, DNS_TTL: 150, NAT_InitiatorPort: 22294, NAT_InitiatorIP: 4.4.4.4");
    let Event::Dns(d) = &evs[1] else { panic!() };
    assert_eq!((d.rcode, d.query_type.as_deref()), (Some(3), Some("A")));
    let Event::Flow(f) = &evs[0] else { panic!() };
    assert_eq!((f.src.nat_ip.unwrap().to_string(), f.src.nat_port), ("4.4.4.4".to_string(), Some(22294)));
    let evs = one("%FTD-1-430002: AccessControlRuleAction: Block with reset, SrcIP: 10.0.0.1, DstIP: 10.0.0.2, SrcPort: 1, DstPort: 2, Protocol: tcp");
    let Event::Flow(f) = &evs[0] else { panic!() };
    assert_eq!((f.activity, f.disposition), (FlowActivity::Refuse, Disposition::Reset));
}

#[test]
fn unknown_ids_are_skipped_and_garbage_rejected_with_reasons() {
    let p = CiscoParser::default();
    let c = ctx();
    assert!(matches!(p.parse("%ASA-5-111008: User 'enable_15' executed the 'write memory' command.", &c), ParseOutcome::Skipped { .. }));
    assert!(matches!(p.parse("%FTD-1-430001: SrcIP: 1.1.1.1", &c), ParseOutcome::Skipped { .. }));
    match p.parse("hello world", &c) {
        ParseOutcome::Rejected { reason } => assert!(reason.contains("no %ASA-/%FTD-"), "{reason}"),
        o => panic!("{o:?}"),
    }
    match p.parse("%ASA-6-302014: Teardown TCP connection 1 for outside:1.2.3.4/1 to inside:5.6.7.8/2 duration soon bytes 1", &c) {
        ParseOutcome::Rejected { reason } => assert!(reason.contains("302014") && reason.contains("duration"), "{reason}"),
        o => panic!("{o:?}"),
    }
    match p.parse("%FTD-1-430003: SrcIP: 1.1.1.1, DstIP: not-an-ip", &c) {
        ParseOutcome::Rejected { reason } => assert!(reason.contains("`DstIP`"), "{reason}"),
        o => panic!("{o:?}"),
    }
}

/// Field by field against Elastic's expected output for the same lines.
#[test]
fn agrees_with_the_elastic_expected_files() {
    let fields = [
        "source.ip",
        "source.port",
        "destination.ip",
        "destination.port",
        "network.transport",
        "network.direction",
        "observer.ingress.interface.name",
        "observer.egress.interface.name",
        "source.bytes",
        "destination.bytes",
        "source.packets",
        "destination.packets",
        "source.nat.ip",
        "destination.nat.ip",
        "dns.question.name",
        "dns.question.type",
        "rule.name",
    ];
    let get = |v: &serde_json::Value, path: &str| -> serde_json::Value {
        let mut cur = v;
        for p in path.split('.') {
            cur = &cur[p];
        }
        cur.clone()
    };
    let mut compared = 0;
    for (log, expected) in [
        ("cisco_asa/elastic-integrations__test-106023-iface-with-prefix.log", "cisco_asa/elastic-integrations__test-106023-iface-with-prefix.log-expected.json"),
        ("cisco_asa/elastic-integrations__test-302020-direction.log", "cisco_asa/elastic-integrations__test-302020-direction.log-expected.json"),
        ("cisco_ftd/elastic-integrations__test-dns.log", "cisco_ftd/elastic-integrations__test-dns.log-expected.json.first2events"),
    ] {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/samples");
        let lines: Vec<String> = std::fs::read_to_string(base.join(log)).unwrap().lines().map(str::to_string).collect();
        let exp: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(base.join(expected)).unwrap()).unwrap();
        let parser = CiscoParser::default();
        for (line, want) in lines.iter().zip(exp["expected"].as_array().unwrap()) {
            let ParseOutcome::Events(evs) = parser.parse(line, &ctx()) else { panic!("{line}") };
            // Elastic merges flow and DNS fields into one document; so do we for comparing.
            let mut ours = serde_json::Map::new();
            for ev in &evs {
                if let serde_json::Value::Object(m) = ecs::to_ecs(ev) {
                    for (k, v) in m {
                        match (ours.get_mut(&k), v) {
                            (Some(serde_json::Value::Object(a)), serde_json::Value::Object(b)) => a.extend(b),
                            (None, v) => {
                                ours.insert(k, v);
                            }
                            _ => {}
                        }
                    }
                }
            }
            let ours = serde_json::Value::Object(ours);
            for f in fields {
                let w = get(want, f);
                if w.is_null() {
                    continue;
                }
                // Elastic writes `network.direction` only where the message states it.
                assert_eq!(get(&ours, f), w, "{f} for {line}");
                compared += 1;
            }
        }
    }
    assert!(compared >= 80, "{compared} fields compared");
}

/// The connection memory's endpoint keys: exact for IPv4 (every address, port and "no port" apart),
/// and IPv6 keys never equal to IPv4 ones.
#[test]
fn endpoint_keys_tell_endpoints_apart() {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let v4 = |a: u32| IpAddr::V4(Ipv4Addr::from(a));
    let mut seen = std::collections::HashMap::new();
    for a in [0u32, 1, 0x0a00_0001, 0xc0a8_0001, u32::MAX] {
        for p in [None, Some(0u16), Some(1), Some(443), Some(u16::MAX)] {
            let k = super::endpoint_key(v4(a), p);
            assert!(k >> 63 == 1, "IPv4 keys carry the top bit");
            assert_eq!(seen.insert(k, (a, p)), None, "{a:#x} {p:?}");
        }
    }
    let mut next = logfetch_common::text::xorshift(0x5eed_1234_abcd_0001);
    for _ in 0..10_000 {
        let ip = IpAddr::V6(Ipv6Addr::from((next() as u128) << 64 | next() as u128));
        let k = super::endpoint_key(ip, Some((next() % 65536) as u16));
        assert!(k >> 63 == 0, "IPv6 keys leave the top bit clear");
        assert!(seen.insert(k, (0, None)).is_none(), "{ip}");
    }
}

#[test]
fn connection_memory_keeps_recent_ids_and_forgets_the_oldest_of_a_full_bucket() {
    let mut m = ConnMemory::default();
    assert_eq!(m.remove(1), None, "nothing allocated yet");
    m.insert(7, 70);
    m.insert(7, 71);
    assert_eq!(m.remove(7), Some(71), "a repeated Built replaces");
    assert_eq!(m.remove(7), None, "a Teardown forgets");
    // Firewalls hand out ids counting up: 200,000 open connections are all remembered.
    for id in 1_000_000..1_200_000u64 {
        m.insert(id, id ^ 1 << 63);
    }
    for id in (1_000_000..1_200_000u64).rev() {
        assert_eq!(m.remove(id), Some(id ^ 1 << 63), "{id}");
    }
    // Ids that share a bucket: the fifth forgets the first, the others stay.
    let mut same = Vec::new();
    let first = m.bucket(1) as *const _;
    for id in 1..u64::MAX {
        if std::ptr::eq(m.bucket(id) as *const _, first) {
            same.push(id);
            if same.len() == CONN_WAYS + 1 {
                break;
            }
        }
    }
    for &id in &same {
        m.insert(id, id + 1);
    }
    assert_eq!(m.remove(same[0]), None);
    for &id in &same[1..] {
        assert_eq!(m.remove(id), Some(id + 1));
    }
}
