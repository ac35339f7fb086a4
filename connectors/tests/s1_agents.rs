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
