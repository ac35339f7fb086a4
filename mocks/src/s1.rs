//! A SentinelOne SDL Long Running Query mock (sentinelone.md §5.3, §8): `POST
//! /sdl/v2/api/queries` with Bearer auth (an `ApiToken` header gets the documented 500), the
//! `X-Dataset-Query-Forward-Tag` that every poll and the DELETE must echo, `lastStepSeen`
//! polling with steps advancing, a 30 s TTL after the last poll, `data.columns`/`data.values`,
//! DELETE → 204, the documented 400s, a row limit (truncation, for window splitting) and 429s.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::test_source::Rng;

pub struct S1Mock {
    pub token: String,
    /// One DNS and one IP event per agent every this many ms.
    pub interval_ms: i64,
    pub agents: Vec<(String, String)>,
    /// Results are cut at this many rows (a query over a longer window is truncated).
    pub max_rows: usize,
    pub steps: u64,
    pub rate_limit_next: AtomicU32,
    pub retry_after: bool,
    next: AtomicU64,
    queries: Mutex<HashMap<String, MockQuery>>,
    /// `event.id` of every row served in a finished query.
    pub served: Mutex<Vec<String>>,
    pub deletes: AtomicU64,
    /// Agents the agents endpoint lists.
    pub agent_count: usize,
    /// DV routes answer 410 (sunset).
    pub dv_sunset: AtomicBool,
    dv_queries: Mutex<HashMap<String, (Vec<Value>, usize, u32)>>,
}

struct MockQuery {
    tag: String,
    rows: Vec<Vec<Value>>,
    steps_done: u64,
    last_poll: std::time::Instant,
}

const COLUMNS: &[&str] = &[
    "event.time", "event.id", "event.type", "event.category", "event.dns.request", "event.dns.response", "src.ip.address", "src.port.number", "dst.ip.address", "dst.port.number",
    "event.network.direction", "meta.event.name", "agent.uuid", "endpoint.name", "site.name", "src.process.name", "src.process.pid", "src.process.user",
];

impl S1Mock {
    pub fn new(interval_ms: i64) -> S1Mock {
        S1Mock {
            token: "s1-token".into(),
            interval_ms,
            agents: vec![("a-111".into(), "laptop-1".into()), ("a-222".into(), "server-2".into())],
            max_rows: 10_000,
            steps: 3,
            rate_limit_next: AtomicU32::new(0),
            retry_after: true,
            next: AtomicU64::new(1),
            queries: Mutex::new(HashMap::new()),
            served: Mutex::new(Vec::new()),
            deletes: AtomicU64::new(0),
            agent_count: 2500,
            dv_sunset: AtomicBool::new(false),
            dv_queries: Mutex::new(HashMap::new()),
        }
    }

    /// Rows of `category` with event.time in [start, end), oldest first.
    fn rows(&self, category: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Vec<Value>> {
        let iv = self.interval_ms.max(1);
        let end = end.min(Utc::now());
        let first = (start.timestamp_millis() + iv - 1).div_euclid(iv);
        let last = (end.timestamp_millis() + iv - 1).div_euclid(iv);
        let mut out = Vec::new();
        for i in first..last {
            let t = i * iv;
            for (ai, (uuid, host)) in self.agents.iter().enumerate() {
                let mut rng = Rng::new(t as u64 ^ (ai as u64) << 40);
                let id = format!("{category}-{t}-{ai}");
                let row: Vec<Value> = if category == "dns" {
                    vec![json!(t), json!(id), json!("DNS Resolved"), json!("dns"), json!(format!("svc{}.example.com", rng.below(50))), json!(format!("type:  5 edge.example.net;192.0.2.{};", 1 + rng.below(250))), json!(format!("10.3.0.{}", ai + 2)), Value::Null, Value::Null, Value::Null, Value::Null, json!("DNS"), json!(uuid), json!(host), json!("HQ"), json!("chrome.exe"), json!(4000 + ai), json!("CORP\\alice")]
                } else {
                    vec![json!(t), json!(id), json!("IP Connect"), json!("ip"), Value::Null, Value::Null, json!(format!("10.3.0.{}", ai + 2)), json!(40000 + rng.below(20000)), json!(format!("203.0.113.{}", 1 + rng.below(250))), json!(443), json!("OUTGOING"), json!("TCPV4"), json!(uuid), json!(host), json!("HQ"), json!("chrome.exe"), json!(4000 + ai), json!("CORP\\alice")]
                };
                out.push(row);
            }
        }
        out
    }
}

fn err(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(json!({"errors": [{"code": status.as_u16(), "detail": msg, "title": msg}]}))).into_response()
}

fn auth(st: &S1Mock, h: &HeaderMap) -> Option<Response> {
    let v = h.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if v.starts_with("ApiToken") {
        return Some(err(StatusCode::INTERNAL_SERVER_ERROR, "Header must start with Bearer, but actually starts with \"ApiTok\""));
    }
    if v != format!("Bearer {}", st.token) {
        return Some((StatusCode::UNAUTHORIZED, axum::Json(json!({"errors": [{"code": 4010010, "detail": null, "title": "Authentication Failed"}]}))).into_response());
    }
    if st.rate_limit_next.load(Ordering::SeqCst) > 0 {
        st.rate_limit_next.fetch_sub(1, Ordering::SeqCst);
        let mut r = err(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
        if st.retry_after {
            r.headers_mut().insert("retry-after", "1".parse().expect("static"));
        }
        return Some(r);
    }
    None
}

async fn launch(State(st): State<Arc<S1Mock>>, h: HeaderMap, axum::Json(b): axum::Json<Value>) -> Response {
    if let Some(r) = auth(&st, &h) {
        return r;
    }
    if b.get("queryType").is_none() {
        return err(StatusCode::BAD_REQUEST, "Query type must be specified");
    }
    if b["tenant"] == json!(true) && b.get("accountIds").is_some() {
        return err(StatusCode::BAD_REQUEST, "tenant=false should be used when querying accountIds");
    }
    let parse = |k: &str| b[k].as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|d| d.with_timezone(&Utc));
    let (Some(start), Some(end)) = (parse("startTime"), parse("endTime")) else { return err(StatusCode::BAD_REQUEST, "startTime and endTime must be ISO-8601") };
    let q = b["pq"]["query"].as_str().unwrap_or("");
    let category = if q.contains("'dns'") { "dns" } else { "ip" };
    let mut rows = st.rows(category, start, end);
    rows.truncate(st.max_rows);
    let n = st.next.fetch_add(1, Ordering::SeqCst);
    let id = format!("q{n}");
    let tag = format!("tag-{n:x}");
    st.queries.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), MockQuery { tag: tag.clone(), rows, steps_done: 0, last_poll: std::time::Instant::now() });
    (StatusCode::OK, [("x-dataset-query-forward-tag", tag)], axum::Json(json!({"id": id, "stepsCompleted": 0, "stepsTotal": 0, "cpuUsage": 0, "data": null}))).into_response()
}

async fn poll(State(st): State<Arc<S1Mock>>, h: HeaderMap, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(r) = auth(&st, &h) {
        return r;
    }
    if !q.contains_key("lastStepSeen") {
        return err(StatusCode::BAD_REQUEST, "lastStepSeen is required");
    }
    let tag = h.get("x-dataset-query-forward-tag").and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut qs = st.queries.lock().unwrap_or_else(|e| e.into_inner());
    let Some(mq) = qs.get_mut(&id).filter(|m| m.tag == tag && m.last_poll.elapsed() < std::time::Duration::from_secs(30)) else {
        return err(StatusCode::NOT_FOUND, "query not found (unknown id, wrong forward tag, or expired)");
    };
    mq.last_poll = std::time::Instant::now();
    mq.steps_done = (mq.steps_done + 1).min(st.steps);
    if mq.steps_done < st.steps {
        return axum::Json(json!({"id": id, "stepsCompleted": mq.steps_done, "stepsTotal": st.steps, "data": null})).into_response();
    }
    st.served.lock().unwrap_or_else(|e| e.into_inner()).extend(mq.rows.iter().filter_map(|r| r[1].as_str().map(str::to_string)));
    let cols: Vec<Value> = COLUMNS.iter().map(|c| json!({"name": c})).collect();
    axum::Json(json!({"id": id, "stepsCompleted": st.steps, "stepsTotal": st.steps, "matchCount": mq.rows.len(), "data": {"columns": cols, "values": mq.rows}})).into_response()
}

async fn delete(State(st): State<Arc<S1Mock>>, h: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(r) = auth(&st, &h) {
        return r;
    }
    let tag = h.get("x-dataset-query-forward-tag").and_then(|v| v.to_str().ok()).unwrap_or("");
    let mut qs = st.queries.lock().unwrap_or_else(|e| e.into_inner());
    match qs.get(&id) {
        Some(m) if m.tag == tag => {
            qs.remove(&id);
            st.deletes.fetch_add(1, Ordering::SeqCst);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => err(StatusCode::NOT_FOUND, "query not found"),
    }
}

/// `GET /web/api/v2.1/agents`: ApiToken auth, `limit` 1..=1000, base64 cursors, `updatedAt__gt`.
async fn agents(State(st): State<Arc<S1Mock>>, h: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    let auth = h.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if auth != format!("ApiToken {}", st.token) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"errors": [{"code": 4010010, "detail": null, "title": "Authentication Failed"}]}))).into_response();
    }
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
    if !(1..=1000).contains(&limit) {
        return err(StatusCode::BAD_REQUEST, "limit must be between 1 and 1000");
    }
    let since = q.get("updatedAt__gt").cloned().unwrap_or_default();
    let all: Vec<Value> = (0..st.agent_count)
        .map(|i| {
            let updated = format!("2026-01-{:02}T00:00:00.000000Z", 1 + i % 28);
            json!({"id": format!("{}", 9000 + i), "uuid": format!("a-{i:03}"), "computerName": format!("host-{i}"), "lastLoggedInUserName": format!("user{i}"), "siteName": "HQ", "osName": "Windows 11",
                "networkInterfaces": [{"name": "eth0", "inet": [format!("10.9.{}.{}", i / 250, i % 250 + 1)]}], "updatedAt": updated})
        })
        .filter(|a| a["updatedAt"].as_str().unwrap_or("") > since.as_str())
        .collect();
    let start: usize = q.get("cursor").and_then(|c| c.strip_prefix("offset:")).and_then(|o| o.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = all.iter().skip(start).take(limit).cloned().collect();
    let next = (start + limit < all.len()).then(|| format!("offset:{}", start + limit));
    axum::Json(json!({"data": page, "pagination": {"totalItems": all.len(), "nextCursor": next}})).into_response()
}

fn mgmt_auth(st: &S1Mock, h: &HeaderMap) -> Option<Response> {
    if h.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("ApiToken {}", st.token)) {
        return Some((StatusCode::UNAUTHORIZED, axum::Json(json!({"errors": [{"code": 4010010, "detail": null, "title": "Authentication Failed"}]}))).into_response());
    }
    if st.dv_sunset.load(Ordering::SeqCst) {
        return Some((StatusCode::GONE, axum::Json(json!({"errors": [{"code": 4100010, "detail": "Deep Visibility was sunset", "title": "Gone"}]}))).into_response());
    }
    None
}

async fn dv_init(State(st): State<Arc<S1Mock>>, h: HeaderMap, axum::Json(b): axum::Json<Value>) -> Response {
    if let Some(r) = mgmt_auth(&st, &h) {
        return r;
    }
    let parse = |k: &str| b[k].as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|d| d.with_timezone(&Utc));
    let (Some(start), Some(end), Some(q)) = (parse("fromDate"), parse("toDate"), b["query"].as_str()) else { return err(StatusCode::BAD_REQUEST, "query, fromDate and toDate are required") };
    if !q.contains("EventType") {
        return err(StatusCode::BAD_REQUEST, "could not parse query");
    }
    let limit = b["limit"].as_u64().unwrap_or(20_000) as usize;
    if !(1..=100_000).contains(&limit) {
        return err(StatusCode::BAD_REQUEST, "limit must be 1..=100000");
    }
    let category = if q.contains("DNS") { "dns" } else { "ip" };
    // DV events in their own camelCase shape.
    let rows: Vec<Value> = st
        .rows(category, start, end)
        .into_iter()
        .map(|r| {
            let ms = r[0].as_i64().unwrap_or(0);
            let t = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            json!({"id": r[1], "eventType": r[2], "createdAt": t, "dnsRequest": r[4], "dnsResponse": r[5], "srcIp": r[6], "srcPort": r[7], "dstIp": r[8], "dstPort": r[9], "direction": r[10], "agentUuid": r[12], "agentName": r[13], "siteName": r[14], "processName": r[15], "pid": r[16], "processUserName": r[17]})
        })
        .collect();
    let total = rows.len();
    let mut rows = rows;
    rows.truncate(limit);
    let n = st.next.fetch_add(1, Ordering::SeqCst);
    let id = format!("dv{n}");
    st.dv_queries.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), (rows, total, 0));
    axum::Json(json!({"data": {"queryId": id}})).into_response()
}

async fn dv_status(State(st): State<Arc<S1Mock>>, h: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(r) = mgmt_auth(&st, &h) {
        return r;
    }
    let id = q.get("queryId").cloned().unwrap_or_default();
    let mut qs = st.dv_queries.lock().unwrap_or_else(|e| e.into_inner());
    let Some(entry) = qs.get_mut(&id) else { return axum::Json(json!({"data": {"responseState": "QUERY_NOT_FOUND", "progressStatus": 0}})).into_response() };
    entry.2 += 1;
    let state = if entry.2 < 2 { "RUNNING" } else if entry.0.is_empty() { "EMPTY_RESULTS" } else { "FINISHED" };
    axum::Json(json!({"data": {"responseState": state, "progressStatus": if entry.2 < 2 { 50 } else { 100 }}})).into_response()
}

async fn dv_events(State(st): State<Arc<S1Mock>>, h: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(r) = mgmt_auth(&st, &h) {
        return r;
    }
    let id = q.get("queryId").cloned().unwrap_or_default();
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
    if !(1..=1000).contains(&limit) {
        return err(StatusCode::BAD_REQUEST, "limit must be 1..=1000");
    }
    let qs = st.dv_queries.lock().unwrap_or_else(|e| e.into_inner());
    let Some((rows, total, _)) = qs.get(&id) else { return err(StatusCode::BAD_REQUEST, "unknown queryId") };
    let start: usize = q.get("cursor").and_then(|c| c.strip_prefix("offset:")).and_then(|o| o.parse().ok()).unwrap_or(0);
    let page: Vec<Value> = rows.iter().skip(start).take(limit).cloned().collect();
    st.served.lock().unwrap_or_else(|e| e.into_inner()).extend(page.iter().filter_map(|r| r["id"].as_str().map(str::to_string)));
    let next = (start + limit < rows.len()).then(|| format!("offset:{}", start + limit));
    axum::Json(json!({"data": page, "pagination": {"totalItems": total, "nextCursor": next}})).into_response()
}

async fn served(State(st): State<Arc<S1Mock>>) -> Response {
    axum::Json(st.served.lock().unwrap_or_else(|e| e.into_inner()).clone()).into_response()
}

pub async fn start(state: Arc<S1Mock>) -> std::io::Result<SocketAddr> {
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route("/sdl/v2/api/queries", post(launch))
        .route("/sdl/v2/api/queries/{id}", get(poll).delete(delete))
        .route("/web/api/v2.1/agents", get(agents))
        .route("/web/api/v2.1/dv/init-query", post(dv_init))
        .route("/web/api/v2.1/dv/query-status", get(dv_status))
        .route("/web/api/v2.1/dv/events", get(dv_events))
        .route("/mock/served", get(served))
        .with_state(state);
    crate::serve(app).await
}
