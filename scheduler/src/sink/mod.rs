//! Sinks: async, a batch in, an acknowledgement or a typed error out. A retryable error makes the
//! stream wait and try again; a permanent one fails the run. Either way the checkpoint stays put.

pub mod elasticsearch;
pub mod file;
pub mod http;
pub mod nats;
pub mod splunk_hec;
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

/// Builds a sink from its config; `data_dir` holds dead-letter files by default.
pub fn from_config(cfg: &logfetch_config::SinkConfig) -> Result<std::sync::Arc<dyn Sink>, String> {
    from_config_in(cfg, std::path::Path::new("."))
}

/// Resolves a secret reference of a sink.
fn secret(name: &str, field: &str, r: &Option<logfetch_config::SecretRef>) -> Result<Option<String>, String> {
    r.as_ref().map(|r| r.resolve(&logfetch_config::secret::ProcessEnv).map(|s| s.expose().to_string()).map_err(|e| format!("sink `{name}`, {field} ({r}): {e}"))).transpose()
}

pub fn from_config_in(cfg: &logfetch_config::SinkConfig, data_dir: &std::path::Path) -> Result<std::sync::Arc<dyn Sink>, String> {
    let name = cfg.name.get_ref().clone();
    match cfg.kind {
        logfetch_config::SinkType::SplunkHec => {
            let url = cfg.url.clone().ok_or_else(|| format!("sink `{name}` needs url"))?;
            let token = secret(&name, "token", &cfg.token)?.ok_or_else(|| format!("sink `{name}` needs token"))?;
            let client = http::client(&name, cfg.ca_file.as_deref(), cfg.tls_verify, cfg.timeout.get())?;
            Ok(std::sync::Arc::new(splunk_hec::SplunkHecSink::new(&name, &url, token, cfg.format, cfg.gzip, cfg.index.clone(), cfg.sourcetype.clone(), cfg.ack, client)))
        }
        logfetch_config::SinkType::Nats => {
            let url = cfg.url.clone().ok_or_else(|| format!("sink `{name}` needs url"))?;
            Ok(std::sync::Arc::new(nats::NatsSink::new(&name, &url, cfg.stream.clone(), cfg.format)))
        }
        logfetch_config::SinkType::Elasticsearch => {
            let url = cfg.url.clone().ok_or_else(|| format!("sink `{name}` needs url"))?;
            let auth = match (secret(&name, "api_key", &cfg.api_key)?, cfg.username.clone(), secret(&name, "password", &cfg.password)?, secret(&name, "token", &cfg.token)?) {
                (Some(k), _, _, _) => elasticsearch::EsAuth::ApiKey(k),
                (None, Some(u), Some(p), _) => elasticsearch::EsAuth::Basic(u, p),
                (None, _, _, Some(t)) => elasticsearch::EsAuth::Bearer(t),
                _ => elasticsearch::EsAuth::None,
            };
            let client = http::client(&name, cfg.ca_file.as_deref(), cfg.tls_verify, cfg.timeout.get())?;
            let dl = cfg.dead_letter.clone().unwrap_or_else(|| data_dir.join("dead-letter").join(format!("{name}.ndjson")));
            Ok(std::sync::Arc::new(elasticsearch::ElasticsearchSink::new(&name, &url, auth, cfg.format, cfg.index.clone(), dl, client)))
        }
        logfetch_config::SinkType::File => {
            let path = cfg.path.clone().ok_or_else(|| format!("sink `{name}` needs a path"))?;
            Ok(std::sync::Arc::new(file::FileSink::new(&name, path, cfg.format, cfg.gzip).with_hash_chain(cfg.hash_chain)))
        }
        logfetch_config::SinkType::Stdout => Ok(std::sync::Arc::new(stdout::StdoutSink::new(&name, cfg.format))),
    }
}
