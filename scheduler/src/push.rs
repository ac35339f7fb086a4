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
    if id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        && let Ok(k) = u128::from_str_radix(id, 16)
    {
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

/// Drains the spool until cancelled; on cancellation, what is already spooled stays for the next
/// start (it is durable), so shutdown never waits on a slow sink.
#[allow(clippy::too_many_arguments)]
pub async fn drain(plan: DrainPlan, spool: Arc<Spool>, parser: Box<dyn RecordParser>, ctx: ParseContext, sinks: Vec<Arc<dyn Sink>>, metrics: Arc<Metrics>, cancel: CancellationToken) -> Result<(), SpoolError> {
    let mut recent = RecentIds::new(200_000);
    let mut formats: Vec<Format> = sinks.iter().map(|s| s.format()).collect();
    formats.sort();
    formats.dedup();
    loop {
        if cancel.is_cancelled() {
            return Ok(());
        }
        metrics.stream(&plan.tenant, "push", |s| s.spool_bytes = spool.bytes());
        let recs = spool.peek(plan.batch_max_events)?;
        let Some((_, oldest)) = recs.first() else {
            tokio::select! {
                _ = spool.wait(Duration::from_secs(1)) => {}
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
        if let Err(e) = write_rejects(&plan, &rejects) {
            tracing::error!(tenant = %plan.tenant, error = %e, "cannot write the rejects file; the records stay spooled");
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        }
        let mut delivered = true;
        for (kind, events) in &by_kind {
            let (a, b) = (first_seq.to_string(), last_seq.to_string());
            let batches = build_batches(&plan.tenant, *kind, &[&plan.tenant, kind.as_str(), "spool", &a, &b], events, &formats, plan.batch_max_events, plan.batch_max_bytes);
            for batch in &batches {
                // Push data has nowhere else to wait: retry until the sink recovers or we stop.
                if let Err(e) = deliver_to_all(&sinks, batch, &metrics, None, &cancel).await {
                    tracing::error!(tenant = %plan.tenant, error = %e, "delivery stopped; records stay in the spool");
                    delivered = false;
                    break;
                }
            }
            if !delivered {
                break;
            }
            metrics.stream(&plan.tenant, kind.as_str(), |s| s.events_emitted += events.len() as u64);
            if let (LogKind::Dns, Some(h)) = (kind, &plan.hunter) {
                let findings = h.lock().unwrap_or_else(|e| e.into_inner()).observe_events(events);
                if let Some(fb) = crate::batch::findings_batch(&plan.tenant, &[&plan.tenant, "spool", &a, &b], &findings, &formats) {
                    if let Err(e) = deliver_to_all(&sinks, &fb, &metrics, None, &cancel).await {
                        tracing::error!(tenant = %plan.tenant, error = %e, "findings delivery stopped; records stay in the spool");
                        delivered = false;
                        break;
                    }
                    metrics.stream(&plan.tenant, "finding", |s| s.events_emitted += findings.len() as u64);
                }
            }
        }
        if !delivered {
            continue;
        }
        spool.ack_through(last_seq).await?;
        metrics.stream(&plan.tenant, "push", |s| {
            s.records_rejected += rejects.len() as u64;
            s.records_skipped += skipped;
            s.duplicates_dropped += duplicates;
            s.spool_bytes = spool.bytes();
            s.last_run_end = Some(Utc::now());
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_ids_drop_replays_within_the_window() {
        let mut r = RecentIds::new(2);
        assert!(r.insert("a") && r.insert("b"));
        assert!(!r.insert("a"), "a replay");
        assert!(r.insert("c"));
        assert!(r.insert("a"), "forgotten after the window");
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
