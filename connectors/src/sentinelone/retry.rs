//! Retrying a whole query: a query that ends FAILED, EXPIRED or CANCELLED (or vanishes) is run
//! again for the same window with exponential back-off; one that keeps failing fails the run
//! with the last reason, and the scheduler leaves the checkpoint where it was.

use std::future::Future;

use crate::http::RetryPolicy;
use crate::pull::PullError;

/// Attempts per window before the run fails.
pub const QUERY_ATTEMPTS: u32 = 4;

/// Why one query attempt gave no result.
#[derive(Debug)]
pub enum QueryFail {
    /// The query itself failed, expired or was cancelled: running it again may work.
    Retry(String),
    /// Anything else (auth, bad request, transport exhausted): no point retrying here.
    Fatal(PullError),
}

impl From<PullError> for QueryFail {
    fn from(e: PullError) -> Self {
        QueryFail::Fatal(e)
    }
}

/// Runs `attempt` until it succeeds, fails fatally, or has failed [`QUERY_ATTEMPTS`] times.
pub async fn with_retries<T, F, Fut>(tenant: &str, endpoint: &str, policy: &RetryPolicy, mut attempt: F) -> Result<T, PullError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, QueryFail>>,
{
    let mut n = 0u32;
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(QueryFail::Fatal(e)) => return Err(e),
            Err(QueryFail::Retry(why)) => {
                n += 1;
                if n >= QUERY_ATTEMPTS {
                    return Err(PullError::Protocol {
                        tenant: tenant.to_string(),
                        endpoint: endpoint.to_string(),
                        why: format!("the query failed {n} times in a row (last: {why}); the window is tried again on the next run"),
                    });
                }
                let wait = policy.base_backoff.saturating_mul(1 << (n - 1).min(10)).min(policy.max_backoff);
                tracing::warn!(tenant, endpoint, attempt = n, wait_ms = wait.as_millis() as u64, reason = %why, "query did not complete; running it again");
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn retries_then_succeeds_or_gives_up_with_the_reason() {
        let p = RetryPolicy { base_backoff: Duration::from_millis(1), ..RetryPolicy::default() };
        let mut calls = 0;
        let v = with_retries("t", "ep", &p, || {
            calls += 1;
            let c = calls;
            async move { if c < 3 { Err(QueryFail::Retry(format!("FAILED #{c}"))) } else { Ok(c) } }
        })
        .await
        .unwrap();
        assert_eq!(v, 3);
        let e = with_retries::<(), _, _>("t", "ep", &p, || async { Err(QueryFail::Retry("QUERY_EXPIRED".into())) }).await.unwrap_err().to_string();
        assert!(e.contains("failed 4 times") && e.contains("QUERY_EXPIRED") && e.contains("tenant `t`"), "{e}");
        let mut calls = 0;
        let e = with_retries::<(), _, _>("t", "ep", &p, || {
            calls += 1;
            async { Err(QueryFail::Fatal(PullError::Config { tenant: "t".into(), why: "bad".into() })) }
        })
        .await
        .unwrap_err();
        assert!(matches!(e, PullError::Config { .. }));
        assert_eq!(calls, 1, "fatal errors are not retried");
    }
}
