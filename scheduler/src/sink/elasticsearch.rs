//! Elasticsearch / OpenSearch `_bulk` with `create` actions and the stable event id as `_id`: a
//! replayed batch cannot duplicate (409 means "already there"). Per-item results are read:
//! retryable items (429, 5xx) are sent again, permanently rejected ones (mapping errors) go to a
//! dead-letter file with the reason — never lost silently.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use logfetch_common::Format;
use serde_json::Value;

use super::{BoxFuture, Sink, SinkError};
use crate::batch::Batch;

/// How to authenticate.
#[derive(Clone)]
pub enum EsAuth {
    None,
    Basic(String, String),
    ApiKey(String),
    Bearer(String),
}

pub struct ElasticsearchSink {
    name: String,
    url: String,
    auth: EsAuth,
    format: Format,
    index_template: String,
    dead_letter: PathBuf,
    client: reqwest::Client,
    max_item_retries: u32,
}

impl ElasticsearchSink {
    #[allow(clippy::too_many_arguments)]
    pub fn new(name: &str, url: &str, auth: EsAuth, format: Format, index_template: Option<String>, dead_letter: PathBuf, client: reqwest::Client) -> ElasticsearchSink {
        ElasticsearchSink {
            name: name.into(),
            url: url.trim_end_matches('/').to_string(),
            auth,
            format,
            index_template: index_template.unwrap_or_else(|| "logs-logfetch.{kind}-{tenant}-%Y.%m.%d".into()),
            dead_letter,
            client,
            max_item_retries: 8,
        }
    }

    /// The index for a batch: `{kind}`, `{tenant}` and strftime fields of the batch's date.
    pub fn index(&self, batch: &Batch) -> String {
        let t = self.index_template.replace("{kind}", batch.kind.as_str()).replace("{tenant}", &batch.tenant.to_ascii_lowercase());
        batch.date.format(&t).to_string()
    }

    fn dead_letter(&self, docs: &[(String, String)]) -> Result<(), SinkError> {
        let err = |e: std::io::Error| SinkError::Retryable { sink: self.name.clone(), why: format!("dead-letter file {}: {e}", self.dead_letter.display()) };
        if let Some(dir) = self.dead_letter.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let f = std::fs::OpenOptions::new().create(true).append(true).open(&self.dead_letter).map_err(err)?;
        let mut w = std::io::BufWriter::new(f);
        for (reason, doc) in docs {
            let line = serde_json::json!({"sink": self.name, "reason": reason, "document": serde_json::from_str::<Value>(doc).unwrap_or(Value::String(doc.clone())), "at": chrono::Utc::now()});
            serde_json::to_writer(&mut w, &line).map_err(|e| err(std::io::Error::other(e)))?;
            w.write_all(b"\n").map_err(err)?;
        }
        w.into_inner().map_err(|e| err(e.into_error()))?.sync_data().map_err(err)
    }
}

impl Sink for ElasticsearchSink {
    fn name(&self) -> &str {
        &self.name
    }
    fn format(&self) -> Format {
        self.format
    }
    fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let index = self.index(batch);
            let docs: Vec<(String, String)> = batch
                .bytes(self.format)
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .zip(&batch.event_ids)
                .map(|(l, id)| (id.clone(), String::from_utf8_lossy(l).into_owned()))
                .collect();
            let mut pending: Vec<usize> = (0..docs.len()).collect();
            let mut attempt = 0u32;
            while !pending.is_empty() {
                let mut body = String::new();
                for &i in &pending {
                    body.push_str(&serde_json::json!({"create": {"_index": index, "_id": docs[i].0}}).to_string());
                    body.push('\n');
                    body.push_str(&docs[i].1);
                    body.push('\n');
                }
                let mut rb = self.client.post(format!("{}/_bulk", self.url)).header("content-type", "application/x-ndjson").body(body);
                rb = match &self.auth {
                    EsAuth::None => rb,
                    EsAuth::Basic(u, p) => rb.basic_auth(u, Some(p)),
                    EsAuth::ApiKey(k) => rb.header("authorization", format!("ApiKey {k}")),
                    EsAuth::Bearer(t) => rb.bearer_auth(t),
                };
                let resp = rb.send().await.map_err(|e| SinkError::Retryable { sink: self.name.clone(), why: e.to_string() })?;
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                if !(200..300).contains(&status) {
                    return Err(super::http::classify(&self.name, status, &text));
                }
                let v: Value = serde_json::from_str(&text).map_err(|e| SinkError::Retryable { sink: self.name.clone(), why: format!("_bulk answer is not JSON: {e}") })?;
                let items = v["items"].as_array().cloned().unwrap_or_default();
                if items.len() != pending.len() {
                    return Err(SinkError::Retryable { sink: self.name.clone(), why: format!("_bulk answered {} items for {} documents", items.len(), pending.len()) });
                }
                let mut retry = Vec::new();
                let mut rejected = Vec::new();
                for (item, &i) in items.iter().zip(&pending) {
                    let r = &item["create"];
                    let st = r["status"].as_u64().unwrap_or(0);
                    match st {
                        200..=299 | 409 => {} // 409: the `_id` exists, a replay
                        429 | 500..=599 => retry.push(i),
                        _ => rejected.push((format!("HTTP {st}: {}", r["error"]["reason"].as_str().unwrap_or("rejected")), docs[i].1.clone())),
                    }
                }
                if !rejected.is_empty() {
                    tracing::warn!(sink = %self.name, count = rejected.len(), file = %self.dead_letter.display(), "documents rejected by Elasticsearch; kept in the dead-letter file");
                    self.dead_letter(&rejected)?;
                }
                pending = retry;
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt > self.max_item_retries {
                        return Err(SinkError::Retryable { sink: self.name.clone(), why: format!("{} documents still refused (429/5xx) after {attempt} tries", pending.len()) });
                    }
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                }
            }
            Ok(())
        })
    }
}
