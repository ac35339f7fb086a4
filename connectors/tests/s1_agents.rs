//! SentinelOne agents sync against the mock: cursor paging, the incremental cursor, the cache.

use std::sync::Arc;
use std::time::Duration;

use logfetch_connectors::http::{RateLimiter, RetryPolicy};
use logfetch_connectors::sentinelone::agents::{cached_agent, sync_agents};
use logfetch_mocks::s1::{self, S1Mock};

#[tokio::test]
async fn agents_page_by_cursor_and_sync_incrementally() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let m = Arc::new(S1Mock::new(1000));
    let addr = s1::start(m.clone()).await.unwrap();
    let base = format!("http://{addr}");
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let c = reqwest::Client::new();
    let (lim, pol) = (RateLimiter::new(100.0), RetryPolicy { base_backoff: Duration::from_millis(10), ..RetryPolicy::default() });
    let (n, newest) = sync_agents(&c, &base, "s1-token", &db, "s1", None, &lim, &pol).await.unwrap();
    assert_eq!(n, 2500, "three pages of at most 1000");
    assert_eq!(newest.as_deref(), Some("2026-01-28T00:00:00.000000Z"));
    let a = cached_agent(&db, "s1", "a-042").unwrap();
    assert_eq!((a["name"].as_str(), a["user"].as_str(), a["ips"][0].as_str()), (Some("host-42"), Some("user42"), Some("10.9.0.43")));
    // Incremental: only agents updated after the cursor.
    let (n2, _) = sync_agents(&c, &base, "s1-token", &db, "s1", Some("2026-01-27T00:00:00.000000Z"), &lim, &pol).await.unwrap();
    assert!(n2 > 0 && n2 < 200, "{n2}");
    let e = sync_agents(&c, &base, "wrong", &db, "s1", None, &lim, &pol).await.unwrap_err();
    assert!(e.is_auth(), "{e}");
}

fn settings(url: String) -> logfetch_connectors::pull::PullSettings {
    logfetch_connectors::pull::PullSettings {
        tenant: "s1".into(),
        url: Some(url),
        token: Some("s1-token".into()),
        username: None,
        password: None,
        ca_file: None,
        tls_verify: true,
        timeout: Duration::from_secs(10),
        page_size: Some(500),
        limiter: RateLimiter::new(1000.0),
        policy: RetryPolicy { base_backoff: Duration::from_millis(10), ..RetryPolicy::default() },
        tz: chrono_tz::UTC,
        poll_interval: Duration::from_millis(10),
        api: None,
        query_launch_interval: None,
    }
}

fn s1_mock() -> S1Mock {
    let mut m = S1Mock::new(1000);
    m.dv_init_interval = Duration::from_millis(100);
    // Straight to the final state: status polls are limited to 1 per second.
    m.dv_status_polls = 1;
    m
}

#[tokio::test]
async fn deep_visibility_pages_splits_retries_and_falls_back_to_lrq_after_sunset() {
    use logfetch_common::LogKind;
    use logfetch_connectors::pull::TimeWindow;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let m = Arc::new(s1_mock());
    let addr = s1::start(m.clone()).await.unwrap();
    let mut set = settings(format!("http://{addr}"));
    set.page_size = Some(300);
    set.query_launch_interval = Some(Duration::from_millis(100));
    let src = logfetch_connectors::sentinelone::dv::build(&set).unwrap();
    let end = chrono::Utc::now() - chrono::Duration::minutes(1);
    // 4 minutes x 2 agents = 480 DNS events; a 300-event limit forces a split. The first
    // query fails, the second expires, and a burst of 429s (half without Retry-After) hits.
    m.fail_plan.lock().unwrap().extend(["FAILED".to_string(), "QUERY_EXPIRED".to_string()]);
    m.rate_limit_next.store(3, std::sync::atomic::Ordering::SeqCst);
    let w = TimeWindow { start: end - chrono::Duration::minutes(4), end };
    let page = src.fetch_page(LogKind::Dns, w, None).await.unwrap();
    assert_eq!(page.records.len(), 480);
    let ids: std::collections::BTreeSet<String> = page.records.iter().map(|r| serde_json::from_str::<serde_json::Value>(r).unwrap()["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 480, "no duplicates across the split halves");
    assert_eq!(m.failed_on_purpose.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert!(m.too_many.load(std::sync::atomic::Ordering::SeqCst) >= 3);
    let ev: serde_json::Value = serde_json::from_str(&page.records[0]).unwrap();
    assert_eq!(ev["eventType"], "DNS Resolved");
    // The parser reads DV events.
    let ctx = logfetch_connectors::ParseContext::new("s1", chrono_tz::UTC);
    assert!(matches!(logfetch_connectors::RecordParser::parse(&logfetch_connectors::sentinelone::SentinelOneParser, &page.records[0], &ctx), logfetch_connectors::ParseOutcome::Events(_)));
    // A query that keeps failing fails the fetch with the reason.
    m.fail_plan.lock().unwrap().extend(std::iter::repeat_n("FAILED".to_string(), 4));
    let short = TimeWindow { start: end - chrono::Duration::minutes(1), end };
    let e = src.fetch_page(LogKind::Flow, short, None).await.unwrap_err().to_string();
    assert!(e.contains("tenant `s1`") && e.contains("failed 4 times") && e.contains("FAILED"), "{e}");
    // Sunset: DV answers 410; the source falls back to LRQ for good.
    m.dv_sunset.store(true, std::sync::atomic::Ordering::SeqCst);
    let page = src.fetch_page(LogKind::Flow, w, None).await.unwrap();
    assert_eq!(page.records.len(), 480);
    let row: serde_json::Value = serde_json::from_str(&page.records[0]).unwrap();
    assert!(row.get("event.id").is_some(), "an LRQ row now: {row}");
}

#[tokio::test]
async fn lrq_runs_failed_and_expired_queries_again_and_names_bad_credentials() {
    use logfetch_common::LogKind;
    use logfetch_connectors::pull::TimeWindow;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let m = Arc::new(s1_mock());
    let addr = s1::start(m.clone()).await.unwrap();
    let src = logfetch_connectors::sentinelone::lrq::build(&settings(format!("http://{addr}"))).unwrap();
    let end = chrono::Utc::now() - chrono::Duration::minutes(1);
    let w = TimeWindow { start: end - chrono::Duration::minutes(2), end };
    m.fail_plan.lock().unwrap().extend(["FAILED".to_string(), "QUERY_EXPIRED".to_string()]);
    let page = src.fetch_page(LogKind::Dns, w, None).await.unwrap();
    assert_eq!(page.records.len(), 240);
    assert_eq!(m.failed_on_purpose.load(std::sync::atomic::Ordering::SeqCst), 2);
    m.fail_plan.lock().unwrap().extend(std::iter::repeat_n("QUERY_EXPIRED".to_string(), 4));
    let e = src.fetch_page(LogKind::Dns, w, None).await.unwrap_err().to_string();
    assert!(e.contains("failed 4 times") && e.contains("expired"), "{e}");
    for (tok, want) in [("wrong", "authentication failed"), ("s1-noscope", "403")] {
        let mut s = settings(format!("http://{addr}"));
        s.token = Some(tok.into());
        let e = logfetch_connectors::sentinelone::lrq::build(&s).unwrap().fetch_page(LogKind::Dns, w, None).await.unwrap_err().to_string();
        assert!(e.contains("tenant `s1`") && e.contains(want) && !e.contains(tok), "{e}");
    }
}
