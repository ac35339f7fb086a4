//! The stdout sink: NDJSON on standard output (for piping into other tools).

use std::io::Write;

use logfetch_common::Format;

use super::{BoxFuture, Sink, SinkError};
use crate::batch::Batch;

pub struct StdoutSink {
    name: String,
    format: Format,
}

impl StdoutSink {
    pub fn new(name: &str, format: Format) -> StdoutSink {
        StdoutSink { name: name.to_string(), format }
    }
}

impl Sink for StdoutSink {
    fn name(&self) -> &str {
        &self.name
    }
    fn format(&self) -> Format {
        self.format
    }
    fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let out = std::io::stdout();
            let mut lock = out.lock();
            lock.write_all(batch.bytes(self.format))
                .and_then(|_| lock.flush())
                .map_err(|e| SinkError::Permanent { sink: self.name.clone(), why: format!("stdout: {e}") })
        })
    }
}
