//! The durable spool for push sources (syslog, NSS, Cloud NSS): received records are appended
//! here — and flushed — before the sender is acknowledged or anything downstream sees them.
//! The consumer reads in order and removes records only after every sink has acknowledged the
//! batch they went into; what is still in the spool after a crash is delivered again.
//! The spool is bounded in bytes: when full, appends fail with [`SpoolError::Full`] and the
//! receiver applies back-pressure (TCP stops reading, HTTP answers 429/503, UDP counts drops).

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool `{name}` is full ({bytes} of {max} bytes); the receiver must slow the sender down")]
    Full { name: String, bytes: u64, max: u64 },
    #[error("spool `{name}`: {source}")]
    Store { name: String, source: sled::Error },
    #[error("spool `{name}`: entry {seq} does not decode: {why}")]
    Corrupt { name: String, seq: u64, why: String },
}

/// One received record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpoolRecord {
    pub received_at: DateTime<Utc>,
    /// Who sent it (`ip:port`).
    pub peer: Option<String>,
    pub line: String,
}

/// A spool over one sled tree.
pub struct Spool {
    name: String,
    db: sled::Db,
    tree: sled::Tree,
    max_bytes: u64,
    bytes: AtomicU64,
    next_seq: AtomicU64,
    notify: tokio::sync::Notify,
}

impl std::fmt::Debug for Spool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spool").field("name", &self.name).field("bytes", &self.bytes()).finish()
    }
}

impl Spool {
    /// Opens the spool `name` (one per push tenant) in `db`, bounded to `max_bytes`.
    pub fn open(db: &sled::Db, name: &str, max_bytes: u64) -> Result<Spool, SpoolError> {
        let store = |source| SpoolError::Store { name: name.to_string(), source };
        let tree = db.open_tree(format!("spool/{name}")).map_err(store)?;
        let mut bytes = 0u64;
        for kv in tree.iter() {
            let (_, v) = kv.map_err(store)?;
            bytes += v.len() as u64;
        }
        let next = tree.last().map_err(store)?.map(|(k, _)| seq_of(&k) + 1).unwrap_or(0);
        Ok(Spool { name: name.to_string(), db: db.clone(), tree, max_bytes, bytes: AtomicU64::new(bytes), next_seq: AtomicU64::new(next), notify: tokio::sync::Notify::new() })
    }

    fn err(&self, source: sled::Error) -> SpoolError {
        SpoolError::Store { name: self.name.clone(), source }
    }

    /// Bytes waiting.
    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::SeqCst)
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }

    /// Appends records durably. All or nothing: when they do not fit, nothing is written.
    pub async fn append(&self, records: &[SpoolRecord]) -> Result<u64, SpoolError> {
        let encoded: Vec<Vec<u8>> = records.iter().map(|r| serde_json::to_vec(r).unwrap_or_default()).collect();
        let size: u64 = encoded.iter().map(|e| e.len() as u64).sum();
        let now = self.bytes();
        if now + size > self.max_bytes && now > 0 {
            return Err(SpoolError::Full { name: self.name.clone(), bytes: now, max: self.max_bytes });
        }
        let mut batch = sled::Batch::default();
        let first = self.next_seq.fetch_add(encoded.len() as u64, Ordering::SeqCst);
        for (i, e) in encoded.into_iter().enumerate() {
            batch.insert(&(first + i as u64).to_be_bytes(), e);
        }
        self.tree.apply_batch(batch).map_err(|e| self.err(e))?;
        self.db.flush_async().await.map_err(|e| self.err(e))?;
        self.bytes.fetch_add(size, Ordering::SeqCst);
        self.notify.notify_waiters();
        Ok(first + records.len() as u64 - 1)
    }

    /// Up to `max` records in order, oldest first, with their sequence numbers.
    pub fn peek(&self, max: usize) -> Result<Vec<(u64, SpoolRecord)>, SpoolError> {
        let mut out = Vec::new();
        for kv in self.tree.iter().take(max) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let seq = seq_of(&k);
            let rec = serde_json::from_slice(&v).map_err(|e| SpoolError::Corrupt { name: self.name.clone(), seq, why: e.to_string() })?;
            out.push((seq, rec));
        }
        Ok(out)
    }

    /// Removes every record up to and including `seq` (its batch is safe in every sink).
    pub async fn ack_through(&self, seq: u64) -> Result<(), SpoolError> {
        let mut freed = 0u64;
        let mut batch = sled::Batch::default();
        for kv in self.tree.range(..=seq.to_be_bytes()) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            freed += v.len() as u64;
            batch.remove(k);
        }
        self.tree.apply_batch(batch).map_err(|e| self.err(e))?;
        self.db.flush_async().await.map_err(|e| self.err(e))?;
        self.bytes.fetch_sub(freed.min(self.bytes()), Ordering::SeqCst);
        Ok(())
    }

    /// Waits until something is appended (or `timeout` passes).
    pub async fn wait(&self, timeout: std::time::Duration) {
        if !self.is_empty() {
            return;
        }
        let _ = tokio::time::timeout(timeout, self.notify.notified()).await;
    }
}

fn seq_of(k: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = k.len().min(8);
    b[8 - n..].copy_from_slice(&k[k.len() - n..]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(s: &str) -> SpoolRecord {
        SpoolRecord { received_at: Utc::now(), peer: Some("127.0.0.1:5000".into()), line: s.into() }
    }

    #[tokio::test]
    async fn append_peek_ack_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let sp = Spool::open(&db, "t1", 1 << 20).unwrap();
            assert_eq!(sp.append(&[rec("a"), rec("b"), rec("c")]).await.unwrap(), 2);
            let got = sp.peek(2).unwrap();
            assert_eq!(got.iter().map(|(s, r)| (*s, r.line.as_str())).collect::<Vec<_>>(), [(0, "a"), (1, "b")]);
            sp.ack_through(1).await.unwrap();
            assert_eq!(sp.peek(10).unwrap().len(), 1);
        }
        // Reopen: the unacknowledged record is still there, and numbering continues.
        let db = sled::open(dir.path()).unwrap();
        let sp = Spool::open(&db, "t1", 1 << 20).unwrap();
        let got = sp.peek(10).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].1.line, "c");
        assert!(sp.bytes() > 0);
        assert_eq!(sp.append(&[rec("d")]).await.unwrap(), 3);
        sp.ack_through(3).await.unwrap();
        assert!(sp.is_empty());
        assert_eq!(sp.bytes(), 0);
    }

    #[tokio::test]
    async fn a_full_spool_refuses_appends_until_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let sp = Spool::open(&db, "t", 300).unwrap();
        let line = "x".repeat(100);
        sp.append(&[rec(&line)]).await.unwrap();
        sp.append(&[rec(&line)]).await.unwrap_err();
        let err = sp.append(&[rec(&line)]).await.unwrap_err();
        assert!(matches!(err, SpoolError::Full { .. }), "{err}");
        sp.ack_through(0).await.unwrap();
        sp.append(&[rec(&line)]).await.unwrap();
    }
}
