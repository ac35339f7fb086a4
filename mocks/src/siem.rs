//! SIEM receivers for the network sinks' tests: a Splunk HEC (`/services/collector/event`,
//! HEC's JSON error bodies and codes, indexer-ack channels) and an Elasticsearch `_bulk`
//! (`errors: true` with per-item statuses: 201, 409 for a duplicate `_id`, 429, 400 mapping
//! errors). `GET /mock/stats` tells the tests what was stored.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Default)]
pub struct SiemMock {
    pub hec_token: String,
    /// Answer the next N HEC posts with 503 (server busy).
    pub hec_busy_next: AtomicU32,
    /// Events HEC accepted (the `event` objects), in order.
    pub hec_events: Mutex<Vec<Value>>,
    pub next_ack: AtomicU64,
    pub acks: Mutex<HashMap<u64, u32>>,
    /// Documents by `_id`.
    pub docs: Mutex<BTreeMap<String, Value>>,
    /// The next N bulk items answer 429.
    pub bulk_throttle_next: AtomicU32,
    /// Documents containing this text are refused with a mapping error (400).
    pub reject_containing: Mutex<Option<String>>,
    pub conflicts: AtomicU64,
}

fn gunzip_if(headers: &HeaderMap, body: &[u8]) -> Vec<u8> {
    if headers.get("content-encoding").and_then(|v| v.to_str().ok()) == Some("gzip") || body.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let _ = std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(body), &mut out);
        out
    } else {
        body.to_vec()
    }
}

async fn hec_event(State(st): State<Arc<SiemMock>>, headers: HeaderMap, body: Bytes) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Splunk {}", st.hec_token)) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"text": "Invalid token", "code": 4}))).into_response();
    }
    if crate::take_one(&st.hec_busy_next) {
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"text": "Server is busy", "code": 9}))).into_response();
    }
    let body = gunzip_if(&headers, &body);
    let text = String::from_utf8_lossy(&body);
    let mut events = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<Value>(line) {
            Ok(v) if v.get("event").is_some() => events.push(v["event"].clone()),
            _ => return (StatusCode::BAD_REQUEST, axum::Json(json!({"text": "Invalid data format", "code": 6}))).into_response(),
        }
    }
    st.hec_events.lock().unwrap_or_else(|e| e.into_inner()).extend(events);
    let id = st.next_ack.fetch_add(1, Ordering::SeqCst);
    if headers.contains_key("x-splunk-request-channel") {
        // Indexed after two polls.
        st.acks.lock().unwrap_or_else(|e| e.into_inner()).insert(id, 2);
    }
    axum::Json(json!({"text": "Success", "code": 0, "ackId": id})).into_response()
}

async fn hec_ack(State(st): State<Arc<SiemMock>>, axum::Json(b): axum::Json<Value>) -> Response {
    let mut acks = st.acks.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = serde_json::Map::new();
    for id in b["acks"].as_array().into_iter().flatten().filter_map(Value::as_u64) {
        let done = match acks.get_mut(&id) {
            Some(n) if *n > 0 => {
                *n -= 1;
                false
            }
            Some(_) => true,
            None => false,
        };
        out.insert(id.to_string(), Value::Bool(done));
    }
    axum::Json(json!({"acks": out})).into_response()
}

async fn bulk(State(st): State<Arc<SiemMock>>, body: Bytes) -> Response {
    let text = String::from_utf8_lossy(&body);
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let mut items = Vec::new();
    let mut errors = false;
    let reject = st.reject_containing.lock().unwrap_or_else(|e| e.into_inner()).clone();
    while let (Some(action), Some(doc)) = (lines.next(), lines.next()) {
        let a: Value = match serde_json::from_str(action) {
            Ok(v) => v,
            Err(_) => return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": {"type": "illegal_argument_exception", "reason": "Malformed action/metadata line"}, "status": 400}))).into_response(),
        };
        let id = a["create"]["_id"].as_str().unwrap_or("").to_string();
        let index = a["create"]["_index"].clone();
        let status = if crate::take_one(&st.bulk_throttle_next) {
            429
        } else if reject.as_deref().is_some_and(|r| doc.contains(r)) {
            400
        } else {
            let mut docs = st.docs.lock().unwrap_or_else(|e| e.into_inner());
            if docs.contains_key(&id) {
                st.conflicts.fetch_add(1, Ordering::SeqCst);
                409
            } else {
                docs.insert(id.clone(), serde_json::from_str(doc).unwrap_or(Value::Null));
                201
            }
        };
        let mut item = json!({"_index": index, "_id": id, "status": status});
        match status {
            429 => item["error"] = json!({"type": "es_rejected_execution_exception", "reason": "rejected execution"}),
            400 => item["error"] = json!({"type": "mapper_parsing_exception", "reason": "failed to parse field [query.hostname]"}),
            409 => item["error"] = json!({"type": "version_conflict_engine_exception", "reason": "document already exists"}),
            _ => {}
        }
        errors |= status >= 300;
        items.push(json!({"create": item}));
    }
    axum::Json(json!({"took": 1, "errors": errors, "items": items})).into_response()
}

async fn stats(State(st): State<Arc<SiemMock>>) -> Response {
    let hec: Vec<Value> = st.hec_events.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|e| e["metadata"]["uid"].clone()).collect();
    let docs: Vec<String> = st.docs.lock().unwrap_or_else(|e| e.into_inner()).keys().cloned().collect();
    axum::Json(json!({"hec_event_ids": hec, "doc_ids": docs, "conflicts": st.conflicts.load(Ordering::SeqCst)})).into_response()
}

/// Starts both receivers on one loopback port.
pub async fn start(state: Arc<SiemMock>) -> std::io::Result<SocketAddr> {
    start_on(state, 0).await
}

/// [`start`] on a given loopback port (a sink that comes back where it was).
pub async fn start_on(state: Arc<SiemMock>, port: u16) -> std::io::Result<SocketAddr> {
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route("/services/collector/event", post(hec_event))
        .route("/services/collector/ack", post(hec_ack))
        .route("/_bulk", post(bulk))
        .route("/mock/stats", get(stats))
        .with_state(state);
    crate::serve_on(app, port).await
}
