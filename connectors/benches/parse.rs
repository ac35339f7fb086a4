//! Parse (+ map) and parse + encode throughput per vendor path, in records/s and bytes/s.
//!
//! Inputs come from `../shared` (the generator's sample lines and the published vendor samples),
//! so the numbers are for realistic record shapes. Run with
//! `cargo bench -p logfetch-connectors --bench parse`; `bench/run.sh` runs the end-to-end
//! comparison with syslog-ng.

use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use logfetch_common::Format;
use logfetch_connectors::{ParseContext, ParseOutcome, RecordParser};

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared").join(rel)
}

fn lines(rel: &str, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let text = std::fs::read_to_string(shared(rel)).unwrap_or_else(|e| panic!("{rel}: {e} (../shared must sit beside the repository)"));
    text.lines().filter(|l| !l.trim().is_empty() && keep(l)).map(str::to_string).collect()
}

/// A PAN-OS XML API page with `n` entries, built from the published sample's entry.
fn pan_xml_page(n: usize) -> String {
    let text = std::fs::read_to_string(shared("samples/panos_xml/content__query_logs.xml")).expect("PAN-OS XML sample");
    let start = text.find("<entry").expect("an <entry> in the sample");
    let end = text.find("</entry>").expect("an </entry> in the sample") + "</entry>".len();
    let entry = &text[start..end];
    let mut page = String::with_capacity(entry.len() * n + 512);
    page.push_str(&text[..text.find("<logs").expect("<logs> in the sample")]);
    page.push_str(&format!("<logs count=\"{n}\" progress=\"100\">\n"));
    for i in 0..n {
        page.push_str(&entry.replacen("logid=\"1234\"", &format!("logid=\"{}\"", 10_000 + i), 1).replacen("<seqno>1234</seqno>", &format!("<seqno>{}</seqno>", 10_000 + i), 1));
        page.push('\n');
    }
    page.push_str("</logs></log></result></response>\n");
    page
}

struct Path {
    name: &'static str,
    vendor: &'static str,
    records: Vec<String>,
}

fn paths() -> Vec<Path> {
    vec![
        Path { name: "asa", vendor: "cisco", records: lines("bench/samples/input-asa.log", |_| true) },
        Path { name: "ftd_kv", vendor: "cisco", records: lines("samples/cisco_ftd/elastic-integrations__test-security-connection.log", |_| true) },
        Path { name: "pan_traffic_csv", vendor: "paloalto", records: lines("bench/samples/input-panos.log", |l| l.contains(",TRAFFIC,")) },
        Path { name: "pan_threat_csv", vendor: "paloalto", records: lines("bench/samples/input-panos.log", |l| l.contains(",THREAT,")) },
        Path { name: "zscaler_json", vendor: "zscaler", records: lines("bench/samples/input-zscaler.log", |_| true) },
        Path {
            name: "s1_json",
            vendor: "sentinelone",
            records: lines("samples/sentinelone/elastic-integrations__cloud_funnel__test-network-action.log", |_| true)
                .into_iter()
                .chain(lines("samples/sentinelone/elastic-integrations__cloud_funnel__test-dns.log", |_| true))
                .collect(),
        },
    ]
}

fn encode(out: &mut Vec<u8>, o: ParseOutcome) -> usize {
    match o {
        ParseOutcome::Events(evs) => {
            for ev in &evs {
                logfetch_common::write_event(out, ev, Format::Ocsf);
                out.push(b'\n');
            }
            evs.len()
        }
        _ => 0,
    }
}

fn records(c: &mut Criterion) {
    let ctx = ParseContext::new("bench", chrono_tz::UTC);
    for p in paths() {
        assert!(!p.records.is_empty(), "{}: no input records", p.name);
        let parser: Box<dyn RecordParser> = logfetch_connectors::registry::parser_for(p.vendor).expect("parser");
        // Every input must map (a bench over rejects would measure the wrong thing); PAN-OS
        // THREAT records are read and classified but not mapped to an event class yet.
        for r in &p.records {
            let o = parser.parse(r, &ctx);
            let ok = matches!(o, ParseOutcome::Events(_)) || (p.name == "pan_threat_csv" && matches!(o, ParseOutcome::Skipped { .. }));
            assert!(ok, "{}: not mapped: {r}", p.name);
        }
        let bytes: usize = p.records.iter().map(|r| r.len() + 1).sum();
        let mut g = c.benchmark_group(p.name);
        g.throughput(Throughput::Elements(p.records.len() as u64));
        g.bench_function("parse", |b| {
            b.iter(|| {
                for r in &p.records {
                    std::hint::black_box(parser.parse(std::hint::black_box(r), &ctx));
                }
            })
        });
        let mut out = Vec::with_capacity(1 << 20);
        g.bench_function("parse+ocsf", |b| {
            b.iter(|| {
                out.clear();
                for r in &p.records {
                    encode(&mut out, parser.parse(r, &ctx));
                }
                std::hint::black_box(out.len())
            })
        });
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(BenchmarkId::new("parse+ocsf", "bytes"), |b| {
            b.iter(|| {
                out.clear();
                for r in &p.records {
                    encode(&mut out, parser.parse(r, &ctx));
                }
                std::hint::black_box(out.len())
            })
        });
        g.finish();
    }
}

fn pan_xml(c: &mut Criterion) {
    let ctx = ParseContext::new("bench", chrono_tz::UTC);
    let parser = logfetch_connectors::registry::parser_for("paloalto").expect("parser");
    let page = pan_xml_page(5000);
    let mut g = c.benchmark_group("pan_xml_page_5000");
    g.sample_size(10);
    g.throughput(Throughput::Elements(5000));
    g.bench_function("parse", |b| {
        b.iter(|| {
            let mut n = 0usize;
            parser.parse_document(&page, &ctx, &mut |o| n += matches!(o, ParseOutcome::Events(_)) as usize).expect("an XML page").expect("parses");
            assert_eq!(n, 5000);
        })
    });
    let mut out = Vec::with_capacity(16 << 20);
    g.bench_function("parse+ocsf", |b| {
        b.iter(|| {
            out.clear();
            parser.parse_document(&page, &ctx, &mut |o| {
                encode(&mut out, o);
            });
            std::hint::black_box(out.len())
        })
    });
    g.finish();
}

criterion_group!(benches, records, pan_xml);
criterion_main!(benches);
