//! The durable spool for push sources (syslog, NSS, Cloud NSS): received records are appended
//! here — and flushed — before the sender is acknowledged or anything downstream sees them.
//! The consumer reads in order and removes records only after every sink has acknowledged the
//! batch they went into; what is still in the spool after a crash is delivered again.
//! The spool is bounded in bytes: when full, appends fail with [`SpoolError::Full`] and the
//! receiver applies back-pressure (TCP stops reading, HTTP answers 429/503, UDP counts drops).
//!
//! Storage: one sled entry per append (a *chunk*), keyed by the sequence number of its first
//! record, holding the records in a compact binary form ([`encode_chunk`]). A partly acknowledged
//! chunk is rewritten under the first sequence number it still holds. Entries written by older
//! versions (one JSON record per key) are still read.

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
    /// `next_seq`, persisted so numbering survives a restart with an empty spool.
    meta: sled::Tree,
    max_bytes: u64,
    bytes: AtomicU64,
    next_seq: AtomicU64,
    /// Sequence numbers are taken and their chunk inserted under this lock, so chunks enter the
    /// tree in sequence order: a reader that has seen record `n` has seen every record before it
    /// that will ever be there (see [`Spool::peek_after`]).
    append_order: std::sync::Mutex<()>,
    /// One past the last sequence number whose chunk is in the tree.
    inserted_next: AtomicU64,
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
        let meta = db.open_tree(format!("spool-meta/{name}")).map_err(store)?;
        let after_last = match tree.last().map_err(store)? {
            Some((k, v)) => {
                let first = seq_of(&k);
                let n = decode_chunk(&v).map_err(|why| SpoolError::Corrupt { name: name.to_string(), seq: first, why })?.len() as u64;
                first + n.max(1)
            }
            None => 0,
        };
        // Sequence numbers never repeat, also once the spool has been drained empty: batch ids
        // (and so file names in the file sink) derive from them.
        let persisted = meta.get(NEXT_SEQ).map_err(store)?.map(|v| seq_of(&v)).unwrap_or(0);
        let next = after_last.max(persisted);
        Ok(Spool { name: name.to_string(), db: db.clone(), tree, meta, max_bytes, bytes: AtomicU64::new(bytes), next_seq: AtomicU64::new(next), append_order: std::sync::Mutex::new(()), inserted_next: AtomicU64::new(next), notify: tokio::sync::Notify::new() })
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
        if records.is_empty() {
            return Ok(self.next_seq.load(Ordering::SeqCst).saturating_sub(1));
        }
        let chunk = encode_chunk(records);
        let size = chunk.len() as u64;
        let now = self.bytes();
        if now + size > self.max_bytes && now > 0 {
            return Err(SpoolError::Full { name: self.name.clone(), bytes: now, max: self.max_bytes });
        }
        let first = {
            let _order = self.append_order.lock().unwrap_or_else(|p| p.into_inner());
            let first = self.next_seq.fetch_add(records.len() as u64, Ordering::SeqCst);
            // The high-water mark first: sled persists in write order, so the chunk is never
            // durable without it (a crash in between only leaves a gap in the numbering).
            self.meta.fetch_and_update(NEXT_SEQ, |old| {
                let end = first + records.len() as u64;
                Some(old.map_or(end, |o| seq_of(o).max(end)).to_be_bytes().to_vec())
            }).map_err(|e| self.err(e))?;
            self.tree.insert(first.to_be_bytes(), chunk).map_err(|e| self.err(e))?;
            self.inserted_next.store(first + records.len() as u64, Ordering::SeqCst);
            first
        };
        crate::checkpoint::flush(&self.db).await.map_err(|e| self.err(e))?;
        self.bytes.fetch_add(size, Ordering::SeqCst);
        self.notify.notify_waiters();
        Ok(first + records.len() as u64 - 1)
    }

    fn decode(&self, first: u64, v: &[u8]) -> Result<Vec<SpoolRecord>, SpoolError> {
        decode_chunk(v).map_err(|why| SpoolError::Corrupt { name: self.name.clone(), seq: first, why })
    }

    /// The number of records in the chunk stored under `first`, without decoding them.
    fn count(&self, first: u64, v: &[u8]) -> Result<u64, SpoolError> {
        chunk_len(v).map(|n| n as u64).map_err(|why| SpoolError::Corrupt { name: self.name.clone(), seq: first, why })
    }

    /// Up to `max` records in order, oldest first, with their sequence numbers.
    pub fn peek(&self, max: usize) -> Result<Vec<(u64, SpoolRecord)>, SpoolError> {
        self.peek_after(None, max)
    }

    /// Up to `max` records after sequence number `after` (from the oldest when `None`), in
    /// order. The drain reads ahead of what it has acknowledged with this. A record missing
    /// below one that is there never comes: chunks enter the tree in sequence order, so a gap is
    /// a crash's or a failed append's, for good. A chunk that `ack_through` rewrites while this
    /// reads can show up twice; each record is returned once.
    pub fn peek_after(&self, after: Option<u64>, max: usize) -> Result<Vec<(u64, SpoolRecord)>, SpoolError> {
        let mut next = after.map_or(0, |a| a.saturating_add(1));
        // The chunk holding `next`, if any, starts at or before it.
        let start = match self.tree.range(..=next.to_be_bytes()).next_back() {
            Some(kv) => kv.map_err(|e| self.err(e))?.0,
            None => sled::IVec::from(&next.to_be_bytes()),
        };
        let mut out = Vec::new();
        for kv in self.tree.range(start..) {
            if out.len() >= max {
                break;
            }
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let first = seq_of(&k);
            if first + self.count(first, &v)? <= next {
                continue;
            }
            for (i, r) in self.decode(first, &v)?.into_iter().enumerate() {
                let seq = first + i as u64;
                if seq >= next && out.len() < max {
                    out.push((seq, r));
                    next = seq + 1;
                }
            }
        }
        Ok(out)
    }

    /// Whether records after `after` may be waiting: a chunk past it is in the tree.
    fn has_after(&self, after: Option<u64>) -> bool {
        match after {
            None => !self.is_empty(),
            Some(a) => self.inserted_next.load(Ordering::SeqCst) > a.saturating_add(1),
        }
    }

    /// Waits until a record after `after` may have been appended (or `timeout` passes).
    pub async fn wait_after(&self, after: Option<u64>, timeout: std::time::Duration) {
        let notified = self.notify.notified();
        tokio::pin!(notified);
        // Registered before the check, so an append between the two still wakes us.
        notified.as_mut().enable();
        if self.has_after(after) {
            return;
        }
        let _ = tokio::time::timeout(timeout, notified).await;
    }

    /// Removes every record up to and including `seq` (its batch is safe in every sink).
    pub async fn ack_through(&self, seq: u64) -> Result<(), SpoolError> {
        let mut freed = 0u64;
        let mut added = 0u64;
        let mut batch = sled::Batch::default();
        for kv in self.tree.range(..=seq.to_be_bytes()) {
            let (k, v) = kv.map_err(|e| self.err(e))?;
            let first = seq_of(&k);
            freed += v.len() as u64;
            batch.remove(k);
            // Only a chunk that straddles `seq` is decoded; for the rest its count is enough.
            let last = first + self.count(first, &v)? - 1;
            if last > seq {
                // Keep the records after `seq` under the first sequence number they still hold.
                let recs = self.decode(first, &v)?;
                let rest = encode_chunk(&recs[(seq + 1 - first) as usize..]);
                added += rest.len() as u64;
                batch.insert(&(seq + 1).to_be_bytes(), rest);
            }
        }
        self.tree.apply_batch(batch).map_err(|e| self.err(e))?;
        crate::checkpoint::flush(&self.db).await.map_err(|e| self.err(e))?;
        self.bytes.fetch_sub(freed.saturating_sub(added).min(self.bytes()), Ordering::SeqCst);
        Ok(())
    }
}

/// The `spool-meta` key holding the next sequence number.
const NEXT_SEQ: &[u8] = b"next_seq";

/// Marks a chunk value (a JSON record, the old format, starts with `{`).
const CHUNK_V2: u8 = 0xB2;

/// Encodes records as one chunk: the marker, the count (u32 LE), then per record the receive
/// time (i64 LE nanoseconds since the epoch), the peer (u16 LE length, `0xFFFF` for none, bytes)
/// and the line (u32 LE length, bytes).
pub fn encode_chunk(records: &[SpoolRecord]) -> Vec<u8> {
    let size: usize = records.iter().map(|r| 14 + r.peer.as_ref().map_or(0, String::len) + r.line.len()).sum();
    let mut out = Vec::with_capacity(5 + size);
    out.push(CHUNK_V2);
    out.extend_from_slice(&(records.len() as u32).to_le_bytes());
    for r in records {
        let nanos = r.received_at.timestamp_nanos_opt().unwrap_or(r.received_at.timestamp_millis().saturating_mul(1_000_000));
        out.extend_from_slice(&nanos.to_le_bytes());
        match &r.peer {
            Some(p) => {
                let p = &p.as_bytes()[..p.len().min(0xFFFE)];
                out.extend_from_slice(&(p.len() as u16).to_le_bytes());
                out.extend_from_slice(p);
            }
            None => out.extend_from_slice(&0xFFFFu16.to_le_bytes()),
        }
        out.extend_from_slice(&(r.line.len() as u32).to_le_bytes());
        out.extend_from_slice(r.line.as_bytes());
    }
    out
}

/// How many records a chunk holds, read from its header (an old JSON entry holds one).
pub fn chunk_len(v: &[u8]) -> Result<usize, String> {
    match v.first() {
        Some(b'{') => Ok(1),
        Some(&CHUNK_V2) => match v.get(1..5) {
            Some(n) => match u32::from_le_bytes(n.try_into().expect("4 bytes")) {
                0 => Err("empty chunk".into()),
                n => Ok(n as usize),
            },
            None => Err("entry truncated at byte 1".into()),
        },
        _ => Err("unknown spool entry format".into()),
    }
}

/// Decodes a chunk (or an old single JSON record).
pub fn decode_chunk(v: &[u8]) -> Result<Vec<SpoolRecord>, String> {
    // The format byte and the count: one reading of the header, shared with `chunk_len`.
    let count = chunk_len(v)?;
    if v.first() == Some(&b'{') {
        return serde_json::from_slice(v).map(|r| vec![r]).map_err(|e| e.to_string());
    }
    let mut at = 5usize;
    let mut take = |n: usize| -> Result<&[u8], String> {
        let s = v.get(at..at + n).ok_or_else(|| format!("entry truncated at byte {at}"))?;
        at += n;
        Ok(s)
    };
    let mut out = Vec::with_capacity(count.min(1 << 16));
    for _ in 0..count {
        let nanos = i64::from_le_bytes(take(8)?.try_into().expect("8 bytes"));
        let plen = u16::from_le_bytes(take(2)?.try_into().expect("2 bytes"));
        let peer = if plen == 0xFFFF { None } else { Some(String::from_utf8(take(plen as usize)?.to_vec()).map_err(|e| e.to_string())?) };
        let llen = u32::from_le_bytes(take(4)?.try_into().expect("4 bytes")) as usize;
        let bytes = take(llen)?;
        // The fast check first; the standard one only to word the error.
        let line = match crate::text::utf8(bytes) {
            Some(l) => l.to_string(),
            None => return Err(std::str::from_utf8(bytes).err().map_or_else(|| "record is not UTF-8".to_string(), |e| e.to_string())),
        };
        out.push(SpoolRecord { received_at: DateTime::from_timestamp_nanos(nanos), peer, line });
    }
    Ok(out)
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

    /// Opens the db again, waiting for sled's background thread of the previous handle to let go
    /// of the file lock.
    fn reopen(p: &std::path::Path) -> sled::Db {
        for _ in 0..100 {
            if let Ok(db) = sled::open(p) {
                return db;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        sled::open(p).unwrap()
    }

    fn rec(s: &str) -> SpoolRecord {
        SpoolRecord { received_at: Utc::now(), peer: Some("127.0.0.1:5000".into()), line: s.into() }
    }

    #[tokio::test]
    async fn reading_ahead_of_acknowledgements() {
        let dir = tempfile::tempdir().unwrap();
        let db = reopen(dir.path());
        let sp = Spool::open(&db, "ahead", 1 << 20).unwrap();
        sp.append(&[rec("a"), rec("b"), rec("c")]).await.unwrap();
        sp.append(&[rec("d"), rec("e")]).await.unwrap();
        let lines = |v: Vec<(u64, SpoolRecord)>| v.into_iter().map(|(s, r)| (s, r.line)).collect::<Vec<_>>();
        let s = |x: &str| x.to_string();
        assert_eq!(lines(sp.peek_after(None, 2).unwrap()), [(0, s("a")), (1, s("b"))]);
        // From inside a chunk, across into the next one, up to `max`.
        assert_eq!(lines(sp.peek_after(Some(1), 2).unwrap()), [(2, s("c")), (3, s("d"))]);
        assert_eq!(lines(sp.peek_after(Some(3), 10).unwrap()), [(4, s("e"))]);
        assert!(sp.peek_after(Some(4), 10).unwrap().is_empty());
        // Acknowledging part of a chunk rewrites its tail under a new key: reading on is unchanged.
        sp.ack_through(1).await.unwrap();
        assert_eq!(lines(sp.peek_after(Some(1), 10).unwrap()), [(2, s("c")), (3, s("d")), (4, s("e"))]);
        assert_eq!(lines(sp.peek_after(Some(2), 1).unwrap()), [(3, s("d"))]);
        // Past everything appended, nothing is waiting; an append wakes the reader.
        let t = std::time::Instant::now();
        sp.wait_after(Some(4), std::time::Duration::from_millis(300)).await;
        assert!(t.elapsed() >= std::time::Duration::from_millis(250), "nothing after 4 yet");
        let t = std::time::Instant::now();
        sp.wait_after(Some(3), std::time::Duration::from_secs(5)).await;
        assert!(t.elapsed() < std::time::Duration::from_secs(1), "record 4 is there");
        let sp = std::sync::Arc::new(sp);
        let appender = {
            let sp = sp.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                sp.append(&[rec("f")]).await.unwrap();
            })
        };
        let t = std::time::Instant::now();
        sp.wait_after(Some(4), std::time::Duration::from_secs(10)).await;
        assert!(t.elapsed() < std::time::Duration::from_secs(5), "woken by the append");
        appender.await.unwrap();
        assert_eq!(lines(sp.peek_after(Some(4), 10).unwrap()), [(5, s("f"))]);
    }

    #[tokio::test]
    async fn append_peek_ack_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = reopen(dir.path());
            let sp = Spool::open(&db, "t1", 1 << 20).unwrap();
            assert_eq!(sp.append(&[rec("a"), rec("b"), rec("c")]).await.unwrap(), 2);
            let got = sp.peek(2).unwrap();
            assert_eq!(got.iter().map(|(s, r)| (*s, r.line.as_str())).collect::<Vec<_>>(), [(0, "a"), (1, "b")]);
            sp.ack_through(1).await.unwrap();
            assert_eq!(sp.peek(10).unwrap().len(), 1);
        }
        // Reopen: the unacknowledged record is still there, and numbering continues.
        let db = reopen(dir.path());
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
        let db = reopen(dir.path());
        let sp = Spool::open(&db, "t", 200).unwrap();
        let line = "x".repeat(100);
        sp.append(&[rec(&line)]).await.unwrap();
        sp.append(&[rec(&line)]).await.unwrap_err();
        let err = sp.append(&[rec(&line)]).await.unwrap_err();
        assert!(matches!(err, SpoolError::Full { .. }), "{err}");
        sp.ack_through(0).await.unwrap();
        sp.append(&[rec(&line)]).await.unwrap();
    }

    #[test]
    fn chunks_round_trip_and_reject_damage() {
        let recs = vec![rec("a,b\"c"), SpoolRecord { received_at: Utc::now(), peer: None, line: "ünï".into() }, rec("")];
        let c = encode_chunk(&recs);
        assert_eq!(decode_chunk(&c).unwrap(), recs);
        assert!(decode_chunk(&c[..c.len() - 1]).unwrap_err().contains("truncated"));
        assert!(decode_chunk(b"\x00junk").is_err());
        // The count read from the header agrees with a full decode.
        assert_eq!(chunk_len(&c), Ok(3));
        assert_eq!(chunk_len(&encode_chunk(&recs[..1])), Ok(1));
        assert_eq!(chunk_len(br#"{"received_at":"2024-01-01T00:00:00Z","peer":null,"line":"x"}"#), Ok(1));
        assert!(chunk_len(&c[..3]).unwrap_err().contains("truncated"));
        assert!(chunk_len(&[CHUNK_V2, 0, 0, 0, 0]).unwrap_err().contains("empty"));
        assert!(chunk_len(b"\x00junk").is_err());
    }

    #[tokio::test]
    async fn partly_acknowledged_chunks_keep_their_tail_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = reopen(dir.path());
            let sp = Spool::open(&db, "t", 1 << 20).unwrap();
            sp.append(&[rec("a"), rec("b"), rec("c"), rec("d")]).await.unwrap();
            sp.append(&[rec("e"), rec("f")]).await.unwrap();
            // A consumer that takes 3 acknowledges through seq 2, in the middle of the first chunk.
            let got = sp.peek(3).unwrap();
            assert_eq!(got.iter().map(|(s, r)| (*s, r.line.as_str())).collect::<Vec<_>>(), [(0, "a"), (1, "b"), (2, "c")]);
            sp.ack_through(2).await.unwrap();
            let rest = sp.peek(10).unwrap();
            assert_eq!(rest.iter().map(|(s, r)| (*s, r.line.as_str())).collect::<Vec<_>>(), [(3, "d"), (4, "e"), (5, "f")]);
        }
        let db = reopen(dir.path());
        let sp = Spool::open(&db, "t", 1 << 20).unwrap();
        assert_eq!(sp.peek(10).unwrap().iter().map(|(s, _)| *s).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(sp.append(&[rec("g")]).await.unwrap(), 6, "numbering continues after the last chunk");
        sp.ack_through(6).await.unwrap();
        assert!(sp.is_empty());
        assert_eq!(sp.bytes(), 0);
    }

    #[tokio::test]
    async fn entries_of_the_older_one_record_format_are_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let db = reopen(dir.path());
        let tree = db.open_tree("spool/old").unwrap();
        for (i, l) in ["x", "y"].iter().enumerate() {
            tree.insert((i as u64).to_be_bytes(), serde_json::to_vec(&rec(l)).unwrap()).unwrap();
        }
        let sp = Spool::open(&db, "old", 1 << 20).unwrap();
        assert_eq!(sp.peek(10).unwrap().iter().map(|(s, r)| (*s, r.line.clone())).collect::<Vec<_>>(), [(0, "x".to_string()), (1, "y".to_string())]);
        assert_eq!(sp.append(&[rec("z")]).await.unwrap(), 2);
        sp.ack_through(1).await.unwrap();
        assert_eq!(sp.peek(10).unwrap()[0].1.line, "z");
    }

    #[tokio::test]
    async fn sequence_numbers_never_repeat_after_the_spool_was_drained() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = reopen(dir.path());
            let sp = Spool::open(&db, "t", 1 << 20).unwrap();
            assert_eq!(sp.append(&[rec("a"), rec("b")]).await.unwrap(), 1);
            sp.ack_through(1).await.unwrap();
            assert!(sp.is_empty());
        }
        // Batch ids derive from sequence numbers: a drained spool must not start again at 0.
        let db = reopen(dir.path());
        let sp = Spool::open(&db, "t", 1 << 20).unwrap();
        assert_eq!(sp.append(&[rec("c")]).await.unwrap(), 2);
        assert_eq!(sp.peek(10).unwrap()[0].0, 2);
    }
}
