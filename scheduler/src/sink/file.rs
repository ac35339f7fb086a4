//! The file sink: `tenant=<id>/kind=<flow|dns|finding>/date=YYYY-MM-DD/<batch id>.ndjson[.gz]`.
//! Each batch is written under a temporary name, fsynced, renamed, and the directory fsynced:
//! a reader never sees a partial file, and a replayed batch replaces itself.

use std::io::Write;
use std::path::{Path, PathBuf};

use logfetch_common::Format;

use super::{BoxFuture, Sink, SinkError};
use crate::batch::Batch;

pub struct FileSink {
    name: String,
    root: PathBuf,
    format: Format,
    gzip: bool,
    /// Append each batch to the day's `chain.jsonl` hash chain (evidence integrity).
    hash_chain: bool,
}

/// Serialises chain appends within the process.
static CHAIN_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl FileSink {
    pub fn new(name: &str, root: PathBuf, format: Format, gzip: bool) -> FileSink {
        FileSink { name: name.to_string(), root, format, gzip, hash_chain: false }
    }

    /// With a per-day SHA-256 hash chain of the batches (`logfetch evidence verify` checks it).
    pub fn with_hash_chain(mut self, on: bool) -> FileSink {
        self.hash_chain = on;
        self
    }

    /// Where a batch lands.
    pub fn path_for(&self, batch: &Batch) -> PathBuf {
        let ext = if self.gzip { "ndjson.gz" } else { "ndjson" };
        self.root
            .join(format!("tenant={}", batch.tenant))
            .join(format!("kind={}", batch.kind))
            .join(format!("date={}", batch.date))
            .join(format!("{}.{ext}", batch.id))
    }
}

fn write_atomically(path: &Path, bytes: &[u8], gzip: bool) -> std::io::Result<()> {
    let dir = path.parent().ok_or_else(|| std::io::Error::other("no parent directory"))?;
    std::fs::create_dir_all(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("batch");
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let f = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::new(f);
        if gzip {
            let mut gz = flate2::write::GzEncoder::new(&mut w, flate2::Compression::fast());
            gz.write_all(bytes)?;
            gz.finish()?;
        } else {
            w.write_all(bytes)?;
        }
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

impl Sink for FileSink {
    fn name(&self) -> &str {
        &self.name
    }
    fn format(&self) -> Format {
        self.format
    }
    fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let path = self.path_for(batch);
            let bytes = batch.shared_bytes(self.format);
            let gzip = self.gzip;
            let chain = self.hash_chain;
            let p2 = path.clone();
            let res = tokio::task::spawn_blocking(move || {
                write_atomically(&p2, &bytes, gzip)?;
                if chain {
                    let _g = CHAIN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
                    let dir = p2.parent().ok_or_else(|| std::io::Error::other("no parent directory"))?;
                    let name = p2.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                    crate::evidence::chain_append(dir, name)?;
                }
                Ok::<(), std::io::Error>(())
            })
            .await;
            match res {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(SinkError::Retryable { sink: self.name.clone(), why: format!("writing {}: {e}", path.display()) }),
                Err(e) => Err(SinkError::Retryable { sink: self.name.clone(), why: format!("writer task failed: {e}") }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::build_batches;
    use logfetch_common::LogKind;

    #[tokio::test]
    async fn writes_partitioned_files_and_replays_replace_them() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = logfetch_connectors::ParseContext::new("t1", chrono_tz::UTC);
        let ev = match logfetch_connectors::RecordParser::parse(
            &logfetch_connectors::test_vendor::TestParser,
            r#"{"type":"dns","id":"d","time":"2024-05-01T10:00:00Z","query":"a.example.com"}"#,
            &ctx,
        ) {
            logfetch_connectors::ParseOutcome::Events(v) => v,
            o => panic!("{o:?}"),
        };
        let batches = build_batches("t1", LogKind::Dns, &["x"], &ev, &[Format::Ocsf], 100, 1 << 20);
        for gzip in [false, true] {
            let sink = FileSink::new("f", dir.path().to_path_buf(), Format::Ocsf, gzip);
            sink.deliver(&batches[0]).await.unwrap();
            sink.deliver(&batches[0]).await.unwrap();
            let p = sink.path_for(&batches[0]);
            assert!(p.starts_with(dir.path().join("tenant=t1/kind=dns/date=2024-05-01")), "{}", p.display());
            let files: Vec<_> = std::fs::read_dir(p.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
            assert_eq!(files.len(), if gzip { 2 } else { 1 }, "a replay replaces, no temp files left: {files:?}");
            let raw = std::fs::read(&p).unwrap();
            let text = if gzip {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&raw[..]), &mut s).unwrap();
                s
            } else {
                String::from_utf8(raw).unwrap()
            };
            assert!(text.contains("\"hostname\":\"a.example.com\""), "{text}");
        }
    }
}
