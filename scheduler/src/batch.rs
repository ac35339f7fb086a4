//! Batches: events of one stream grouped by size, encoded once per output format, with a
//! deterministic id so a batch replayed after a crash replaces itself instead of duplicating.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use chrono::NaiveDate;
use logfetch_common::{Event, Format, LogKind};
use sha2::{Digest, Sha256};

/// A batch ready for the sinks.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Deterministic: the same page of the same window gives the same id.
    pub id: String,
    pub tenant: String,
    pub kind: LogKind,
    /// UTC date of the first event (the file sink's `date=` directory).
    pub date: NaiveDate,
    pub events: usize,
    /// Event ids in order (for de-duplication checks and tests).
    pub event_ids: Vec<String>,
    /// Event times in order (Unix milliseconds), for sinks that index by time (HEC).
    pub event_times: Vec<i64>,
    /// NDJSON per format, encoded once and shared: a sink that hands the bytes to another
    /// thread (the file sink's writer) takes a reference, not a copy of megabytes.
    pub encoded: BTreeMap<Format, Arc<Vec<u8>>>,
}

impl Batch {
    pub fn bytes(&self, format: Format) -> &[u8] {
        self.encoded.get(&format).map_or(&[], |b| b.as_slice())
    }

    /// The encoded bytes of `format`, shared (empty when the batch was not encoded in it).
    pub fn shared_bytes(&self, format: Format) -> Arc<Vec<u8>> {
        self.encoded.get(&format).cloned().unwrap_or_default()
    }
}

fn share(encoded: BTreeMap<Format, Vec<u8>>) -> BTreeMap<Format, Arc<Vec<u8>>> {
    encoded.into_iter().map(|(f, b)| (f, Arc::new(b))).collect()
}

/// A stable batch id from what identifies the page and the chunk within it.
pub fn batch_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    hex::encode(&h.finalize()[..12])
}

/// Splits `events` into batches of at most `max_events` events and about `max_bytes` bytes
/// (measured on the first format), encoding each once per format in `formats`.
pub fn build_batches(
    tenant: &str,
    kind: LogKind,
    id_parts: &[&str],
    events: &[Event],
    formats: &[Format],
    max_events: usize,
    max_bytes: usize,
) -> Vec<Batch> {
    let mut out = Vec::new();
    let mut chunk_start = 0usize;
    let formats: Vec<Format> = if formats.is_empty() { vec![Format::Ocsf] } else { formats.to_vec() };
    let mut encoded: BTreeMap<Format, Vec<u8>> = formats.iter().map(|f| (*f, Vec::new())).collect();
    let mut ids: Vec<String> = Vec::new();
    let mut times: Vec<i64> = Vec::new();
    let flush = |out: &mut Vec<Batch>, encoded: &mut BTreeMap<Format, Vec<u8>>, ids: &mut Vec<String>, times: &mut Vec<i64>, start: usize, end: usize| {
        if start == end {
            return;
        }
        let mut parts: Vec<&str> = id_parts.to_vec();
        let idx = out.len().to_string();
        parts.push(&idx);
        let first = &events[start];
        out.push(Batch {
            id: batch_id(&parts),
            tenant: tenant.to_string(),
            kind,
            date: first.envelope().time.date_naive(),
            events: end - start,
            event_ids: std::mem::take(ids),
            event_times: std::mem::take(times),
            encoded: share(std::mem::replace(encoded, formats.iter().map(|f| (*f, Vec::new())).collect())),
        });
    };
    for (i, ev) in events.iter().enumerate() {
        let chunk_len = (events.len() - chunk_start).min(max_events.max(1));
        for (fmt, buf) in encoded.iter_mut() {
            logfetch_common::write_event(buf, ev, *fmt);
            buf.push(b'\n');
            if i == chunk_start {
                // Size the buffer once from the first event, instead of doubling (and copying)
                // it a dozen times; a batch stops at max_bytes anyway.
                buf.reserve((buf.len() * chunk_len).min(max_bytes.saturating_add(buf.len())));
            }
        }
        if i == chunk_start {
            ids.reserve(chunk_len);
            times.reserve(chunk_len);
        }
        ids.push(ev.envelope().event_id.clone());
        times.push(ev.envelope().time.timestamp_millis());
        let size = encoded.get(&formats[0]).map_or(0, Vec::len);
        if i + 1 - chunk_start >= max_events || size >= max_bytes {
            flush(&mut out, &mut encoded, &mut ids, &mut times, chunk_start, i + 1);
            chunk_start = i + 1;
        }
    }
    flush(&mut out, &mut encoded, &mut ids, &mut times, chunk_start, events.len());
    out
}

/// One batch of hunting findings, encoded per format; its id derives from `id_parts`.
pub fn findings_batch(tenant: &str, id_parts: &[&str], findings: &[crate::hunt::Finding], formats: &[Format]) -> Option<Batch> {
    let first = findings.first()?;
    let formats: Vec<Format> = if formats.is_empty() { vec![Format::Ocsf] } else { formats.to_vec() };
    let mut encoded: BTreeMap<Format, Vec<u8>> = BTreeMap::new();
    let mut ids = Vec::new();
    for f in &formats {
        let buf = encoded.entry(*f).or_default();
        for x in findings {
            let v = x.encode(tenant, *f);
            let _ = serde_json::to_writer(&mut *buf, &v);
            let _ = buf.write_all(b"\n");
        }
    }
    for x in findings {
        ids.push(x.to_ocsf(tenant)["metadata"]["uid"].as_str().unwrap_or("").to_string());
    }
    let mut parts: Vec<&str> = vec!["finding"];
    parts.extend_from_slice(id_parts);
    Some(Batch {
        id: batch_id(&parts),
        tenant: tenant.to_string(),
        kind: LogKind::Finding,
        date: chrono::DateTime::from_timestamp_millis(first.time).unwrap_or_default().date_naive(),
        events: findings.len(),
        event_ids: ids,
        event_times: findings.iter().map(|f| f.time).collect(),
        encoded: share(encoded),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use logfetch_connectors::{ParseContext, ParseOutcome, RecordParser};

    fn events(n: usize) -> Vec<Event> {
        let ctx = ParseContext::new("t", chrono_tz::UTC);
        (0..n)
            .map(|i| {
                let line = format!(r#"{{"type":"flow","id":"f{i}","time":"2024-05-01T10:00:{:02}Z","dst_ip":"192.0.2.1"}}"#, i % 60);
                match logfetch_connectors::test_vendor::TestParser.parse(&line, &ctx) {
                    ParseOutcome::Events(mut v) => v.remove(0),
                    o => panic!("{o:?}"),
                }
            })
            .collect()
    }

    #[test]
    fn batches_split_by_count_and_bytes_with_stable_ids() {
        let evs = events(25);
        let b = build_batches("t", LogKind::Flow, &["w1", "p0"], &evs, &[Format::Ocsf, Format::Ecs], 10, usize::MAX);
        assert_eq!(b.iter().map(|b| b.events).collect::<Vec<_>>(), [10, 10, 5]);
        assert_eq!(b[0].bytes(Format::Ocsf).split(|c| *c == b'\n').filter(|l| !l.is_empty()).count(), 10);
        assert!(std::str::from_utf8(b[0].bytes(Format::Ecs)).unwrap().contains("\"@timestamp\""));
        let again = build_batches("t", LogKind::Flow, &["w1", "p0"], &evs, &[Format::Ocsf], 10, usize::MAX);
        assert_eq!(b.iter().map(|b| &b.id).collect::<Vec<_>>(), again.iter().map(|b| &b.id).collect::<Vec<_>>());
        let other = build_batches("t", LogKind::Flow, &["w1", "p1"], &evs, &[Format::Ocsf], 10, usize::MAX);
        assert_ne!(b[0].id, other[0].id);
        let by_bytes = build_batches("t", LogKind::Flow, &["w"], &evs, &[Format::Ocsf], 1000, 2000);
        assert!(by_bytes.len() > 1 && by_bytes.iter().map(|b| b.events).sum::<usize>() == 25);
        assert_eq!(b[0].date.to_string(), "2024-05-01");
    }
}
