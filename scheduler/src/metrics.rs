//! Counters and gauges for `/metrics` (Prometheus text) and `/api/v1/tenants`, named in one place.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Per (tenant, stream).
#[derive(Debug, Clone, Default, Serialize)]
pub struct StreamStats {
    pub records_received: u64,
    pub events_emitted: u64,
    pub records_rejected: u64,
    pub records_skipped: u64,
    /// Events dropped because an overlapping window had already delivered them.
    pub overlap_duplicates: u64,
    /// Overlap ids forgotten because more than the bound arrived (possible duplicates).
    pub overlap_ids_evicted: u64,
    pub pages: u64,
    pub requests: u64,
    pub runs_ok: u64,
    pub runs_failed: u64,
    pub ticks_skipped: u64,
    pub running: bool,
    pub last_run_start: Option<DateTime<Utc>>,
    pub last_run_end: Option<DateTime<Utc>>,
    pub last_run_seconds: Option<f64>,
    pub last_error: Option<String>,
    pub next_run: Option<DateTime<Utc>>,
    /// How far collection has got (the checkpoint's watermark).
    pub watermark: Option<DateTime<Utc>>,
    pub checkpoint_generation: Option<u64>,
    /// Time ranges given up because they were older than max_lookback.
    pub gaps_skipped_seconds: u64,
    /// Push: records cut at the maximum message size.
    pub records_truncated: u64,
    /// Push: times the spool was full and the sender was slowed down.
    pub backpressure_events: u64,
    /// Push: records dropped (UDP, spool full).
    pub records_dropped: u64,
    /// Push: bytes waiting in the durable spool.
    pub spool_bytes: u64,
    /// Push over UDP: the kernel's drop counter for the socket (receive buffer overflows).
    pub udp_kernel_drops: u64,
    /// Push: records dropped as replays of ones already delivered (same event id).
    pub duplicates_dropped: u64,
    /// Push over TCP/TLS: connections refused at `max_connections`.
    pub connections_refused: u64,
    /// Push over HTTP (Cloud NSS): requests refused because the body was over the limit.
    pub requests_oversized: u64,
}

/// Per sink.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SinkStats {
    pub batches_ok: u64,
    pub batches_failed: u64,
    pub bytes: u64,
    pub events: u64,
    pub latency_seconds_sum: f64,
    pub last_ok: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub last_error_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
pub struct Metrics {
    streams: Mutex<BTreeMap<(String, String), StreamStats>>,
    sinks: Mutex<BTreeMap<String, SinkStats>>,
}

impl Metrics {
    pub fn stream<R>(&self, tenant: &str, stream: &str, f: impl FnOnce(&mut StreamStats) -> R) -> R {
        let mut m = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        f(m.entry((tenant.to_string(), stream.to_string())).or_default())
    }

    pub fn sink<R>(&self, name: &str, f: impl FnOnce(&mut SinkStats) -> R) -> R {
        let mut m = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
        f(m.entry(name.to_string()).or_default())
    }

    pub fn streams(&self) -> BTreeMap<(String, String), StreamStats> {
        self.streams.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn sinks(&self) -> BTreeMap<String, SinkStats> {
        self.sinks.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Prometheus text exposition.
    pub fn render(&self, now: DateTime<Utc>) -> String {
        let mut out = String::new();
        let streams = self.streams();
        let counters: [(&str, &str, fn(&StreamStats) -> f64); 11] = [
            ("logfetch_records_received_total", "Records received from the vendor", |s| s.records_received as f64),
            ("logfetch_events_emitted_total", "Normalised events handed to the sinks", |s| s.events_emitted as f64),
            ("logfetch_records_rejected_total", "Malformed records written to the rejects file", |s| s.records_rejected as f64),
            ("logfetch_records_skipped_total", "Well-formed records with no flow or DNS content", |s| s.records_skipped as f64),
            ("logfetch_overlap_duplicates_total", "Events dropped because an overlapping window had already delivered them", |s| s.overlap_duplicates as f64),
            ("logfetch_overlap_ids_evicted_total", "Overlap de-duplication ids forgotten at the bound (possible duplicates)", |s| s.overlap_ids_evicted as f64),
            ("logfetch_pages_total", "Pages fetched", |s| s.pages as f64),
            ("logfetch_runs_total", "Completed runs", |s| s.runs_ok as f64),
            ("logfetch_run_failures_total", "Failed runs", |s| s.runs_failed as f64),
            ("logfetch_ticks_skipped_total", "Schedule ticks skipped because the previous run was still going", |s| s.ticks_skipped as f64),
            ("logfetch_lookback_gap_seconds_total", "Seconds of history given up because they were older than max_lookback", |s| s.gaps_skipped_seconds as f64),
        ];
        for (name, help, get) in counters {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for ((t, k), s) in &streams {
                let _ = writeln!(out, "{name}{{tenant=\"{}\",stream=\"{}\"}} {}", esc(t), esc(k), get(s));
            }
        }
        let _ = writeln!(out, "# HELP logfetch_checkpoint_lag_seconds How far the checkpoint is behind now\n# TYPE logfetch_checkpoint_lag_seconds gauge");
        for ((t, k), s) in &streams {
            if let Some(w) = s.watermark {
                let _ = writeln!(out, "logfetch_checkpoint_lag_seconds{{tenant=\"{}\",stream=\"{}\"}} {}", esc(t), esc(k), (now - w).num_milliseconds() as f64 / 1000.0);
            }
        }
        let _ = writeln!(out, "# HELP logfetch_run_duration_seconds Duration of the last run\n# TYPE logfetch_run_duration_seconds gauge");
        for ((t, k), s) in &streams {
            if let Some(d) = s.last_run_seconds {
                let _ = writeln!(out, "logfetch_run_duration_seconds{{tenant=\"{}\",stream=\"{}\"}} {d}", esc(t), esc(k));
            }
        }
        let push: [(&str, &str, &str, fn(&StreamStats) -> f64); 8] = [
            ("logfetch_requests_oversized_total", "counter", "HTTP push requests refused (413) because the body was over the limit", |s| s.requests_oversized as f64),
            ("logfetch_connections_refused_total", "counter", "TCP/TLS connections refused at max_connections", |s| s.connections_refused as f64),
            ("logfetch_duplicates_dropped_total", "counter", "Replayed records dropped because their event id was just delivered", |s| s.duplicates_dropped as f64),
            ("logfetch_udp_kernel_drops_total", "counter", "Datagrams the kernel dropped on the listener's socket (receive buffer full)", |s| s.udp_kernel_drops as f64),
            ("logfetch_spool_bytes", "gauge", "Bytes waiting in the durable spool", |s| s.spool_bytes as f64),
            ("logfetch_records_truncated_total", "counter", "Records cut at the maximum message size", |s| s.records_truncated as f64),
            ("logfetch_backpressure_total", "counter", "Times a full spool slowed a sender down", |s| s.backpressure_events as f64),
            ("logfetch_records_dropped_total", "counter", "Records dropped because the spool was full (UDP)", |s| s.records_dropped as f64),
        ];
        for (name, ty, help, get) in push {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {ty}");
            for ((t, k), s) in streams.iter().filter(|((_, k), _)| k == "push") {
                let _ = writeln!(out, "{name}{{tenant=\"{}\",stream=\"{}\"}} {}", esc(t), esc(k), get(s));
            }
        }
        let sinks = self.sinks();
        let sink_metrics: [(&str, &str, &str, fn(&SinkStats) -> f64); 5] = [
            ("logfetch_sink_batches_total", "counter", "Batches acknowledged by the sink", |s| s.batches_ok as f64),
            ("logfetch_sink_failures_total", "counter", "Batch deliveries that failed", |s| s.batches_failed as f64),
            ("logfetch_sink_bytes_total", "counter", "Bytes delivered", |s| s.bytes as f64),
            ("logfetch_sink_events_total", "counter", "Events delivered", |s| s.events as f64),
            ("logfetch_sink_latency_seconds_sum", "counter", "Total time spent delivering batches", |s| s.latency_seconds_sum),
        ];
        for (name, ty, help, get) in sink_metrics {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {ty}");
            for (n, s) in &sinks {
                let _ = writeln!(out, "{name}{{sink=\"{}\"}} {}", esc(n), get(s));
            }
        }
        let skews = logfetch_connectors::http::clock_skews();
        if !skews.is_empty() {
            let _ = writeln!(out, "# HELP logfetch_vendor_clock_skew_seconds This host's clock minus the vendor's (HTTP Date header of the last answer)\n# TYPE logfetch_vendor_clock_skew_seconds gauge");
            for (host, skew) in skews {
                let _ = writeln!(out, "logfetch_vendor_clock_skew_seconds{{host=\"{}\"}} {skew}", esc(&host));
            }
        }
        out
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
