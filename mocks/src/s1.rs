//! A SentinelOne mock (sentinelone.md §8).
//!
//! - LRQ (§5.3): `POST /sdl/v2/api/queries` with Bearer auth (an `ApiToken` header gets the
//!   documented 500), the `X-Dataset-Query-Forward-Tag` every poll and the DELETE must echo,
//!   `lastStepSeen` polling with steps advancing, a 30 s TTL after the last poll (then 404),
//!   `data.columns`/`data.values`, DELETE → 204, the documented 400s, a row limit (truncation,
//!   for window splitting), 3 requests/s per token → 429.
//! - Deep Visibility (§4): `init-query` (validation, `could not parse query`, 1 per
//!   `dv_init_interval` per token → 429), `query-status` walking RUNNING → EVENTS_RUNNING →
//!   FINISHED / EMPTY_RESULTS or a planned FAILED / QUERY_EXPIRED / QUERY_CANCEL (1 per second per
//!   token), `events` and `events/{type}` (both `DNS Resolved` and `dns` spellings) with base64
//!   cursors and `totalItems`, results that expire, `cancel-query` (`queryId` or `queryID`), and
//!   a sunset switch after which every DV route answers 410.
//! - Management auth: `ApiToken`; a token without the scope gets the documented 403.
//! - 429s alternate between carrying `Retry-After` and not. Events can show up late (ingest lag),
//!   and the clock can be frozen so a test knows exactly what exists.

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
    /// A token that authenticates but may not use DV or LRQ (403).
    pub noscope_token: String,
    /// Each event shows up between 0 and this many ms after it happened.
    pub ingest_lag_ms: i64,
    /// When set, time stands still here and every event before it is visible.
    pub frozen: Mutex<Option<DateTime<Utc>>>,
    /// Least time between two DV `init-query` calls per token (§3: 1 per minute).
    pub dv_init_interval: std::time::Duration,
    /// Status polls until a DV query reaches its final state (RUNNING, EVENTS_RUNNING, final).
    pub dv_status_polls: u32,
    /// DV results are fetchable this long after the query finished.
    pub dv_ttl: std::time::Duration,
    /// Outcomes for the next queries (DV and LRQ), in launch order: `FAILED`, `QUERY_EXPIRED`,
    /// `QUERY_CANCEL`; queries launched after the plan is used up succeed.
    pub fail_plan: Mutex<std::collections::VecDeque<String>>,
    /// 429s answered, queries failed on purpose.
    pub too_many: AtomicU64,
    pub failed_on_purpose: AtomicU64,
    buckets: Mutex<HashMap<&'static str, (f64, std::time::Instant)>>,
    next: AtomicU64,
    queries: Mutex<HashMap<String, MockQuery>>,
    /// `event.id` of every row served in a finished query.
    pub served: Mutex<Vec<String>>,
    pub deletes: AtomicU64,
    /// Agents the agents endpoint lists.
    pub agent_count: usize,
    /// DV routes answer 410 (sunset).
    pub dv_sunset: AtomicBool,
    dv_queries: Mutex<HashMap<String, DvQuery>>,
}

struct DvQuery {
    rows: Vec<Value>,
    total: usize,
    polls: u32,
    outcome: String,
    finished: Option<std::time::Instant>,
}

struct MockQuery {
    tag: String,
    rows: Vec<Vec<Value>>,
    steps_done: u64,
    last_poll: std::time::Instant,
    /// `FAILED`: every poll answers 500; `QUERY_EXPIRED`/`QUERY_CANCEL`: gone at the first poll.
    outcome: String,
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
            noscope_token: "s1-noscope".into(),
            ingest_lag_ms: 0,
            frozen: Mutex::new(None),
            dv_init_interval: std::time::Duration::from_secs(60),
            dv_status_polls: 3,
            dv_ttl: std::time::Duration::from_secs(600),
            fail_plan: Mutex::new(Default::default()),
            too_many: AtomicU64::new(0),
            failed_on_purpose: AtomicU64::new(0),
            buckets: Mutex::new(HashMap::new()),
            next: AtomicU64::new(1),
            queries: Mutex::new(HashMap::new()),
            served: Mutex::new(Vec::new()),
            deletes: AtomicU64::new(0),
            agent_count: 2500,
            dv_sunset: AtomicBool::new(false),
            dv_queries: Mutex::new(HashMap::new()),
        }
    }

    /// "Now" for the data: the frozen instant, or the clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.frozen.lock().unwrap_or_else(|e| e.into_inner()).unwrap_or_else(Utc::now)
    }

    /// The outcome planned for the next query.
    fn next_outcome(&self) -> Option<String> {
        let o = self.fail_plan.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
        if o.is_some() {
            self.failed_on_purpose.fetch_add(1, Ordering::SeqCst);
        }
        o
    }

    /// A token bucket per route: `None` when the call may go ahead, else how long to wait.
    fn take(&self, route: &'static str, rate: f64, burst: f64) -> Option<std::time::Duration> {
        let mut b = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let now = std::time::Instant::now();
        let e = b.entry(route).or_insert((burst, now));
        // 50 ms of grace for the client's timer.
        let elapsed = now.duration_since(e.1).as_secs_f64() + 0.05;
        e.0 = (e.0 + elapsed * rate).min(burst);
        e.1 = now;
        if e.0 >= 1.0 {
            e.0 -= 1.0;
            None
        } else {
            Some(std::time::Duration::from_secs_f64((1.0 - e.0) / rate))
        }
    }

    /// A 429, every other one without `Retry-After`.
    fn too_many(&self, wait: std::time::Duration) -> Response {
        let n = self.too_many.fetch_add(1, Ordering::SeqCst);
        let mut r = err(StatusCode::TOO_MANY_REQUESTS, "Too many requests");
        if n % 2 == 0 {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u64;
            r.headers_mut().insert("retry-after", secs.to_string().parse().expect("digits"));
        }
        r
    }

    /// Rows of `category` with event.time in [start, end) that have shown up by now, oldest first.
    fn rows(&self, category: &str, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Vec<Value>> {
        let iv = self.interval_ms.max(1);
        let frozen = self.frozen.lock().unwrap_or_else(|e| e.into_inner()).is_some();
        let now = self.now();
        let end = end.min(now);
        let first = (start.timestamp_millis() + iv - 1).div_euclid(iv);
        let last = (end.timestamp_millis() + iv - 1).div_euclid(iv);
        let mut out = Vec::new();
        for i in first..last {
            let t = i * iv;
            for (ai, (uuid, host)) in self.agents.iter().enumerate() {
                let mut rng = Rng::new(t as u64 ^ (ai as u64) << 40);
                if !frozen && self.ingest_lag_ms > 0 && t + (rng.next_u64() % self.ingest_lag_ms as u64) as i64 > now.timestamp_millis() {
                    continue;
                }
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
    if v == format!("Bearer {}", st.noscope_token) {
        return Some(forbidden());
    }
    if v != format!("Bearer {}", st.token) {
        return Some(unauthorized());
    }
    if let Some(r) = storm(st) {
        return Some(r);
    }
    // About 3 requests per second per user (§3).
    st.take("lrq", 3.0, 3.0).map(|w| st.too_many(w))
}

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, axum::Json(json!({"errors": [{"code": 4010010, "detail": null, "title": "Authentication Failed"}]}))).into_response()
}

fn forbidden() -> Response {
    (StatusCode::FORBIDDEN, axum::Json(json!({"errors": [{"code": 4030010, "detail": null, "title": "Insufficient permissions"}]}))).into_response()
}

/// The injected 429 storm: the next `rate_limit_next` requests, whatever the route.
fn storm(st: &S1Mock) -> Option<Response> {
    crate::take_one(&st.rate_limit_next).then(|| st.too_many(std::time::Duration::from_secs(1)))
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
    let outcome = st.next_outcome().unwrap_or_default();
    st.queries.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), MockQuery { tag: tag.clone(), rows, steps_done: 0, last_poll: std::time::Instant::now(), outcome });
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
    match mq.outcome.as_str() {
        "FAILED" => return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"status": "error/server", "message": "query execution failed"}))).into_response(),
        "QUERY_EXPIRED" | "QUERY_CANCEL" => {
            qs.remove(&id);
            return err(StatusCode::NOT_FOUND, "query not found (unknown id, wrong forward tag, or expired)");
        }
        _ => {}
    }
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
    if let Some(r) = mgmt_token(&st, &h) {
        return r;
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

/// Management routes: `ApiToken <t>` (any case of the prefix).
fn mgmt_token(st: &S1Mock, h: &HeaderMap) -> Option<Response> {
    let v = h.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    let (scheme, tok) = v.split_once(' ').unwrap_or(("", ""));
    if !scheme.eq_ignore_ascii_case("apitoken") {
        return Some(unauthorized());
    }
    if tok == st.noscope_token {
        return Some(forbidden());
    }
    if tok != st.token {
        return Some(unauthorized());
    }
    storm(st)
}

/// DV routes: management auth, then the sunset switch.
fn mgmt_auth(st: &S1Mock, h: &HeaderMap) -> Option<Response> {
    if let Some(r) = mgmt_token(st, h) {
        return Some(r);
    }
    if st.dv_sunset.load(Ordering::SeqCst) {
        return Some((StatusCode::GONE, axum::Json(json!({"errors": [{"code": 4100010, "detail": "Deep Visibility was sunset on 2027-02-15; use the Long Running Query API", "title": "Gone"}]}))).into_response());
    }
    None
}

async fn dv_init(State(st): State<Arc<S1Mock>>, h: HeaderMap, axum::Json(b): axum::Json<Value>) -> Response {
    if let Some(r) = mgmt_auth(&st, &h) {
        return r;
    }
    // 1 call per minute for each user token (§3).
    if let Some(w) = st.take("dv-init", 1.0 / st.dv_init_interval.as_secs_f64().max(0.001), 1.0) {
        return st.too_many(w);
    }
    let parse = |k: &str| b[k].as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|d| d.with_timezone(&Utc));
    let (Some(start), Some(end), Some(q)) = (parse("fromDate"), parse("toDate"), b["query"].as_str()) else { return err(StatusCode::BAD_REQUEST, "query, fromDate and toDate are required") };
    if !q.contains("EventType") {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"errors": [{"code": 400, "title": "Invalid user input received", "detail": "could not parse query"}]}))).into_response();
    }
    let limit = b["limit"].as_u64().unwrap_or(20_000) as usize;
    if !(1..=100_000).contains(&limit) {
        return err(StatusCode::BAD_REQUEST, "limit must be 1..=100000");
    }
    let category = if q.contains("DNS") { "dns" } else { "ip" };
    // DV events in their own camelCase shape, createdAt with microseconds.
    let mut rows: Vec<Value> = st
        .rows(category, start, end)
        .into_iter()
        .filter(|r| r[0].as_i64().unwrap_or(0) <= end.timestamp_millis())
        .map(|r| {
            let ms = r[0].as_i64().unwrap_or(0);
            let t = DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            json!({"id": r[1], "eventType": r[2], "objectType": category, "createdAt": t, "dnsRequest": r[4], "dnsResponse": r[5], "srcIp": r[6], "srcPort": r[7], "dstIp": r[8], "dstPort": r[9], "direction": r[10], "agentUuid": r[12], "agentName": r[13], "siteName": r[14], "processName": r[15], "pid": r[16], "processUserName": r[17]})
        })
        .collect();
    let total = rows.len();
    rows.truncate(limit);
    let n = st.next.fetch_add(1, Ordering::SeqCst);
    let id = format!("dv{n}");
    let outcome = st.next_outcome().unwrap_or_else(|| if rows.is_empty() { "EMPTY_RESULTS".into() } else { "FINISHED".into() });
    st.dv_queries.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), DvQuery { rows, total, polls: 0, outcome, finished: None });
    axum::Json(json!({"data": {"queryId": id, "queryModeInfo": {"mode": "scalyr", "lastActivatedAt": Utc::now().to_rfc3339()}}})).into_response()
}

async fn dv_status(State(st): State<Arc<S1Mock>>, h: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    if let Some(r) = mgmt_auth(&st, &h) {
        return r;
    }
    // 1 call per second for each user token (§3).
    if let Some(w) = st.take("dv-status", 1.0, 1.0) {
        return st.too_many(w);
    }
    let id = q.get("queryId").cloned().unwrap_or_default();
    let mut qs = st.dv_queries.lock().unwrap_or_else(|e| e.into_inner());
    let Some(dq) = qs.get_mut(&id) else { return axum::Json(json!({"data": {"responseState": "QUERY_NOT_FOUND", "progressStatus": 0}})).into_response() };
    dq.polls += 1;
    let (state, progress) = match dq.polls {
        n if n >= st.dv_status_polls => (dq.outcome.as_str(), 100),
        1 => ("RUNNING", 30),
        _ => ("EVENTS_RUNNING", 70),
    };
    if matches!(state, "FINISHED" | "EMPTY_RESULTS") && dq.finished.is_none() {
        dq.finished = Some(std::time::Instant::now());
    }
    let mut data = json!({"responseState": state, "progressStatus": progress});
    if state == "FAILED" {
        data["responseError"] = json!("Internal error while running the query");
    }
    axum::Json(json!({"data": data})).into_response()
}

fn encode_cursor(offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("offset:{offset}"))
}

fn decode_cursor(c: &str) -> Option<usize> {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD.decode(c).ok()?;
    String::from_utf8(raw).ok()?.strip_prefix("offset:")?.parse().ok()
}

async fn dv_events_typed(st: State<Arc<S1Mock>>, h: HeaderMap, Path(t): Path<String>, q: Query<HashMap<String, String>>) -> Response {
    // Both spellings: `DNS Resolved` (the spec) and `dns` (older clients).
    let types: &[&str] = match t.to_ascii_lowercase().as_str() {
        "dns" => &["DNS Resolved", "DNS Unresolved"],
        "ip" => &["IP Connect", "IP Listen"],
        "dns resolved" => &["DNS Resolved"],
        "dns unresolved" => &["DNS Unresolved"],
        "ip connect" => &["IP Connect"],
        "ip listen" => &["IP Listen"],
        _ => return err(StatusCode::BAD_REQUEST, "unknown event type"),
    };
    dv_page(st, h, q, Some(types))
}

async fn dv_events(st: State<Arc<S1Mock>>, h: HeaderMap, q: Query<HashMap<String, String>>) -> Response {
    dv_page(st, h, q, None)
}

fn dv_page(State(st): State<Arc<S1Mock>>, h: HeaderMap, Query(q): Query<HashMap<String, String>>, types: Option<&[&str]>) -> Response {
    if let Some(r) = mgmt_auth(&st, &h) {
        return r;
    }
    let id = q.get("queryId").cloned().unwrap_or_default();
    let limit: usize = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 10,
        Some(Ok(l)) if (1..=1000).contains(&l) => l,
        _ => return err(StatusCode::BAD_REQUEST, "limit must be 1..=1000"),
    };
    let start = match q.get("cursor") {
        None => 0,
        Some(c) => match decode_cursor(c) {
            Some(o) => o,
            None => return err(StatusCode::BAD_REQUEST, "invalid cursor"),
        },
    };
    let mut qs = st.dv_queries.lock().unwrap_or_else(|e| e.into_inner());
    let Some(dq) = qs.get(&id) else { return (StatusCode::NOT_FOUND, axum::Json(json!({"errors": [{"code": 4040010, "detail": "QUERY_NOT_FOUND", "title": "Requested resource was not found"}]}))).into_response() };
    let Some(done) = dq.finished else { return err(StatusCode::BAD_REQUEST, "the query has not finished") };
    if done.elapsed() > st.dv_ttl {
        qs.remove(&id);
        return (StatusCode::NOT_FOUND, axum::Json(json!({"errors": [{"code": 4040010, "detail": "QUERY_EXPIRED", "title": "Requested resource was not found"}]}))).into_response();
    }
    let rows: Vec<&Value> = dq.rows.iter().filter(|r| types.is_none_or(|t| t.iter().any(|t| r["eventType"] == *t))).collect();
    let page: Vec<Value> = rows.iter().skip(start).take(limit).map(|v| (*v).clone()).collect();
    st.served.lock().unwrap_or_else(|e| e.into_inner()).extend(page.iter().filter_map(|r| r["id"].as_str().map(str::to_string)));
    let next = (start + limit < rows.len()).then(|| encode_cursor(start + limit));
    let total = if types.is_none() { dq.total } else { rows.len() };
    axum::Json(json!({"data": page, "pagination": {"totalItems": total, "nextCursor": next}})).into_response()
}

async fn dv_cancel(State(st): State<Arc<S1Mock>>, h: HeaderMap, axum::Json(b): axum::Json<Value>) -> Response {
    if let Some(r) = mgmt_auth(&st, &h) {
        return r;
    }
    // The spec's text says `queryID`, its schema `queryId`.
    let id = b["queryId"].as_str().or(b["queryID"].as_str()).unwrap_or_default().to_string();
    match st.dv_queries.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&id) {
        Some(dq) => {
            dq.outcome = "QUERY_CANCEL".into();
            dq.polls = dq.polls.max(2);
            axum::Json(json!({"data": {"success": true}})).into_response()
        }
        None => err(StatusCode::BAD_REQUEST, "unknown queryId"),
    }
}

/// Test controls: `POST /mock/sunset`, `POST /mock/freeze` (answers the frozen instant),
/// `POST /mock/fail?outcomes=FAILED,QUERY_EXPIRED`, `GET /mock/stats`.
async fn control(State(st): State<Arc<S1Mock>>, Path(what): Path<String>, Query(q): Query<HashMap<String, String>>) -> Response {
    match what.as_str() {
        "sunset" => {
            st.dv_sunset.store(true, Ordering::SeqCst);
            axum::Json(json!({"sunset": true})).into_response()
        }
        "freeze" => {
            let mut f = st.frozen.lock().unwrap_or_else(|e| e.into_inner());
            let t = *f.get_or_insert_with(Utc::now);
            axum::Json(json!({"frozen_at_ms": t.timestamp_millis()})).into_response()
        }
        "fail" => {
            let mut plan = st.fail_plan.lock().unwrap_or_else(|e| e.into_inner());
            plan.extend(q.get("outcomes").into_iter().flat_map(|o| o.split(',')).filter(|o| !o.is_empty()).map(str::to_string));
            axum::Json(json!({"planned": plan.len()})).into_response()
        }
        _ => err(StatusCode::NOT_FOUND, "unknown control"),
    }
}

async fn stats(State(st): State<Arc<S1Mock>>) -> Response {
    axum::Json(json!({
        "too_many_requests": st.too_many.load(Ordering::SeqCst),
        "failed_on_purpose": st.failed_on_purpose.load(Ordering::SeqCst),
        "planned_failures_left": st.fail_plan.lock().unwrap_or_else(|e| e.into_inner()).len(),
        "deletes": st.deletes.load(Ordering::SeqCst),
        "sunset": st.dv_sunset.load(Ordering::SeqCst),
    }))
    .into_response()
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
        .route("/web/api/v2.1/dv/events/{event_type}", get(dv_events_typed))
        .route("/web/api/v2.1/dv/cancel-query", post(dv_cancel))
        .route("/mock/served", get(served))
        .route("/mock/stats", get(stats))
        .route("/mock/{what}", post(control))
        .with_state(state);
    crate::serve(app).await
}
