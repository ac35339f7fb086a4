//! One run of one pull stream: walk forward from the checkpoint in windows, page by page;
//! parse, batch, deliver to every routed sink, and only then move the checkpoint.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use logfetch_common::checkpoint::{CheckpointError, CheckpointStore, commit, load};
use logfetch_common::{Event, Format, LogKind};
use logfetch_connectors::pull::{PullError, PullSource, TimeWindow};
use logfetch_connectors::{ParseContext, ParseOutcome, RecordParser};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::batch::build_batches;
use crate::metrics::Metrics;
use crate::sink::{Sink, SinkError};

/// What a pull stream's checkpoint holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCheckpoint {
    /// Everything before this instant has been delivered (when `page_token` is `None`), or the
    /// start of the window being paged through.
    pub watermark: DateTime<Utc>,
    /// The window being paged through, when a run stopped inside it.
    #[serde(default)]
    pub window_end: Option<DateTime<Utc>>,
    #[serde(default)]
    pub page_token: Option<String>,
    /// Streams with an overlap: `[event id, event time in ms]` of the events already delivered
    /// from the last `overlap` before the watermark, so re-reading that span delivers only what
    /// arrived late. Bounded by [`MAX_SEEN`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<(String, i64)>,
}

/// Most event ids kept for overlap de-duplication; beyond it the oldest are forgotten (which can
/// only cause a duplicate, never a loss) and `overlap_ids_evicted` counts them.
pub const MAX_SEEN: usize = 50_000;

/// Event ids delivered inside the overlap span.
#[derive(Debug, Default)]
struct Seen {
    ids: std::collections::HashMap<String, i64>,
}

impl Seen {
    fn from_checkpoint(v: &[(String, i64)]) -> Seen {
        Seen { ids: v.iter().cloned().collect() }
    }
    fn to_checkpoint(&self) -> Vec<(String, i64)> {
        let mut v: Vec<(String, i64)> = self.ids.iter().map(|(k, t)| (k.clone(), *t)).collect();
        v.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        v
    }
    /// Forgets ids older than `floor`, then the oldest beyond [`MAX_SEEN`]; returns how many of
    /// the latter were evicted.
    fn prune(&mut self, floor: DateTime<Utc>) -> usize {
        let f = floor.timestamp_millis();
        self.ids.retain(|_, t| *t >= f);
        if self.ids.len() <= MAX_SEEN {
            return 0;
        }
        let mut v = self.to_checkpoint();
        let evict = v.len() - MAX_SEEN;
        v.drain(..evict);
        self.ids = v.into_iter().collect();
        evict
    }
}

/// Where and how far back a stream collects.
#[derive(Debug, Clone)]
pub struct StreamPlan {
    pub tenant: String,
    pub kind: LogKind,
    pub initial_lookback: Duration,
    pub max_lookback: Duration,
    pub window: Duration,
    /// Windows end this long before "now".
    pub delay: Duration,
    /// Each window is queried from this long before its start, and events already delivered
    /// (by id) are dropped: catches records the vendor makes visible late (SentinelOne's data
    /// lake). Zero: windows do not overlap.
    pub overlap: Duration,
    pub batch_max_events: usize,
    pub batch_max_bytes: usize,
    /// Where malformed records go (`<data_dir>/rejects`).
    pub rejects_dir: PathBuf,
    /// How long to wait for a sink that keeps failing with retryable errors before the run fails.
    pub sink_retry_for: Duration,
}

/// How a run ended.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RunSummary {
    pub pages: u64,
    pub records: u64,
    pub events: u64,
    pub rejected: u64,
    pub skipped: u64,
    /// Events dropped because an overlapping earlier window already delivered them.
    pub duplicates: u64,
    pub batches: u64,
    pub windows: u64,
    /// The checkpoint after the run (scheduled runs).
    pub watermark: Option<DateTime<Utc>>,
    pub cancelled: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Pull(#[from] PullError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    #[error("rejects file {path}: {why}")]
    Rejects { path: PathBuf, why: String },
}

/// Everything one run needs.
pub struct StreamRun<'a> {
    pub plan: &'a StreamPlan,
    pub source: &'a dyn PullSource,
    pub parser: &'a dyn RecordParser,
    pub ctx: ParseContext,
    pub sinks: &'a [Arc<dyn Sink>],
    pub metrics: &'a Metrics,
    pub cancel: CancellationToken,
    /// Called after each page is delivered (progress bars, pull jobs).
    pub on_page: Option<&'a (dyn Fn(&RunSummary) + Send + Sync)>,
    /// The tenant's enrichment, applied to each event before batching.
    pub enricher: Option<&'a crate::enrich::TenantEnricher>,
    /// The tenant's DNS hunting: findings from each delivered page go to the sinks too.
    pub hunter: Option<&'a std::sync::Mutex<crate::hunt::Hunter>>,
}

fn stream_name(kind: LogKind) -> &'static str {
    kind.as_str()
}

impl StreamRun<'_> {
    fn formats(&self) -> Vec<Format> {
        let mut f: Vec<Format> = self.sinks.iter().map(|s| s.format()).collect();
        f.sort();
        f.dedup();
        f
    }

    fn write_rejects(&self, rejects: &[(String, String)], window: &TimeWindow, page: Option<&str>) -> Result<(), RunError> {
        if rejects.is_empty() {
            return Ok(());
        }
        let dir = self.plan.rejects_dir.join(format!("tenant={}", self.plan.tenant));
        let path = dir.join(format!("kind={}.ndjson", self.plan.kind));
        let err = |e: std::io::Error| RunError::Rejects { path: path.clone(), why: e.to_string() };
        std::fs::create_dir_all(&dir).map_err(err)?;
        let f = std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(err)?;
        let mut w = std::io::BufWriter::new(f);
        for (reason, record) in rejects {
            let line = serde_json::json!({
                "tenant": self.plan.tenant, "stream": self.plan.kind, "window_start": window.start, "window_end": window.end,
                "page": page, "reason": reason, "record": record, "rejected_at": Utc::now(),
            });
            serde_json::to_writer(&mut w, &line).map_err(|e| err(std::io::Error::other(e)))?;
            w.write_all(b"\n").map_err(err)?;
        }
        let f = w.into_inner().map_err(|e| err(e.into_error()))?;
        f.sync_data().map_err(err)?;
        Ok(())
    }

    async fn deliver(&self, batch: &crate::batch::Batch) -> Result<(), RunError> {
        deliver_to_all(self.sinks, batch, self.metrics, Some(self.plan.sink_retry_for), &self.cancel).await.map_err(RunError::from)
    }

    /// Fetches, parses and delivers one page; returns the events delivered.
    async fn page(&self, window: TimeWindow, token: Option<&str>, summary: &mut RunSummary, mut seen: Option<&mut Seen>) -> Result<Option<String>, RunError> {
        let page = self.source.fetch_page(self.plan.kind, window, token).await?;
        let mut events: Vec<Event> = Vec::with_capacity(page.records.len());
        let mut rejects = Vec::new();
        let mut skipped = 0u64;
        let mut duplicates = 0u64;
        for rec in &page.records {
            match self.parser.parse(rec, &self.ctx) {
                ParseOutcome::Events(evs) => {
                    for mut e in evs.into_iter().filter(|e| e.kind() == self.plan.kind) {
                        if let Some(seen) = seen.as_deref_mut() {
                            let env = e.envelope();
                            // Already delivered by an earlier, overlapping window.
                            if seen.ids.insert(env.event_id.clone(), env.time.timestamp_millis()).is_some() {
                                duplicates += 1;
                                continue;
                            }
                        }
                        if let Some(en) = self.enricher {
                            en.enrich(&mut e);
                        }
                        events.push(e);
                    }
                }
                ParseOutcome::Skipped { .. } => skipped += 1,
                ParseOutcome::Rejected { reason } => rejects.push((reason, rec.clone())),
            }
        }
        self.write_rejects(&rejects, &window, token)?;
        let start_s = window.start.to_rfc3339();
        let end_s = window.end.to_rfc3339();
        let parts = [self.plan.tenant.as_str(), self.plan.kind.as_str(), start_s.as_str(), end_s.as_str(), token.unwrap_or("-")];
        let batches = build_batches(&self.plan.tenant, self.plan.kind, &parts, &events, &self.formats(), self.plan.batch_max_events, self.plan.batch_max_bytes);
        for b in &batches {
            self.deliver(b).await?;
        }
        if let Some(h) = self.hunter {
            let findings = h.lock().unwrap_or_else(|e| e.into_inner()).observe_events(&events);
            if let Some(b) = crate::batch::findings_batch(&self.plan.tenant, &parts, &findings, &self.formats()) {
                self.deliver(&b).await?;
                self.metrics.stream(&self.plan.tenant, "finding", |s| s.events_emitted += findings.len() as u64);
            }
        }
        summary.pages += 1;
        summary.records += page.records.len() as u64;
        summary.events += events.len() as u64;
        summary.rejected += rejects.len() as u64;
        summary.skipped += skipped;
        summary.duplicates += duplicates;
        summary.batches += batches.len() as u64;
        let (t, k) = (&self.plan.tenant, stream_name(self.plan.kind));
        self.metrics.stream(t, k, |s| {
            s.pages += 1;
            s.requests += page.requests as u64;
            s.records_received += page.records.len() as u64;
            s.events_emitted += events.len() as u64;
            s.records_rejected += rejects.len() as u64;
            s.records_skipped += skipped;
            s.overlap_duplicates += duplicates;
        });
        Ok(page.next_page_token)
    }

    /// A scheduled run: from the checkpoint (or `now - initial_lookback`) up to `now`.
    pub async fn run_scheduled(&self, store: &dyn CheckpointStore, now: DateTime<Utc>) -> Result<RunSummary, RunError> {
        let now = now - chrono::Duration::from_std(self.plan.delay).unwrap_or_default();
        let (t, k) = (self.plan.tenant.as_str(), stream_name(self.plan.kind));
        let mut summary = RunSummary::default();
        let loaded = load::<StreamCheckpoint>(store, t, k)?;
        let mut generation = loaded.as_ref().map(|(_, g)| *g);
        let floor = now - chrono::Duration::from_std(self.plan.max_lookback).unwrap_or(chrono::Duration::days(7));
        let overlap = chrono::Duration::from_std(self.plan.overlap).unwrap_or_default();
        let mut seen = (overlap > chrono::Duration::zero()).then(|| Seen::from_checkpoint(loaded.as_ref().map(|(cp, _)| cp.seen.as_slice()).unwrap_or_default()));
        let (mut start, mut resume) = match loaded {
            None => (now - chrono::Duration::from_std(self.plan.initial_lookback).unwrap_or(chrono::Duration::hours(1)), None),
            // A window already begun is finished with the same bounds, so a page replayed after
            // a crash has the same content and batch ids, and replaces itself downstream.
            Some((cp, _)) => match cp.window_end {
                Some(end) => (cp.watermark, Some((end, cp.page_token))),
                None => (cp.watermark, None),
            },
        };
        if start < floor {
            let gap = (floor - start).num_seconds().max(0) as u64;
            tracing::warn!(tenant = t, stream = k, from = %start, to = %floor, "checkpoint is older than max_lookback; the records in between are not collected");
            self.metrics.stream(t, k, |s| s.gaps_skipped_seconds += gap);
            start = floor;
            resume = None;
        }
        let window = chrono::Duration::from_std(self.plan.window).unwrap_or(chrono::Duration::hours(1));
        while start < now {
            let (end, mut token) = match resume.take() {
                Some((end, tok)) => (end, tok),
                None => {
                    let end = (start + window).min(now);
                    // Record the window's bounds before fetching from it.
                    let cp = StreamCheckpoint { watermark: start, window_end: Some(end), page_token: None, seen: seen.as_ref().map(Seen::to_checkpoint).unwrap_or_default() };
                    generation = Some(commit(store, t, k, generation, &cp).await?);
                    (end, None)
                }
            };
            // With an overlap the query reaches back before the window; what was delivered there
            // before is in `seen` and is dropped.
            let w = TimeWindow { start: start - overlap, end };
            summary.windows += 1;
            loop {
                if self.cancel.is_cancelled() {
                    summary.cancelled = true;
                    return Ok(summary);
                }
                let next = self.page(w, token.as_deref(), &mut summary, seen.as_mut()).await?;
                let cp = match &next {
                    Some(tok) => StreamCheckpoint { watermark: start, window_end: Some(end), page_token: Some(tok.clone()), seen: seen.as_ref().map(Seen::to_checkpoint).unwrap_or_default() },
                    None => {
                        if let Some(seen) = seen.as_mut() {
                            let evicted = seen.prune(end - overlap);
                            if evicted > 0 {
                                tracing::warn!(tenant = t, stream = k, evicted, "more events in the overlap than ids kept; the oldest may be delivered twice");
                                self.metrics.stream(t, k, |s| s.overlap_ids_evicted += evicted as u64);
                            }
                        }
                        StreamCheckpoint { watermark: end, window_end: None, page_token: None, seen: seen.as_ref().map(Seen::to_checkpoint).unwrap_or_default() }
                    }
                };
                // Every sink has the page: now the checkpoint may move.
                let g = commit(store, t, k, generation, &cp).await?;
                generation = Some(g);
                let wm = cp.watermark;
                self.metrics.stream(t, k, |s| {
                    s.watermark = Some(wm);
                    s.checkpoint_generation = Some(g);
                });
                summary.watermark = Some(wm);
                if let Some(f) = self.on_page {
                    f(&summary);
                }
                match next {
                    Some(tok) => token = Some(tok),
                    None => break,
                }
            }
            start = end;
        }
        Ok(summary)
    }

    /// An ad-hoc run over `[since, until)`: never touches the scheduled checkpoint.
    pub async fn run_adhoc(&self, since: DateTime<Utc>, until: DateTime<Utc>) -> Result<RunSummary, RunError> {
        let mut summary = RunSummary::default();
        let window = chrono::Duration::from_std(self.plan.window).unwrap_or(chrono::Duration::hours(1));
        let mut start = since;
        while start < until {
            let end = (start + window).min(until);
            let w = TimeWindow { start, end };
            summary.windows += 1;
            let mut token: Option<String> = None;
            loop {
                if self.cancel.is_cancelled() {
                    summary.cancelled = true;
                    return Ok(summary);
                }
                let next = self.page(w, token.as_deref(), &mut summary, None).await?;
                if let Some(f) = self.on_page {
                    f(&summary);
                }
                match next {
                    Some(t) => token = Some(t),
                    None => break,
                }
            }
            start = end;
        }
        Ok(summary)
    }
}

/// Delivers one batch to every sink. A retryable failure is retried with back-off for up to
/// `retry_for` (`None`: until cancelled), then the error is returned; nothing is dropped, since
/// the caller has not moved its checkpoint or spool position.
pub async fn deliver_to_all(sinks: &[Arc<dyn Sink>], batch: &crate::batch::Batch, metrics: &Metrics, retry_for: Option<Duration>, cancel: &CancellationToken) -> Result<(), SinkError> {
    for sink in sinks {
        let started = Instant::now();
        let mut wait = Duration::from_millis(200);
        loop {
            let t = Instant::now();
            match sink.deliver(batch).await {
                Ok(()) => {
                    metrics.sink(sink.name(), |s| {
                        s.batches_ok += 1;
                        s.events += batch.events as u64;
                        s.bytes += batch.bytes(sink.format()).len() as u64;
                        s.latency_seconds_sum += t.elapsed().as_secs_f64();
                        s.last_ok = Some(Utc::now());
                    });
                    break;
                }
                Err(e) => {
                    metrics.sink(sink.name(), |s| {
                        s.batches_failed += 1;
                        s.last_error = Some(e.to_string());
                        s.last_error_at = Some(Utc::now());
                    });
                    let out_of_time = retry_for.is_some_and(|r| started.elapsed() >= r);
                    if !e.is_retryable() || out_of_time || cancel.is_cancelled() {
                        return Err(e);
                    }
                    tracing::warn!(tenant = %batch.tenant, stream = %batch.kind, sink = sink.name(), error = %e, "sink failed; the batch waits and is retried");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = cancel.cancelled() => return Err(e),
                    }
                    wait = (wait * 2).min(Duration::from_secs(10));
                }
            }
        }
    }
    Ok(())
}
