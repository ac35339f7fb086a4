//! Deep Visibility v2.1 (sentinelone.md §4; deprecated, sunset 2027-02-15): `init-query` →
//! `query-status` until `FINISHED`/`EMPTY_RESULTS` → `dv/events` by cursor.
//!
//! - Rate limits (§3) are kept inside the tenant's budget: `init-query` at most once per
//!   `query_launch_interval` (default 1 minute) and `query-status` once per second per token;
//!   429s are honoured with or without `Retry-After`.
//! - A query that ends `FAILED`, `QUERY_EXPIRED`, `QUERY_CANCEL`, `TIMED_OUT`... or whose results
//!   vanish while paging is run again with back-off ([`super::retry`]); `FAILED_CLIENT` (our query
//!   was refused) fails at once.
//! - A window whose result reaches the query `limit` is split in halves, so nothing is truncated.
//! - When `init-query` answers 404/410 (or any DV route answers 410), the console has retired
//!   DV: the source switches to LRQ for the rest of the process and says so once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use logfetch_common::LogKind;
use serde_json::Value;

use super::lrq;
use super::retry::{QueryFail, with_retries};
use crate::http::{self, HttpError, RateLimiter, RetryPolicy};
use crate::pull::{BoxFuture, PullError, PullSettings, PullSource, RawPage, TimeWindow};

/// Consoles (base URLs) that answered that DV is gone. Process-wide: a retired API stays
/// retired, and the fallback is announced once per console.
static SUNSET: LazyLock<Mutex<HashSet<String>>> = LazyLock::new(Mutex::default);

/// Longest wait for one query to finish.
const QUERY_TIMEOUT: Duration = Duration::from_secs(15 * 60);

pub struct DvSource {
    tenant: String,
    base: String,
    token: String,
    client: reqwest::Client,
    limiter: RateLimiter,
    init_limiter: RateLimiter,
    status_limiter: RateLimiter,
    policy: RetryPolicy,
    poll_interval: Duration,
    limit: usize,
    fallback: Box<dyn PullSource>,
}

pub fn build(s: &PullSettings) -> Result<Box<dyn PullSource>, PullError> {
    let fallback = lrq::build(s)?;
    let launch = s.query_launch_interval.unwrap_or(Duration::from_secs(60)).max(Duration::from_millis(1));
    Ok(Box::new(DvSource {
        tenant: s.tenant.clone(),
        base: s.url.clone().unwrap_or_default().trim_end_matches('/').to_string(),
        token: s.token.clone().unwrap_or_default(),
        client: s.http_client()?,
        limiter: s.limiter.clone(),
        init_limiter: s.limiter.route("s1.dv.init-query", 1.0 / launch.as_secs_f64()),
        status_limiter: s.limiter.route("s1.dv.query-status", 1.0),
        policy: s.policy.clone(),
        poll_interval: s.poll_interval,
        limit: s.page_size.map(|p| p as usize).unwrap_or(20_000).clamp(2, 100_000),
        fallback,
    }))
}

enum Outcome {
    /// The rows, and how many the console says matched.
    Rows(Vec<String>, usize),
    /// DV is retired on this console.
    Gone,
}

/// The `errors[]` text of an error body, whichever of `title`/`message`/`detail` it uses.
fn error_text(body: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(body) else { return body.chars().take(200).collect() };
    let parts: Vec<String> = v["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| ["title", "message", "detail"].iter().filter_map(|k| e[*k].as_str()).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(": "))
        .collect();
    if parts.is_empty() { body.chars().take(200).collect() } else { parts.join("; ") }
}

impl DvSource {
    fn endpoint(&self, route: &str) -> String {
        format!("{}/web/api/v2.1/dv/{route}", self.base)
    }

    fn fatal(&self, e: HttpError) -> QueryFail {
        QueryFail::Fatal(match e {
            HttpError::Status { status: 401, .. } => PullError::Auth { tenant: self.tenant.clone(), source: e },
            HttpError::Status { status: 403, .. } => PullError::Config {
                tenant: self.tenant.clone(),
                why: format!("the API token may not use Deep Visibility (needs the `SDL Data.viewEdr` permission and the Complete SKU): {e}"),
            },
            HttpError::Status { status: 400, ref body, .. } if body.contains("could not parse query") => {
                PullError::Protocol { tenant: self.tenant.clone(), endpoint: self.endpoint("init-query"), why: format!("the console refused the S1QL query: {}", error_text(body)) }
            }
            e => PullError::Http { tenant: self.tenant.clone(), source: e },
        })
    }

    fn proto(&self, route: &str, why: String) -> QueryFail {
        QueryFail::Fatal(PullError::Protocol { tenant: self.tenant.clone(), endpoint: self.endpoint(route), why })
    }

    fn is_sunset(&self) -> bool {
        SUNSET.lock().unwrap_or_else(|e| e.into_inner()).contains(&self.base)
    }

    fn mark_sunset(&self, why: &str) {
        if SUNSET.lock().unwrap_or_else(|e| e.into_inner()).insert(self.base.clone()) {
            tracing::warn!(tenant = %self.tenant, console = %self.base, answer = why, "Deep Visibility is gone on this console (deprecated, sunset 2027-02-15); using the Long Running Query API from now on");
        }
    }

    async fn get(&self, route: &str, limiter: Option<&RateLimiter>, q: &[(&str, String)], requests: &AtomicU32) -> Result<Value, QueryFail> {
        let ep = self.endpoint(route);
        requests.fetch_add(1, Ordering::Relaxed);
        let mut limiters = vec![&self.limiter];
        limiters.extend(limiter);
        let resp = http::send_via(&ep, &limiters, &self.policy, || self.client.get(&ep).header("authorization", format!("ApiToken {}", self.token)).query(q)).await;
        match resp {
            Ok(r) => r.json().await.map_err(|e| self.proto(route, format!("not JSON: {e}"))),
            Err(HttpError::Status { status: 410, body, .. }) => {
                self.mark_sunset(&format!("HTTP 410 on {route}: {}", error_text(&body)));
                Err(QueryFail::Retry("Deep Visibility retired".into()))
            }
            // The query's results are gone (expired or unknown): run it again.
            Err(HttpError::Status { status: 404 | 400, body, .. }) if route != "init-query" => Err(QueryFail::Retry(format!("{route}: {}", error_text(&body)))),
            Err(e) => Err(self.fatal(e)),
        }
    }

    async fn query(&self, kind: LogKind, w: TimeWindow, requests: &AtomicU32) -> Result<Outcome, QueryFail> {
        if self.is_sunset() {
            return Ok(Outcome::Gone);
        }
        let q = if kind == LogKind::Dns { r#"EventType In ("DNS Resolved", "DNS Unresolved")"# } else { r#"EventType In ("IP Connect", "IP Listen")"# };
        let body = serde_json::json!({
            "query": q, "queryType": ["events"], "limit": self.limit, "isVerbose": true,
            "fromDate": w.start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "toDate": w.end.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        let ep = self.endpoint("init-query");
        requests.fetch_add(1, Ordering::Relaxed);
        let sent = http::send_via(&ep, &[&self.limiter, &self.init_limiter], &self.policy, || self.client.post(&ep).header("authorization", format!("ApiToken {}", self.token)).json(&body)).await;
        let resp = match sent {
            Ok(r) => r,
            Err(HttpError::Status { status: status @ (404 | 410), body, .. }) => {
                self.mark_sunset(&format!("HTTP {status} on init-query: {}", error_text(&body)));
                return Ok(Outcome::Gone);
            }
            Err(e) => return Err(self.fatal(e)),
        };
        let v: Value = resp.json().await.map_err(|e| self.proto("init-query", format!("not JSON: {e}")))?;
        let qid = v["data"]["queryId"].as_str().ok_or_else(|| self.proto("init-query", "the answer has no data.queryId".into()))?.to_string();
        let started = Instant::now();
        loop {
            tokio::time::sleep(self.poll_interval.max(Duration::from_millis(10))).await;
            let v = match self.get("query-status", Some(&self.status_limiter), &[("queryId", qid.clone())], requests).await {
                Err(QueryFail::Retry(_)) if self.is_sunset() => return Ok(Outcome::Gone),
                r => r?,
            };
            let state = v["data"]["responseState"].as_str().unwrap_or("");
            let error = v["data"]["responseError"].as_str().unwrap_or("");
            match state {
                "FINISHED" | "EMPTY_RESULTS" => break,
                "FAILED_CLIENT" => return Err(self.proto("query-status", format!("query {qid} was refused (FAILED_CLIENT): {error}"))),
                "FAILED" | "ERROR" | "QUERY_EXPIRED" | "QUERY_CANCEL" | "QUERY_CANCELLED" | "TIMED_OUT" | "TIMEOUT" | "QUERY_NOT_FOUND" => {
                    return Err(QueryFail::Retry(format!("query {qid} ended {state}{}", if error.is_empty() { String::new() } else { format!(": {error}") })));
                }
                // RUNNING, EVENTS_RUNNING, PLANNING... and states not known yet: still running.
                _ if started.elapsed() > QUERY_TIMEOUT => {
                    let _ = self.client.post(self.endpoint("cancel-query")).header("authorization", format!("ApiToken {}", self.token)).json(&serde_json::json!({"queryId": qid})).send().await;
                    return Err(QueryFail::Retry(format!("query {qid} still {state} after {} s", QUERY_TIMEOUT.as_secs())));
                }
                _ => {}
            }
        }
        let mut rows = Vec::new();
        let mut total;
        let mut cursor: Option<String> = None;
        loop {
            let mut q = vec![("queryId", qid.clone()), ("limit", "1000".to_string()), ("sortBy", "createdAt".to_string()), ("sortOrder", "asc".to_string())];
            if let Some(c) = &cursor {
                q.push(("cursor", c.clone()));
            }
            let v = match self.get("events", None, &q, requests).await {
                Err(QueryFail::Retry(_)) if self.is_sunset() => return Ok(Outcome::Gone),
                r => r?,
            };
            total = v["pagination"]["totalItems"].as_u64().unwrap_or(0) as usize;
            let data = v["data"].as_array().ok_or_else(|| self.proto("events", "the answer has no data array".into()))?;
            rows.extend(data.iter().map(Value::to_string));
            cursor = v["pagination"]["nextCursor"].as_str().filter(|c| !c.is_empty()).map(str::to_string);
            if cursor.is_none() || data.is_empty() {
                break;
            }
        }
        Ok(Outcome::Rows(rows, total))
    }
}

impl PullSource for DvSource {
    fn fetch_page<'a>(&'a self, kind: LogKind, window: TimeWindow, token: Option<&'a str>) -> BoxFuture<'a, Result<RawPage, PullError>> {
        Box::pin(async move {
            if self.is_sunset() {
                return self.fallback.fetch_page(kind, window, token).await;
            }
            let requests = AtomicU32::new(0);
            let mut out = Vec::new();
            // Depth-first over halves of the window while a result reaches the limit.
            let mut stack = vec![(window.start, window.end)];
            while let Some((s, e)) = stack.pop() {
                let w = TimeWindow { start: s, end: e };
                let outcome = with_retries(&self.tenant, &self.endpoint("init-query"), &self.policy, || self.query(kind, w, &requests)).await?;
                match outcome {
                    Outcome::Gone => return self.fallback.fetch_page(kind, window, token).await,
                    Outcome::Rows(rows, total) if rows.len() >= self.limit || total > rows.len() => {
                        if e - s <= chrono::Duration::milliseconds(1) {
                            return Err(PullError::Protocol { tenant: self.tenant.clone(), endpoint: self.endpoint("init-query"), why: format!("more than {} events in one millisecond: raise connection.page_size", self.limit) });
                        }
                        tracing::info!(tenant = %self.tenant, rows = rows.len(), total, "result reached the query limit; splitting the window");
                        let mid = s + (e - s) / 2;
                        stack.push((mid, e));
                        stack.push((s, mid));
                    }
                    Outcome::Rows(rows, _) => out.extend(rows),
                }
            }
            Ok(RawPage { records: out, next_page_token: None, requests: requests.into_inner() })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::error_text;

    #[test]
    fn error_bodies_in_both_shapes() {
        assert_eq!(error_text(r#"{"errors":[{"code":4010010,"detail":null,"title":"Authentication Failed"}]}"#), "Authentication Failed");
        assert_eq!(error_text(r#"{"errors":[{"code":400,"message":"bad","detail":"could not parse query"}]}"#), "bad: could not parse query");
        assert_eq!(error_text("plain"), "plain");
    }
}
