//! A GeoIP database replaced while events stream through enrichment: every event is enriched
//! (by the old or the new database), none is lost, and the swap takes effect without a restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use logfetch_common::event::{Endpoint, Envelope, Event, FlowActivity, FlowEvent};
use logfetch_config::EnrichmentConfig;
use logfetch_scheduler::enrich::mmdb_writer::{MmdbWriter, city_record};
use logfetch_scheduler::enrich::{EnrichSources, TenantEnricher};

fn db(path: &std::path::Path, iso: &str) {
    let mut w = MmdbWriter::new("GeoLite2-City");
    // Enough networks that loading takes a moment.
    for i in 0..20_000u32 {
        let ip = std::net::Ipv4Addr::from(0x0800_0000 + (i << 8));
        w.insert(ip.into(), 24, &city_record(iso, iso, "Somewhere", &format!("city-{i}"), 1.0, 2.0));
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, w.finish()).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_swap_mid_stream_loses_and_blocks_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("city.mmdb");
    db(&p, "US");
    let cfg = EnrichmentConfig { geoip: Some(p.clone()), ..EnrichmentConfig::default() };
    let sources = EnrichSources::open(&cfg, None, &|_| Err("no secrets".into())).await.unwrap();
    let en = TenantEnricher::new(sources.clone(), &["geo".to_string()]).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let worker = std::thread::spawn(move || {
        let (mut n, mut us, mut other, mut missing) = (0u64, 0u64, 0u64, 0u64);
        let mut slowest = std::time::Duration::ZERO;
        while !stop2.load(Ordering::SeqCst) || n < 50_000 {
            let env = Envelope::new("t", "V", "P", "test", Utc::now(), Some(format!("{n}")), "", true);
            let mut f = FlowEvent::new(env, FlowActivity::Open);
            f.dst = Endpoint { ip: Some(std::net::Ipv4Addr::from(0x0800_0000 + ((n as u32 % 20_000) << 8) + 7).into()), ..Endpoint::default() };
            let mut ev = Event::Flow(f);
            let t = std::time::Instant::now();
            en.enrich(&mut ev);
            slowest = slowest.max(t.elapsed());
            let Event::Flow(f) = ev else { unreachable!() };
            match f.dst.location.and_then(|l| l.country) {
                Some(c) if c == "US" => us += 1,
                Some(_) => other += 1,
                None => missing += 1,
            }
            n += 1;
        }
        (n, us, other, missing, slowest)
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    db(&p, "DE");
    // The watcher's tick: notices the change and swaps.
    sources.tick().await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.store(true, Ordering::SeqCst);
    let (n, us, de, missing, slowest) = worker.join().unwrap();
    eprintln!("{n} events, {us} US, {de} DE, slowest enrichment {slowest:?}");
    assert_eq!(missing, 0, "every event was enriched");
    assert_eq!(us + de, n, "none lost");
    assert!(us > 0 && de > 0, "the new database took over mid-stream: {us} / {de}");
    assert!(sources.stats.reloads.load(Ordering::Relaxed) >= 1);
}

#[tokio::test]
async fn url_feeds_refresh_and_a_failing_refresh_keeps_the_previous_indicators() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let body = Arc::new(std::sync::Mutex::new(Some("evil.example\n203.0.113.0/24\n".to_string())));
    let b2 = body.clone();
    let app = axum::Router::new().route(
        "/feed",
        axum::routing::get(move |h: axum::http::HeaderMap| {
            let b = b2.clone();
            async move {
                if h.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer feed-token") {
                    return (axum::http::StatusCode::UNAUTHORIZED, String::new());
                }
                match b.lock().unwrap().clone() {
                    Some(t) => (axum::http::StatusCode::OK, t),
                    None => (axum::http::StatusCode::SERVICE_UNAVAILABLE, "down".to_string()),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let cfg: EnrichmentConfig = serde_json::from_value(serde_json::json!({"feed": [{"name": "remote", "url": format!("http://{addr}/feed"), "refresh": "1ms", "token": "env:LOGFETCH_TEST_FEED_TOKEN"}]})).unwrap();
    let sources = EnrichSources::open(&cfg, None, &|_| Ok("feed-token".into())).await.unwrap();
    let now = Utc::now().timestamp();
    assert_eq!(sources.ti().match_domain("evil.example", now).len(), 1);
    assert_eq!(sources.ti().match_ip("203.0.113.9".parse().unwrap(), now).len(), 1);
    // The feed changes: the next refresh replaces the indicators.
    *body.lock().unwrap() = Some("other.example\n".into());
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    sources.tick().await;
    assert!(sources.ti().match_domain("evil.example", now).is_empty());
    assert_eq!(sources.ti().match_domain("other.example", now).len(), 1);
    // The feed fails: the last good indicators stay, the failure is counted.
    *body.lock().unwrap() = None;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    sources.tick().await;
    assert_eq!(sources.ti().match_domain("other.example", now).len(), 1);
    assert!(sources.stats.source_failures.load(Ordering::Relaxed) >= 1);
    // A bad token at start-up is a clear error naming the feed.
    let e = EnrichSources::open(&cfg, None, &|_| Ok("wrong".into())).await.unwrap_err();
    assert!(e.contains("feed `remote`") && e.contains("401"), "{e}");
}

#[tokio::test]
async fn a_feed_over_max_indicators_is_cut_counted_and_logged() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("flood.txt");
    let lines: String = (0..10_000).map(|i| format!("host{i}.flood.example\n")).collect();
    std::fs::write(&p, lines).unwrap();
    let cfg: EnrichmentConfig = serde_json::from_value(serde_json::json!({"max_indicators": 2500, "feed": [{"name": "flood", "path": p}]})).unwrap();
    let sources = EnrichSources::open(&cfg, None, &|_| Err("no secrets".into())).await.unwrap();
    assert_eq!(sources.ti().len(), 2500, "the feed is cut at the limit");
    assert_eq!(sources.stats.indicators_dropped.load(Ordering::Relaxed), 7500);
    assert!(sources.render_metrics().contains("logfetch_enrich_indicators_dropped_total 7500"), "{}", sources.render_metrics());
}
