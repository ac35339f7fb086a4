//! The PAN-OS parser against `../shared/samples/panos_*` and the record shapes in paloalto.md.

use std::path::Path;

use logfetch_common::event::{Disposition, FlowActivity};
use logfetch_common::{Event, ocsf, validate};

use super::*;

fn sample(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/samples").join(rel)).unwrap()
}

fn ctx() -> ParseContext {
    let mut c = ParseContext::new("pan", chrono_tz::UTC);
    c.now = chrono::DateTime::parse_from_rfc3339("2026-09-01T00:00:00Z").unwrap().with_timezone(&chrono::Utc);
    c
}

fn events(line: &str) -> Vec<Event> {
    match PanParser.parse(line, &ctx()) {
        ParseOutcome::Events(v) => v,
        o => panic!("{o:?} for {line}"),
    }
}

fn valid(ev: &Event) {
    let r = validate::validate(&ocsf::to_ocsf(ev));
    assert!(r.is_valid(), "{:?}", r.violations);
}

#[test]
fn every_traffic_row_in_the_elastic_sample_parses_with_values() {
    let text = sample("panos_syslog/elastic-integrations__test-panw-panos-traffic-sample.log.first34lines");
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        for ev in events(line) {
            valid(&ev);
            n += 1;
        }
    }
    assert_eq!(n, 34);
    // The values paloalto.md §4.3 checked against this line.
    let first = text.lines().next().unwrap();
    let Event::Flow(f) = events(first).remove(0) else { panic!() };
    assert_eq!(f.activity, FlowActivity::Close);
    assert_eq!(f.disposition, Disposition::Allowed);
    assert_eq!((f.bytes_total, f.bytes_out, f.bytes_in, f.packets_total), (Some(7734), Some(1758), Some(5976), Some(36)));
    assert_eq!((f.packets_out, f.packets_in), (Some(16), Some(20)));
    assert_eq!(f.start_time.unwrap().to_rfc3339(), "2018-11-30T15:59:04+00:00");
    assert_eq!(f.duration_ms, Some(586_000));
    assert_eq!(f.end_time.unwrap().to_rfc3339(), "2018-11-30T16:08:50+00:00");
    assert_eq!(f.reason.as_deref(), Some("tcp-fin"));
    assert_eq!(f.envelope.observer.hostname.as_deref(), Some("PA-220"));
    assert_eq!(f.envelope.observer.serial.as_deref(), Some("012801096514"));
    assert_eq!(f.envelope.vendor_event_id.as_deref(), Some("012801096514:32091112"));
    assert_eq!(f.src.ip.unwrap().to_string(), "192.168.15.207");
    assert_eq!(f.src.nat_ip.unwrap().to_string(), "192.168.1.63");
    assert_eq!((f.src.port, f.dst.port, f.src.nat_port), (Some(55113), Some(443), Some(16418)));
    assert_eq!((f.src.zone.as_deref(), f.dst.zone.as_deref()), (Some("trust"), Some("untrust")));
    assert_eq!((f.src.interface.as_deref(), f.dst.interface.as_deref()), (Some("ethernet1/2"), Some("ethernet1/1")));
    assert_eq!(f.rule.as_deref(), Some("new_outbound_from_trust"));
    assert_eq!(f.application.as_deref(), Some("apple-maps"));
    assert_eq!(f.protocol_num, Some(6));
    assert_eq!(f.envelope.time.to_rfc3339(), "2018-11-30T16:09:07+00:00");
    // Deny and drop rows are refusals.
    let deny = text.lines().find(|l| l.contains(",TRAFFIC,deny,")).unwrap();
    let Event::Flow(f) = events(deny).remove(0) else { panic!() };
    assert_eq!(f.activity, FlowActivity::Refuse);
}

#[test]
fn cribl_rows_with_ietf_headers_and_threat_url_rows() {
    let v: serde_json::Value = serde_json::from_str(&sample("panos_syslog/cribl-palo-alto-networks__Gq5Bjl.json")).unwrap();
    for e in v.as_array().unwrap() {
        for ev in events(e["_raw"].as_str().unwrap()) {
            valid(&ev);
        }
    }
    let first = v[0]["_raw"].as_str().unwrap();
    let Event::Flow(f) = events(first).remove(0) else { panic!() };
    assert_eq!((f.bytes_total, f.reason.as_deref()), (Some(296), Some("aged-out")));
    assert_eq!(f.dst.nat_ip.unwrap().to_string(), "10.0.2.65");
    // THREAT/url rows are web logs, not flow or DNS: counted and skipped.
    let t: serde_json::Value = serde_json::from_str(&sample("panos_syslog/cribl-palo-alto-networks__zU8yWr.json")).unwrap();
    assert!(matches!(PanParser.parse(t[0]["_raw"].as_str().unwrap(), &ctx()), ParseOutcome::Skipped { .. }));
    for line in sample("panos_syslog/elastic-integrations__test-panw-panos-inc-threat-sample.log.first38lines").lines() {
        match PanParser.parse(line, &ctx()) {
            ParseOutcome::Skipped { reason } => assert!(reason.contains("THREAT/url"), "{reason}"),
            o => panic!("{o:?}"),
        }
    }
}

#[test]
fn wazuh_anonymised_rows_are_rejected_with_the_field() {
    let text = sample("panos_syslog/wazuh-ruleset__paloalto.ini");
    let mut rejected = 0;
    for line in text.lines().filter_map(|l| l.split_once(" pass = ").map(|(_, r)| r)) {
        match PanParser.parse(line, &ctx()) {
            // `2020/00/00 00:00:00` and `00.00.000.00` are not times or addresses.
            ParseOutcome::Rejected { reason } => {
                assert!(reason.contains("field `"), "{reason}");
                rejected += 1;
            }
            ParseOutcome::Skipped { reason } => assert!(reason.contains("SYSTEM"), "{reason}"),
            o => panic!("{o:?} for {line}"),
        }
    }
    assert_eq!(rejected, 4);
}

#[test]
fn xml_api_entries_map_like_syslog_rows() {
    let mut out = Vec::new();
    parse_xml_document(&sample("panos_xml/content__query_logs.xml"), &ctx(), &mut |o| out.push(o)).unwrap();
    assert_eq!(out.len(), 1);
    let ParseOutcome::Events(evs) = &out[0] else { panic!("{:?}", out[0]) };
    let Event::Flow(f) = &evs[0] else { panic!() };
    valid(&evs[0]);
    // high_res_timestamp carries the offset and wins over the zone-less receive_time.
    assert_eq!(f.envelope.time.to_rfc3339(), "2022-07-28T14:09:22.393+00:00");
    assert_eq!(f.rule.as_deref(), Some("LAN to Internet - Default Applications"));
    assert_eq!(f.session_id.as_deref(), Some("422121"));
    assert_eq!(f.envelope.vendor_event_id.as_deref(), Some("1234:1234"));
    assert_eq!((f.src.zone.as_deref(), f.dst.interface.as_deref()), (Some("L3-trust"), Some("ethernet1/1")));
    assert!(f.bytes_total.is_some());
}

#[test]
fn dns_sinkhole_threat_rows_become_dns_events() {
    // The PAN-OS 8.1 sinkhole row of paloalto.md §4.5.
    let line = "<12>Jan 10 01:56:39 NY-PA-FW-1.example 1,2020/01/10 01:56:38,012862319694,THREAT,spyware,2049,2020/01/10 01:56:38,192.0.2.15,192.0.2.30,192.0.2.31,192.0.2.32,Some-Rule,,,dns,vsys1,Src-Zone,Dst-Zone,ethernet1/9.255,ethernet1/1,Forward-Logs,2020/01/10 01:56:38,146414,1,45476,53,15021,53,0x80402000,udp,sinkhole,\"\",Suspicious DNS Query (generic:comparetvs.net)(320511141),any,medium,client-to-server,267287993,0x2000000000000000,192.0.2.0-192.0.2.255,192.0.2.0-192.0.2.255,0,,0,,,0,,,,,,,,0,0,0,0,0,,NY-PA-FW-1,,,,,0,,0,,N/A,spyware,AppThreat-8227-5796,0x0,0,4294967295";
    let evs = events(line);
    let Event::Dns(d) = &evs[0] else { panic!("{evs:?}") };
    valid(&evs[0]);
    assert_eq!(d.query_name, "comparetvs.net");
    assert_eq!(d.client.ip.unwrap().to_string(), "192.0.2.15");
    assert_eq!((d.client.port, d.server.port), (Some(45476), Some(53)));
    assert_eq!(d.disposition, Disposition::Blocked);
    assert_eq!(d.envelope.unmapped["sinkholed"], true);
    assert_eq!(d.envelope.unmapped["threat_id"], 320511141u64);
    assert_eq!(d.envelope.observer.hostname.as_deref(), Some("NY-PA-FW-1"));
}

#[test]
fn sls_json_dns_security_and_traffic() {
    let line = r#"{"LogType":"DNS","Subtype":"realtime_dns_telemetry_response","SubType":"realtime_dns_telemetry_response","TimeGenerated":"2024-07-08T09:01:10.000000Z","FQDN":"www.example.com","RecordType":"cname,a","DNSResolverIP":"1.2.3.4","ThreatID":0,"DNSCategory":"benign","SourceAddress":"5.6.7.8","FromZone":"trust","Action":"Allow","DNSResponse":["edge.example.net","8.9.1.2"],"DNSResponseCode":"NoError"}"#;
    let evs = events(line);
    let Event::Dns(d) = &evs[0] else { panic!() };
    valid(&evs[0]);
    assert_eq!((d.query_name.as_str(), d.query_type.as_deref(), d.rcode), ("www.example.com", Some("A"), Some(0)));
    assert_eq!(d.answers.len(), 2);
    assert_eq!((d.answers[0].rtype.as_deref(), d.answers[1].data.as_str()), (Some("CNAME"), "8.9.1.2"));
    assert_eq!(d.server.ip.unwrap().to_string(), "1.2.3.4");
    let line = r#"{"LogType":"TRAFFIC","SubType":"end","TimeGenerated":"2024-07-08T09:01:10Z","SourceAddress":"10.0.0.1","DestinationAddress":"192.0.2.1","SourcePort":5000,"DestinationPort":443,"Protocol":"tcp","Action":"allow","BytesSent":100,"BytesReceived":2000,"SequenceNo":77,"DeviceSN":"0001"}"#;
    let Event::Flow(f) = events(line).remove(0) else { panic!() };
    assert_eq!((f.bytes_out, f.bytes_in, f.dst.port), (Some(100), Some(2000), Some(443)));
    assert_eq!(f.envelope.vendor_event_id.as_deref(), Some("0001:77"));
}

#[test]
fn cef_and_leef_traffic() {
    let cef = "CEF:0|Palo Alto Networks|PAN-OS|10.2.0|end|TRAFFIC|1|rt=Nov 30 2018 16:09:07 deviceExternalId=012801096514 src=192.168.15.207 dst=175.16.199.1 spt=55113 dpt=443 proto=tcp act=allow cs1=new outbound rule out=1758 in=5976 externalId=32091112";
    let Event::Flow(f) = events(cef).remove(0) else { panic!() };
    assert_eq!((f.src.port, f.bytes_out, f.rule.as_deref()), (Some(55113), Some(1758), Some("new outbound rule")));
    assert_eq!(f.envelope.vendor_event_id.as_deref(), Some("012801096514:32091112"));
    let leef = "LEEF:1.0|Palo Alto Networks|PAN-OS Syslog Integration|10.2|TRAFFIC|devTime=2018/11/30 16:09:07\tsrc=10.0.0.1\tdst=10.0.0.2\tsrcPort=1\tdstPort=2\tproto=udp\taction=drop\tSerialNumber=9\tSequenceNumber=5";
    let Event::Flow(f) = events(leef).remove(0) else { panic!() };
    assert_eq!((f.disposition, f.protocol_num, f.dst.port), (Disposition::Dropped, Some(17), Some(2)));
    // CEF whose text holds something that looks like a CSV row start stays CEF.
    let cef_csvish = format!("<14>Nov 30 16:09:07 fw {cef} msg=1,2024/01/01 00:00:00,1,TRAFFIC");
    let Event::Flow(f) = events(&cef_csvish).remove(0) else { panic!() };
    assert_eq!((f.src.port, f.bytes_out), (Some(55113), Some(1758)), "{cef_csvish}");
    // A CSV row that mentions `CEF:` in a field (a URL, a rule name) is still a CSV row.
    let first = sample("panos_syslog/elastic-integrations__test-panw-panos-traffic-sample.log.first34lines").lines().next().unwrap().to_string();
    let Event::Flow(want) = events(&first).remove(0) else { panic!() };
    let mut cols: Vec<&str> = first.split(',').collect();
    let rule = cols.iter().position(|c| Some(*c) == want.rule.as_deref()).expect("the rule column");
    cols[rule] = "CEF:0|not-a-header";
    let row = cols.join(",");
    let Event::Flow(f) = events(&row).remove(0) else { panic!("{row}") };
    assert_eq!((f.rule.as_deref(), f.bytes_total, f.src.ip), (Some("CEF:0|not-a-header"), want.bytes_total, want.src.ip));
}

#[test]
fn rows_of_other_firmware_versions_still_parse() {
    let text = sample("panos_syslog/elastic-integrations__test-panw-panos-traffic-sample.log.first34lines");
    let first = text.lines().next().unwrap();
    // Older firmware: fewer trailing columns. Newer: more.
    let short: String = first.split(',').take(48).collect::<Vec<_>>().join(",");
    let long = format!("{first},extra1,extra2,{{a,b}},\"q,r\"");
    for l in [short.as_str(), long.as_str()] {
        let Event::Flow(f) = events(l).remove(0) else { panic!() };
        assert_eq!(f.bytes_total, Some(7734), "{l}");
    }
    assert!(matches!(PanParser.parse("garbage line", &ctx()), ParseOutcome::Rejected { .. }));
    match PanParser.parse("1,2024/01/01 00:00:00,1,TRAFFIC,end,1,2024/01/01 00:00:00,not-an-ip", &ctx()) {
        ParseOutcome::Rejected { reason } => assert_eq!(reason, "TRAFFIC/end: TRAFFIC row has only 8 columns (a TRAFFIC or THREAT row has at least 30)"),
        o => panic!("{o:?}"),
    }
    // Too short to say its type: no empty type in the reason.
    match PanParser.parse("1,2024/01/01 00:00:00,001801000001", &ctx()) {
        ParseOutcome::Rejected { reason } => assert_eq!(reason, "CSV row has only 3 columns (a TRAFFIC or THREAT row has at least 30)"),
        o => panic!("{o:?}"),
    }
}

#[test]
fn absurd_durations_from_the_fuzzer_do_not_panic() {
    // Found by `cargo fuzz run paloalto`: elapsed = 20000000000000 s overflowed a DateTime add.
    let line = include_str!("../../../fuzz/regressions/paloalto/huge-elapsed");
    match PanParser.parse(line, &ctx()) {
        ParseOutcome::Events(evs) => {
            let Event::Flow(f) = &evs[0] else { panic!("a flow") };
            assert_eq!(f.duration_ms, Some(20_000_000_000_000_000));
            assert_eq!(f.end_time, Some(f.envelope.time), "an end time out of range falls back to the log time");
        }
        other => panic!("{other:?}"),
    }
    // ASA: a duration of more hours than fit.
    assert!(crate::cisco::lexer::duration_ms("99999999999999999:00:00").is_none());
}
