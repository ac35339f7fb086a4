//! SentinelOne Long Running Query pull (sentinelone.md §5.3): `POST /sdl/v2/api/queries` with the
//! Bearer token, then `GET …/{id}?lastStepSeen=n` with the `X-Dataset-Query-Forward-Tag` about
//! every second (the query lives 30 s after the last poll) until `stepsCompleted >= stepsTotal`,
//! the `data.columns`/`data.values` table, and always `DELETE`. A window whose result fills the
//! row limit is split in halves and queried again, so nothing is silently truncated.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use logfetch_common::LogKind;
use serde_json::{Map, Value};

use super::retry::{QueryFail, with_retries};
use crate::http::{self, HttpError, RateLimiter, RetryPolicy};
use crate::pull::{BoxFuture, PullError, PullSettings, PullSource, RawPage, TimeWindow};

pub struct LrqSource {
    tenant: String,
    base: String,
    token: String,
    client: reqwest::Client,
    limiter: RateLimiter,
    /// LRQ: about 3 requests per second per user (§3), inside the tenant's budget.
    route_limiter: RateLimiter,
    policy: RetryPolicy,
    poll_interval: Duration,
    row_limit: usize,
}

pub fn build(s: &PullSettings) -> Result<Box<dyn PullSource>, PullError> {
    let cfg = |why: &str| PullError::Config { tenant: s.tenant.clone(), why: why.into() };
    let base = s.url.clone().ok_or_else(|| cfg("connection.url (the console, https://<console>.sentinelone.net) is required"))?;
    let token = s.token.clone().ok_or_else(|| cfg("connection.token (or api_key): the API token is required"))?;
    Ok(Box::new(LrqSource {
        tenant: s.tenant.clone(),
        base: base.trim_end_matches('/').to_string(),
        token,
        client: s.http_client()?,
        limiter: s.limiter.clone(),
        route_limiter: s.limiter.route("s1.lrq", 3.0),
        policy: s.policy.clone(),
        poll_interval: s.poll_interval,
        row_limit: s.page_size.map(|p| p as usize).unwrap_or(10_000).max(2),
    }))
}

const COLUMNS: &str = "event.time, event.id, event.type, event.category, event.dns.request, event.dns.response, src.ip.address, src.port.number, dst.ip.address, dst.port.number, event.network.direction, meta.event.name, agent.uuid, endpoint.name, site.name, src.process.name, src.process.pid, src.process.user";

impl LrqSource {
    fn err(&self, e: HttpError) -> PullError {
        if e.is_auth() { PullError::Auth { tenant: self.tenant.clone(), source: e } } else { PullError::Http { tenant: self.tenant.clone(), source: e } }
    }
    /// Polls: one retry on a 5xx, then the query counts as failed and is run again.
    fn poll_policy(&self) -> RetryPolicy {
        RetryPolicy { max_retries: self.policy.max_retries.min(1), ..self.policy.clone() }
    }

    fn proto(&self, why: String) -> PullError {
        PullError::Protocol { tenant: self.tenant.clone(), endpoint: format!("{}/sdl/v2/api/queries", self.base), why }
    }

    /// One query over `[start, end)`; the rows as JSON objects. A query that expires (404 on a
    /// poll: unknown id + tag) or keeps failing server-side is [`QueryFail::Retry`].
    async fn query(&self, kind: LogKind, start: DateTime<Utc>, end: DateTime<Utc>, requests: &AtomicU32) -> Result<Vec<Map<String, Value>>, QueryFail> {
        let cat = if kind == LogKind::Dns { "dns" } else { "ip" };
        let body = serde_json::json!({
            "queryType": "PQ", "tenant": true,
            "startTime": start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "endTime": end.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "queryPriority": "HIGH",
            "pq": {"query": format!("event.category = '{cat}' | columns {COLUMNS} | sort event.time | limit {}", self.row_limit), "resultType": "TABLE"},
        });
        let ep = format!("{}/sdl/v2/api/queries", self.base);
        requests.fetch_add(1, Ordering::Relaxed);
        let resp = http::send_via(&ep, &[&self.limiter, &self.route_limiter], &self.policy, || self.client.post(&ep).bearer_auth(&self.token).json(&body)).await.map_err(|e| self.err(e))?;
        let tag = resp.headers().get("x-dataset-query-forward-tag").and_then(|v| v.to_str().ok()).map(str::to_string).ok_or_else(|| self.proto("no X-Dataset-Query-Forward-Tag on the launch answer".into()))?;
        let v: Value = resp.json().await.map_err(|e| self.proto(e.to_string()))?;
        let id = v["id"].as_str().ok_or_else(|| self.proto("no query id".into()))?.to_string();
        let qep = format!("{ep}/{id}");
        let result = async {
            let mut last = 0u64;
            for _ in 0..600 {
                requests.fetch_add(1, Ordering::Relaxed);
                let ls = last.to_string();
                let sent = http::send_via(&qep, &[&self.limiter, &self.route_limiter], &self.poll_policy(), || {
                    self.client.get(&qep).bearer_auth(&self.token).header("x-dataset-query-forward-tag", &tag).query(&[("lastStepSeen", ls.as_str())])
                })
                .await;
                let resp = match sent {
                    Ok(r) => r,
                    Err(HttpError::Status { status: 404, body, .. }) => return Err(QueryFail::Retry(format!("query {id} expired or is unknown (HTTP 404: {})", body.chars().take(200).collect::<String>()))),
                    Err(HttpError::Exhausted { last, .. }) => return Err(QueryFail::Retry(format!("query {id} failed: {last}"))),
                    Err(e) => return Err(QueryFail::Fatal(self.err(e))),
                };
                let v: Value = resp.json().await.map_err(|e| self.proto(e.to_string()))?;
                let (done, total) = (v["stepsCompleted"].as_u64().unwrap_or(0), v["stepsTotal"].as_u64().unwrap_or(0));
                last = done;
                if total > 0 && done >= total {
                    let cols: Vec<String> = v["data"]["columns"].as_array().ok_or_else(|| self.proto("finished without data.columns".into()))?.iter().map(|c| c["name"].as_str().unwrap_or("").to_string()).collect();
                    let rows = v["data"]["values"].as_array().cloned().unwrap_or_default();
                    return Ok(rows
                        .into_iter()
                        .filter_map(|r| r.as_array().cloned())
                        .map(|cells| cols.iter().cloned().zip(cells).filter(|(_, v)| !v.is_null()).collect::<Map<String, Value>>())
                        .collect());
                }
                // Well inside the 30 s keep-alive.
                tokio::time::sleep(self.poll_interval.min(Duration::from_secs(5))).await;
            }
            Err(QueryFail::Retry(format!("query {id} did not finish")))
        }
        .await;
        // Always clean up.
        requests.fetch_add(1, Ordering::Relaxed);
        self.route_limiter.acquire().await;
        let _ = self.client.delete(&qep).bearer_auth(&self.token).header("x-dataset-query-forward-tag", &tag).send().await;
        result
    }
}

impl PullSource for LrqSource {
    fn fetch_page<'a>(&'a self, kind: LogKind, window: TimeWindow, _page_token: Option<&'a str>) -> BoxFuture<'a, Result<RawPage, PullError>> {
        Box::pin(async move {
            let requests = AtomicU32::new(0);
            let mut out: Vec<String> = Vec::new();
            // Depth-first over halves of the window while a result fills the limit.
            let mut stack = vec![(window.start, window.end)];
            while let Some((s, e)) = stack.pop() {
                let rows = with_retries(&self.tenant, &format!("{}/sdl/v2/api/queries", self.base), &self.policy, || self.query(kind, s, e, &requests)).await?;
                if rows.len() >= self.row_limit {
                    let span = e - s;
                    if span <= chrono::Duration::milliseconds(1) {
                        return Err(self.proto(format!("more than {} events in one millisecond: raise connection.page_size", self.row_limit)));
                    }
                    let mid = s + span / 2;
                    tracing::info!(tenant = %self.tenant, rows = rows.len(), "result hit the row limit; splitting the window");
                    stack.push((mid, e));
                    stack.push((s, mid));
                    continue;
                }
                out.extend(rows.into_iter().map(|m| Value::Object(m).to_string()));
            }
            Ok(RawPage { records: out, next_page_token: None, requests: requests.into_inner() })
        })
    }
}
