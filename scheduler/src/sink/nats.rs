//! NATS JetStream: one message per event on `logfetch.<tenant>.<kind>`, with `Nats-Msg-Id` set to
//! the stable event id so JetStream's duplicate window drops replays; a batch is safe once every
//! publish is acknowledged. This is how output fans out to many consumers and machines.

use std::time::Duration;

use logfetch_common::Format;
use tokio::sync::OnceCell;

use super::{BoxFuture, Sink, SinkError};
use crate::batch::Batch;

pub struct NatsSink {
    name: String,
    url: String,
    stream: String,
    format: Format,
    js: OnceCell<async_nats::jetstream::Context>,
}

impl NatsSink {
    pub fn new(name: &str, url: &str, stream: Option<String>, format: Format) -> NatsSink {
        NatsSink { name: name.into(), url: url.into(), stream: stream.unwrap_or_else(|| "LOGFETCH".into()), format, js: OnceCell::new() }
    }

    fn retry(&self, why: String) -> SinkError {
        SinkError::Retryable { sink: self.name.clone(), why }
    }

    async fn context(&self) -> Result<&async_nats::jetstream::Context, SinkError> {
        self.js
            .get_or_try_init(|| async {
                let client = async_nats::ConnectOptions::new()
                    .connection_timeout(Duration::from_secs(5))
                    .connect(self.url.as_str())
                    .await
                    .map_err(|e| self.retry(format!("connect {}: {e}", self.url)))?;
                let js = async_nats::jetstream::new(client);
                js.get_or_create_stream(async_nats::jetstream::stream::Config {
                    name: self.stream.clone(),
                    subjects: vec!["logfetch.>".into()],
                    duplicate_window: Duration::from_secs(2 * 3600),
                    ..Default::default()
                })
                .await
                .map_err(|e| self.retry(format!("stream {}: {e}", self.stream)))?;
                Ok(js)
            })
            .await
    }
}

/// NATS subject tokens may not contain `.`, `*`, `>` or whitespace.
fn token(s: &str) -> String {
    s.chars().map(|c| if c == '.' || c == '*' || c == '>' || c.is_whitespace() { '_' } else { c }).collect()
}

impl Sink for NatsSink {
    fn name(&self) -> &str {
        &self.name
    }
    fn format(&self) -> Format {
        self.format
    }
    fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let js = self.context().await?;
            let subject = format!("logfetch.{}.{}", token(&batch.tenant), batch.kind);
            let mut acks = Vec::with_capacity(batch.events);
            let lines = batch.bytes(self.format).split(|b| *b == b'\n').filter(|l| !l.is_empty());
            for (line, id) in lines.zip(&batch.event_ids) {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("Nats-Msg-Id", id.as_str());
                let ack = js
                    .publish_with_headers(subject.clone(), headers, bytes::Bytes::copy_from_slice(line))
                    .await
                    .map_err(|e| self.retry(format!("publish: {e}")))?;
                acks.push(ack);
            }
            // Pipelined: wait for every acknowledgement.
            for ack in acks {
                tokio::time::timeout(Duration::from_secs(10), ack)
                    .await
                    .map_err(|_| self.retry("publish acknowledgement timed out".into()))?
                    .map_err(|e| self.retry(format!("publish not acknowledged: {e}")))?;
            }
            Ok(())
        })
    }
}
