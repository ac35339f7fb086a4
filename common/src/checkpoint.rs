//! Collection progress, kept in sled and keyed by (tenant, stream).
//!
//! Values are typed per connector (any serde type), wrapped in a versioned record with a
//! generation number for compare-and-swap. Every commit is flushed to disk ([`flush`]) before
//! it returns: sled otherwise loses the last acknowledged writes on a kill (`../shared/crates.md`
//! §5.3). A value that does not decode, or that a newer logfetch wrote, is reported, never reset.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The record format this build writes and understands.
pub const CHECKPOINT_FORMAT: u32 = 1;

/// Flushes `db` to disk (fsync) and waits for it, on tokio's blocking pool.
///
/// Not `sled::Db::flush_async`: in sled 0.34 several of those futures polled at about the same
/// time can miss their wake-up and hang (spacejam/sled#1241), and the spool, the checkpoints and
/// the enrichment caches of one daemon all flush the same `Db` concurrently.
pub async fn flush(db: &sled::Db) -> sled::Result<usize> {
    let db = db.clone();
    match tokio::task::spawn_blocking(move || db.flush()).await {
        Ok(r) => r,
        Err(e) => Err(sled::Error::Io(std::io::Error::other(format!("flush task: {e}")))),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(
        "checkpoint store {path} is locked by another process (is `logfetch run` running? while the daemon runs, use `logfetch checkpoint ... --admin URL` or its admin API)"
    )]
    Locked { path: PathBuf },
    #[error("cannot open checkpoint store {path}: {source}")]
    Open { path: PathBuf, source: sled::Error },
    #[error("checkpoint store I/O error: {0}")]
    Io(#[from] sled::Error),
    #[error("checkpoint for tenant `{tenant}` stream `{stream}` is corrupted ({reason}); it was left as it is: inspect it with `logfetch checkpoint show` and rewind it with `logfetch checkpoint set` or `reset`")]
    Corrupt { tenant: String, stream: String, reason: String },
    #[error("checkpoint for tenant `{tenant}` stream `{stream}` was written in format {found} by a newer logfetch (this build understands up to {supported}); upgrade logfetch or reset the checkpoint")]
    FutureFormat { tenant: String, stream: String, found: u32, supported: u32 },
    #[error("checkpoint for tenant `{tenant}` stream `{stream}` changed underneath (expected generation {expected:?}, found {found:?})")]
    Conflict { tenant: String, stream: String, expected: Option<u64>, found: Option<u64> },
    #[error("invalid checkpoint key: {0}")]
    InvalidKey(String),
    #[error("cannot encode checkpoint value: {0}")]
    Encode(String),
}

/// A checkpoint as stored: the connector's value plus bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCheckpoint {
    pub format: u32,
    /// Increases by one with every commit; the compare-and-swap token.
    pub generation: u64,
    pub updated_at: DateTime<Utc>,
    /// The connector's own typed value, as JSON.
    pub value: serde_json::Value,
}

impl StoredCheckpoint {
    /// Decodes the connector value.
    pub fn decode<T: DeserializeOwned>(&self, tenant: &str, stream: &str) -> Result<T, CheckpointError> {
        serde_json::from_value(self.value.clone()).map_err(|e| CheckpointError::Corrupt {
            tenant: tenant.into(),
            stream: stream.into(),
            reason: format!("value does not match the connector's checkpoint type: {e}"),
        })
    }
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where collection progress lives. One implementation over sled; the trait keeps the backend
/// swappable (sled 0.34 is unmaintained, see crates.md §5).
pub trait CheckpointStore: Send + Sync {
    fn get(&self, tenant: &str, stream: &str) -> Result<Option<StoredCheckpoint>, CheckpointError>;
    /// Writes `value` if the stored generation equals `expected` (`None`: no checkpoint yet),
    /// flushes to disk, and returns the new generation.
    fn compare_and_swap<'a>(
        &'a self,
        tenant: &'a str,
        stream: &'a str,
        expected: Option<u64>,
        value: serde_json::Value,
    ) -> BoxFuture<'a, Result<u64, CheckpointError>>;
    /// Removes a checkpoint (the stream starts afresh). Returns whether one existed.
    fn remove<'a>(&'a self, tenant: &'a str, stream: &'a str) -> BoxFuture<'a, Result<bool, CheckpointError>>;
    /// Every checkpoint, sorted by (tenant, stream). Corrupted entries come back as errors in place.
    fn list(&self) -> Result<Vec<(String, String, Result<StoredCheckpoint, CheckpointError>)>, CheckpointError>;
}

/// Typed helpers over any store.
pub async fn commit<T: Serialize>(
    store: &dyn CheckpointStore,
    tenant: &str,
    stream: &str,
    expected: Option<u64>,
    value: &T,
) -> Result<u64, CheckpointError> {
    let v = serde_json::to_value(value).map_err(|e| CheckpointError::Encode(e.to_string()))?;
    store.compare_and_swap(tenant, stream, expected, v).await
}

/// Reads and decodes a typed checkpoint, with its generation.
pub fn load<T: DeserializeOwned>(store: &dyn CheckpointStore, tenant: &str, stream: &str) -> Result<Option<(T, u64)>, CheckpointError> {
    match store.get(tenant, stream)? {
        None => Ok(None),
        Some(s) => Ok(Some((s.decode(tenant, stream)?, s.generation))),
    }
}

/// The sled-backed store.
#[derive(Clone)]
pub struct SledCheckpointStore {
    db: sled::Db,
    tree: sled::Tree,
}

impl std::fmt::Debug for SledCheckpointStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledCheckpointStore").finish_non_exhaustive()
    }
}

fn is_lock_error(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock
                || io.raw_os_error() == Some(11)
                || io.to_string().contains("could not acquire lock")
        }
        _ => false,
    }
}

fn key(tenant: &str, stream: &str) -> Result<Vec<u8>, CheckpointError> {
    if tenant.is_empty() || stream.is_empty() || tenant.contains('\0') || stream.contains('\0') {
        return Err(CheckpointError::InvalidKey(format!("tenant `{tenant}` / stream `{stream}` must be non-empty and contain no NUL")));
    }
    let mut k = Vec::with_capacity(tenant.len() + stream.len() + 1);
    k.extend_from_slice(tenant.as_bytes());
    k.push(0);
    k.extend_from_slice(stream.as_bytes());
    Ok(k)
}

fn split_key(k: &[u8]) -> (String, String) {
    let pos = k.iter().position(|b| *b == 0).unwrap_or(k.len());
    let tenant = String::from_utf8_lossy(&k[..pos]).into_owned();
    let stream = String::from_utf8_lossy(k.get(pos + 1..).unwrap_or(&[])).into_owned();
    (tenant, stream)
}

fn decode_stored(tenant: &str, stream: &str, bytes: &[u8]) -> Result<StoredCheckpoint, CheckpointError> {
    #[derive(Deserialize)]
    struct FormatOnly {
        format: u32,
    }
    let corrupt = |reason: String| CheckpointError::Corrupt { tenant: tenant.into(), stream: stream.into(), reason };
    let f: FormatOnly = serde_json::from_slice(bytes).map_err(|e| corrupt(format!("not a checkpoint record: {e}")))?;
    if f.format > CHECKPOINT_FORMAT {
        return Err(CheckpointError::FutureFormat { tenant: tenant.into(), stream: stream.into(), found: f.format, supported: CHECKPOINT_FORMAT });
    }
    serde_json::from_slice(bytes).map_err(|e| corrupt(format!("record does not decode: {e}")))
}

/// How long [`SledCheckpointStore::open`] waits for a lock that is being released.
const LOCK_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// sled's page cache size for the state store.
const SLED_CACHE_BYTES: u64 = 64 << 20;

impl SledCheckpointStore {
    /// Opens (creating if needed) the store in `dir`. Fails with [`CheckpointError::Locked`]
    /// when another process holds it (after half a second: a lock just being released is waited
    /// for).
    pub fn open(dir: &Path) -> Result<Self, CheckpointError> {
        // sled caches up to 1 GiB by default; the spool streams through, so a small cache keeps
        // the daemon's memory flat without slowing it down.
        // sled releases its file lock only when the last of its background references to the
        // file goes, shortly after the handle drops: a store closed a moment ago (in this process
        // or by one that just exited) can still look locked. A short grace period tells that from
        // a holder that stays.
        let deadline = std::time::Instant::now() + LOCK_GRACE;
        let db = loop {
            match sled::Config::new().path(dir).cache_capacity(SLED_CACHE_BYTES).open() {
                Ok(db) => break db,
                Err(e) if is_lock_error(&e) => {
                    if std::time::Instant::now() >= deadline {
                        return Err(CheckpointError::Locked { path: dir.to_path_buf() });
                    }
                    std::thread::sleep(std::time::Duration::from_millis(25));
                }
                Err(e) => return Err(CheckpointError::Open { path: dir.to_path_buf(), source: e }),
            }
        };
        let tree = db.open_tree("checkpoints")?;
        Ok(SledCheckpointStore { db, tree })
    }

    /// The underlying database, for other small state (spool, caches) that wants the same file.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Writes raw bytes under a key, bypassing format checks. Tests use it to plant corruption.
    #[doc(hidden)]
    pub fn put_raw(&self, tenant: &str, stream: &str, bytes: &[u8]) -> Result<(), CheckpointError> {
        self.tree.insert(key(tenant, stream)?, bytes)?;
        self.db.flush()?;
        Ok(())
    }
}

impl CheckpointStore for SledCheckpointStore {
    fn get(&self, tenant: &str, stream: &str) -> Result<Option<StoredCheckpoint>, CheckpointError> {
        match self.tree.get(key(tenant, stream)?)? {
            None => Ok(None),
            Some(bytes) => decode_stored(tenant, stream, &bytes).map(Some),
        }
    }

    fn compare_and_swap<'a>(
        &'a self,
        tenant: &'a str,
        stream: &'a str,
        expected: Option<u64>,
        value: serde_json::Value,
    ) -> BoxFuture<'a, Result<u64, CheckpointError>> {
        Box::pin(async move {
            let k = key(tenant, stream)?;
            let current = self.tree.get(&k)?;
            let found = match &current {
                None => None,
                Some(b) => Some(decode_stored(tenant, stream, b)?.generation),
            };
            if found != expected {
                return Err(CheckpointError::Conflict { tenant: tenant.into(), stream: stream.into(), expected, found });
            }
            let generation = found.map_or(1, |g| g + 1);
            let rec = StoredCheckpoint { format: CHECKPOINT_FORMAT, generation, updated_at: Utc::now(), value };
            let bytes = serde_json::to_vec(&rec).map_err(|e| CheckpointError::Encode(e.to_string()))?;
            let swapped = self.tree.compare_and_swap(&k, current.as_ref().map(|c| c.as_ref()), Some(bytes))?;
            if swapped.is_err() {
                let now = self.get(tenant, stream)?.map(|s| s.generation);
                return Err(CheckpointError::Conflict { tenant: tenant.into(), stream: stream.into(), expected, found: now });
            }
            // Durable before we say so.
            flush(&self.db).await?;
            Ok(generation)
        })
    }

    fn remove<'a>(&'a self, tenant: &'a str, stream: &'a str) -> BoxFuture<'a, Result<bool, CheckpointError>> {
        Box::pin(async move {
            let existed = self.tree.remove(key(tenant, stream)?)?.is_some();
            flush(&self.db).await?;
            Ok(existed)
        })
    }

    fn list(&self) -> Result<Vec<(String, String, Result<StoredCheckpoint, CheckpointError>)>, CheckpointError> {
        let mut out = Vec::new();
        for kv in self.tree.iter() {
            let (k, v) = kv?;
            let (tenant, stream) = split_key(&k);
            let decoded = decode_stored(&tenant, &stream, &v);
            out.push((tenant, stream, decoded));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Seq {
        seqno: u64,
    }

    #[tokio::test]
    async fn commit_load_and_compare_and_swap() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledCheckpointStore::open(dir.path()).unwrap();
        assert!(load::<Seq>(&store, "fw1", "flow").unwrap().is_none());
        let g1 = commit(&store, "fw1", "flow", None, &Seq { seqno: 10 }).await.unwrap();
        assert_eq!(g1, 1);
        let g2 = commit(&store, "fw1", "flow", Some(1), &Seq { seqno: 20 }).await.unwrap();
        assert_eq!(g2, 2);
        // A stale writer loses.
        let err = commit(&store, "fw1", "flow", Some(1), &Seq { seqno: 15 }).await.unwrap_err();
        assert!(matches!(err, CheckpointError::Conflict { expected: Some(1), found: Some(2), .. }), "{err}");
        assert_eq!(load::<Seq>(&store, "fw1", "flow").unwrap(), Some((Seq { seqno: 20 }, 2)));
        // Streams are independent.
        commit(&store, "fw1", "dns", None, &Seq { seqno: 1 }).await.unwrap();
        let all = store.list().unwrap();
        assert_eq!(all.iter().map(|(t, s, _)| format!("{t}/{s}")).collect::<Vec<_>>(), ["fw1/dns", "fw1/flow"]);
        assert!(store.remove("fw1", "dns").await.unwrap());
        assert!(!store.remove("fw1", "dns").await.unwrap());
    }

    #[tokio::test]
    async fn corrupted_and_future_values_are_reported_not_reset() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledCheckpointStore::open(dir.path()).unwrap();
        store.put_raw("t", "flow", b"\x00garbage").unwrap();
        let err = store.get("t", "flow").unwrap_err();
        assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err}");
        assert!(err.to_string().contains("tenant `t` stream `flow`"));
        // A commit over a corrupted value refuses instead of overwriting it.
        assert!(commit(&store, "t", "flow", None, &Seq { seqno: 1 }).await.is_err());
        assert!(store.get("t", "flow").is_err(), "still there, untouched");

        store.put_raw("t", "dns", br#"{"format":7,"generation":3,"updated_at":"2024-01-01T00:00:00Z","value":{}}"#).unwrap();
        let err = store.get("t", "dns").unwrap_err();
        assert!(matches!(err, CheckpointError::FutureFormat { found: 7, supported: 1, .. }), "{err}");

        // Well-formed record, wrong connector type.
        commit(&store, "t", "other", None, &serde_json::json!({"cursor": "abc"})).await.unwrap();
        let err = load::<Seq>(&store, "t", "other").unwrap_err();
        assert!(matches!(err, CheckpointError::Corrupt { .. }), "{err}");
    }

    #[test]
    fn invalid_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledCheckpointStore::open(dir.path()).unwrap();
        assert!(matches!(store.get("", "flow"), Err(CheckpointError::InvalidKey(_))));
        assert!(matches!(store.get("a\0b", "flow"), Err(CheckpointError::InvalidKey(_))));
    }
}
