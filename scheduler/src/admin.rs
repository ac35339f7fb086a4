//! The admin API (axum). Loopback by default; with `admin_token` set, every route except
//! `/healthz` needs `Authorization: Bearer <token>` (compared in constant time).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use logfetch_common::LogKind;
use logfetch_common::checkpoint::CheckpointStore;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::service::Service;

#[derive(Clone)]
struct AppState {
    svc: Arc<Service>,
    token: Option<Arc<String>>,
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn auth(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let caller = req.extensions().get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string());
    let (method, path) = (req.method().clone(), req.uri().path().to_string());
    let data_dir = st.svc.config.lock().await.service.data_dir.clone();
    if let Some(tok) = &st.token {
        if path != "/healthz" {
            let given = req.headers().get("authorization").and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).unwrap_or("");
            if !constant_time_eq(given.as_bytes(), tok.as_bytes()) {
                let _ = crate::audit::record(&data_dir, "admin_api", &format!("admin-api:{caller}"), json!({"method": method.as_str(), "path": path, "status": 401}), Err("missing or wrong bearer token".into()));
                return (StatusCode::UNAUTHORIZED, Json(json!({"error": "missing or wrong bearer token"}))).into_response();
            }
        }
    }
    let resp = next.run(req).await;
    // Calls that change something are audited (reads such as /metrics scrapes are not).
    if method != axum::http::Method::GET && method != axum::http::Method::HEAD {
        let status = resp.status();
        let outcome = if status.is_success() { Ok(()) } else { Err(format!("HTTP {}", status.as_u16())) };
        let _ = crate::audit::record(&data_dir, "admin_api", &format!("admin-api:{caller}"), json!({"method": method.as_str(), "path": path, "status": status.as_u16()}), outcome);
    }
    resp
}

fn err(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into()}))).into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics(State(st): State<AppState>) -> Response {
    let mut text = st.svc.metrics.render(Utc::now());
    let en = st.svc.enrich.read().unwrap_or_else(|e| e.into_inner()).clone();
    text.push_str(&en.render_metrics());
    ([("content-type", "text/plain; version=0.0.4")], text).into_response()
}

async fn tenants(State(st): State<AppState>) -> Response {
    let cfg = st.svc.config.lock().await.clone();
    let stats = st.svc.metrics.streams();
    let now = Utc::now();
    let mut out = Vec::new();
    for t in &cfg.tenants {
        let mut streams = Vec::new();
        for kind in &t.kinds {
            let s = stats.get(&(t.id().to_string(), kind.as_str().to_string())).cloned().unwrap_or_default();
            let checkpoint = st.svc.store.get(t.id(), kind.as_str()).ok().flatten().map(|c| c.value);
            streams.push(json!({
                "kind": kind,
                "running": s.running,
                "last_run_start": s.last_run_start,
                "last_run_end": s.last_run_end,
                "last_run_seconds": s.last_run_seconds,
                "next_run": s.next_run,
                "checkpoint": checkpoint,
                "watermark": s.watermark,
                "lag_seconds": s.watermark.map(|w| (now - w).num_seconds()),
                "last_error": s.last_error,
                "events_emitted": s.events_emitted,
                "records_rejected": s.records_rejected,
                "runs_ok": s.runs_ok,
                "runs_failed": s.runs_failed,
                "ticks_skipped": s.ticks_skipped,
            }));
        }
        let mut tenant = json!({"id": t.id(), "vendor": t.vendor(), "enabled": t.enabled, "streams": streams});
        if t.connection.listen.is_some() {
            let p = stats.get(&(t.id().to_string(), "push".to_string())).cloned().unwrap_or_default();
            tenant["push"] = json!({
                "records_received": p.records_received, "records_rejected": p.records_rejected, "records_truncated": p.records_truncated,
                "spool_bytes": p.spool_bytes, "backpressure_events": p.backpressure_events, "records_dropped": p.records_dropped,
                "udp_kernel_drops": p.udp_kernel_drops, "connections_refused": p.connections_refused, "last_error": p.last_error,
            });
        }
        out.push(tenant);
    }
    let sinks: Vec<Value> = cfg
        .sinks
        .iter()
        .map(|s| {
            let m = st.svc.metrics.sinks().get(s.name.get_ref()).cloned().unwrap_or_default();
            // Failing: the last error is newer than the last success.
            let failing = match (m.last_error_at, m.last_ok) {
                (Some(e), Some(o)) => e > o,
                (Some(_), None) => true,
                _ => false,
            };
            json!({"name": s.name.get_ref(), "type": format!("{:?}", s.kind), "state": if failing { "failing" } else if m.batches_ok > 0 { "ok" } else { "idle" },
                "batches": m.batches_ok, "failures": m.batches_failed, "events": m.events, "bytes": m.bytes, "last_ok": m.last_ok, "last_error": m.last_error})
        })
        .collect();
    Json(json!({"tenants": out, "sinks": sinks})).into_response()
}

fn parse_kind(kind: &str) -> Result<LogKind, Response> {
    kind.parse::<LogKind>().map_err(|e| err(StatusCode::BAD_REQUEST, e))
}

async fn run_now(State(st): State<AppState>, Path((tenant, kind)): Path<(String, String)>) -> Response {
    let kind = match parse_kind(&kind) {
        Ok(k) => k,
        Err(r) => return r,
    };
    if st.svc.is_running(&tenant, kind).await {
        return (StatusCode::CONFLICT, Json(json!({"error": "a run of this stream is already going", "tenant": tenant, "stream": kind}))).into_response();
    }
    if st.svc.trigger(&tenant, kind).await {
        (StatusCode::ACCEPTED, Json(json!({"queued": true, "tenant": tenant, "stream": kind}))).into_response()
    } else {
        err(StatusCode::NOT_FOUND, format!("no enabled stream `{kind}` for tenant `{tenant}`"))
    }
}

#[derive(Deserialize)]
struct PullRequest {
    kind: String,
    since: String,
    #[serde(default)]
    until: Option<String>,
}

/// `since`/`until`: RFC 3339, or a duration back from now (`2h`, `30m`).
pub fn parse_time_arg(s: &str, now: chrono::DateTime<Utc>) -> Result<chrono::DateTime<Utc>, String> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = logfetch_config::duration::parse_duration(s).map_err(|e| format!("`{s}` is neither RFC 3339 nor a duration: {e}"))?;
    Ok(now - chrono::Duration::from_std(d).map_err(|e| e.to_string())?)
}

async fn start_pull(State(st): State<AppState>, Path(tenant): Path<String>, Json(req): Json<PullRequest>) -> Response {
    let kind = match parse_kind(&req.kind) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let now = Utc::now();
    let since = match parse_time_arg(&req.since, now) {
        Ok(t) => t,
        Err(e) => return err(StatusCode::BAD_REQUEST, e),
    };
    let until = match req.until.as_deref().map(|u| parse_time_arg(u, now)).transpose() {
        Ok(t) => t.unwrap_or(now),
        Err(e) => return err(StatusCode::BAD_REQUEST, e),
    };
    if since >= until {
        return err(StatusCode::BAD_REQUEST, "since must be before until");
    }
    match st.svc.start_pull(&tenant, kind, since, until).await {
        Ok(id) => (StatusCode::ACCEPTED, Json(json!({"id": id}))).into_response(),
        Err(e) => err(StatusCode::NOT_FOUND, e),
    }
}

async fn get_pull(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    match st.svc.pulls.lock().await.get(&id) {
        Some(j) => Json(j.clone()).into_response(),
        None => err(StatusCode::NOT_FOUND, format!("no pull `{id}`")),
    }
}

async fn reload(State(st): State<AppState>) -> Response {
    match st.svc.reload().await {
        Ok(()) => Json(json!({"reloaded": true})).into_response(),
        Err(e) => err(StatusCode::UNPROCESSABLE_ENTITY, e),
    }
}

async fn list_checkpoints(State(st): State<AppState>) -> Response {
    match st.svc.store.list() {
        Ok(all) => Json(
            all.into_iter()
                .map(|(t, s, r)| match r {
                    Ok(c) => json!({"tenant": t, "stream": s, "generation": c.generation, "updated_at": c.updated_at, "value": c.value}),
                    Err(e) => json!({"tenant": t, "stream": s, "error": e.to_string()}),
                })
                .collect::<Vec<_>>(),
        )
        .into_response(),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn put_checkpoint(State(st): State<AppState>, Path((tenant, stream)): Path<(String, String)>, Json(value): Json<serde_json::Value>) -> Response {
    if let Ok(kind) = stream.parse::<LogKind>() {
        if st.svc.is_running(&tenant, kind).await {
            return err(StatusCode::CONFLICT, "the stream is running; try again when it is idle");
        }
    }
    let current = match st.svc.store.get(&tenant, &stream) {
        Ok(c) => c.map(|c| c.generation),
        Err(e) => return err(StatusCode::CONFLICT, e.to_string()),
    };
    match st.svc.store.compare_and_swap(&tenant, &stream, current, value).await {
        Ok(g) => Json(json!({"generation": g})).into_response(),
        Err(e) => err(StatusCode::CONFLICT, e.to_string()),
    }
}

async fn delete_checkpoint(State(st): State<AppState>, Path((tenant, stream)): Path<(String, String)>) -> Response {
    match st.svc.store.remove(&tenant, &stream).await {
        Ok(existed) => Json(json!({"removed": existed})).into_response(),
        Err(e) => err(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

/// The router, with auth when a token is set.
pub fn router(svc: Arc<Service>, token: Option<String>) -> axum::Router {
    let st = AppState { svc, token: token.map(Arc::new) };
    axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/v1/tenants", get(tenants))
        .route("/api/v1/tenants/{id}/streams/{kind}/run", post(run_now))
        .route("/api/v1/tenants/{id}/pulls", post(start_pull))
        .route("/api/v1/pulls/{id}", get(get_pull))
        .route("/api/v1/reload", post(reload))
        .route("/api/v1/checkpoints", get(list_checkpoints))
        .route("/api/v1/checkpoints/{tenant}/{stream}", axum::routing::put(put_checkpoint).delete(delete_checkpoint))
        .layer(middleware::from_fn_with_state(st.clone(), auth))
        .with_state(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_args() {
        let now = chrono::DateTime::parse_from_rfc3339("2024-05-01T12:00:00Z").unwrap().with_timezone(&Utc);
        assert_eq!(parse_time_arg("2h", now).unwrap().to_rfc3339(), "2024-05-01T10:00:00+00:00");
        assert_eq!(parse_time_arg("2024-05-01T08:00:00+02:00", now).unwrap().to_rfc3339(), "2024-05-01T06:00:00+00:00");
        assert!(parse_time_arg("yesterday", now).is_err());
        assert!(constant_time_eq(b"abc", b"abc") && !constant_time_eq(b"abc", b"abd") && !constant_time_eq(b"a", b"ab"));
    }
}
