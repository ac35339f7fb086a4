//! PAN-OS XML API log pull (paloalto.md §2–§3): an API key (configured, or made with
//! `type=keygen` from user and password and kept in memory), sent as `X-PAN-KEY`; one
//! asynchronous job per page — enqueue, poll `action=get` until `FIN`, read the entries
//! streaming, `action=finish`. Both the HTTP status and the `status` attribute are checked.
//!
//! A window `[start, end)` becomes `(receive_time geq 'S') and (receive_time leq 'E')` in the
//! device's local time with whole seconds (S = start rounded up, E = end rounded up minus one
//! second), so consecutive windows partition the seconds exactly; pages inside a window go
//! oldest first (`dir=forward`) with `skip`, and the page token is that offset.

use std::time::Duration;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use logfetch_common::LogKind;
use tokio::sync::Mutex;

use super::xml;
use crate::http::{self, HttpError, RateLimiter, RetryPolicy};
use crate::pull::{BoxFuture, PullError, PullSettings, PullSource, RawPage, TimeWindow};

pub struct PanApi {
    tenant: String,
    endpoint: String,
    client: reqwest::Client,
    limiter: RateLimiter,
    policy: RetryPolicy,
    page_size: u32,
    tz: Tz,
    poll_interval: Duration,
    max_polls: u32,
    /// A configured key, or one made with keygen.
    key: Mutex<Option<String>>,
    credentials: Option<(String, String)>,
}

/// Builds the client: `connection.url` is the firewall or Panorama; `api_key`, or `username` +
/// `password` for keygen.
pub fn build_with_tz(s: &PullSettings, tz: Tz, poll_interval: Duration) -> Result<Box<dyn PullSource>, PullError> {
    let cfg = |why: &str| PullError::Config { tenant: s.tenant.clone(), why: why.into() };
    let url = s.url.clone().ok_or_else(|| cfg("connection.url (the firewall or Panorama) is required"))?;
    let credentials = match (&s.username, &s.password) {
        (Some(u), Some(p)) => Some((u.clone(), p.clone())),
        _ => None,
    };
    if s.token.is_none() && credentials.is_none() {
        return Err(cfg("set connection.api_key, or connection.username and connection.password (a key is then made with type=keygen)"));
    }
    Ok(Box::new(PanApi {
        tenant: s.tenant.clone(),
        endpoint: format!("{}/api/", url.trim_end_matches('/').trim_end_matches("/api")),
        client: s.http_client()?,
        limiter: s.limiter.clone(),
        policy: s.policy.clone(),
        page_size: s.page_size.unwrap_or(1000).clamp(1, 5000),
        tz,
        poll_interval,
        max_polls: 600,
        key: Mutex::new(s.token.clone()),
        credentials,
    }))
}

/// The registry's factory.
pub fn build(s: &PullSettings) -> Result<Box<dyn PullSource>, PullError> {
    build_with_tz(s, s.tz, s.poll_interval)
}

/// The `receive_time` filter for a window, in device-local whole seconds.
pub fn window_filter(w: &TimeWindow, tz: Tz) -> String {
    let ceil = |t: DateTime<Utc>| if t.timestamp_subsec_nanos() == 0 { t.timestamp() } else { t.timestamp() + 1 };
    let fmt = |secs: i64| DateTime::<Utc>::from_timestamp(secs, 0).unwrap_or_default().with_timezone(&tz).format("%Y/%m/%d %H:%M:%S").to_string();
    format!("(receive_time geq '{}') and (receive_time leq '{}')", fmt(ceil(w.start)), fmt(ceil(w.end) - 1))
}

enum Call<'a> {
    Form(Vec<(&'a str, String)>),
}

impl PanApi {
    fn err(&self, source: HttpError) -> PullError {
        if source.is_auth() { PullError::Auth { tenant: self.tenant.clone(), source } } else { PullError::Http { tenant: self.tenant.clone(), source } }
    }

    fn protocol(&self, why: String) -> PullError {
        PullError::Protocol { tenant: self.tenant.clone(), endpoint: self.endpoint.clone(), why }
    }

    async fn keygen(&self) -> Result<String, PullError> {
        let (user, password) = self.credentials.clone().ok_or_else(|| self.protocol("the API key was refused and no user/password is configured to make a new one".into()))?;
        let resp = http::send(&self.endpoint, &self.limiter, &self.policy, || self.client.post(&self.endpoint).form(&[("type", "keygen"), ("user", user.as_str()), ("password", password.as_str())]))
            .await
            .map_err(|e| match e {
                HttpError::Status { status: 403, .. } => PullError::Auth {
                    tenant: self.tenant.clone(),
                    source: HttpError::Status { endpoint: self.endpoint.clone(), status: 403, body: "keygen refused the configured user/password (Invalid Credential)".into() },
                },
                other => self.err(other),
            })?;
        let body = resp.text().await.map_err(|e| self.protocol(e.to_string()))?;
        let r = xml::read(&body, |_| {}).map_err(|e| self.protocol(e))?;
        if !r.is_success() {
            return Err(PullError::Auth {
                tenant: self.tenant.clone(),
                source: HttpError::Status { endpoint: self.endpoint.clone(), status: 200, body: format!("keygen failed: {}", r.msg.unwrap_or_default()) },
            });
        }
        let key = r.key.filter(|k| !k.is_empty()).ok_or_else(|| self.protocol("keygen answer has no result/key".into()))?;
        tracing::info!(tenant = %self.tenant, "made a new API key with type=keygen");
        *self.key.lock().await = Some(key.clone());
        Ok(key)
    }

    /// One API call; a 403 with keygen credentials makes a new key once and retries.
    async fn call(&self, call: &Call<'_>, on_entry: &mut (dyn FnMut(super::map::Entry) + Send)) -> Result<xml::Response, PullError> {
        let Call::Form(params) = call;
        for attempt in 0..2 {
            // Take the key out before a keygen: the lock must not be held across it.
            let current = self.key.lock().await.clone();
            let key = match current {
                Some(k) => k,
                None => self.keygen().await?,
            };
            let sent = http::send(&self.endpoint, &self.limiter, &self.policy, || self.client.post(&self.endpoint).header("X-PAN-KEY", &key).form(params)).await;
            let body = match sent {
                Ok(resp) => resp.text().await.map_err(|e| self.protocol(e.to_string()))?,
                Err(HttpError::Status { status: 403, body, .. }) => {
                    if attempt == 0 && self.credentials.is_some() {
                        *self.key.lock().await = None;
                        continue;
                    }
                    let msg = xml::read(&body, |_| {}).ok().and_then(|r| r.msg).unwrap_or(body);
                    return Err(PullError::Auth { tenant: self.tenant.clone(), source: HttpError::Status { endpoint: self.endpoint.clone(), status: 403, body: msg } });
                }
                Err(e) => return Err(self.err(e)),
            };
            let r = xml::read(&body, &mut *on_entry).map_err(|e| self.protocol(e))?;
            if r.is_success() {
                return Ok(r);
            }
            // Errors reported with HTTP 200: the status attribute decides.
            if r.code.as_deref() == Some("403") || r.code.as_deref() == Some("16") {
                if attempt == 0 && self.credentials.is_some() {
                    *self.key.lock().await = None;
                    continue;
                }
                return Err(PullError::Auth {
                    tenant: self.tenant.clone(),
                    source: HttpError::Status { endpoint: self.endpoint.clone(), status: 200, body: r.msg.unwrap_or_else(|| "Invalid Credential".into()) },
                });
            }
            return Err(self.protocol(format!("PAN-OS error code {}: {}", r.code.unwrap_or_default(), r.msg.unwrap_or_default())));
        }
        Err(self.protocol("the API key was refused again after making a new one".into()))
    }
}

impl PullSource for PanApi {
    fn fetch_page<'a>(&'a self, kind: LogKind, window: TimeWindow, page_token: Option<&'a str>) -> BoxFuture<'a, Result<RawPage, PullError>> {
        Box::pin(async move {
            let (log_type, extra) = match kind {
                LogKind::Flow => ("traffic", ""),
                // DNS records are THREAT/spyware entries (domain in the threat name).
                LogKind::Dns => ("threat", " and (subtype eq 'spyware')"),
                LogKind::Finding => return Err(self.protocol("PAN-OS findings are not pulled".into())),
            };
            let skip: u64 = page_token.map(|t| t.parse().unwrap_or(0)).unwrap_or(0);
            let query = format!("{}{extra}", window_filter(&window, self.tz));
            let mut requests = 1u32;
            let enq = self
                .call(
                    &Call::Form(vec![
                        ("type", "log".into()),
                        ("log-type", log_type.into()),
                        ("nlogs", self.page_size.to_string()),
                        ("skip", skip.to_string()),
                        ("dir", "forward".into()),
                        ("query", query),
                    ]),
                    &mut |_| {},
                )
                .await?;
            let job = enq.job_id.ok_or_else(|| self.protocol("no job id in the type=log answer".into()))?;
            let records: Vec<String>;
            let mut polls = 0;
            loop {
                polls += 1;
                requests += 1;
                let mut page_entries: Vec<String> = Vec::new();
                let r = self
                    .call(&Call::Form(vec![("type", "log".into()), ("action", "get".into()), ("job-id", job.clone())]), &mut |e| {
                        let mut m = serde_json::Map::new();
                        m.insert("_panos_entry".into(), serde_json::Value::Bool(true));
                        for (k, v) in e.fields {
                            m.insert(k, serde_json::Value::String(v));
                        }
                        page_entries.push(serde_json::Value::Object(m).to_string());
                    })
                    .await?;
                let done = r.job_status.as_deref() == Some("FIN") && r.progress.is_none_or(|p| p >= 100);
                if done {
                    records = page_entries;
                    break;
                }
                if polls >= self.max_polls {
                    return Err(self.protocol(format!("log job {job} did not finish after {polls} polls")));
                }
                tokio::time::sleep(self.poll_interval).await;
            }
            // Release the job on the log collector; a failure here loses nothing.
            requests += 1;
            if let Err(e) = self.call(&Call::Form(vec![("type", "log".into()), ("action", "finish".into()), ("job-id", job.clone())]), &mut |_| {}).await {
                tracing::debug!(tenant = %self.tenant, job = %job, error = %e, "action=finish failed");
            }
            let n = records.len() as u64;
            let next = (n == self.page_size as u64).then(|| (skip + n).to_string());
            Ok(RawPage { records, next_page_token: next, requests })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_partition_whole_seconds_in_device_time() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let w = TimeWindow { start: t("2024-03-08T18:00:00.250Z"), end: t("2024-03-08T19:00:00Z") };
        assert_eq!(window_filter(&w, chrono_tz::Europe::Berlin), "(receive_time geq '2024/03/08 19:00:01') and (receive_time leq '2024/03/08 19:59:59')");
        let w2 = TimeWindow { start: t("2024-03-08T19:00:00Z"), end: t("2024-03-08T19:30:00.5Z") };
        assert_eq!(window_filter(&w2, chrono_tz::UTC), "(receive_time geq '2024/03/08 19:00:00') and (receive_time leq '2024/03/08 19:30:00')");
    }
}
