//! Draining a push tenant's spool: records are read in order, parsed, grouped per kind into
//! batches closed by size or by age (the sinks' flush interval), delivered to every sink, and
//! only then removed from the spool.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use logfetch_common::spool::{Spool, SpoolError};
use logfetch_common::{Event, Format, LogKind};
use logfetch_connectors::push::PushObserver;
use logfetch_connectors::{ParseContext, ParseOutcome, RecordParser};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::batch::build_batches;
use crate::metrics::Metrics;
use crate::runner::deliver_to_all;
use crate::sink::Sink;

/// How a push tenant's spool is drained.
#[derive(Debug, Clone)]
pub struct DrainPlan {
    pub tenant: String,
    pub kinds: Vec<LogKind>,
    pub batch_max_events: usize,
    pub batch_max_bytes: usize,
    /// A batch smaller than `batch_max_events` is closed once its oldest record is this old.
    pub flush_interval: Duration,
    pub rejects_dir: PathBuf,
    /// The tenant's enrichment, applied to each event before batching.
    pub enricher: Option<crate::enrich::TenantEnricher>,
    /// The tenant's DNS hunting.
    pub hunter: Option<Arc<std::sync::Mutex<crate::hunt::Hunter>>>,
}

/// Counts listener activity into the metrics (stream name `push`).
pub struct MetricsObserver {
    pub tenant: String,
    pub metrics: Arc<Metrics>,
    pub bound: std::sync::Mutex<Option<std::net::SocketAddr>>,
}

impl PushObserver for MetricsObserver {
    fn listening(&self, addr: std::net::SocketAddr) {
        *self.bound.lock().unwrap_or_else(|p| p.into_inner()) = Some(addr);
    }
    fn received(&self, records: u64, _bytes: u64) {
        self.metrics.stream(&self.tenant, "push", |s| s.records_received += records);
    }
    fn truncated(&self, n: u64) {
        self.metrics.stream(&self.tenant, "push", |s| s.records_truncated += n);
    }
    fn kernel_drops(&self, total: u64) {
        self.metrics.stream(&self.tenant, "push", |s| s.udp_kernel_drops = total);
    }
    fn connection_refused(&self) {
        self.metrics.stream(&self.tenant, "push", |s| s.connections_refused += 1);
    }
    fn oversized(&self) {
        self.metrics.stream(&self.tenant, "push", |s| s.requests_oversized += 1);
    }
    fn backpressure(&self, dropped: u64) {
        self.metrics.stream(&self.tenant, "push", |s| {
            s.backpressure_events += 1;
            s.records_dropped += dropped;
        });
    }
}

fn write_rejects(plan: &DrainPlan, rejects: &[(u64, String, String)]) -> std::io::Result<()> {
    if rejects.is_empty() {
        return Ok(());
    }
    let dir = plan.rejects_dir.join(format!("tenant={}", plan.tenant));
    std::fs::create_dir_all(&dir)?;
    let f = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("kind=push.ndjson"))?;
    let mut w = std::io::BufWriter::new(f);
    for (seq, reason, record) in rejects {
        serde_json::to_writer(&mut w, &serde_json::json!({"tenant": plan.tenant, "spool_seq": seq, "reason": reason, "record": record, "rejected_at": Utc::now()}))?;
        w.write_all(b"\n")?;
    }
    w.into_inner().map_err(|e| e.into_error())?.sync_data()
}

/// Event ids delivered recently, to drop records a sender replays after a reconnect (NSS
/// buffers while the connection is down and sends again, zscaler.md §8). Bounded; in memory.
pub struct RecentIds {
    set: std::collections::HashSet<u128, std::hash::BuildHasherDefault<IdKeyHasher>>,
    order: std::collections::VecDeque<u128>,
    cap: usize,
}

/// The 128-bit key of an event id. Our ids are 32 lower-case hex digits (half a SHA-256), which
/// fit exactly, so two ids share a key only if they are equal; any other id is hashed to 128
/// bits with two differently seeded hashers.
fn id_key(id: &str) -> u128 {
    if let Some(k) = lower_hex128(id.as_bytes()) {
        return k;
    }
    use std::hash::{Hash, Hasher};
    let half = |seed: u8| {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        seed.hash(&mut h);
        id.hash(&mut h);
        h.finish() as u128
    };
    half(1) << 64 | half(2)
}

/// 32 lower-case hex digits as the number they write, in one pass (`u128::from_str_radix`
/// checked every digit twice and cost a few percent of the daemon's parsing task).
fn lower_hex128(b: &[u8]) -> Option<u128> {
    let digits: &[u8; 32] = b.try_into().ok()?;
    let mut halves = [0u64; 2];
    for (half, part) in halves.iter_mut().zip(digits.chunks_exact(16)) {
        for &c in part {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ => return None,
            };
            *half = *half << 4 | d as u64;
        }
    }
    Some((halves[0] as u128) << 64 | halves[1] as u128)
}

/// The keys are already uniform (hash output): fold them instead of hashing again.
#[derive(Default)]
struct IdKeyHasher(u64);

impl std::hash::Hasher for IdKeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ b as u64;
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = (n as u64) ^ ((n >> 64) as u64);
    }
}

impl RecentIds {
    pub fn new(cap: usize) -> RecentIds {
        RecentIds { set: Default::default(), order: Default::default(), cap: cap.max(1) }
    }
    /// `true` when the id is new (and now remembered).
    pub fn insert(&mut self, id: &str) -> bool {
        let key = id_key(id);
        if !self.set.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

/// One spool window, parsed and encoded, waiting for its sinks.
struct Window {
    info: WindowInfo,
    kinds: Vec<KindBatches>,
}

/// What parsing a window found besides its events; handed on unchanged to the delivering task.
struct WindowInfo {
    first_seq: u64,
    last_seq: u64,
    rejects: Vec<(u64, String, String)>,
    skipped: u64,
    duplicates: u64,
}

/// A window's events of one kind, as batches.
struct KindBatches {
    kind: LogKind,
    batches: Vec<crate::batch::Batch>,
    events: usize,
    /// The DNS events, kept for hunting once they are delivered (empty without a hunter).
    hunt: Vec<Event>,
}

/// A window's records, parsed, waiting to be encoded.
struct Parsed {
    info: WindowInfo,
    by_kind: BTreeMap<LogKind, Vec<Event>>,
}

/// Drains the spool until cancelled; on cancellation, what is already spooled stays for the next
/// start (it is durable), so shutdown never waits on a slow sink.
///
/// Three tasks in a pipeline: one reads the spool ahead of what is acknowledged and parses the
/// next window (in order: a parser may remember earlier records, as the Cisco one remembers
/// connections), one encodes the window before it into batches, and one delivers the window
/// before that and then acknowledges it. At most one window waits between two of them, so the
/// spool, not memory, holds the backlog.
#[allow(clippy::too_many_arguments)]
pub async fn drain(plan: DrainPlan, spool: Arc<Spool>, parser: Box<dyn RecordParser>, ctx: ParseContext, sinks: Vec<Arc<dyn Sink>>, metrics: Arc<Metrics>, cancel: CancellationToken) -> Result<(), SpoolError> {
    let plan = Arc::new(plan);
    let mut formats: Vec<Format> = sinks.iter().map(|s| s.format()).collect();
    formats.sort();
    formats.dedup();
    let (parsed_tx, parsed_rx) = tokio::sync::mpsc::channel::<Parsed>(1);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Window>(1);
    let prepare = tokio::spawn(parse_windows(plan.clone(), spool.clone(), parser, ctx, metrics.clone(), cancel.clone(), parsed_tx).in_current_span());
    let encode = tokio::spawn(encode_windows(plan.clone(), formats.clone(), parsed_rx, tx).in_current_span());
    let delivered = deliver_windows(&plan, &spool, &sinks, &formats, &metrics, &cancel, &mut rx).await;
    // The other tasks end once they find their channel closed, or on cancellation.
    drop(rx);
    let rethrow = |e: tokio::task::JoinError| if e.is_panic() { std::panic::resume_unwind(e.into_panic()) };
    if let Err(e) = encode.await {
        rethrow(e);
    }
    let prepared = match prepare.await {
        Ok(r) => r,
        Err(e) => {
            rethrow(e);
            Ok(())
        }
    };
    delivered.and(prepared)
}

/// Reads and parses windows of the spool in order and hands them on.
async fn parse_windows(plan: Arc<DrainPlan>, spool: Arc<Spool>, parser: Box<dyn RecordParser>, ctx: ParseContext, metrics: Arc<Metrics>, cancel: CancellationToken, tx: tokio::sync::mpsc::Sender<Parsed>) -> Result<(), SpoolError> {
    let mut recent = RecentIds::new(200_000);
    // The last sequence number handed on (`None`: nothing yet, start at the oldest record).
    let mut cursor: Option<u64> = None;
    loop {
        if cancel.is_cancelled() || tx.is_closed() {
            return Ok(());
        }
        metrics.stream(&plan.tenant, "push", |s| s.spool_bytes = spool.bytes());
        let recs = spool.peek_after(cursor, plan.batch_max_events)?;
        let Some((_, oldest)) = recs.first() else {
            tokio::select! {
                _ = spool.wait_after(cursor, Duration::from_secs(1)) => {}
                _ = cancel.cancelled() => return Ok(()),
            }
            continue;
        };
        let age = (Utc::now() - oldest.received_at).to_std().unwrap_or(Duration::ZERO);
        if recs.len() < plan.batch_max_events && age < plan.flush_interval {
            tokio::select! {
                _ = tokio::time::sleep((plan.flush_interval - age).min(Duration::from_millis(200))) => {}
                _ = cancel.cancelled() => return Ok(()),
            }
            continue;
        }
        let first_seq = recs.first().map_or(0, |r| r.0);
        let last_seq = recs.last().map_or(0, |r| r.0);
        let mut by_kind: BTreeMap<LogKind, Vec<Event>> = BTreeMap::new();
        let mut rejects = Vec::new();
        let mut skipped = 0u64;
        let mut duplicates = 0u64;
        for (seq, r) in &recs {
            match parser.parse(&r.line, &ctx) {
                ParseOutcome::Events(evs) => {
                    for mut ev in evs {
                        if !recent.insert(&ev.envelope().event_id) {
                            duplicates += 1;
                            continue;
                        }
                        if plan.kinds.contains(&ev.kind()) {
                            if let Some(en) = &plan.enricher {
                                en.enrich(&mut ev);
                            }
                            by_kind.entry(ev.kind()).or_insert_with(|| Vec::with_capacity(recs.len())).push(ev);
                        } else {
                            skipped += 1;
                        }
                    }
                }
                ParseOutcome::Skipped { .. } => skipped += 1,
                ParseOutcome::Rejected { reason } => rejects.push((*seq, reason, r.line.clone())),
            }
        }
        drop(recs);
        cursor = Some(last_seq);
        if tx.send(Parsed { info: WindowInfo { first_seq, last_seq, rejects, skipped, duplicates }, by_kind }).await.is_err() {
            return Ok(());
        }
    }
}

/// Encodes parsed windows into batches, in order, and hands them on.
async fn encode_windows(plan: Arc<DrainPlan>, formats: Vec<Format>, mut rx: tokio::sync::mpsc::Receiver<Parsed>, tx: tokio::sync::mpsc::Sender<Window>) {
    while let Some(p) = rx.recv().await {
        let (a, b) = (p.info.first_seq.to_string(), p.info.last_seq.to_string());
        let kinds = p
            .by_kind
            .into_iter()
            .map(|(kind, events)| {
                let batches = build_batches(&plan.tenant, kind, &[&plan.tenant, kind.as_str(), "spool", &a, &b], &events, &formats, plan.batch_max_events, plan.batch_max_bytes);
                let count = events.len();
                let hunt = if kind == LogKind::Dns && plan.hunter.is_some() { events } else { Vec::new() };
                KindBatches { kind, batches, events: count, hunt }
            })
            .collect();
        if tx.send(Window { info: p.info, kinds }).await.is_err() {
            return;
        }
    }
}

/// Sleeps `d`; `false` when cancelled first.
async fn pause(d: Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => true,
        _ = cancel.cancelled() => false,
    }
}

/// Delivers `batch` to every sink, retrying until they all take it (back-off from 1 s, doubling
/// to 60 s): push data has nowhere else to wait. `false` when cancelled first.
async fn deliver_until_taken(plan: &DrainPlan, sinks: &[Arc<dyn Sink>], batch: &crate::batch::Batch, metrics: &Metrics, cancel: &CancellationToken) -> bool {
    let mut wait = Duration::from_secs(1);
    while let Err(e) = deliver_to_all(sinks, batch, metrics, None, cancel).await {
        if cancel.is_cancelled() {
            return false;
        }
        tracing::error!(tenant = %plan.tenant, stream = %batch.kind, error = %e, "a sink refused the batch; the records stay spooled and it is retried");
        if !pause(wait, cancel).await {
            return false;
        }
        wait = (wait * 2).min(Duration::from_secs(60));
    }
    true
}

/// Delivers each window to every sink, then removes it from the spool. A window is never
/// parsed twice: its event ids are already in the replay window, so a second parse would drop
/// them all as replays. What cannot be written yet is retried as it is.
async fn deliver_windows(
    plan: &DrainPlan,
    spool: &Spool,
    sinks: &[Arc<dyn Sink>],
    formats: &[Format],
    metrics: &Metrics,
    cancel: &CancellationToken,
    rx: &mut tokio::sync::mpsc::Receiver<Window>,
) -> Result<(), SpoolError> {
    while let Some(w) = rx.recv().await {
        while let Err(e) = write_rejects(plan, &w.info.rejects) {
            tracing::error!(tenant = %plan.tenant, error = %e, "cannot write the rejects file; the records stay spooled and the write is retried");
            if !pause(Duration::from_secs(1), cancel).await {
                return Ok(());
            }
        }
        let (a, b) = (w.info.first_seq.to_string(), w.info.last_seq.to_string());
        for k in &w.kinds {
            for batch in &k.batches {
                if !deliver_until_taken(plan, sinks, batch, metrics, cancel).await {
                    return Ok(());
                }
            }
            metrics.stream(&plan.tenant, k.kind.as_str(), |s| s.events_emitted += k.events as u64);
            if let (LogKind::Dns, Some(h)) = (k.kind, &plan.hunter) {
                let findings = h.lock().unwrap_or_else(|e| e.into_inner()).observe_events(&k.hunt);
                if let Some(fb) = crate::batch::findings_batch(&plan.tenant, &[&plan.tenant, "spool", &a, &b], &findings, formats) {
                    if !deliver_until_taken(plan, sinks, &fb, metrics, cancel).await {
                        return Ok(());
                    }
                    metrics.stream(&plan.tenant, "finding", |s| s.events_emitted += findings.len() as u64);
                }
            }
        }
        spool.ack_through(w.info.last_seq).await?;
        metrics.stream(&plan.tenant, "push", |s| {
            s.records_rejected += w.info.rejects.len() as u64;
            s.records_skipped += w.info.skipped;
            s.duplicates_dropped += w.info.duplicates;
            s.spool_bytes = spool.bytes();
            s.last_run_end = Some(Utc::now());
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASA: &str = "<166>Jun  5 08:00:00 fw-1 : %ASA-6-302013: Built inbound TCP connection";

    fn asa_line(i: u32) -> String {
        format!("{ASA} {i} for outside:198.51.100.{}/{} (198.51.100.7/4000) to inside:10.0.0.5/443 (10.0.0.5/443)", i % 250, 1024 + i)
    }

    fn spool_record(line: String) -> logfetch_common::spool::SpoolRecord {
        logfetch_common::spool::SpoolRecord { received_at: Utc::now(), peer: None, line }
    }

    fn delivered_lines(root: &std::path::Path) -> Vec<String> {
        let mut out = Vec::new();
        for entry in walk(root) {
            if entry.extension().is_some_and(|e| e == "ndjson") {
                out.extend(std::fs::read_to_string(&entry).unwrap().lines().map(str::to_string));
            }
        }
        out
    }

    fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }

    /// Windows are read ahead of what is acknowledged, and a window that cannot be finished yet
    /// (here: its rejects file cannot be written) is retried as it is. It used to be parsed
    /// again, and the replay window then took every event for a replay: delivered nothing, yet
    /// acknowledged the records.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn windows_are_delivered_in_order_and_a_stuck_window_is_retried_not_reparsed() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path().join("db")).unwrap();
        let spool = Arc::new(Spool::open(&db, "asa", 64 << 20).unwrap());
        // A file where the rejects directory should be: creating it fails until it is removed.
        let rejects_dir = dir.path().join("rejects");
        std::fs::write(&rejects_dir, b"in the way").unwrap();
        let out = dir.path().join("out");
        let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(crate::sink::file::FileSink::new("files", out.clone(), Format::Ocsf, false))];
        let plan = DrainPlan {
            tenant: "t1".into(),
            kinds: vec![LogKind::Flow, LogKind::Dns],
            batch_max_events: 100,
            batch_max_bytes: 1 << 20,
            flush_interval: Duration::from_millis(50),
            rejects_dir: rejects_dir.clone(),
            enricher: None,
            hunter: None,
        };
        let mut lines: Vec<String> = (0..250).map(asa_line).collect();
        lines.insert(120, "not a firewall line".into());
        for chunk in lines.chunks(37) {
            spool.append(&chunk.iter().cloned().map(spool_record).collect::<Vec<_>>()).await.unwrap();
        }
        let metrics = Arc::new(Metrics::default());
        let cancel = CancellationToken::new();
        let parser = logfetch_connectors::registry::parser_for("cisco").unwrap();
        let ctx = ParseContext::new("t1", chrono_tz::UTC);
        let task = tokio::spawn(drain(plan, spool.clone(), parser, ctx, sinks, metrics.clone(), cancel.clone()));
        let wait_for = |want: usize| {
            let out = out.clone();
            async move {
                for _ in 0..200 {
                    if delivered_lines(&out).len() >= want {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                panic!("{} of {want} events delivered", delivered_lines(&out).len());
            }
        };
        // The first window (records 0..=99) has no rejects and goes out; the second holds the
        // bad line and waits for its rejects file.
        wait_for(100).await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert_eq!(delivered_lines(&out).len(), 100, "the window with the reject waits");
        assert_eq!(spool.peek(1000).unwrap().len(), 151, "and stays spooled");
        std::fs::remove_file(&rejects_dir).unwrap();
        wait_for(250).await;
        for _ in 0..100 {
            if spool.peek(1).unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(spool.peek(1).unwrap().is_empty(), "everything delivered is acknowledged");
        cancel.cancel();
        task.await.unwrap().unwrap();
        let got = delivered_lines(&out);
        assert_eq!(got.len(), 250, "every event once");
        let mut conn_ids: Vec<u64> = got.iter().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["connection_info"]["uid"].as_str().unwrap().parse().unwrap()).collect();
        conn_ids.sort();
        assert_eq!(conn_ids, (0..250).collect::<Vec<u64>>());
        let rejects = std::fs::read_to_string(rejects_dir.join("tenant=t1/kind=push.ndjson")).unwrap();
        assert_eq!(rejects.lines().count(), 1);
        assert!(rejects.contains("not a firewall line") && rejects.contains("\"spool_seq\":120"), "{rejects}");
        let push = metrics.streams()[&("t1".to_string(), "push".to_string())].clone();
        assert_eq!((push.records_rejected, push.duplicates_dropped), (1, 0));
    }

    #[test]
    fn recent_ids_drop_replays_within_the_window() {
        let mut r = RecentIds::new(2);
        assert!(r.insert("a") && r.insert("b"));
        assert!(!r.insert("a"), "a replay");
        assert!(r.insert("c"));
        assert!(r.insert("a"), "forgotten after the window");
    }

    #[test]
    fn lower_hex_keys_agree_with_from_str_radix() {
        let mut next = logfetch_common::text::xorshift(0x1234_5678_9abc_def1);
        for _ in 0..2_000 {
            let v = (next() as u128) << 64 | next() as u128;
            let hex = format!("{v:032x}");
            assert_eq!(lower_hex128(hex.as_bytes()), Some(v), "{hex}");
            // One byte out of the alphabet, at any place: not a key.
            for bad in [b'g', b'A', b'F', b'/', b':', b'`', b' '] {
                let mut b = hex.clone().into_bytes();
                b[(next() % 32) as usize] = bad;
                assert_eq!(lower_hex128(&b), None, "{}", String::from_utf8_lossy(&b));
            }
        }
        assert_eq!(lower_hex128(b"0123456789abcdef0123456789abcde"), None, "31 digits");
        assert_eq!(lower_hex128(b"0123456789abcdef0123456789abcdef0"), None, "33 digits");
    }

    #[test]
    fn id_keys_are_exact_for_our_ids_and_distinct_for_others() {
        let a = logfetch_common::event::stable_event_id("t", "cisco", None, "line one");
        let b = logfetch_common::event::stable_event_id("t", "cisco", None, "line two");
        assert_eq!(a.len(), 32);
        assert_eq!(format!("{:032x}", id_key(&a)), a, "a hex id is its own key");
        assert_ne!(id_key(&a), id_key(&b));
        assert_ne!(id_key(&a), id_key(&a.to_uppercase()), "only lower-case hex is taken as it is");
        // Not hex, or not 32 digits: hashed, and still told apart.
        let odd = ["finding-1", "finding-2", "", &a[..31], &a.to_uppercase()];
        for (i, x) in odd.iter().enumerate() {
            for y in &odd[i + 1..] {
                assert_ne!(id_key(x), id_key(y), "{x} {y}");
            }
        }
        let mut r = RecentIds::new(10);
        assert!(r.insert(&a) && r.insert(&b) && r.insert("finding-1"));
        assert!(!r.insert(&a) && !r.insert("finding-1"));
    }
}
