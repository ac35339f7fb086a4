//! The Zscaler parser on `../shared/samples/zscaler_*` and the default CSV rows of zscaler.md.

use std::path::Path;

use logfetch_common::event::{Disposition, FlowActivity};
use logfetch_common::{Event, ocsf, validate};

use super::*;

fn sample(rel: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/samples").join(rel)).unwrap()
}

fn ctx() -> ParseContext {
    ParseContext::new("zia", chrono_tz::UTC)
}

fn one(line: &str) -> Event {
    match ZscalerParser.parse(line, &ctx()) {
        ParseOutcome::Events(mut v) => {
            let e = v.remove(0);
            let r = validate::validate(&ocsf::to_ocsf(&e));
            assert!(r.is_valid(), "{:?}", r.violations);
            e
        }
        o => panic!("{o:?} for {line}"),
    }
}

#[test]
fn dns_samples_parse_with_values() {
    let text = sample("zscaler_dns/elastic-integrations__test-dns.log");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 7);
    for l in &lines {
        one(l);
    }
    let Event::Dns(d) = one(lines[0]) else { panic!() };
    assert_eq!(d.query_name, "mail.safemarch.com");
    assert_eq!(d.query_type.as_deref(), Some("A"));
    assert_eq!(d.answers[0].data, "192.168.2.200");
    assert_eq!(d.answers[0].rtype.as_deref(), Some("A"));
    assert_eq!(d.client.ip.unwrap().to_string(), "81.2.69.192");
    assert_eq!((d.server.ip.unwrap().to_string(), d.server.port), ("175.16.199.0".to_string(), Some(1025)));
    assert_eq!(d.user.as_deref(), Some("jdoe1@safemarch.com"));
    assert_eq!(d.rule.as_deref(), Some("RULE_RES"));
    assert_eq!(d.envelope.time.to_rfc3339(), "2023-10-16T22:55:48+00:00");
    assert_eq!(d.envelope.unmapped["recordid"], "45648954");
    assert_eq!(d.envelope.unmapped["error"], "EMPTY_RESP");
    assert_eq!(d.protocol_num, Some(6));
}

/// With `keep_raw = false` the raw record is gone, so every vendor field the mapping does not
/// place stays in `unmapped`: the listed ones, the alternatives it did not use, and every field it
/// does not know (the "v3" fixture has seventy-odd), decoded, placeholders left out.
#[test]
fn without_raw_every_vendor_field_stays_in_unmapped() {
    let text = sample("zscaler_dns/elastic-integrations__test-dns.log");
    let line = text.lines().next().unwrap();
    let mut c = ctx();
    c.keep_raw = false;
    let ParseOutcome::Events(mut evs) = ZscalerParser.parse(line, &c) else { panic!() };
    let Event::Dns(d) = evs.remove(0) else { panic!() };
    assert_eq!(d.envelope.raw, None);
    let um = &d.envelope.unmapped;
    // Fields logfetch has no list entry for, as written.
    assert_eq!(um["devicemodel"], "VMware7,1");
    assert_eq!(um["deviceosversion"], "Microsoft Windows 10 Enterprise;64 bit");
    assert_eq!(um["dns_gateway_server_protocol"], "TCP");
    assert_eq!(um["odomcat"], "4951704103");
    assert_eq!(um["http_code"], "100");
    // The alternatives the mapping read second: `user` won, `datetime` won.
    assert_eq!(d.user.as_deref(), Some("jdoe1@safemarch.com"));
    assert_eq!(um["login"], "jdoe@safemarch.com");
    assert_eq!(um["epochtime"], "1578128400");
    // Mapped fields are not repeated; the wrapper's sourcetype is the event code, not a field.
    for gone in ["dns_req", "clt_sip", "srv_dport", "user", "datetime", "sourcetype"] {
        assert_eq!(um.get(gone), None, "{gone}");
    }
    // Every field of the record is mapped or in `unmapped` (or a placeholder).
    let fields: serde_json::Value = serde_json::from_str(line).unwrap();
    let mapped = ["dns_req", "dns_reqtype", "dns_resp", "clt_sip", "srv_dip", "srv_dport", "user", "datetime", "protocol"];
    for (name, v) in fields["event"].as_object().unwrap() {
        let v = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
        if !mapped.contains(&name.as_str()) && !is_placeholder(&v) {
            assert_eq!(um.get(name).and_then(|x| x.as_str()), Some(percent_decode(&v).as_str()), "{name}");
        }
    }
    // The OCSF encoding carries them and stays valid.
    let r = validate::validate(&ocsf::to_ocsf(&Event::Dns(d)));
    assert!(r.is_valid(), "{:?}", r.violations);
}

#[test]
fn unknown_fields_are_decoded_once_placeholders_dropped_first_value_kept() {
    let line = r#"{"sourcetype":"zscalernss-dns","event":{"datetime":"Wed Jun 05 08:00:00 2024","dns_req":"a.example","respipcategory":"Content%20Delivery%20Networks","newfield":"100%2541","empty":"None","n":7,"dup":"first","dup":"second"}}"#;
    // The plain reader takes this line; the same with an escape goes through serde.
    let escaped = line.replace("a.example", r"a\u002eexample");
    for l in [line, escaped.as_str()] {
        let Event::Dns(d) = one(l) else { panic!() };
        let um = &d.envelope.unmapped;
        assert_eq!(d.query_name, "a.example");
        assert_eq!(um["respipcategory"], "Content Delivery Networks");
        assert_eq!(um["newfield"], "100%41", "decoded once");
        assert_eq!(um["n"], "7");
        assert_eq!(um["dup"], "first");
        assert_eq!(um.get("empty"), None, "a placeholder");
    }
    // The firewall feed: without DNAT the server side's address is not mapped, so it is kept.
    let fw = r#"{"sourcetype":"zscalernss-fw","event":{"datetime":"Fri Dec 17 07:27:54 2021","csip":"10.0.0.1","cdip":"8.8.8.8","cdport":53,"sdip":"8.8.4.4","sdport":5353,"dnat":"No","tunsport":0,"action":"Allow"}}"#;
    let Event::Flow(f) = one(fw) else { panic!() };
    assert_eq!((f.dst.ip.unwrap().to_string(), f.dst.port), ("8.8.8.8".to_string(), Some(53)));
    assert_eq!((f.envelope.unmapped["sdip"].as_str(), f.envelope.unmapped["sdport"].as_str()), (Some("8.8.4.4"), Some("5353")));
    assert_eq!(f.envelope.unmapped["tunsport"], "0");
    let with_dnat = fw.replace(r#""dnat":"No""#, r#""dnat":"Yes""#);
    let Event::Flow(f) = one(&with_dnat) else { panic!() };
    assert_eq!(f.dst.nat_ip.unwrap().to_string(), "8.8.4.4");
    assert_eq!(f.envelope.unmapped.get("sdip"), None, "mapped as the NAT address");
}

#[test]
fn placeholder_only_dns_record_is_rejected_with_the_reason() {
    let line = sample("zscaler_dns/elastic-integrations__test-dns-http-endpoint.log");
    match ZscalerParser.parse(line.trim(), &ctx()) {
        ParseOutcome::Rejected { reason } => assert!(reason.contains("dns_req") && reason.contains("placeholder"), "{reason}"),
        o => panic!("{o:?}"),
    }
}

#[test]
fn firewall_samples_parse_with_values() {
    // Unquoted integers, a Drop, percent-encoded rule label.
    let text = sample("zscaler_fw/elastic-integrations__test-firewall.log");
    let Event::Flow(f) = one(text.trim()) else { panic!() };
    assert_eq!(f.disposition, Disposition::Dropped);
    assert_eq!(f.activity, FlowActivity::Refuse);
    assert_eq!(f.rule.as_deref(), Some("Access Blocked"));
    assert_eq!((f.bytes_in, f.bytes_out), (Some(19052), Some(1734)));
    assert_eq!(f.src.port, Some(55018));
    assert_eq!(f.envelope.unmapped["locationname"], "TestLoc DB");
    assert_eq!(f.envelope.unmapped["numsessions"], 1);
    assert_eq!(f.envelope.unmapped["aggregated"], false);
    // The HTTP-endpoint file: quoted numbers, IPv6, edge cases.
    let text = sample("zscaler_fw/elastic-integrations__test-firewall-http-endpoint.log");
    let mut ok = 0;
    for l in text.lines().filter(|l| !l.trim().is_empty()) {
        match ZscalerParser.parse(l, &ctx()) {
            ParseOutcome::Events(evs) => {
                for e in &evs {
                    assert!(validate::validate(&ocsf::to_ocsf(e)).is_valid());
                }
                ok += 1;
            }
            ParseOutcome::Rejected { reason } => assert!(reason.contains("field `"), "{reason}: {l}"),
            ParseOutcome::Skipped { .. } => panic!(),
        }
    }
    assert!(ok >= 4, "{ok} of the http-endpoint records parsed");
}

#[test]
fn default_csv_rows_of_the_zscaler_docs() {
    let dns = r#""Mon Jun 20 14:56:51 2022","sales@zscaler.com","Service Admin","Road Warrior","Allow","Allow","DNS_1","Zscaler Bypass Traffic","AAAA","wpad.test.com","EMPTY_RESP","53","0","10.66.16.9","10.66.69.21","Corporate Marketing","Other","Zscaler","DESKTOP-J1E9T1L""#;
    let Event::Dns(d) = one(dns) else { panic!() };
    assert_eq!((d.query_name.as_str(), d.query_type.as_deref()), ("wpad.test.com", Some("AAAA")));
    assert_eq!(d.client.ip.unwrap().to_string(), "10.66.16.9");
    assert_eq!(d.server.port, Some(53));
    assert_eq!(d.disposition, Disposition::Allowed);
    let fw = r#""Mon Jun 20 15:35:48 2022","new-gre","Default Department","new-gre","80","36084","80","0","172.17.3.49","216.113.179.53","0.0.0.0","216.113.179.53","10.66.89.115","0","GRE","Drop","No","Yes","No","HTTP","ebay","TCP","Online Shopping","United States","21","Firewall_1","14693","548","0","21","1","None","None","None","NA","NA""#;
    let Event::Flow(f) = one(fw) else { panic!() };
    assert_eq!((f.src.ip.unwrap().to_string(), f.src.port), ("172.17.3.49".to_string(), Some(36084)));
    assert_eq!((f.dst.ip.unwrap().to_string(), f.dst.port), ("216.113.179.53".to_string(), Some(80)));
    assert_eq!((f.bytes_in, f.bytes_out, f.duration_ms), (Some(14693), Some(548), Some(21)));
    assert_eq!(f.rule.as_deref(), Some("Firewall_1"));
    assert_eq!(f.envelope.unmapped.get("threatname"), None, "`None` is a placeholder");
    // Tab-separated and name=value variants of the same DNS record.
    let tsv = dns.replace("\",\"", "\t").replace('"', "");
    let Event::Dns(d) = one(&tsv) else { panic!() };
    assert_eq!(d.query_name, "wpad.test.com");
    let kv = "datetime=Mon%20Jun%20%206%2014:56:51%202022\tdns_req=a.example.com\tdns_reqtype=A%20record\tclt_sip=10.0.0.1\treqaction=REQ_BLOCK";
    let Event::Dns(d) = one(kv) else { panic!() };
    assert_eq!((d.query_name.as_str(), d.query_type.as_deref(), d.disposition), ("a.example.com", Some("A"), Disposition::Blocked));
    assert_eq!(d.envelope.time.to_rfc3339(), "2022-06-06T14:56:51+00:00");
    assert!(matches!(ZscalerParser.parse("hello", &ctx()), ParseOutcome::Rejected { .. }));
}

#[test]
fn percent_decoding_and_placeholders() {
    assert_eq!(percent_decode("jdoe%40safemarch.com"), "jdoe@safemarch.com");
    assert_eq!(percent_decode("100%"), "100%");
    assert_eq!(percent_decode("a%2Cb%zz"), "a,b%zz");
    assert_eq!(percent_decode("%e2%82%AC 5"), "€ 5", "UTF-8 sequences decode whole");
    assert_eq!(percent_decode("x%ffy"), "x\u{fffd}y", "a byte that is not UTF-8 is replaced, not dropped");
    assert_eq!(percent_decode("%%41%4"), "%A%4");
    assert_eq!(percent_decode("no escapes"), "no escapes");
    assert!(is_placeholder("NA") && is_placeholder("None") && !is_placeholder("Nonesuch"));
}

#[test]
fn placeholders_are_recognised_padded_or_not() {
    for v in ["", "None", "NA", "N/A", "Unknown", "NotFound", "Not available", "0.0.0.0", "  Not available   ", "\tNone\t", "   ", "\u{a0}None\u{3000}", "\u{2003}"] {
        assert!(is_placeholder(v), "{v:?}");
    }
    for v in ["Not available yet", "none", "0.0.0.1", "Unknown-Host", "login.fourth.app", " Engineering Team ", "é", "Nonе", "\u{a0}x"] {
        assert!(!is_placeholder(v), "{v:?}");
    }
}

#[test]
fn json_keys_and_values_with_escapes_read_like_plain_ones() {
    // Keys borrow from the line unless they hold escapes; both kinds must be found, and a repeated
    // key answers with its first value.
    let line = r#"{"sourcetype":"zscalernss-dns","event":{"datetime":"Wed Jun 05 08:00:00 2024","dns_\u0072eq":"esc\"aped.example","clt_sip":"10.0.0.1","user":"a\\b","user":"second","nested":{"x":[1,{"y":null}]},"durationms":12}}"#;
    let (feed, rec) = read(line).unwrap();
    assert_eq!(feed, Feed::Dns);
    assert_eq!(rec.get(k!("dns_req")), Some("esc\"aped.example"));
    assert_eq!(rec.get(k!("user")), Some("a\\b"));
    assert_eq!(rec.get(k!("durationms")), Some("12"), "numbers keep their text");
    assert_eq!(rec.values.len(), 5, "nested values and fields the mapping does not read are left out: {rec:?}");
    match one(line) {
        Event::Dns(d) => {
            assert_eq!(d.query_name, "esc\"aped.example");
            assert_eq!(d.client.ip, Some("10.0.0.1".parse().unwrap()));
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn fields_are_found_by_name_whatever_their_number_and_position() {
    // More fields than a one-byte position holds, the names the mapping reads among them at the
    // end, one of them repeated: the first value is the one read.
    let mut pairs: Vec<String> = (0..300).map(|i| format!("f{i}=v{i}")).collect();
    pairs.push("dns_req=many.example".into());
    pairs.push("user=first".into());
    pairs.push("user=second".into());
    let line = pairs.join("\t");
    let (feed, rec) = read(&line).unwrap();
    assert_eq!(feed, Feed::Dns);
    assert_eq!(rec.values.len(), 2, "only the names the mapping reads are kept: {rec:?}");
    assert_eq!(rec.get(k!("dns_req")), Some("many.example"));
    assert_eq!(rec.get(k!("user")), Some("first"), "the first of a repeated name");
    assert_eq!(rec.get(k!("clt_sip")), None);
}

#[test]
fn every_field_name_has_its_own_slot() {
    assert!(KEYS.windows(2).all(|w| w[0] < w[1]), "KEYS sorted, without repeats");
    for (i, name) in KEYS.iter().enumerate() {
        assert_eq!(KEY_TABLE.find(name.as_bytes(), |j| KEYS[j].as_bytes()), Some(i), "{name}");
    }
    for other in ["", "dns", "dns_requ", "User", "event", "sourcetype"] {
        assert_eq!(KEY_TABLE.find(other.as_bytes(), |j| KEYS[j].as_bytes()), None, "{other}");
    }
}

#[test]
fn unmapped_name_lists_are_in_order_so_each_field_appends() {
    for list in [&DNS_UNMAPPED[..], &FW_UNMAPPED[..]] {
        assert!(list.windows(2).all(|w| w[0].name < w[1].name), "{list:?}");
    }
}

#[test]
fn actions_read_case_insensitively() {
    for (text, want) in [
        (Some("Allowed"), Disposition::Allowed),
        (Some("REQ_ALLOW"), Disposition::Allowed),
        (Some("RES_BLOCK"), Disposition::Blocked),
        (Some("Deny"), Disposition::Blocked),
        (Some("Drop"), Disposition::Dropped),
        (Some("TCP RESET"), Disposition::Reset),
        (Some("None"), Disposition::Unknown),
        (Some("all"), Disposition::Unknown),
        (Some(""), Disposition::Unknown),
        (None, Disposition::Unknown),
        (Some("Blöck allow"), Disposition::Allowed),
    ] {
        assert_eq!(action(text), want, "{text:?}");
    }
}

/// The one-pass reader of plain JSON lines agrees with serde wherever it answers, and leaves
/// to serde every line it does not handle: checked on the samples and on thousands of lines
/// mutated with escapes, control characters, numbers serde rewrites, nesting and truncation.
#[test]
fn plain_json_reader_agrees_with_serde() {
    type Pairs = Vec<(String, String)>;
    /// The record as the mapping sees it: the sourcetype as written, the feed, and every value
    /// it can read, percent-decoded (the plain reader decodes as it reads, serde's reading
    /// afterwards).
    fn view(sourcetype: Option<&str>, feed: Option<Feed>, rec: &Record<'_>) -> (Option<String>, Option<Feed>, Pairs) {
        let held = rec.held().map(|(name, v)| (name.to_string(), v.to_string()));
        // Then the fields outside `KEYS`, in the order read.
        let extra = rec.extra.iter().map(|(name, v)| (format!("extra:{name}"), v.to_string()));
        (sourcetype.map(str::to_string), feed, held.chain(extra).collect())
    }
    fn serde_view(r: JsonRecord<'_>) -> (Option<String>, Option<Feed>, Pairs) {
        let sourcetype = r.sourcetype.as_deref().map(str::to_string);
        let (feed, rec) = from_json(r);
        view(sourcetype.as_deref(), feed, &rec)
    }
    let mut bases: Vec<String> = Vec::new();
    for f in ["zscaler_dns/elastic-integrations__test-dns.log", "zscaler_dns/elastic-integrations__test-dns-http-endpoint.log", "zscaler_fw/elastic-integrations__test-firewall.log", "zscaler_fw/elastic-integrations__test-firewall-http-endpoint.log"] {
        bases.extend(sample(f).lines().map(str::trim).filter(|l| l.starts_with('{')).map(str::to_string));
    }
    let bench = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench/samples/input-zscaler.log")).unwrap();
    bases.extend(bench.lines().filter(|l| l.starts_with('{')).map(str::to_string));
    bases.push(r#"{"sourcetype":"zscalernss-dns","sourcetype":null,"event":{"datetime":"x","n":0,"b":true,"c":false,"d":null},"event":{"datetime":"y"},"tail":18446744073709551615}"#.into());
    bases.push(r#" { "event" : "not an object" , "dns_req" : "a.example" , "event":7 } "#.into());
    // Longer than the reader's 4 KiB of masks on the stack, with `%` sequences across blocks.
    let long: String = (0..700).map(|k| if k % 7 == 0 { "%20" } else { "ab" }).collect();
    bases.push(format!(r#"{{"sourcetype":"zscalernss-dns","event":{{"datetime":"Wed Jun 05 08:00:00 2024","dns_req":"{long}","category":"A%2"}}}}"#));
    assert!(bases.len() > 20, "{} lines", bases.len());
    let inserts = [
        r#"\""#, r#"\u0041"#, "\n", "\t", "\u{1}", r#""x":1.5,"#, r#""n":-3,"#, r#""a":[1],"#, r#""o":{"p":1},"#, r#""z":007,"#, r#""e":null,"#, r#""t":true,"#, r#""f":fals,"#, r#""big":123456789012345678901,"#, r#""exp":1e3,"#,
        r#""event":{"q":"r"},"#, r#""event":"s","#, r#""sourcetype":"fw","#, ",", "}", "{", ":", "\"", " ", "é", "0", "%20", "%", "%4", "%zz", "%C3%A9", "%%41",
    ];
    let mut next = logfetch_common::text::xorshift(0x2545_f491_4f6c_dd1d);
    let (mut plain, mut fallback) = (0, 0);
    for base in &bases {
        for round in 0..300 {
            let mut line = base.clone();
            for _ in 0..(round % 3) {
                let mut at = (next() as usize) % (line.len() + 1);
                while !line.is_char_boundary(at) {
                    at -= 1;
                }
                match next() % 4 {
                    0 if at < line.len() => {
                        let end = (at + 1..=line.len()).find(|e| line.is_char_boundary(*e)).unwrap();
                        line.replace_range(at..end, "");
                    }
                    1 => line.truncate(at),
                    _ => line.insert_str(at, inserts[(next() as usize) % inserts.len()]),
                }
            }
            let t = line.trim();
            let serde = serde_json::from_str::<JsonRecord<'_>>(t);
            match read_plain_json(t) {
                Some((sourcetype, rec)) => {
                    plain += 1;
                    let serde = serde.unwrap_or_else(|e| panic!("serde refuses what the plain reader took ({e}): {t}"));
                    assert_eq!(view(sourcetype.as_deref(), feed_of(sourcetype.as_deref()), &rec), serde_view(serde), "{t}");
                }
                None => fallback += 1,
            }
        }
    }
    assert!(plain > 2000 && fallback > 2000, "{plain} lines read plainly, {fallback} left to serde");
}
