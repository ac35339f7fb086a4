//! Mocks of the vendor APIs and log senders logfetch talks to, for tests and `logfetch demo`.
//! They listen on loopback ports chosen by the OS and behave as `../shared/vendors/*.md` say.
//!
//! [`test_source`] generates the `test` vendor's records (coherent, seeded) and serves them over
//! a small paged HTTP API with the failure modes the scheduler must survive (429, 5xx).

pub mod cisco_syslog;
pub mod cloud_nss;
pub mod panos;
pub mod s1;
pub mod siem;
pub mod test_source;
pub mod zia;
pub mod zscaler_nss;

/// Serves `app` on 127.0.0.1 with an OS-chosen port; returns the address.
pub async fn serve(app: axum::Router) -> std::io::Result<std::net::SocketAddr> {
    serve_on(app, 0).await
}

/// Like [`serve`] on a given loopback port (0: any).
pub async fn serve_on(app: axum::Router, port: u16) -> std::io::Result<std::net::SocketAddr> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(addr)
}

/// Parses a comma-separated fault plan (`503,slow:3000,reset`) into the faults a mock injects in
/// order; blank entries are ignored, an unknown one is an error naming it.
pub fn parse_fault_plan<F: std::str::FromStr<Err = String>>(spec: &str) -> Result<Vec<F>, String> {
    spec.split(',').filter(|s| !s.trim().is_empty()).map(str::parse).collect()
}

/// Takes one of the injected faults left in `budget`, answering whether there was one. A single
/// atomic step: concurrent requests can never both take the last one (a separate load and
/// `fetch_sub` let two take it, wrapping the budget to `u32::MAX` — a 429 storm without end).
pub fn take_one(budget: &std::sync::atomic::AtomicU32) -> bool {
    use std::sync::atomic::Ordering;
    budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn take_one_hands_out_exactly_the_budget_across_threads() {
        let budget = std::sync::Arc::new(AtomicU32::new(1000));
        let taken: usize = (0..8)
            .map(|_| {
                let b = budget.clone();
                std::thread::spawn(move || (0..500).filter(|_| take_one(&b)).count())
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .sum();
        assert_eq!(taken, 1000);
        assert_eq!(budget.load(Ordering::SeqCst), 0);
        assert!(!take_one(&budget));
    }
}
