//! Property tests: the OCSF and ECS encoders write valid JSON that carries every value exactly
//! (any Unicode, quotes, control characters, IPv4 and IPv6), the spool chunk codec and the
//! checkpoint store give back what was put in.

use std::net::IpAddr;

use chrono::{TimeZone, Utc};
use logfetch_common::checkpoint::{CheckpointStore, SledCheckpointStore, commit, load};
use logfetch_common::event::{Disposition, DnsActivity, DnsAnswer, DnsEvent, Endpoint, Envelope, Event, FlowActivity, FlowEvent};
use logfetch_common::spool::{SpoolRecord, decode_chunk, encode_chunk};
use logfetch_common::{Format, write_event};
use proptest::prelude::*;

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![any::<[u8; 4]>().prop_map(IpAddr::from), any::<[u8; 16]>().prop_map(IpAddr::from)]
}

/// Text with the characters JSON must escape mixed in.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z\"\\\\\\n\\t\\u{0}-\\u{1f}é€😀 ]{0,40}"]
}

fn json(ev: &Event, f: Format) -> serde_json::Value {
    let mut buf = Vec::new();
    write_event(&mut buf, ev, f);
    serde_json::from_slice(&buf).unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", String::from_utf8_lossy(&buf)))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn flow_events_round_trip_through_both_encoders(
        tenant in text(), raw in text(), rule in proptest::option::of(text()), user in proptest::option::of(text()),
        src in any_ip(), dst in any_ip(), sport in any::<u16>(), dport in any::<u16>(), bytes in proptest::option::of(any::<u64>()),
        vendor_field in text(), secs in 1_000_000_000i64..4_000_000_000,
    ) {
        let mut env = Envelope::new(&tenant, "Cisco", "ASA", "cisco", Utc.timestamp_opt(secs, 0).unwrap(), None, &raw, true);
        env.unmapped.insert("note", vendor_field.clone().into());
        let mut f = FlowEvent::new(env, FlowActivity::Close);
        f.src = Endpoint { ip: Some(src), port: Some(sport), ..Endpoint::default() };
        f.dst = Endpoint { ip: Some(dst), port: Some(dport), ..Endpoint::default() };
        f.rule = rule.clone();
        f.user = user.clone();
        f.bytes_total = bytes;
        f.disposition = Disposition::Allowed;
        let ev = Event::Flow(f);
        let o = json(&ev, Format::Ocsf);
        prop_assert_eq!(o["metadata"]["tenant_uid"].as_str(), Some(tenant.as_str()));
        prop_assert_eq!(o["raw_data"].as_str(), Some(raw.as_str()));
        let src_text = src.to_string();
        prop_assert_eq!(o["src_endpoint"]["ip"].as_str(), Some(src_text.as_str()));
        prop_assert_eq!(o["dst_endpoint"]["port"].as_u64(), Some(dport as u64));
        prop_assert_eq!(o["firewall_rule"]["name"].as_str(), rule.as_deref());
        prop_assert_eq!(o["actor"]["user"]["name"].as_str(), user.as_deref());
        prop_assert_eq!(o["traffic"]["bytes"].as_u64(), bytes.map(|b| b.min(i64::MAX as u64)), "capped to OCSF's long range");
        prop_assert_eq!(o["unmapped"]["note"].as_str(), Some(vendor_field.as_str()));
        prop_assert_eq!(o["time"].as_i64(), Some(secs * 1000));
        let report = logfetch_common::validate::validate(&o);
        prop_assert!(report.is_valid(), "{:?}", report.violations);
        let e = json(&ev, Format::Ecs);
        prop_assert_eq!(e["event"]["original"].as_str(), Some(raw.as_str()));
        prop_assert_eq!(e["source"]["ip"].as_str(), Some(src_text.as_str()));
        prop_assert_eq!(e["logfetch"]["unmapped"]["note"].as_str(), Some(vendor_field.as_str()));
        prop_assert_eq!(e["rule"]["name"].as_str(), rule.as_deref());
    }

    #[test]
    fn dns_events_round_trip_through_both_encoders(name in text(), answer in text(), qtype in proptest::option::of("[A-Z]{1,5}"), rcode in proptest::option::of(0u16..30), client in any_ip()) {
        let env = Envelope::new("t", "Zscaler", "Internet Access", "zscaler", Utc.timestamp_opt(1_700_000_000, 0).unwrap(), None, "r", true);
        let mut d = DnsEvent::new(env, DnsActivity::Traffic, &name);
        d.query_type = qtype.clone();
        d.rcode = rcode;
        d.client = Endpoint { ip: Some(client), ..Endpoint::default() };
        d.answers.push(DnsAnswer { rtype: Some("TXT".into()), class: None, data: answer.clone(), ttl: Some(60) });
        let ev = Event::Dns(d);
        let o = json(&ev, Format::Ocsf);
        prop_assert_eq!(o["query"]["hostname"].as_str(), Some(name.as_str()));
        prop_assert_eq!(o["query"]["type"].as_str(), qtype.as_deref());
        prop_assert_eq!(o["answers"][0]["rdata"].as_str(), Some(answer.as_str()));
        prop_assert_eq!(o["rcode_id"].as_u64().is_some(), rcode.is_some());
        let e = json(&ev, Format::Ecs);
        prop_assert_eq!(e["dns"]["question"]["name"].as_str(), Some(name.as_str()));
        prop_assert_eq!(e["dns"]["answers"][0]["data"].as_str(), Some(answer.as_str()));
    }

    #[test]
    fn spool_chunks_round_trip(lines in proptest::collection::vec((any::<String>(), proptest::option::of("[0-9.:]{1,21}"), -4_000_000_000_000_000_000i64..4_000_000_000_000_000_000), 1..20)) {
        let recs: Vec<SpoolRecord> = lines.into_iter().map(|(line, peer, nanos)| SpoolRecord { received_at: chrono::DateTime::from_timestamp_nanos(nanos), peer, line }).collect();
        let chunk = encode_chunk(&recs);
        prop_assert_eq!(decode_chunk(&chunk).unwrap(), recs);
        // Any truncation is an error, never a panic or a wrong answer.
        for cut in [1, chunk.len() / 2, chunk.len() - 1] {
            prop_assert!(decode_chunk(&chunk[..cut]).is_err());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn checkpoints_round_trip_through_the_store(tenant in "[^\\u{0}]{1,30}", stream in "[^\\u{0}]{1,30}", value in proptest::collection::btree_map("[a-z]{1,8}", any::<i64>(), 0..8), note in any::<String>()) {
        let dir = tempfile::tempdir().unwrap();
        let store = SledCheckpointStore::open(dir.path()).unwrap();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let v = (value.clone(), note.clone());
        let g1 = rt.block_on(commit(&store, &tenant, &stream, None, &v)).unwrap();
        let (back, g): ((std::collections::BTreeMap<String, i64>, String), u64) = load(&store, &tenant, &stream).unwrap().unwrap();
        prop_assert_eq!(&back, &v);
        prop_assert_eq!(g, g1);
        let listed = store.list().unwrap();
        prop_assert!(listed.iter().any(|(t, s, r)| t == &tenant && s == &stream && r.is_ok()));
        // A stale generation is refused.
        prop_assert!(rt.block_on(commit(&store, &tenant, &stream, None, &v)).is_err());
    }
}
