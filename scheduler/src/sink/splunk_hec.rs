//! Splunk HTTP Event Collector: `/services/collector/event` with one JSON envelope per event
//! (`time`, `host`, `source`, `sourcetype`, `index`, `event`), optional gzip, optional indexer
//! acknowledgement (a channel header, then `/services/collector/ack` until the ack is true) so
//! that "accepted" means indexed. 503/429 are retryable; 400/401/403 are permanent.

use std::io::Write;
use std::time::Duration;

use logfetch_common::Format;
use serde_json::Value;

use super::{BoxFuture, Sink, SinkError};
use crate::batch::Batch;

pub struct SplunkHecSink {
    name: String,
    url: String,
    token: String,
    format: Format,
    gzip: bool,
    index: Option<String>,
    sourcetype: Option<String>,
    ack: bool,
    channel: String,
    client: reqwest::Client,
}

impl SplunkHecSink {
    #[allow(clippy::too_many_arguments)]
    pub fn new(name: &str, url: &str, token: String, format: Format, gzip: bool, index: Option<String>, sourcetype: Option<String>, ack: bool, client: reqwest::Client) -> SplunkHecSink {
        // A stable channel per process: acks are tracked per channel.
        let channel = format!("{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}", rand::random::<u32>(), rand::random::<u16>(), rand::random::<u16>() & 0xfff, rand::random::<u16>() & 0xfff, rand::random::<u64>() & 0xffff_ffff_ffff);
        SplunkHecSink { name: name.into(), url: url.trim_end_matches('/').to_string(), token, format, gzip, index, sourcetype, ack, channel, client }
    }

    /// The HEC body: one envelope per NDJSON line of the batch.
    pub fn body(&self, batch: &Batch) -> Vec<u8> {
        let lines = batch.bytes(self.format).split(|b| *b == b'\n').filter(|l| !l.is_empty());
        let sourcetype = self.sourcetype.clone().unwrap_or_else(|| format!("logfetch:{}:{}", if self.format == Format::Ocsf { "ocsf" } else { "ecs" }, batch.kind));
        let mut out = Vec::with_capacity(batch.bytes(self.format).len() + batch.events * 128);
        for (i, line) in lines.enumerate() {
            let t = batch.event_times.get(i).copied().unwrap_or(0) as f64 / 1000.0;
            let mut head = serde_json::json!({"time": t, "host": "logfetch", "source": format!("logfetch:{}", batch.tenant), "sourcetype": sourcetype});
            if let Some(ix) = &self.index {
                head["index"] = Value::String(ix.clone());
            }
            // Splice the already-encoded event in without re-serialising it.
            let h = head.to_string();
            out.extend_from_slice(&h.as_bytes()[..h.len() - 1]);
            out.extend_from_slice(b",\"event\":");
            out.extend_from_slice(line);
            out.extend_from_slice(b"}\n");
        }
        out
    }

    async fn post(&self, body: Vec<u8>) -> Result<Value, SinkError> {
        let mut rb = self.client.post(format!("{}/services/collector/event", self.url)).header("authorization", format!("Splunk {}", self.token)).header("x-splunk-request-channel", &self.channel);
        let body = if self.gzip {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(&body).map_err(|e| SinkError::Permanent { sink: self.name.clone(), why: e.to_string() })?;
            rb = rb.header("content-encoding", "gzip");
            gz.finish().map_err(|e| SinkError::Permanent { sink: self.name.clone(), why: e.to_string() })?
        } else {
            body
        };
        let resp = rb.body(body).send().await.map_err(|e| SinkError::Retryable { sink: self.name.clone(), why: e.to_string() })?;
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        if !(200..300).contains(&status) {
            return Err(super::http::classify(&self.name, status, &text));
        }
        serde_json::from_str(&text).map_err(|e| SinkError::Retryable { sink: self.name.clone(), why: format!("HEC answer is not JSON: {e}") })
    }

    async fn wait_for_ack(&self, ack_id: u64) -> Result<(), SinkError> {
        for _ in 0..120 {
            let resp = self
                .client
                .post(format!("{}/services/collector/ack", self.url))
                .header("authorization", format!("Splunk {}", self.token))
                .header("x-splunk-request-channel", &self.channel)
                .json(&serde_json::json!({"acks": [ack_id]}))
                .send()
                .await
                .map_err(|e| SinkError::Retryable { sink: self.name.clone(), why: e.to_string() })?;
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            if !(200..300).contains(&status) {
                return Err(super::http::classify(&self.name, status, &text));
            }
            let v: Value = serde_json::from_str(&text).unwrap_or_default();
            if v["acks"][ack_id.to_string()] == Value::Bool(true) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(SinkError::Retryable { sink: self.name.clone(), why: format!("ack {ack_id} not confirmed in time") })
    }
}

impl Sink for SplunkHecSink {
    fn name(&self) -> &str {
        &self.name
    }
    fn format(&self) -> Format {
        self.format
    }
    fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let answer = self.post(self.body(batch)).await?;
            if self.ack {
                let id = answer["ackId"].as_u64().ok_or_else(|| SinkError::Permanent { sink: self.name.clone(), why: "acknowledgement is on but HEC returned no ackId (enable indexer acknowledgement on the token)".into() })?;
                self.wait_for_ack(id).await?;
            }
            Ok(())
        })
    }
}
