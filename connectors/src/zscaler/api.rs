//! The ZIA API for user context (zscaler.md §7): legacy `authenticatedSession` login with the
//! obfuscated API key (§7.2, a JSESSIONID cookie) or OneAPI OAuth client credentials (§7.3,
//! a bearer token); users, departments and groups read page by page (bare arrays, until a short
//! page) with 429 handled by the shared retry policy (`Retry-After: N seconds` included).


use serde_json::Value;

use crate::http::{self, HttpError, RateLimiter, RetryPolicy};

/// The obfuscated key for `authenticatedSession`, exactly as §7.2 describes.
pub fn obfuscate_api_key(api_key: &str, now_ms: u64) -> Result<String, String> {
    let key: Vec<char> = api_key.chars().collect();
    if key.len() < 12 {
        return Err("the ZIA API key must be at least 12 characters".into());
    }
    let now = now_ms.to_string();
    let n = &now[now.len().saturating_sub(6)..];
    let r = format!("{:06}", n.parse::<u64>().map_err(|e| e.to_string())? >> 1);
    let mut out = String::with_capacity(12);
    for d in n.chars() {
        out.push(key[d.to_digit(10).unwrap_or(0) as usize]);
    }
    for d in r.chars() {
        out.push(key[d.to_digit(10).unwrap_or(0) as usize + 2]);
    }
    Ok(out)
}

/// How to log in.
#[derive(Clone)]
pub enum ZiaAuth {
    Legacy { api_key: String, username: String, password: String },
    OAuth { token_url: String, client_id: String, client_secret: String },
}

impl std::fmt::Debug for ZiaAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZiaAuth::Legacy { username, .. } => write!(f, "Legacy {{ username: {username:?}, api_key: [redacted], password: [redacted] }}"),
            ZiaAuth::OAuth { token_url, client_id, .. } => write!(f, "OAuth {{ token_url: {token_url:?}, client_id: {client_id:?}, client_secret: [redacted] }}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ZiaError {
    #[error("tenant `{tenant}`: ZIA login failed: {why}")]
    Login { tenant: String, why: String },
    #[error("tenant `{tenant}`: {source}")]
    Http { tenant: String, source: HttpError },
    #[error("tenant `{tenant}`: unexpected ZIA answer from {endpoint}: {why}")]
    Protocol { tenant: String, endpoint: String, why: String },
}

pub struct ZiaClient {
    tenant: String,
    /// `https://zsapi.<cloud>.net` (legacy) or `https://api.zsapi.net/zia` (OneAPI).
    base: String,
    auth: ZiaAuth,
    client: reqwest::Client,
    limiter: RateLimiter,
    policy: RetryPolicy,
    session: Option<String>,
    bearer: Option<String>,
}

impl ZiaClient {
    pub fn new(tenant: &str, base: &str, auth: ZiaAuth, client: reqwest::Client) -> ZiaClient {
        ZiaClient {
            tenant: tenant.into(),
            base: base.trim_end_matches('/').to_string(),
            auth,
            client,
            // GET is "Light": 2 per second (§7.4).
            limiter: RateLimiter::new(2.0),
            policy: RetryPolicy { max_rate_limited: 30, ..RetryPolicy::default() },
            session: None,
            bearer: None,
        }
    }

    pub fn with_rate(mut self, per_second: f64, policy: RetryPolicy) -> ZiaClient {
        self.limiter = RateLimiter::new(per_second);
        self.policy = policy;
        self
    }

    fn proto(&self, endpoint: &str, why: String) -> ZiaError {
        ZiaError::Protocol { tenant: self.tenant.clone(), endpoint: endpoint.into(), why }
    }

    /// Logs in with the configured method.
    pub async fn login(&mut self) -> Result<(), ZiaError> {
        let login_err = |why: String| ZiaError::Login { tenant: self.tenant.clone(), why };
        match self.auth.clone() {
            ZiaAuth::Legacy { api_key, username, password } => {
                let now = chrono::Utc::now().timestamp_millis() as u64;
                let key = obfuscate_api_key(&api_key, now).map_err(login_err)?;
                let ep = format!("{}/api/v1/authenticatedSession", self.base);
                let body = serde_json::json!({"apiKey": key, "username": username, "password": password, "timestamp": now});
                let resp = http::send(&ep, &self.limiter, &self.policy, || self.client.post(&ep).json(&body)).await.map_err(|e| match e {
                    HttpError::Status { status, body, .. } => login_err(format!("HTTP {status}: {body} (check the API key, admin user and password)")),
                    other => ZiaError::Http { tenant: self.tenant.clone(), source: other },
                })?;
                let cookie = resp
                    .headers()
                    .get_all("set-cookie")
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .find_map(|c| c.split(';').next().and_then(|kv| kv.strip_prefix("JSESSIONID=")).map(str::to_string))
                    .ok_or_else(|| login_err("no JSESSIONID cookie in the answer".into()))?;
                self.session = Some(cookie);
            }
            ZiaAuth::OAuth { token_url, client_id, client_secret } => {
                let form = [("grant_type", "client_credentials"), ("client_id", client_id.as_str()), ("client_secret", client_secret.as_str()), ("audience", "https://api.zscaler.com")];
                let resp = http::send(&token_url, &self.limiter, &self.policy, || self.client.post(&token_url).header("accept", "application/json").form(&form)).await.map_err(|e| match e {
                    HttpError::Status { status, body, .. } => login_err(format!("token endpoint answered HTTP {status}: {body} (check client_id and client_secret)")),
                    other => ZiaError::Http { tenant: self.tenant.clone(), source: other },
                })?;
                let v: Value = resp.json().await.map_err(|e| self.proto(&token_url, e.to_string()))?;
                let tok = v["access_token"].as_str().ok_or_else(|| self.proto(&token_url, "no access_token".into()))?;
                self.bearer = Some(tok.to_string());
            }
        }
        Ok(())
    }

    /// Every item of `/users`, `/departments` or `/groups`, paging until a short page.
    pub async fn fetch_all(&mut self, what: &str, page_size: u32) -> Result<Vec<Value>, ZiaError> {
        if self.session.is_none() && self.bearer.is_none() {
            self.login().await?;
        }
        let ep = format!("{}/api/v1/{what}", self.base);
        let mut out = Vec::new();
        let mut page = 1u32;
        loop {
            let (session, bearer) = (self.session.clone(), self.bearer.clone());
            let ps = page_size.to_string();
            let pg = page.to_string();
            let resp = http::send(&ep, &self.limiter, &self.policy, || {
                let mut rb = self.client.get(&ep).query(&[("page", pg.as_str()), ("pageSize", ps.as_str())]);
                if let Some(s) = &session {
                    rb = rb.header("cookie", format!("JSESSIONID={s}"));
                }
                if let Some(b) = &bearer {
                    rb = rb.bearer_auth(b);
                }
                rb
            })
            .await
            .map_err(|e| ZiaError::Http { tenant: self.tenant.clone(), source: e })?;
            let v: Value = resp.json().await.map_err(|e| self.proto(&ep, e.to_string()))?;
            let items = v.as_array().ok_or_else(|| self.proto(&ep, "expected a JSON array".into()))?.clone();
            let n = items.len();
            out.extend(items);
            if n < page_size as usize {
                break;
            }
            page += 1;
        }
        Ok(out)
    }
}

/// Users, departments and groups cached in sled for enrichment (email → user record).
pub async fn sync_directory(client: &mut ZiaClient, db: &sled::Db, tenant: &str, page_size: u32) -> Result<(usize, usize, usize), String> {
    let users = client.fetch_all("users", page_size).await.map_err(|e| e.to_string())?;
    let depts = client.fetch_all("departments", page_size.min(1000)).await.map_err(|e| e.to_string())?;
    let groups = client.fetch_all("groups", page_size).await.map_err(|e| e.to_string())?;
    let put = |tree: &str, items: &[Value], key: &dyn Fn(&Value) -> Option<String>| -> Result<(), String> {
        let t = db.open_tree(format!("zia/{tenant}/{tree}")).map_err(|e| e.to_string())?;
        t.clear().map_err(|e| e.to_string())?;
        for it in items {
            if let Some(k) = key(it) {
                t.insert(k.as_bytes(), it.to_string().as_bytes()).map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    };
    put("users", &users, &|u| u["email"].as_str().map(str::to_ascii_lowercase))?;
    put("departments", &depts, &|d| d["name"].as_str().map(str::to_string))?;
    put("groups", &groups, &|g| g["name"].as_str().map(str::to_string))?;
    logfetch_common::checkpoint::flush(db).await.map_err(|e| e.to_string())?;
    Ok((users.len(), depts.len(), groups.len()))
}

/// Looks a user up in the cache by e-mail (the NSS `login`).
pub fn cached_user(db: &sled::Db, tenant: &str, email: &str) -> Option<Value> {
    let t = db.open_tree(format!("zia/{tenant}/users")).ok()?;
    let v = t.get(email.to_ascii_lowercase().as_bytes()).ok()??;
    serde_json::from_slice(&v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn obfuscation_matches_the_worked_examples() {
        assert_eq!(obfuscate_api_key("abcdefghijkl", 1_700_000_123_456).unwrap(), "bcdefgcidjek");
        assert_eq!(obfuscate_api_key("abcdefghijkl", 1_724_151_000_987).unwrap(), "aaajihcccglf");
        assert!(obfuscate_api_key("short", 1).is_err());
        let a = ZiaAuth::Legacy { api_key: "abcdefghijkl".into(), username: "u".into(), password: "pw".into() };
        assert!(!format!("{a:?}").contains("abcdefghijkl") && !format!("{a:?}").contains("pw\""));
    }
}
