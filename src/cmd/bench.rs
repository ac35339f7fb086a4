//! `logfetch bench enrich`: throughput of parse → enrich → OCSF encode with a large indicator set,
//! with and without enrichment, and the memory the indicators take (hidden; for the README).

use std::process::ExitCode;
use std::time::Instant;

use clap::Subcommand;
use logfetch_common::Format;
use logfetch_connectors::{ParseContext, ParseOutcome, RecordParser};
use logfetch_scheduler::enrich::ti::{FeedSpec, TiStore};
use logfetch_scheduler::enrich::{EnrichSources, TenantEnricher};

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Events/s through parse + enrichment + OCSF encoding, and memory, with N indicators loaded.
    Enrich {
        #[arg(long, default_value_t = 1_000_000)]
        indicators: usize,
        #[arg(long, default_value_t = 500_000)]
        events: usize,
    },
    /// Memory and speed of the DNS hunting state with N distinct domains streamed through.
    Hunt {
        #[arg(long, default_value_t = 1_000_000)]
        domains: usize,
    },
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status").ok().and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())).unwrap_or(0)
}

fn bench_hunt(domains: usize) -> anyhow::Result<ExitCode> {
    use logfetch_scheduler::hunt::{HuntConfig, Hunter, Query};
    let rss0 = rss_kib();
    let mut h = Hunter::new(HuntConfig::default());
    let t = Instant::now();
    let mut findings = 0usize;
    for i in 0..domains {
        let name = format!("h{}.d{i:x}.com", i % 7);
        let client = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        findings += h.observe(&Query { time: i as i64, client: &client, name: &name, qtype: Some("A"), rcode: Some(0), uid: "", ti_feeds: vec![] }).len();
        if i % 250_000 == 0 && i > 0 {
            let (d, c) = h.tracked();
            println!("after {i:>9} domains: {d} domains and {c} clients tracked, resident memory +{} MiB", rss_kib().saturating_sub(rss0) / 1024);
        }
    }
    let s = t.elapsed().as_secs_f64();
    let (d, c) = h.tracked();
    println!("{domains} distinct domains in {s:.2} s ({:.0} queries/s), {findings} findings; tracked at the end: {d} domains, {c} clients; resident memory +{} MiB", domains as f64 / s, rss_kib().saturating_sub(rss0) / 1024);
    Ok(ExitCode::SUCCESS)
}

pub fn run(cmd: BenchCommand) -> anyhow::Result<ExitCode> {
    let (indicators, events) = match cmd {
        BenchCommand::Hunt { domains } => return bench_hunt(domains),
        BenchCommand::Enrich { indicators, events } => (indicators, events),
    };
    // Indicators: 60% domains, 30% addresses, 10% CIDRs.
    let mut text = String::with_capacity(indicators * 24);
    for i in 0..indicators {
        match i % 10 {
            0 => text.push_str(&format!("{}.{}.0.0/16\n", 11 + (i / 10) % 80, (i / 800) % 256)),
            1..=3 => text.push_str(&format!("{}.{}.{}.{}\n", 20 + (i % 70), (i >> 8) % 256, (i >> 16) % 256, i % 251)),
            _ => text.push_str(&format!("bad-{i:x}.example-{}.net\n", i % 997)),
        }
    }
    let rss0 = rss_kib();
    let t = Instant::now();
    let spec = FeedSpec { name: "bench".into(), format: "list".into(), subdomains: true, ..FeedSpec::default() };
    let loaded = spec.parse(&text, 0, None);
    let n = loaded.indicators.len();
    drop(text);
    let store = TiStore::build(vec!["bench".into()], vec![loaded.indicators]);
    let load_s = t.elapsed().as_secs_f64();
    let rss1 = rss_kib();
    println!("{n} indicators loaded in {load_s:.2} s; resident memory +{} MiB", (rss1.saturating_sub(rss0)) / 1024);
    let sources = EnrichSources::empty();
    sources.set_ti(store);
    let en = TenantEnricher::new(sources.clone(), &["threat_intel".to_string(), "user".to_string()]).expect("enrichment");
    // Events: the test vendor's flow and DNS records, a share of them hitting indicators.
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    let mut lines: Vec<String> = logfetch_mocks::test_source::generate(1, "flow", events / 2, start, chrono::Duration::hours(1)).into_iter().map(|r| r.line).collect();
    lines.extend(logfetch_mocks::test_source::generate(2, "dns", events / 2, start, chrono::Duration::hours(1)).into_iter().map(|r| r.line));
    for (i, l) in lines.iter_mut().enumerate().filter(|(i, _)| i % 20 == 0) {
        let k = (i / 20 % (indicators / 10).max(1)) * 10 + 5;
        *l = l.replace("www.example.com", &format!("x.bad-{k:x}.example-{}.net", k % 997));
    }
    let parser = logfetch_connectors::test_vendor::TestParser;
    let ctx = ParseContext::new("bench", chrono_tz::UTC);
    for enrich in [false, true] {
        let t = Instant::now();
        let (mut out, mut bytes, mut matched) = (0usize, 0usize, 0usize);
        for l in &lines {
            if let ParseOutcome::Events(evs) = parser.parse(l, &ctx) {
                for mut e in evs {
                    if enrich {
                        en.enrich(&mut e);
                        matched += usize::from(!e.envelope().enrichments.is_empty());
                    }
                    bytes += serde_json::to_vec(&logfetch_common::encode(&e, Format::Ocsf)).map_or(0, |v| v.len());
                    out += 1;
                }
            }
        }
        let s = t.elapsed().as_secs_f64();
        println!("{:<18} {out} events in {s:.2} s = {:.0} events/s ({} MiB of OCSF){}", if enrich { "with enrichment" } else { "without enrichment" }, out as f64 / s, bytes >> 20, if enrich { format!(", {matched} events matched") } else { String::new() });
    }
    println!("resident memory at the end: {} MiB", rss_kib() / 1024);
    Ok(ExitCode::SUCCESS)
}
