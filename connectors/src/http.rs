//! Shared HTTP behaviour for pull connectors: a per-tenant rate limiter, and a retry policy in
//! which HTTP 429 waits exactly what `Retry-After` says, while 5xx and connection errors back off
//! exponentially with jitter, a bounded number of times.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// A token bucket: `rate` requests per second, bursts of up to `burst`.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    inner: Arc<Mutex<Bucket>>,
    rate: f64,
    burst: f64,
    /// Per-route limits inside this budget (e.g. SentinelOne DV `init-query`: 1 per minute per
    /// token), shared by every clone.
    routes: Arc<std::sync::Mutex<std::collections::HashMap<&'static str, RateLimiter>>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl RateLimiter {
    pub fn new(rate: f64) -> RateLimiter {
        RateLimiter::with_burst(rate, rate.max(1.0))
    }

    pub fn with_burst(rate: f64, burst: f64) -> RateLimiter {
        let burst = burst.max(1.0);
        RateLimiter { inner: Arc::new(Mutex::new(Bucket { tokens: burst, last: Instant::now() })), rate: rate.max(0.000_01), burst, routes: Arc::default() }
    }

    /// The limiter for one route of this budget: `rate` per second, no bursts; created on first
    /// use and shared by every clone of this budget. Callers acquire it in addition to the
    /// budget itself.
    pub fn route(&self, name: &'static str, rate: f64) -> RateLimiter {
        let mut m = self.routes.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(name).or_insert_with(|| RateLimiter::with_burst(rate, 1.0)).clone()
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        loop {
            let wait = {
                let mut b = self.inner.lock().await;
                let now = Instant::now();
                b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * self.rate).min(self.burst);
                b.last = now;
                if b.tokens >= 1.0 {
                    b.tokens -= 1.0;
                    return;
                }
                Duration::from_secs_f64((1.0 - b.tokens) / self.rate)
            };
            tokio::time::sleep(wait).await;
        }
    }
}

/// How a request is retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt, for 5xx and connection errors.
    pub max_retries: u32,
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// 429s tolerated in one call before giving up.
    pub max_rate_limited: u32,
    /// Longest `Retry-After` honoured; longer ones fail the call (the run retries later).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 5,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            max_rate_limited: 20,
            max_retry_after: Duration::from_secs(300),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{endpoint}: HTTP {status}: {body}")]
    Status { endpoint: String, status: u16, body: String },
    #[error("{endpoint}: {why}")]
    Transport { endpoint: String, why: String },
    #[error("{endpoint}: still failing after {attempts} attempt(s); last error: {last}")]
    Exhausted { endpoint: String, attempts: u32, last: String },
    #[error("{endpoint}: rate limited {times} times in a row (last Retry-After {retry_after:?})")]
    RateLimited { endpoint: String, times: u32, retry_after: Option<Duration> },
}

impl HttpError {
    /// 401/403: credentials, not luck.
    pub fn is_auth(&self) -> bool {
        matches!(self, HttpError::Status { status: 401 | 403, .. })
    }
}

/// Parses `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    // The legacy ZIA API writes a unit: `0 seconds` (zscaler.md §7.4).
    let v = value.trim().trim_end_matches(" seconds").trim_end_matches(" second").trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let delta = when.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// The wait a 429 response asks for: `Retry-After`, or the `X-RateLimit-Reset` style headers
/// some vendors send (seconds until reset).
pub fn rate_limit_wait(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    if let Some(v) = headers.get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok()) {
        return parse_retry_after(v);
    }
    for name in ["x-ratelimit-reset", "ratelimit-reset", "x-rate-limit-reset"] {
        if let Some(secs) = headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok()) {
            // A Unix time or a delay: anything larger than a day is a timestamp.
            let now = chrono::Utc::now().timestamp() as u64;
            return Some(Duration::from_secs(if secs > 86_400 { secs.saturating_sub(now) } else { secs }));
        }
    }
    None
}

fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exp = policy.base_backoff.saturating_mul(1u32 << attempt.min(16));
    let capped = exp.min(policy.max_backoff);
    // Full jitter between half and all of it.
    let nanos = capped.as_nanos() as u64;
    let jitter = if nanos == 0 { 0 } else { rand::random::<u64>() % (nanos / 2 + 1) };
    Duration::from_nanos(nanos / 2 + jitter)
}

/// Sends the request `make` builds (once per attempt), honouring the rate limiter and policy.
/// Returns the first 2xx response; 4xx other than 429 fail at once.
pub async fn send(
    endpoint: &str,
    limiter: &RateLimiter,
    policy: &RetryPolicy,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, HttpError> {
    send_via(endpoint, &[limiter], policy, make).await
}

/// [`send`] through several limiters at once (the tenant's budget and a route's own limit):
/// every attempt waits for a token from each.
/// An error with its causes (`reqwest` hides the interesting part, such as a certificate
/// verification failure, in its sources).
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        cur = s.source();
    }
    out
}

/// The vendor clock's offset from this host's, per host, from the `Date` header of the last
/// answer (seconds; positive: the vendor is behind). Read by the metrics endpoint.
static CLOCK_SKEW: std::sync::Mutex<Vec<(String, i64, Option<std::time::Instant>)>> = std::sync::Mutex::new(Vec::new());

/// Skew beyond which a warning is logged (at most every 10 minutes per host).
pub const CLOCK_SKEW_WARN_SECS: i64 = 30;

/// `(host, seconds)` for every vendor host answered so far.
pub fn clock_skews() -> Vec<(String, i64)> {
    CLOCK_SKEW.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(h, s, _)| (h.clone(), *s)).collect()
}

/// Records the skew an answer's `Date` header shows; warns when it is large, since pull windows
/// are cut by this host's clock: a vendor that is behind has not written the newest records yet.
fn note_clock(resp: &reqwest::Response) {
    let Some(date) = resp.headers().get(reqwest::header::DATE).and_then(|d| d.to_str().ok()).and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok()) else { return };
    let skew = (chrono::Utc::now() - date.with_timezone(&chrono::Utc)).num_seconds();
    let host = resp.url().host_str().unwrap_or("").to_string();
    let mut all = CLOCK_SKEW.lock().unwrap_or_else(|e| e.into_inner());
    let idx = match all.iter().position(|(h, _, _)| *h == host) {
        Some(i) => i,
        None => {
            all.push((host.clone(), skew, None));
            all.len() - 1
        }
    };
    let entry = &mut all[idx];
    entry.1 = skew;
    if skew.abs() > CLOCK_SKEW_WARN_SECS && entry.2.is_none_or(|t| t.elapsed() > std::time::Duration::from_secs(600)) {
        entry.2 = Some(std::time::Instant::now());
        tracing::warn!(host = %host, skew_seconds = skew, "the vendor's clock differs from this host's by {skew} s: pull windows are cut by this host's clock, so records the vendor stamps later can be missed; fix NTP on either side, or raise the tenant's `delay` above the skew");
    }
}

pub async fn send_via(
    endpoint: &str,
    limiters: &[&RateLimiter],
    policy: &RetryPolicy,
    make: impl Fn() -> reqwest::RequestBuilder,
) -> Result<reqwest::Response, HttpError> {
    let mut failures = 0u32;
    let mut limited = 0u32;
    loop {
        for l in limiters {
            l.acquire().await;
        }
        let last = match make().send().await {
            Ok(resp) if resp.status().is_success() => {
                note_clock(&resp);
                return Ok(resp);
            }
            Ok(resp) if resp.status().as_u16() == 429 => {
                limited += 1;
                let wait = rate_limit_wait(resp.headers());
                if limited > policy.max_rate_limited || wait.is_some_and(|w| w > policy.max_retry_after) {
                    return Err(HttpError::RateLimited { endpoint: endpoint.into(), times: limited, retry_after: wait });
                }
                let wait = wait.unwrap_or_else(|| backoff(policy, limited - 1));
                tracing::warn!(endpoint, wait_ms = wait.as_millis() as u64, "rate limited (HTTP 429); waiting as asked");
                tokio::time::sleep(wait).await;
                continue;
            }
            Ok(resp) if resp.status().is_server_error() => {
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                format!("HTTP {status}: {}", body.chars().take(200).collect::<String>())
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let body = resp.text().await.unwrap_or_default();
                return Err(HttpError::Status { endpoint: endpoint.into(), status, body: body.chars().take(300).collect() });
            }
            Err(e) if e.is_builder() => return Err(HttpError::Transport { endpoint: endpoint.into(), why: e.to_string() }),
            Err(e) => error_chain(&e),
        };
        if failures >= policy.max_retries {
            return Err(HttpError::Exhausted { endpoint: endpoint.into(), attempts: failures + 1, last });
        }
        let wait = backoff(policy, failures);
        failures += 1;
        tracing::warn!(endpoint, attempt = failures, wait_ms = wait.as_millis() as u64, error = %last, "request failed; retrying");
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        let future = (chrono::Utc::now() + chrono::Duration::seconds(30)).to_rfc2822();
        let d = parse_retry_after(&future).unwrap();
        assert!(d > Duration::from_secs(27) && d <= Duration::from_secs(30), "{d:?}");
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("3 seconds"), Some(Duration::from_secs(3)));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy { base_backoff: Duration::from_millis(100), max_backoff: Duration::from_secs(1), ..RetryPolicy::default() };
        let b0 = backoff(&p, 0);
        assert!(b0 >= Duration::from_millis(50) && b0 <= Duration::from_millis(100));
        let b10 = backoff(&p, 10);
        assert!(b10 >= Duration::from_millis(500) && b10 <= Duration::from_secs(1));
    }

    #[tokio::test]
    async fn rate_limiter_spaces_requests() {
        let l = RateLimiter::new(20.0);
        let t = Instant::now();
        for _ in 0..40 {
            l.acquire().await;
        }
        // 20 burst tokens, then 20 more at 20/s: about one second.
        assert!(t.elapsed() >= Duration::from_millis(900), "{:?}", t.elapsed());
    }
}
