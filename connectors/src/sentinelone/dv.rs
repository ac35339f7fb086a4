//! Deep Visibility v2.1 (sentinelone.md §4; deprecated, sunset 2027-02-15): `init-query` →
//! `query-status` until `FINISHED`/`EMPTY_RESULTS` → `dv/events` by cursor. When the console
//! answers that a DV route is gone (404/410), the source falls back to LRQ by itself and says so
//! once in the log.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use logfetch_common::LogKind;
use serde_json::Value;

use super::lrq;
use crate::http::{self, HttpError, RateLimiter, RetryPolicy};
use crate::pull::{BoxFuture, PullError, PullSettings, PullSource, RawPage, TimeWindow};

pub struct DvSource {
    tenant: String,
    base: String,
    token: String,
    client: reqwest::Client,
    limiter: RateLimiter,
    policy: RetryPolicy,
    poll_interval: Duration,
    limit: usize,
    fallback: Box<dyn PullSource>,
    sunset: AtomicBool,
}

pub fn build(s: &PullSettings) -> Result<Box<dyn PullSource>, PullError> {
    let fallback = lrq::build(s)?;
    Ok(Box::new(DvSource {
        tenant: s.tenant.clone(),
        base: s.url.clone().unwrap_or_default().trim_end_matches('/').to_string(),
        token: s.token.clone().unwrap_or_default(),
        client: s.http_client()?,
        limiter: s.limiter.clone(),
        policy: s.policy.clone(),
        poll_interval: s.poll_interval,
        limit: s.page_size.map(|p| p as usize).unwrap_or(20_000).clamp(2, 100_000),
        fallback,
        sunset: AtomicBool::new(false),
    }))
}

enum Outcome {
    Rows(Vec<String>, usize),
    Gone,
}

impl DvSource {
    fn err(&self, e: HttpError) -> PullError {
        if e.is_auth() { PullError::Auth { tenant: self.tenant.clone(), source: e } } else { PullError::Http { tenant: self.tenant.clone(), source: e } }
    }
    fn proto(&self, why: String) -> PullError {
        PullError::Protocol { tenant: self.tenant.clone(), endpoint: format!("{}/web/api/v2.1/dv", self.base), why }
    }

    async fn get(&self, ep: &str, q: &[(&str, String)], requests: &mut u32) -> Result<Option<Value>, PullError> {
        *requests += 1;
        match http::send(ep, &self.limiter, &self.policy, || self.client.get(ep).header("authorization", format!("ApiToken {}", self.token)).query(q)).await {
            Ok(r) => Ok(Some(r.json().await.map_err(|e| self.proto(e.to_string()))?)),
            Err(HttpError::Status { status: 404 | 410, .. }) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    async fn query(&self, kind: LogKind, w: TimeWindow, requests: &mut u32) -> Result<Outcome, PullError> {
        let q = if kind == LogKind::Dns { r#"EventType In ("DNS Resolved", "DNS Unresolved")"# } else { r#"EventType In ("IP Connect", "IP Listen")"# };
        let body = serde_json::json!({
            "query": q, "queryType": ["events"], "limit": self.limit,
            "fromDate": w.start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "toDate": w.end.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        let ep = format!("{}/web/api/v2.1/dv/init-query", self.base);
        *requests += 1;
        let resp = match http::send(&ep, &self.limiter, &self.policy, || self.client.post(&ep).header("authorization", format!("ApiToken {}", self.token)).json(&body)).await {
            Ok(r) => r,
            Err(HttpError::Status { status: 404 | 410, .. }) => return Ok(Outcome::Gone),
            Err(e) => return Err(self.err(e)),
        };
        let v: Value = resp.json().await.map_err(|e| self.proto(e.to_string()))?;
        let qid = v["data"]["queryId"].as_str().ok_or_else(|| self.proto("init-query returned no queryId".into()))?.to_string();
        let status_ep = format!("{}/web/api/v2.1/dv/query-status", self.base);
        loop {
            let Some(v) = self.get(&status_ep, &[("queryId", qid.clone())], requests).await? else { return Ok(Outcome::Gone) };
            let state = v["data"]["responseState"].as_str().unwrap_or("");
            match state {
                "FINISHED" | "EMPTY_RESULTS" => break,
                "FAILED" | "FAILED_CLIENT" | "QUERY_EXPIRED" | "QUERY_CANCEL" | "QUERY_CANCELLED" | "TIMED_OUT" | "TIMEOUT" | "ERROR" | "QUERY_NOT_FOUND" => {
                    return Err(self.proto(format!("query {qid} ended {state}: {}", v["data"]["responseError"].as_str().unwrap_or(""))));
                }
                _ => tokio::time::sleep(self.poll_interval.max(Duration::from_millis(10))).await,
            }
        }
        let events_ep = format!("{}/web/api/v2.1/dv/events", self.base);
        let mut rows = Vec::new();
        let mut total;
        let mut cursor: Option<String> = None;
        loop {
            let mut q = vec![("queryId", qid.clone()), ("limit", "1000".to_string())];
            if let Some(c) = &cursor {
                q.push(("cursor", c.clone()));
            }
            let Some(v) = self.get(&events_ep, &q, requests).await? else { return Ok(Outcome::Gone) };
            total = v["pagination"]["totalItems"].as_u64().unwrap_or(0) as usize;
            rows.extend(v["data"].as_array().into_iter().flatten().map(|e| e.to_string()));
            cursor = v["pagination"]["nextCursor"].as_str().filter(|c| !c.is_empty()).map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        Ok(Outcome::Rows(rows, total))
    }
}

impl PullSource for DvSource {
    fn fetch_page<'a>(&'a self, kind: LogKind, window: TimeWindow, token: Option<&'a str>) -> BoxFuture<'a, Result<RawPage, PullError>> {
        Box::pin(async move {
            if self.sunset.load(Ordering::SeqCst) {
                return self.fallback.fetch_page(kind, window, token).await;
            }
            let mut requests = 0u32;
            let mut out = Vec::new();
            let mut stack = vec![(window.start, window.end)];
            while let Some((s, e)) = stack.pop() {
                match self.query(kind, TimeWindow { start: s, end: e }, &mut requests).await? {
                    Outcome::Gone => {
                        if !self.sunset.swap(true, Ordering::SeqCst) {
                            tracing::warn!(tenant = %self.tenant, "Deep Visibility is gone on this console (sunset 2027-02-15); using the Long Running Query API from now on");
                        }
                        return self.fallback.fetch_page(kind, window, token).await;
                    }
                    Outcome::Rows(rows, total) if rows.len() >= self.limit || total > rows.len() => {
                        let mid = s + (e - s) / 2;
                        if e - s <= chrono::Duration::milliseconds(1) {
                            return Err(self.proto(format!("more than {} events in one millisecond", self.limit)));
                        }
                        stack.push((mid, e));
                        stack.push((s, mid));
                    }
                    Outcome::Rows(rows, _) => out.extend(rows),
                }
            }
            Ok(RawPage { records: out, next_page_token: None, requests })
        })
    }
}
