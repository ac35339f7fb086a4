//! A Cloud NSS sender (zscaler.md §8): HTTPS POSTs of gzip'd batches up to a maximum size, as a
//! JSON array or newline-separated, with a static token header; retries a batch with back-off
//! on any non-2xx (so a receiver's 429/503 back-pressure loses nothing), gives up on 401/403.

use std::io::Write;
use std::time::Duration;

/// How to send.
#[derive(Debug, Clone)]
pub struct CloudNssSender {
    pub url: String,
    pub header: String,
    pub token: String,
    pub gzip: bool,
    pub json_array: bool,
    pub max_batch_bytes: usize,
    pub max_retries: u32,
    pub ca_file: Option<std::path::PathBuf>,
}

/// What happened.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SendReport {
    pub records: usize,
    pub batches: usize,
    pub retries: usize,
    /// Non-2xx statuses seen, in order.
    pub statuses: Vec<u16>,
}

fn batches(records: &[String], max: usize) -> Vec<Vec<&String>> {
    let mut out: Vec<Vec<&String>> = Vec::new();
    let mut size = 0;
    for r in records {
        if out.last().is_none_or(|b| !b.is_empty() && size + r.len() + 2 > max) {
            out.push(Vec::new());
            size = 0;
        }
        size += r.len() + 2;
        if let Some(b) = out.last_mut() {
            b.push(r);
        }
    }
    out
}

impl CloudNssSender {
    fn body(&self, batch: &[&String]) -> Vec<u8> {
        let text = if self.json_array { format!("[{}]", batch.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",")) } else { batch.iter().map(|s| format!("{s}\n")).collect() };
        if self.gzip {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            let _ = gz.write_all(text.as_bytes());
            gz.finish().unwrap_or_default()
        } else {
            text.into_bytes()
        }
    }

    /// Sends every record; `Err` when a batch could not be delivered.
    pub async fn send(&self, records: &[String]) -> Result<SendReport, (SendReport, String)> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = reqwest::Client::builder().timeout(Duration::from_secs(30));
        if let Some(ca) = &self.ca_file {
            let pem = std::fs::read(ca).map_err(|e| (SendReport::default(), format!("{}: {e}", ca.display())))?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| (SendReport::default(), e.to_string()))?;
            b = b.tls_certs_merge([cert]);
        }
        let client = b.build().map_err(|e| (SendReport::default(), e.to_string()))?;
        let mut rep = SendReport::default();
        for batch in batches(records, self.max_batch_bytes.max(1)) {
            let body = self.body(&batch);
            let mut attempt = 0u32;
            loop {
                let mut req = client.post(&self.url).header(self.header.as_str(), self.token.as_str()).header("content-type", "application/json").body(body.clone());
                if self.gzip {
                    req = req.header("content-encoding", "gzip");
                }
                let status = match req.send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(e) => {
                        if attempt >= self.max_retries {
                            return Err((rep, format!("POST failed: {e}")));
                        }
                        0
                    }
                };
                if (200..300).contains(&status) {
                    rep.records += batch.len();
                    rep.batches += 1;
                    break;
                }
                if status != 0 {
                    rep.statuses.push(status);
                }
                if status == 401 || status == 403 || status == 400 || attempt >= self.max_retries {
                    return Err((rep, format!("the receiver answered HTTP {status}")));
                }
                attempt += 1;
                rep.retries += 1;
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt.min(10)))).await;
            }
        }
        Ok(rep)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_the_size_limit() {
        let recs: Vec<String> = (0..10).map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(40))).collect();
        let b = batches(&recs, 200);
        assert!(b.len() > 2);
        assert_eq!(b.iter().map(Vec::len).sum::<usize>(), 10);
        for batch in &b {
            assert!(batch.iter().map(|s| s.len() + 2).sum::<usize>() <= 200 || batch.len() == 1);
        }
    }
}
