//! Sinks: async, a batch in, an acknowledgement or a typed error out. A retryable error makes the
//! stream wait and try again; a permanent one fails the run. Either way the checkpoint stays put.

pub mod file;
pub mod stdout;

use logfetch_common::Format;

use crate::batch::Batch;

pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum SinkError {
    #[error("sink `{sink}`: {why} (will retry)")]
    Retryable { sink: String, why: String },
    #[error("sink `{sink}`: {why}")]
    Permanent { sink: String, why: String },
}

impl SinkError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, SinkError::Retryable { .. })
    }
}

/// Where batches go.
pub trait Sink: Send + Sync {
    fn name(&self) -> &str;
    fn format(&self) -> Format;
    /// Delivers the batch; returns only once it is safe (written and synced, or acknowledged).
    fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), SinkError>>;
}

/// Builds a sink from its config.
pub fn from_config(cfg: &logfetch_config::SinkConfig) -> Result<std::sync::Arc<dyn Sink>, String> {
    let name = cfg.name.get_ref().clone();
    match cfg.kind {
        logfetch_config::SinkType::File => {
            let path = cfg.path.clone().ok_or_else(|| format!("sink `{name}` needs a path"))?;
            Ok(std::sync::Arc::new(file::FileSink::new(&name, path, cfg.format, cfg.gzip)))
        }
        logfetch_config::SinkType::Stdout => Ok(std::sync::Arc::new(stdout::StdoutSink::new(&name, cfg.format))),
    }
}
