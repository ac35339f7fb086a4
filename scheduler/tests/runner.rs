//! The stream runner against the `test` vendor mock on 127.0.0.1: rate limits, catch-up windows,
//! max_lookback, resume mid-window, and checkpoint-after-ack with a failing sink.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeZone, Utc};
use logfetch_common::checkpoint::{SledCheckpointStore, load};
use logfetch_common::{Format, LogKind};
use logfetch_connectors::http::{RateLimiter, RetryPolicy};
use logfetch_connectors::pull::{PullSettings, PullSource};
use logfetch_connectors::{ParseContext, test_vendor};
use logfetch_mocks::test_source::server::{self, MockState};
use logfetch_scheduler::batch::Batch;
use logfetch_scheduler::metrics::Metrics;
use logfetch_scheduler::runner::{RunError, StreamCheckpoint, StreamPlan, StreamRun};
use logfetch_scheduler::sink::{BoxFuture, Sink, SinkError};
use tokio_util::sync::CancellationToken;

/// Collects what it is given; can be told to fail on its k-th delivery.
#[derive(Default)]
struct RecordingSink {
    delivered: Mutex<Vec<String>>,
    calls: AtomicUsize,
    fail_on_call: Mutex<Option<usize>>,
}

impl Sink for RecordingSink {
    fn name(&self) -> &str {
        "recording"
    }
    fn format(&self) -> Format {
        Format::Ocsf
    }
    fn deliver<'a>(&'a self, batch: &'a Batch) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, Ordering::SeqCst);
            if *self.fail_on_call.lock().unwrap() == Some(n) {
                return Err(SinkError::Permanent { sink: "recording".into(), why: format!("injected failure on batch {n}") });
            }
            self.delivered.lock().unwrap().extend(batch.event_ids.iter().cloned());
            Ok(())
        })
    }
}

fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

struct Env {
    mock: Arc<MockState>,
    source: Box<dyn PullSource>,
    store: SledCheckpointStore,
    _dir: tempfile::TempDir,
    plan: StreamPlan,
}

async fn env(interval_ms: i64, page_size: u32) -> Env {
    install_crypto();
    let mock = Arc::new(MockState { seed: 7, interval_ms, token: Some("t0ken".into()), ..MockState::default() });
    let addr = server::start(mock.clone()).await.unwrap();
    let settings = PullSettings {
        tenant: "t1".into(),
        url: Some(format!("http://{addr}")),
        token: Some("t0ken".into()),
        username: None,
        password: None,
        ca_file: None,
        tls_verify: true,
        timeout: Duration::from_secs(10),
        page_size: Some(page_size),
        limiter: RateLimiter::new(1000.0),
        policy: RetryPolicy { base_backoff: Duration::from_millis(20), ..RetryPolicy::default() },
        tz: chrono_tz::UTC,
        poll_interval: Duration::from_millis(100),
        api: None,
        query_launch_interval: None,
    };
    let source = test_vendor::api::build(&settings).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = SledCheckpointStore::open(&dir.path().join("state")).unwrap();
    let plan = StreamPlan {
        tenant: "t1".into(),
        kind: LogKind::Flow,
        initial_lookback: Duration::from_secs(3600),
        max_lookback: Duration::from_secs(7 * 86400),
        window: Duration::from_secs(3600),
        delay: Duration::ZERO,
        overlap: Duration::ZERO,
        batch_max_events: 10,
        batch_max_bytes: 1 << 20,
        rejects_dir: dir.path().join("rejects"),
        sink_retry_for: Duration::from_millis(0),
    };
    Env { mock, source, store, _dir: dir, plan }
}

/// A fixed "now" on a minute boundary, a day in the past (the mock only serves the past).
fn fixed_now() -> DateTime<Utc> {
    let t = Utc::now() - chrono::Duration::days(1);
    Utc.timestamp_opt(t.timestamp() - t.timestamp() % 60, 0).unwrap()
}

fn run<'a>(e: &'a Env, sinks: &'a [Arc<dyn Sink>], metrics: &'a Metrics) -> StreamRun<'a> {
    StreamRun {
        plan: &e.plan,
        source: &*e.source,
        parser: &test_vendor::TestParser,
        ctx: ParseContext::new("t1", chrono_tz::UTC),
        sinks,
        metrics,
        cancel: CancellationToken::new(),
        on_page: None,
        enricher: None,
        hunter: None,
    }
}

#[tokio::test]
async fn first_run_collects_initial_lookback_and_checkpoints_the_end() {
    let e = env(60_000, 25).await;
    let sink = Arc::new(RecordingSink::default());
    let sinks: Vec<Arc<dyn Sink>> = vec![sink.clone()];
    let metrics = Metrics::default();
    let now = fixed_now();
    let s = run(&e, &sinks, &metrics).run_scheduled(&e.store, now).await.unwrap();
    // One record a minute for an hour; pages of 25: 25 + 25 + 10.
    assert_eq!(s.records, 60);
    assert_eq!(s.events, 60);
    assert_eq!(s.pages, 3);
    assert_eq!(s.windows, 1);
    let (cp, _) = load::<StreamCheckpoint>(&e.store, "t1", "flow").unwrap().unwrap();
    assert_eq!(cp, StreamCheckpoint { watermark: now, window_end: None, page_token: None, seen: vec![] });
    let served = e.mock.served.lock().unwrap().clone();
    assert_eq!(*sink.delivered.lock().unwrap(), served.iter().map(|id| logfetch_common::event::stable_event_id("t1", "test", Some(id), "")).collect::<Vec<_>>());
    // A second run at the same "now" has nothing left to do.
    let s = run(&e, &sinks, &metrics).run_scheduled(&e.store, now).await.unwrap();
    assert_eq!(s.records, 0);
    let m = metrics.streams()[&("t1".to_string(), "flow".to_string())].clone();
    assert_eq!(m.events_emitted, 60);
    assert_eq!(m.watermark, Some(now));
}

#[tokio::test]
async fn catch_up_walks_forward_in_windows() {
    let e = env(60_000, 1000).await;
    let sink = Arc::new(RecordingSink::default());
    let sinks: Vec<Arc<dyn Sink>> = vec![sink.clone()];
    let metrics = Metrics::default();
    let now = fixed_now();
    let cp = StreamCheckpoint { watermark: now - chrono::Duration::hours(5), window_end: None, page_token: None, seen: vec![] };
    logfetch_common::checkpoint::commit(&e.store, "t1", "flow", None, &cp).await.unwrap();
    let s = run(&e, &sinks, &metrics).run_scheduled(&e.store, now).await.unwrap();
    assert_eq!(s.windows, 5, "five one-hour windows, never one big query");
    assert_eq!(s.records, 300);
    assert_eq!(s.pages, 5);
    assert_eq!(load::<StreamCheckpoint>(&e.store, "t1", "flow").unwrap().unwrap().0.watermark, now);
}

#[tokio::test]
async fn max_lookback_caps_how_far_back_a_run_reaches() {
    let mut e = env(3_600_000, 1000).await; // one record an hour
    e.plan.max_lookback = Duration::from_secs(6 * 3600);
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(RecordingSink::default())];
    let metrics = Metrics::default();
    let now = fixed_now();
    let cp = StreamCheckpoint { watermark: now - chrono::Duration::days(3), window_end: None, page_token: None, seen: vec![] };
    logfetch_common::checkpoint::commit(&e.store, "t1", "flow", None, &cp).await.unwrap();
    let s = run(&e, &sinks, &metrics).run_scheduled(&e.store, now).await.unwrap();
    assert_eq!(s.windows, 6);
    let gap = metrics.streams()[&("t1".to_string(), "flow".to_string())].gaps_skipped_seconds;
    assert_eq!(gap, 3 * 86400 - 6 * 3600, "the skipped range is counted, not hidden");
}

#[tokio::test]
async fn http_429_waits_exactly_retry_after_and_the_run_succeeds() {
    let e = env(60_000, 1000).await;
    e.mock.rate_limit_next.store(1, Ordering::SeqCst);
    e.mock.retry_after_secs.store(2, Ordering::SeqCst);
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(RecordingSink::default())];
    let metrics = Metrics::default();
    let t = Instant::now();
    let s = run(&e, &sinks, &metrics).run_scheduled(&e.store, fixed_now()).await.unwrap();
    let waited = t.elapsed();
    assert!(waited >= Duration::from_secs(2), "waited only {waited:?}");
    // "About" 3 s: the wait itself is 2 s; the rest is two local requests on a loaded 2-core box.
    assert!(waited < Duration::from_millis(3500), "waited too long: {waited:?}");
    assert_eq!(s.records, 60);
    assert_eq!(e.mock.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn server_errors_back_off_and_give_up_with_the_checkpoint_unchanged() {
    let e = env(60_000, 1000).await;
    e.mock.fail_next.store(2, Ordering::SeqCst);
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(RecordingSink::default())];
    let metrics = Metrics::default();
    let s = run(&e, &sinks, &metrics).run_scheduled(&e.store, fixed_now()).await.unwrap();
    assert_eq!(s.records, 60, "two 503s are retried");
    // Now more failures than retries allow.
    let e = env(60_000, 1000).await;
    e.mock.fail_next.store(100, Ordering::SeqCst);
    let now = fixed_now();
    let err = run(&e, &sinks, &metrics).run_scheduled(&e.store, now).await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("tenant `t1`") && msg.contains("6 attempt(s)") && msg.contains("HTTP 503"), "{msg}");
    // Only the window's bounds were recorded; no progress inside it.
    let (cp, _) = load::<StreamCheckpoint>(&e.store, "t1", "flow").unwrap().unwrap();
    assert_eq!(cp, StreamCheckpoint { watermark: now - chrono::Duration::hours(1), window_end: Some(now), page_token: None, seen: vec![] });
}

#[tokio::test]
async fn wrong_token_is_a_clear_auth_error() {
    install_crypto();
    let mock = Arc::new(MockState { seed: 1, interval_ms: 60_000, token: Some("right".into()), ..MockState::default() });
    let addr = server::start(mock).await.unwrap();
    let settings = PullSettings {
        tenant: "t9".into(),
        url: Some(format!("http://{addr}")),
        token: Some("wrong".into()),
        username: None,
        password: None,
        ca_file: None,
        tls_verify: true,
        timeout: Duration::from_secs(5),
        page_size: None,
        limiter: RateLimiter::new(100.0),
        policy: RetryPolicy::default(),
        tz: chrono_tz::UTC,
        poll_interval: Duration::from_millis(100),
        api: None,
        query_launch_interval: None,
    };
    let src = test_vendor::api::build(&settings).unwrap();
    let now = fixed_now();
    let w = logfetch_connectors::pull::TimeWindow { start: now - chrono::Duration::hours(1), end: now };
    let err = src.fetch_page(LogKind::Flow, w, None).await.unwrap_err().to_string();
    assert!(err.contains("tenant `t9`: authentication failed") && err.contains("HTTP 401"), "{err}");
    assert!(!err.contains("wrong"), "the token is not echoed: {err}");
    assert!(!format!("{settings:?}").contains("wrong"));
}

#[tokio::test]
async fn checkpoint_moves_only_after_the_sink_acks_and_recovery_delivers_exactly_the_rest() {
    let e = env(60_000, 25).await; // pages of 25, batches of 10: page0 = b0,b1,b2(5)
    let sink = Arc::new(RecordingSink::default());
    *sink.fail_on_call.lock().unwrap() = Some(4); // page 1, its second batch
    let sinks: Vec<Arc<dyn Sink>> = vec![sink.clone()];
    let metrics = Metrics::default();
    let now = fixed_now();
    let err = run(&e, &sinks, &metrics).run_scheduled(&e.store, now).await.unwrap_err();
    assert!(matches!(err, RunError::Sink(_)), "{err}");
    // The checkpoint reflects page 0 only: mid-window, at page token 25.
    let (cp, _) = load::<StreamCheckpoint>(&e.store, "t1", "flow").unwrap().unwrap();
    assert_eq!(cp.page_token.as_deref(), Some("25"));
    assert_eq!(cp.watermark, now - chrono::Duration::hours(1));
    let before = sink.delivered.lock().unwrap().len();
    assert_eq!(before, 35, "page 0 (25) + the first batch of page 1 (10)");

    // The sink recovers; the next run resumes at page 1.
    *sink.fail_on_call.lock().unwrap() = None;
    run(&e, &sinks, &metrics).run_scheduled(&e.store, now).await.unwrap();
    let delivered = sink.delivered.lock().unwrap().clone();
    let unique: BTreeSet<&String> = delivered.iter().collect();
    assert_eq!(unique.len(), 60, "every event arrived");
    let dups: Vec<&String> = delivered.iter().enumerate().filter(|(i, id)| delivered[..*i].contains(id)).map(|(_, id)| id).collect();
    // Only the first batch of page 1 (delivered before the failure) came twice.
    assert_eq!(dups.len(), 10, "{dups:?}");
    assert_eq!(dups.iter().map(|s| s.as_str()).collect::<Vec<_>>(), delivered[25..35].iter().map(|s| s.as_str()).collect::<Vec<_>>());
    assert_eq!(load::<StreamCheckpoint>(&e.store, "t1", "flow").unwrap().unwrap().0.watermark, now);
}

#[tokio::test]
async fn malformed_records_go_to_the_rejects_file_with_the_reason() {
    // The test parser rejects a flow without dst_ip; build such a record through a tiny source.
    struct OneBad;
    impl PullSource for OneBad {
        fn fetch_page<'a>(&'a self, _k: LogKind, w: logfetch_connectors::pull::TimeWindow, _t: Option<&'a str>) -> logfetch_connectors::pull::BoxFuture<'a, Result<logfetch_connectors::pull::RawPage, logfetch_connectors::pull::PullError>> {
            Box::pin(async move {
                let ts = w.start.to_rfc3339();
                Ok(logfetch_connectors::pull::RawPage {
                    records: vec![format!(r#"{{"type":"flow","id":"a","time":"{ts}","dst_ip":"192.0.2.1"}}"#), r#"{"type":"flow","time":"x"}"#.to_string()],
                    next_page_token: None,
                    requests: 1,
                })
            })
        }
    }
    let e = env(60_000, 25).await;
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(RecordingSink::default())];
    let metrics = Metrics::default();
    let mut r = run(&e, &sinks, &metrics);
    let src = OneBad;
    r.source = &src;
    let s = r.run_scheduled(&e.store, fixed_now()).await.unwrap();
    assert_eq!((s.events, s.rejected), (1, 1));
    let text = std::fs::read_to_string(e.plan.rejects_dir.join("tenant=t1/kind=flow.ndjson")).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert!(v["reason"].as_str().unwrap().contains("field `time`"), "{v}");
    assert_eq!(v["record"], r#"{"type":"flow","time":"x"}"#);
}

/// A vendor whose records become visible only some time after their event time (a data lake
/// with ingest lag). `clock` is the vendor's "now".
struct LateSource {
    /// (event time, visible from).
    records: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    clock: Arc<Mutex<DateTime<Utc>>>,
}

impl PullSource for LateSource {
    fn fetch_page<'a>(&'a self, _kind: LogKind, w: logfetch_connectors::pull::TimeWindow, _t: Option<&'a str>) -> logfetch_connectors::pull::BoxFuture<'a, Result<logfetch_connectors::pull::RawPage, logfetch_connectors::pull::PullError>> {
        Box::pin(async move {
            let now = *self.clock.lock().unwrap();
            let records = self
                .records
                .iter()
                .filter(|(t, vis)| *t >= w.start && *t < w.end && *vis <= now)
                .map(|(t, _)| format!(r#"{{"type":"flow","id":"f-{}","time":"{}","src_ip":"10.0.0.1","src_port":5000,"dst_ip":"192.0.2.1","dst_port":443,"proto":"tcp","action":"allow"}}"#, t.timestamp(), t.to_rfc3339()))
                .collect();
            Ok(logfetch_connectors::pull::RawPage { records, next_page_token: None, requests: 1 })
        })
    }
}

async fn collect_late(overlap: Duration) -> (Vec<String>, u64) {
    install_crypto();
    let mut e = env(60_000, 25).await;
    e.plan.overlap = overlap;
    e.plan.initial_lookback = Duration::from_secs(600);
    let t0 = fixed_now();
    // One record every 10 s over the last 10 minutes; each visible 0..=50 s after it happened.
    let records: Vec<_> = (1..=60).map(|i| t0 - chrono::Duration::seconds(600 - i * 10)).map(|t| (t, t + chrono::Duration::seconds((t.timestamp() * 7919) % 51))).collect();
    let clock = Arc::new(Mutex::new(t0));
    e.source = Box::new(LateSource { records, clock: clock.clone() });
    let sink = Arc::new(RecordingSink::default());
    let sinks: Vec<Arc<dyn Sink>> = vec![sink.clone()];
    let metrics = Metrics::default();
    let mut dups = 0;
    // Runs every 20 s until a minute after the last record, the vendor's clock moving along.
    for step in 0..=6 {
        let now = t0 + chrono::Duration::seconds(20 * step);
        *clock.lock().unwrap() = now;
        dups += run(&e, &sinks, &metrics).run_scheduled(&e.store, now).await.unwrap().duplicates;
    }
    let got = sink.delivered.lock().unwrap().clone();
    (got, dups)
}

#[tokio::test]
async fn overlap_collects_late_records_once_and_without_it_they_are_lost() {
    let (got, dups) = collect_late(Duration::from_secs(60)).await;
    let unique: BTreeSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "no duplicates");
    assert_eq!(got.len(), 60, "every late record collected once");
    assert!(dups > 0, "the overlap re-read records it had already delivered and dropped them");
    let (got, _) = collect_late(Duration::ZERO).await;
    assert!(got.len() < 60, "without an overlap the late records are missed: {}", got.len());
}
