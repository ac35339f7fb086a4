//! SentinelOne agents (sentinelone.md §6): `GET /web/api/v2.1/agents` with `ApiToken` auth,
//! cursor paging (`limit` ≤ 1000, `nextCursor` until null) and the `updatedAt__gt` cursor for
//! incremental syncs, cached in sled (agent UUID → host name, IPs, last logged-in user, site)
//! for user context.

use serde_json::{Value, json};

use crate::http::{self, HttpError, RateLimiter, RetryPolicy};

/// Syncs agents updated after `since` (ISO-8601; `None`: all) into `db`; returns how many were
/// stored and the newest `updatedAt` seen (the next call's `since`).
#[allow(clippy::too_many_arguments)]
pub async fn sync_agents(client: &reqwest::Client, base: &str, token: &str, db: &sled::Db, tenant: &str, since: Option<&str>, limiter: &RateLimiter, policy: &RetryPolicy) -> Result<(usize, Option<String>), HttpError> {
    let ep = format!("{}/web/api/v2.1/agents", base.trim_end_matches('/'));
    let tree = db.open_tree(format!("s1/{tenant}/agents")).map_err(|e| HttpError::Transport { endpoint: ep.clone(), why: e.to_string() })?;
    let mut cursor: Option<String> = None;
    let mut n = 0usize;
    let mut newest = since.map(str::to_string);
    loop {
        let mut q: Vec<(&str, String)> = vec![("limit", "1000".into()), ("sortBy", "updatedAt".into()), ("sortOrder", "asc".into())];
        if let Some(s) = since {
            q.push(("updatedAt__gt", s.to_string()));
        }
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let resp = http::send(&ep, limiter, policy, || client.get(&ep).header("authorization", format!("ApiToken {token}")).query(&q)).await?;
        let v: Value = resp.json().await.map_err(|e| HttpError::Transport { endpoint: ep.clone(), why: e.to_string() })?;
        for a in v["data"].as_array().into_iter().flatten() {
            let Some(uuid) = a["uuid"].as_str() else { continue };
            let ips: Vec<Value> = a["networkInterfaces"].as_array().into_iter().flatten().flat_map(|i| i["inet"].as_array().cloned().unwrap_or_default()).collect();
            let rec = json!({"name": a["computerName"], "user": a["lastLoggedInUserName"], "site": a["siteName"], "os": a["osName"], "ips": ips, "updatedAt": a["updatedAt"]});
            tree.insert(uuid.as_bytes(), rec.to_string().as_bytes()).map_err(|e| HttpError::Transport { endpoint: ep.clone(), why: e.to_string() })?;
            if let Some(u) = a["updatedAt"].as_str() {
                if newest.as_deref().is_none_or(|cur| u > cur) {
                    newest = Some(u.to_string());
                }
            }
            n += 1;
        }
        cursor = v["pagination"]["nextCursor"].as_str().filter(|c| !c.is_empty()).map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    logfetch_common::checkpoint::flush(db).await.map_err(|e| HttpError::Transport { endpoint: ep.clone(), why: e.to_string() })?;
    Ok((n, newest))
}

/// The cached agent for a UUID.
pub fn cached_agent(db: &sled::Db, tenant: &str, uuid: &str) -> Option<Value> {
    let t = db.open_tree(format!("s1/{tenant}/agents")).ok()?;
    serde_json::from_slice(&t.get(uuid.as_bytes()).ok()??).ok()
}
