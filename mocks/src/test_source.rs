//! The `test` vendor's data: deterministic records from a seed.

use chrono::{DateTime, Duration, Utc};

/// A small deterministic PRNG (splitmix64): the same seed gives the same data everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

const DOMAINS: &[&str] = &["www.example.com", "mail.example.org", "cdn.example.net", "api.example.co.uk", "updates.example.com", "login.example.org"];

/// One generated record: its id, time and JSON line.
#[derive(Debug, Clone)]
pub struct TestRecordLine {
    pub id: String,
    pub time: DateTime<Utc>,
    pub kind: &'static str,
    pub line: String,
}

/// `n` records of `kind` ("flow" or "dns") spread evenly over [start, start + span).
pub fn generate(seed: u64, kind: &'static str, n: usize, start: DateTime<Utc>, span: Duration) -> Vec<TestRecordLine> {
    let mut rng = Rng::new(seed ^ if kind == "dns" { 0xD45 } else { 0xF10 });
    let step_ms = if n == 0 { 0 } else { span.num_milliseconds() / n as i64 };
    (0..n)
        .map(|i| {
            let time = start + Duration::milliseconds(step_ms * i as i64);
            let id = format!("{kind}-{seed}-{i}");
            let ts = time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let client = format!("10.0.{}.{}", rng.below(4), 1 + rng.below(250));
            let line = if kind == "dns" {
                let q = DOMAINS[rng.below(DOMAINS.len() as u64) as usize];
                let nx = rng.below(10) == 0;
                let ans = if nx { String::new() } else { format!("\"192.0.2.{}\"", 1 + rng.below(250)) };
                format!(
                    r#"{{"type":"dns","id":"{id}","time":"{ts}","client_ip":"{client}","query":"{q}","qtype":"A","rcode":"{}","answers":[{ans}]}}"#,
                    if nx { "NXDOMAIN" } else { "NOERROR" }
                )
            } else {
                let port = [443u16, 80, 53, 22, 8443][rng.below(5) as usize];
                let proto = if port == 53 { "udp" } else { "tcp" };
                let action = if rng.below(8) == 0 { "deny" } else { "allow" };
                format!(
                    r#"{{"type":"flow","id":"{id}","time":"{ts}","src_ip":"{client}","src_port":{},"dst_ip":"198.51.100.{}","dst_port":{port},"proto":"{proto}","bytes_out":{},"bytes_in":{},"action":"{action}"}}"#,
                    1024 + rng.below(60000),
                    1 + rng.below(250),
                    rng.below(5000),
                    rng.below(500000)
                )
            };
            TestRecordLine { id, time, kind, line }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic() {
        let t = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let a = generate(7, "flow", 10, t, Duration::minutes(10));
        let b = generate(7, "flow", 10, t, Duration::minutes(10));
        assert_eq!(a.iter().map(|r| &r.line).collect::<Vec<_>>(), b.iter().map(|r| &r.line).collect::<Vec<_>>());
        assert_eq!(a[3].time, t + Duration::minutes(3));
        assert_ne!(a[0].line, generate(8, "flow", 1, t, Duration::minutes(1))[0].line);
    }
}

/// One record at time `t_ms` (Unix ms): deterministic in (seed, kind, t_ms).
pub fn record_at(seed: u64, kind: &'static str, t_ms: i64) -> TestRecordLine {
    let time = DateTime::<Utc>::from_timestamp_millis(t_ms).unwrap_or_default();
    let mut one = generate(seed ^ (t_ms as u64).wrapping_mul(0x9E37), kind, 1, time, Duration::milliseconds(1));
    let mut r = one.remove(0);
    let id = format!("{kind}-{t_ms}");
    r.line = r.line.replacen(&r.id, &id, 1);
    r.id = id;
    r
}

/// The mock's HTTP API: `GET /api/v1/records`, with failure injection for tests.
pub mod server {
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

    use axum::extract::{Query, State};
    use axum::http::{HeaderMap, StatusCode};
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use chrono::{DateTime, Utc};
    use serde::Deserialize;

    /// Shared state: knobs the tests turn, and what was served.
    #[derive(Debug, Default)]
    pub struct MockState {
        pub seed: u64,
        /// One record per kind every this many milliseconds.
        pub interval_ms: i64,
        /// Required bearer token, if any.
        pub token: Option<String>,
        /// Answer the next N requests with 429.
        pub rate_limit_next: AtomicU32,
        /// `Retry-After` seconds sent with those 429s (0: no header).
        pub retry_after_secs: AtomicU32,
        /// Answer the next N requests with 503.
        pub fail_next: AtomicU32,
        pub requests: AtomicU64,
        /// Delay every answer by this many milliseconds (a slow vendor).
        pub delay_ms: AtomicU64,
        /// Ids of every record served, in order.
        pub served: std::sync::Mutex<Vec<String>>,
        /// Faults for the next requests, one per request, in order (see [`Fault`]).
        pub faults: std::sync::Mutex<std::collections::VecDeque<Fault>>,
        /// Faults injected so far.
        pub faults_injected: AtomicU64,
        /// The mock's clock runs this many seconds ahead (negative: behind) of the host's: its
        /// `Date` header and the newest record it has follow that clock.
        pub clock_offset_secs: std::sync::atomic::AtomicI64,
    }

    /// One injected fault.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Fault {
        /// 429 with `Retry-After: 1`.
        RateLimit,
        /// 500.
        ServerError,
        /// 503.
        Unavailable,
        /// Answer after this many milliseconds (longer than the client's timeout: a timeout).
        Slow(u64),
        /// A 200 whose body stops half-way and the connection is cut.
        Reset,
        /// A 200 with half a JSON document.
        Truncated,
        /// A 200 that is not JSON.
        Malformed,
        /// 401, as for an expired or revoked token.
        Unauthorized,
    }

    impl std::str::FromStr for Fault {
        type Err = String;
        fn from_str(s: &str) -> Result<Fault, String> {
            Ok(match s.trim() {
                "429" => Fault::RateLimit,
                "500" => Fault::ServerError,
                "503" => Fault::Unavailable,
                "reset" => Fault::Reset,
                "truncated" => Fault::Truncated,
                "malformed" => Fault::Malformed,
                "401" | "expired" => Fault::Unauthorized,
                other => match other.strip_prefix("slow:").and_then(|ms| ms.parse().ok()) {
                    Some(ms) => Fault::Slow(ms),
                    None => return Err(format!("unknown fault `{other}` (429, 500, 503, slow:MS, reset, truncated, malformed, 401)")),
                },
            })
        }
    }

    /// Parses `429,503,slow:3000,reset,...`.
    pub fn parse_faults(spec: &str) -> Result<Vec<Fault>, String> {
        crate::parse_fault_plan(spec)
    }

    #[derive(Deserialize)]
    struct Params {
        kind: String,
        start: String,
        end: String,
        #[serde(default)]
        cursor: u64,
        #[serde(default = "default_limit")]
        limit: u64,
    }
    fn default_limit() -> u64 {
        500
    }

    fn bad(msg: String) -> Response {
        (StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({"error": msg}))).into_response()
    }

    async fn records(State(st): State<Arc<MockState>>, headers: HeaderMap, Query(p): Query<Params>) -> Response {
        st.requests.fetch_add(1, Ordering::SeqCst);
        let delay = st.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        let fault = st.faults.lock().expect("faults").pop_front();
        if let Some(f) = fault {
            st.faults_injected.fetch_add(1, Ordering::SeqCst);
            match f {
                Fault::RateLimit => {
                    let mut resp = (StatusCode::TOO_MANY_REQUESTS, "rate limited").into_response();
                    resp.headers_mut().insert("retry-after", "1".parse().expect("valid header"));
                    return resp;
                }
                Fault::ServerError => return (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response(),
                Fault::Unavailable => return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response(),
                Fault::Slow(ms) => tokio::time::sleep(std::time::Duration::from_millis(ms)).await,
                Fault::Unauthorized => return (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"error": "token expired"}))).into_response(),
                Fault::Malformed => return (StatusCode::OK, [("content-type", "application/json")], "<html>gateway error</html>").into_response(),
                Fault::Truncated => return (StatusCode::OK, [("content-type", "application/json")], "{\"records\": [\"{\\\"id\\\": ").into_response(),
                Fault::Reset => {
                    let chunks: Vec<Result<&'static [u8], std::io::Error>> = vec![Ok(b"{\"records\": ["), Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "cut"))];
                    return (StatusCode::OK, [("content-type", "application/json")], axum::body::Body::from_stream(futures_util::stream::iter(chunks))).into_response();
                }
            }
        }
        if let Some(tok) = &st.token {
            let ok = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {tok}"));
            if !ok {
                return (StatusCode::UNAUTHORIZED, axum::Json(serde_json::json!({"error": "invalid or missing bearer token"}))).into_response();
            }
        }
        if crate::take_one(&st.rate_limit_next) {
            let secs = st.retry_after_secs.load(Ordering::SeqCst);
            let mut resp = (StatusCode::TOO_MANY_REQUESTS, "rate limited").into_response();
            if secs > 0 {
                resp.headers_mut().insert("retry-after", secs.to_string().parse().expect("digits are a valid header"));
            }
            return resp;
        }
        if crate::take_one(&st.fail_next) {
            return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
        }
        let kind: &'static str = match p.kind.as_str() {
            "flow" => "flow",
            "dns" => "dns",
            other => return bad(format!("unknown kind {other}")),
        };
        let parse = |s: &str| DateTime::parse_from_rfc3339(s).map(|d| d.with_timezone(&Utc));
        let (Ok(start), Ok(end)) = (parse(&p.start), parse(&p.end)) else { return bad("start and end must be RFC 3339".into()) };
        if p.limit == 0 || p.limit > 5000 {
            return bad("limit must be 1..=5000".into());
        }
        let iv = st.interval_ms.max(1);
        let vendor_now = Utc::now() + chrono::Duration::seconds(st.clock_offset_secs.load(Ordering::SeqCst));
        let end_ms = end.timestamp_millis().min(vendor_now.timestamp_millis());
        let first = (start.timestamp_millis() + iv - 1).div_euclid(iv);
        let last_excl = (end_ms + iv - 1).div_euclid(iv);
        let total = (last_excl - first).max(0) as u64;
        let from = p.cursor.min(total);
        let to = (from + p.limit).min(total);
        let mut out = Vec::with_capacity((to - from) as usize);
        let mut ids = Vec::with_capacity(out.capacity());
        for i in from..to {
            let r = super::record_at(st.seed, kind, (first + i as i64) * iv);
            ids.push(r.id);
            out.push(r.line);
        }
        st.served.lock().expect("served list").extend(ids);
        let next = if to < total { Some(to) } else { None };
        axum::Json(serde_json::json!({"records": out, "next_cursor": next})).into_response()
    }

    /// The `Date` header by the mock's own (possibly skewed) clock.
    async fn vendor_date(State(st): State<Arc<MockState>>, mut resp: Response) -> Response {
        let now = Utc::now() + chrono::Duration::seconds(st.clock_offset_secs.load(Ordering::SeqCst));
        if let Ok(v) = now.format("%a, %d %b %Y %H:%M:%S GMT").to_string().parse() {
            resp.headers_mut().insert("date", v);
        }
        resp
    }

    async fn served(State(st): State<Arc<MockState>>) -> Response {
        axum::Json(st.served.lock().expect("served list").clone()).into_response()
    }

    async fn faults_left(State(st): State<Arc<MockState>>) -> Response {
        axum::Json(serde_json::json!({"left": st.faults.lock().expect("faults").len(), "injected": st.faults_injected.load(Ordering::SeqCst)})).into_response()
    }

    async fn add_faults(State(st): State<Arc<MockState>>, body: String) -> Response {
        match parse_faults(&body) {
            Ok(f) => {
                st.faults.lock().expect("faults").extend(f);
                StatusCode::NO_CONTENT.into_response()
            }
            Err(e) => bad(e),
        }
    }

    /// Starts the mock on 127.0.0.1 with an OS-chosen port. Returns its address.
    pub async fn start(state: Arc<MockState>) -> std::io::Result<SocketAddr> {
        let app = axum::Router::new()
            .route("/api/v1/records", get(records))
            // Test-only controls (not part of any vendor API).
            .route("/mock/served", get(served))
            .route("/mock/faults", get(faults_left).post(add_faults))
            .layer(axum::middleware::map_response_with_state(state.clone(), vendor_date))
            .with_state(state);
        crate::serve(app).await
    }
}
