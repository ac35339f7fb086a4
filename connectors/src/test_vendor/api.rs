//! Pull client for the `test` vendor's HTTP API (served by `logfetch-mocks`):
//! `GET {url}/api/v1/records?kind=flow&start=RFC3339&end=RFC3339&cursor=N&limit=M` with
//! `Authorization: Bearer <token>`, answering `{"records":[...lines...],"next_cursor":N|null}`.

use logfetch_common::LogKind;
use serde::Deserialize;

use crate::http::{self, RateLimiter, RetryPolicy};
use crate::pull::{BoxFuture, PullError, PullSettings, PullSource, RawPage, TimeWindow};

pub struct TestApi {
    tenant: String,
    base_url: String,
    token: Option<String>,
    client: reqwest::Client,
    limiter: RateLimiter,
    policy: RetryPolicy,
    page_size: u32,
}

/// Builds the client from tenant settings (`connection.url` required, `token` optional).
pub fn build(s: &PullSettings) -> Result<Box<dyn PullSource>, PullError> {
    let url = s.url.clone().ok_or_else(|| PullError::Config { tenant: s.tenant.clone(), why: "connection.url is required for vendor `test`".into() })?;
    Ok(Box::new(TestApi {
        tenant: s.tenant.clone(),
        base_url: url,
        token: s.token.clone(),
        client: s.http_client()?,
        limiter: s.limiter.clone(),
        policy: s.policy.clone(),
        page_size: s.page_size.unwrap_or(500).clamp(1, 5000),
    }))
}

#[derive(Deserialize)]
struct PageBody {
    records: Vec<String>,
    next_cursor: Option<u64>,
}

impl PullSource for TestApi {
    fn fetch_page<'a>(&'a self, kind: LogKind, window: TimeWindow, page_token: Option<&'a str>) -> BoxFuture<'a, Result<RawPage, PullError>> {
        Box::pin(async move {
            let endpoint = format!("{}/api/v1/records", self.base_url.trim_end_matches('/'));
            let start = window.start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let end = window.end.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let cursor = page_token.unwrap_or("0").to_string();
            let limit = self.page_size.to_string();
            let resp = http::send(&endpoint, &self.limiter, &self.policy, || {
                let mut rb = self.client.get(&endpoint).query(&[("kind", kind.as_str()), ("start", &start), ("end", &end), ("cursor", &cursor), ("limit", &limit)]);
                if let Some(t) = &self.token {
                    rb = rb.bearer_auth(t);
                }
                rb
            })
            .await
            .map_err(|e| if e.is_auth() { PullError::Auth { tenant: self.tenant.clone(), source: e } } else { PullError::Http { tenant: self.tenant.clone(), source: e } })?;
            let body: PageBody = resp.json().await.map_err(|e| PullError::Protocol { tenant: self.tenant.clone(), endpoint: endpoint.clone(), why: e.to_string() })?;
            Ok(RawPage { records: body.records, next_page_token: body.next_cursor.map(|c| c.to_string()), requests: 1 })
        })
    }
}
