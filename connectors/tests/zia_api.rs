//! The ZIA API client against the mock: both login methods, paging, 429 in both styles, the
//! sled cache.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use logfetch_connectors::http::RetryPolicy;
use logfetch_connectors::zscaler::api::{ZiaAuth, ZiaClient, cached_user, sync_directory};
use logfetch_mocks::zia::{self, ZiaMock};

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

fn fast() -> RetryPolicy {
    RetryPolicy { base_backoff: Duration::from_millis(10), ..RetryPolicy::default() }
}

#[tokio::test]
async fn legacy_login_pages_users_and_caches_them() {
    let m = Arc::new(ZiaMock::new(250));
    m.rate_limit_next.store(1, Ordering::SeqCst);
    let addr = zia::start(m.clone()).await.unwrap();
    let auth = ZiaAuth::Legacy { api_key: m.api_key.clone(), username: m.username.clone(), password: m.password.clone() };
    let mut c = ZiaClient::new("zia", &format!("http://{addr}"), auth, client()).with_rate(100.0, fast());
    let t = std::time::Instant::now();
    let users = c.fetch_all("users", 100).await.unwrap();
    assert_eq!(users.len(), 250, "three pages: 100, 100, 50");
    assert!(t.elapsed() >= Duration::from_secs(1), "the 429's `Retry-After: 1 seconds` was honoured");
    let dir = tempfile::tempdir().unwrap();
    let db = sled::open(dir.path()).unwrap();
    let (u, d, g) = sync_directory(&mut c, &db, "zia", 100).await.unwrap();
    assert_eq!((u, d, g), (250, 4, 3));
    let alice = cached_user(&db, "zia", "USER7@example.com").unwrap();
    assert_eq!(alice["department"]["name"], "Legal");
    assert_eq!(m.logins.load(Ordering::SeqCst), 1, "one session for everything");
}

#[tokio::test]
async fn oauth_login_and_oneapi_rate_limit_headers() {
    let m = Arc::new(ZiaMock::new(30));
    m.rate_limit_next.store(2, Ordering::SeqCst);
    let addr = zia::start(m.clone()).await.unwrap();
    let auth = ZiaAuth::OAuth { token_url: format!("http://{addr}/oauth2/v1/token"), client_id: m.client_id.clone(), client_secret: m.client_secret.clone() };
    let mut c = ZiaClient::new("zia", &format!("http://{addr}/zia"), auth, client()).with_rate(100.0, fast());
    let depts = c.fetch_all("departments", 2).await.unwrap();
    assert_eq!(depts.len(), 4);
    assert_eq!(c.fetch_all("users", 10).await.unwrap().len(), 30);
}

#[tokio::test]
async fn wrong_credentials_are_clear_login_errors() {
    let m = Arc::new(ZiaMock::new(1));
    let addr = zia::start(m.clone()).await.unwrap();
    let auth = ZiaAuth::Legacy { api_key: "zzzzzzzzzzzzzzzz".into(), username: m.username.clone(), password: m.password.clone() };
    let mut c = ZiaClient::new("zia", &format!("http://{addr}"), auth, client()).with_rate(100.0, fast());
    let e = c.fetch_all("users", 10).await.unwrap_err().to_string();
    assert!(e.contains("tenant `zia`: ZIA login failed") && e.contains("401"), "{e}");
    let auth = ZiaAuth::OAuth { token_url: format!("http://{addr}/oauth2/v1/token"), client_id: "x".into(), client_secret: "nope".into() };
    let mut c = ZiaClient::new("zia", &format!("http://{addr}/zia"), auth, client()).with_rate(100.0, fast());
    let e = c.fetch_all("users", 10).await.unwrap_err().to_string();
    assert!(e.contains("login failed") && !e.contains("nope"), "{e}");
}
