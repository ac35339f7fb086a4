//! A ZIA API mock (zscaler.md §8): legacy `authenticatedSession` that recomputes the obfuscated
//! key from the sent timestamp (and refuses stale ones), JSESSIONID sessions that expire when
//! idle; the OAuth token endpoint; `/users`, `/departments`, `/groups` with `page`/`pageSize`
//! limits and bare arrays on both host styles; `{"code","message"}` errors; 429s with
//! `Retry-After: N seconds` (legacy) or `x-ratelimit-*` (OneAPI).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub struct ZiaMock {
    pub api_key: String,
    pub username: String,
    pub password: String,
    pub client_id: String,
    pub client_secret: String,
    pub users: Vec<Value>,
    pub departments: Vec<Value>,
    pub groups: Vec<Value>,
    /// Answer the next N list requests with 429.
    pub rate_limit_next: AtomicU32,
    pub logins: AtomicU32,
    pub requests: AtomicU64,
    sessions: std::sync::Mutex<HashMap<String, std::time::Instant>>,
    tokens: std::sync::Mutex<Vec<String>>,
}

impl ZiaMock {
    pub fn new(n_users: usize) -> ZiaMock {
        let departments: Vec<Value> = ["Engineering", "Sales", "Finance", "Legal"].iter().enumerate().map(|(i, d)| json!({"id": 100 + i, "name": d})).collect();
        let groups: Vec<Value> = ["Normal_Internet", "Engineering", "Admins"].iter().enumerate().map(|(i, g)| json!({"id": 200 + i, "name": g})).collect();
        let users = (0..n_users)
            .map(|i| {
                let d = &departments[i % departments.len()];
                json!({"id": 1000 + i, "name": format!("User {i}"), "email": format!("user{i}@example.com"), "department": d, "groups": [groups[i % groups.len()].clone()], "adminUser": false, "deleted": false})
            })
            .collect();
        ZiaMock {
            api_key: "abcdefghijklmnop".into(),
            username: "admin@example.com".into(),
            password: "zia-secret".into(),
            client_id: "client-1".into(),
            client_secret: "client-secret".into(),
            users,
            departments,
            groups,
            rate_limit_next: AtomicU32::new(0),
            logins: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            sessions: Default::default(),
            tokens: Default::default(),
        }
    }
}

fn obfuscate(key: &str, ts: u64) -> String {
    let k: Vec<char> = key.chars().collect();
    let now = ts.to_string();
    let n = &now[now.len().saturating_sub(6)..];
    let r = format!("{:06}", n.parse::<u64>().unwrap_or(0) >> 1);
    n.chars().map(|d| k[d.to_digit(10).unwrap_or(0) as usize]).chain(r.chars().map(|d| k[d.to_digit(10).unwrap_or(0) as usize + 2])).collect()
}

fn err(status: StatusCode, code: &str, msg: &str) -> Response {
    (status, axum::Json(json!({"code": code, "message": msg}))).into_response()
}

async fn login(State(st): State<Arc<ZiaMock>>, axum::Json(b): axum::Json<Value>) -> Response {
    let ts = b["timestamp"].as_u64().or_else(|| b["timestamp"].as_str().and_then(|s| s.parse().ok())).unwrap_or(0);
    let now = chrono::Utc::now().timestamp_millis() as u64;
    if now.abs_diff(ts) > 5 * 60 * 1000 {
        return err(StatusCode::UNAUTHORIZED, "AUTHENTICATION_FAILED", "timestamp too old");
    }
    if b["apiKey"].as_str() != Some(&obfuscate(&st.api_key, ts)) || b["username"].as_str() != Some(&st.username) || b["password"].as_str() != Some(&st.password) {
        return err(StatusCode::UNAUTHORIZED, "AUTHENTICATION_FAILED", "invalid credentials or API key");
    }
    let n = st.logins.fetch_add(1, Ordering::SeqCst);
    let sid = format!("S{n:08X}");
    st.sessions.lock().unwrap_or_else(|e| e.into_inner()).insert(sid.clone(), std::time::Instant::now());
    (StatusCode::OK, [("set-cookie", format!("JSESSIONID={sid}; Path=/; Secure; HttpOnly"))], axum::Json(json!({"authType": "ADMIN_LOGIN", "passwordExpiryTime": 0}))).into_response()
}

async fn token(State(st): State<Arc<ZiaMock>>, axum::Form(f): axum::Form<HashMap<String, String>>) -> Response {
    let ok = f.get("grant_type").map(String::as_str) == Some("client_credentials")
        && f.get("client_id") == Some(&st.client_id)
        && f.get("client_secret") == Some(&st.client_secret)
        && f.get("audience").map(String::as_str) == Some("https://api.zscaler.com");
    if !ok {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_client"}))).into_response();
    }
    let t = format!("tok-{}", st.logins.fetch_add(1, Ordering::SeqCst));
    st.tokens.lock().unwrap_or_else(|e| e.into_inner()).push(t.clone());
    axum::Json(json!({"access_token": t, "token_type": "Bearer", "expires_in": 3600})).into_response()
}

async fn list(st: Arc<ZiaMock>, headers: HeaderMap, q: HashMap<String, String>, what: &str, oneapi: bool) -> Response {
    st.requests.fetch_add(1, Ordering::SeqCst);
    let authed = if oneapi {
        headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).is_some_and(|t| st.tokens.lock().unwrap_or_else(|e| e.into_inner()).iter().any(|x| x == t))
    } else {
        let sid = headers.get("cookie").and_then(|v| v.to_str().ok()).and_then(|c| c.split(';').find_map(|kv| kv.trim().strip_prefix("JSESSIONID="))).map(str::to_string);
        let mut sessions = st.sessions.lock().unwrap_or_else(|e| e.into_inner());
        match sid.and_then(|s| sessions.get_mut(&s).map(|t| (s, t))) {
            Some((_, last)) if last.elapsed() < std::time::Duration::from_secs(300) => {
                *last = std::time::Instant::now();
                true
            }
            _ => false,
        }
    };
    if !authed {
        return err(StatusCode::UNAUTHORIZED, "AUTHENTICATION_FAILED", "not logged in or session expired");
    }
    if crate::take_one(&st.rate_limit_next) {
        let mut r = err(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded");
        let h = r.headers_mut();
        if oneapi {
            h.insert("x-ratelimit-limit", "2".parse().expect("static header"));
            h.insert("x-ratelimit-remaining", "0".parse().expect("static header"));
            h.insert("x-ratelimit-reset", "1".parse().expect("static header"));
        } else {
            h.insert("retry-after", "1 seconds".parse().expect("static header"));
        }
        return r;
    }
    let items = match what {
        "users" => &st.users,
        "departments" => &st.departments,
        _ => &st.groups,
    };
    let max = if what == "departments" { 1000 } else { 10_000 };
    let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let size: usize = q.get("pageSize").and_then(|p| p.parse().ok()).unwrap_or(100);
    if size == 0 || size > max {
        return err(StatusCode::BAD_REQUEST, "INVALID_INPUT_ARGUMENT", &format!("pageSize must be 1..={max}"));
    }
    let slice: Vec<Value> = items.iter().skip((page - 1) * size).take(size).cloned().collect();
    axum::Json(Value::Array(slice)).into_response()
}

macro_rules! route {
    ($name:ident, $what:expr, $oneapi:expr) => {
        async fn $name(State(st): State<Arc<ZiaMock>>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
            list(st, headers, q, $what, $oneapi).await
        }
    };
}
route!(users_legacy, "users", false);
route!(depts_legacy, "departments", false);
route!(groups_legacy, "groups", false);
route!(users_oneapi, "users", true);
route!(depts_oneapi, "departments", true);
route!(groups_oneapi, "groups", true);

/// Starts the mock on 127.0.0.1 (legacy paths under `/api/v1`, OneAPI under `/zia/api/v1`,
/// token endpoint `/oauth2/v1/token`).
pub async fn start(state: Arc<ZiaMock>) -> std::io::Result<SocketAddr> {
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route("/api/v1/authenticatedSession", post(login))
        .route("/oauth2/v1/token", post(token))
        .route("/api/v1/users", get(users_legacy))
        .route("/api/v1/departments", get(depts_legacy))
        .route("/api/v1/groups", get(groups_legacy))
        .route("/zia/api/v1/users", get(users_oneapi))
        .route("/zia/api/v1/departments", get(depts_oneapi))
        .route("/zia/api/v1/groups", get(groups_oneapi))
        .with_state(state);
    crate::serve(app).await
}
