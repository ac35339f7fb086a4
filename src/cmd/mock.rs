//! `logfetch mock`: run a vendor mock on loopback (for tests and trying things out).

use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use logfetch_mocks::test_source::server::{self, MockState};

#[derive(Subcommand, Debug)]
pub enum MockCommand {
    /// The `test` vendor's paged HTTP API. Prints `listening on http://ADDR` and serves until killed.
    TestApi {
        /// Bearer token the mock requires.
        #[arg(long)]
        token: Option<String>,
        /// One record per kind every this many milliseconds.
        #[arg(long, default_value_t = 1000)]
        interval_ms: i64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Answer the first N requests with HTTP 429.
        #[arg(long, default_value_t = 0)]
        rate_limit_first: u32,
        /// Retry-After seconds for those 429s.
        #[arg(long, default_value_t = 1)]
        retry_after: u32,
        /// Delay every answer by this many milliseconds.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
        /// Faults for the first requests, one per request: 429, 500, 503, slow:MS, reset
        /// (connection cut mid-body), truncated, malformed, 401 (expired token). More can be
        /// queued with `POST /mock/faults`.
        #[arg(long, default_value = "")]
        faults: String,
        /// Run the mock's clock this many seconds ahead of the host's (negative: behind).
        #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
        clock_offset_secs: i64,
    },
    /// The PAN-OS XML API (firewall, or Panorama with several serials). Prints `listening on http://ADDR`.
    Panos {
        /// Serve Panorama data from three firewalls.
        #[arg(long)]
        panorama: bool,
        /// The device's time zone (receive_time is local time).
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// One TRAFFIC entry per serial every this many ms (THREAT: ten times fewer).
        #[arg(long, default_value_t = 1000)]
        interval_ms: i64,
        /// How far back the data starts.
        #[arg(long, default_value = "2h")]
        history: logfetch_config::HumanDuration,
        /// Non-FIN polls before a job finishes.
        #[arg(long, default_value_t = 2)]
        pending_polls: u32,
        /// Report errors with HTTP 200 (status="error") instead of 403/400.
        #[arg(long)]
        errors_as_200: bool,
        /// Serve the `<entry>` elements of this saved XML answer instead of generated data.
        #[arg(long)]
        entries: Option<std::path::PathBuf>,
        /// Faults for the next requests, in order, comma-separated: 500, 503, slow:MS, expire
        /// (every API key stops working), html (a proxy's error page with HTTP 200), and for the
        /// next finished log page truncated, malformed or reset. More can be queued with
        /// `POST /mock/faults`; `GET /mock/faults` counts them.
        #[arg(long, default_value = "")]
        faults: String,
    },
    /// SentinelOne: SDL Long Running Query, Deep Visibility and the agents list, with the
    /// documented rate limits. Prints `listening on http://ADDR`. Controls: `POST /mock/sunset`,
    /// `/mock/freeze`, `/mock/fail?outcomes=FAILED,QUERY_EXPIRED`; `GET /mock/served`, `/mock/stats`.
    S1 {
        #[arg(long, default_value = "s1-token")]
        token: String,
        /// One DNS and one IP event per agent every this many ms.
        #[arg(long, default_value_t = 1000)]
        interval_ms: i64,
        /// Results are cut at this many rows.
        #[arg(long, default_value_t = 10000)]
        max_rows: usize,
        /// Answer the first N requests with 429.
        #[arg(long, default_value_t = 0)]
        rate_limit_first: u32,
        /// Events show up between 0 and this many ms after they happened.
        #[arg(long, default_value_t = 0)]
        ingest_lag_ms: i64,
        /// Least time between two DV init-query calls (the real limit: 1 per minute).
        #[arg(long, default_value_t = 60_000)]
        dv_init_interval_ms: u64,
        /// Outcomes of the first queries, in order: FAILED, QUERY_EXPIRED, QUERY_CANCEL.
        #[arg(long, value_delimiter = ',')]
        fail_queries: Vec<String>,
        /// DV routes answer 410 from the start.
        #[arg(long)]
        sunset: bool,
    },
    /// Splunk HEC + Elasticsearch `_bulk` receivers on one port (test knobs for failures).
    Siem {
        #[arg(long, default_value = "hec-token")]
        hec_token: String,
        /// Answer the first N HEC posts with 503.
        #[arg(long, default_value_t = 0)]
        hec_busy_first: u32,
        /// Answer the first N bulk items with 429.
        #[arg(long, default_value_t = 0)]
        bulk_throttle_first: u32,
        /// Refuse documents containing this text with a mapping error.
        #[arg(long)]
        reject_containing: Option<String>,
        /// Loopback port to listen on (default: any free one).
        #[arg(long, default_value_t = 0)]
        port: u16,
    },
    /// A Zscaler NSS (VM) feed: records over TCP, one per line; `--replay N` reconnects and sends
    /// the last N records again, as NSS does after a connection drop.
    Nss {
        #[arg(long)]
        target: String,
        #[arg(long, default_value_t = 500)]
        count: usize,
        #[arg(long, default_value_t = 0)]
        replay: usize,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Write the records to this file too (what was sent).
        #[arg(long)]
        save: Option<std::path::PathBuf>,
    },
    /// A Zscaler Cloud NSS sender: POSTs a file's records in gzip'd batches, retrying on non-2xx.
    CloudNss {
        /// The receiver's URL (`https://host:port/path`).
        #[arg(long)]
        url: String,
        /// The token header value.
        #[arg(long)]
        token: String,
        /// The token header name.
        #[arg(long, default_value = "authorization")]
        header: String,
        /// Records (one JSON object per line).
        #[arg(long)]
        file: std::path::PathBuf,
        /// Newline-separated batches instead of a JSON array.
        #[arg(long)]
        ndjson: bool,
        /// Send uncompressed.
        #[arg(long)]
        no_gzip: bool,
        #[arg(long, default_value_t = 16384)]
        batch_bytes: usize,
        #[arg(long, default_value_t = 50)]
        retries: u32,
        #[arg(long)]
        ca_file: Option<std::path::PathBuf>,
    },
    /// A Cisco ASA/FTD syslog sender: generated coherent traffic, or lines from a file.
    CiscoSyslog {
        /// Where to send (`127.0.0.1:5514`).
        #[arg(long)]
        target: String,
        /// udp, tcp (LF-framed), tcp-octet (RFC 6587 octet counting) or tls.
        #[arg(long, default_value = "tcp")]
        transport: String,
        /// How many lines to generate (pairs are kept whole, so a few more may go).
        #[arg(long, default_value_t = 1000)]
        count: usize,
        /// Lines per second (0: as fast as possible).
        #[arg(long, default_value_t = 0.0)]
        rate: f64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Mix in malformed and over-long lines.
        #[arg(long)]
        malformed: bool,
        /// Replay this file's lines instead of generating.
        #[arg(long)]
        file: Option<std::path::PathBuf>,
        /// CA certificate (PEM) the TLS listener's certificate chains to.
        #[arg(long)]
        ca_file: Option<std::path::PathBuf>,
    },
}

pub fn run(cmd: MockCommand) -> anyhow::Result<ExitCode> {
    let (token, interval_ms, seed, rate_limit_first, retry_after, delay_ms, faults, clock_offset_secs) = match cmd {
        MockCommand::TestApi { token, interval_ms, seed, rate_limit_first, retry_after, delay_ms, faults, clock_offset_secs } => (token, interval_ms, seed, rate_limit_first, retry_after, delay_ms, faults, clock_offset_secs),
        MockCommand::Panos { panorama, tz, interval_ms, history, pending_polls, errors_as_200, entries, faults } => {
            let tz = logfetch_common::time::parse_tz(&tz)?;
            let faults = logfetch_mocks::panos::parse_faults(&faults).map_err(|e| anyhow::anyhow!("--faults: {e}"))?;
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                let start = chrono::Utc::now() - chrono::Duration::from_std(history.get()).unwrap_or_default();
                let mut m = logfetch_mocks::panos::PanMock::new(panorama, tz, start, interval_ms);
                m.pending_polls = pending_polls;
                m.errors_as_200.store(errors_as_200, std::sync::atomic::Ordering::SeqCst);
                m.faults.get_mut().unwrap_or_else(|p| p.into_inner()).extend(faults);
                if let Some(f) = entries {
                    let xml = std::fs::read_to_string(&f).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?;
                    let n = m.load_entries(&xml).map_err(|e| anyhow::anyhow!("{}: {e}", f.display()))?;
                    eprintln!("serving {n} entries from {}", f.display());
                }
                let addr = logfetch_mocks::panos::start(Arc::new(m)).await?;
                println!("listening on http://{addr}");
                use std::io::Write;
                std::io::stdout().flush()?;
                tokio::signal::ctrl_c().await?;
                Ok::<_, anyhow::Error>(())
            })?;
            return Ok(ExitCode::SUCCESS);
        }
        MockCommand::S1 { token, interval_ms, max_rows, rate_limit_first, ingest_lag_ms, dv_init_interval_ms, fail_queries, sunset } => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                let mut m = logfetch_mocks::s1::S1Mock::new(interval_ms);
                m.token = token;
                m.max_rows = max_rows;
                m.rate_limit_next.store(rate_limit_first, std::sync::atomic::Ordering::SeqCst);
                m.ingest_lag_ms = ingest_lag_ms;
                m.dv_init_interval = std::time::Duration::from_millis(dv_init_interval_ms);
                m.fail_plan = std::sync::Mutex::new(fail_queries.into());
                m.dv_sunset = std::sync::atomic::AtomicBool::new(sunset);
                let addr = logfetch_mocks::s1::start(Arc::new(m)).await?;
                println!("listening on http://{addr}");
                use std::io::Write;
                std::io::stdout().flush()?;
                tokio::signal::ctrl_c().await?;
                Ok::<_, anyhow::Error>(())
            })?;
            return Ok(ExitCode::SUCCESS);
        }
        MockCommand::Siem { hec_token, hec_busy_first, bulk_throttle_first, reject_containing, port } => {
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                let m = logfetch_mocks::siem::SiemMock { hec_token, ..Default::default() };
                m.hec_busy_next.store(hec_busy_first, std::sync::atomic::Ordering::SeqCst);
                m.bulk_throttle_next.store(bulk_throttle_first, std::sync::atomic::Ordering::SeqCst);
                *m.reject_containing.lock().unwrap_or_else(|e| e.into_inner()) = reject_containing;
                let addr = logfetch_mocks::siem::start_on(Arc::new(m), port).await?;
                println!("listening on http://{addr}");
                use std::io::Write;
                std::io::stdout().flush()?;
                tokio::signal::ctrl_c().await?;
                Ok::<_, anyhow::Error>(())
            })?;
            return Ok(ExitCode::SUCCESS);
        }
        MockCommand::Nss { target, count, replay, seed, save } => {
            let records = logfetch_mocks::zscaler_nss::generate(seed, count, chrono::Utc::now());
            if let Some(p) = save {
                std::fs::write(&p, records.join("\n") + "\n")?;
            }
            let rt = tokio::runtime::Runtime::new()?;
            rt.block_on(async {
                let mode = logfetch_mocks::cisco_syslog::SendMode::TcpLf;
                logfetch_mocks::cisco_syslog::send(&records, &target, mode, 0.0, None).await.map_err(anyhow::Error::msg)?;
                if replay > 0 {
                    let tail = &records[records.len().saturating_sub(replay)..];
                    logfetch_mocks::cisco_syslog::send(tail, &target, mode, 0.0, None).await.map_err(anyhow::Error::msg)?;
                }
                Ok::<_, anyhow::Error>(())
            })?;
            eprintln!("sent {count} NSS record(s) to {target}, then replayed {replay}");
            return Ok(ExitCode::SUCCESS);
        }
        MockCommand::CloudNss { url, token, header, file, ndjson, no_gzip, batch_bytes, retries, ca_file } => {
            let records: Vec<String> = std::fs::read_to_string(&file).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
            let sender = logfetch_mocks::cloud_nss::CloudNssSender { url, header, token, gzip: !no_gzip, json_array: !ndjson, max_batch_bytes: batch_bytes, max_retries: retries, ca_file };
            let rt = tokio::runtime::Runtime::new()?;
            return match rt.block_on(sender.send(&records)) {
                Ok(r) => {
                    println!("sent {} record(s) in {} batch(es), {} retries, statuses {:?}", r.records, r.batches, r.retries, r.statuses);
                    Ok(ExitCode::SUCCESS)
                }
                Err((r, e)) => {
                    println!("sent {} record(s) in {} batch(es), {} retries, statuses {:?}", r.records, r.batches, r.retries, r.statuses);
                    eprintln!("error: {e}");
                    Ok(ExitCode::FAILURE)
                }
            };
        }
        MockCommand::CiscoSyslog { target, transport, count, rate, seed, malformed, file, ca_file } => {
            let lines = match file {
                Some(f) => std::fs::read_to_string(&f).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?.lines().map(str::to_string).collect(),
                None => logfetch_mocks::cisco_syslog::generate(seed, count, malformed, chrono::Utc::now() - chrono::Duration::minutes(30)),
            };
            let mode: logfetch_mocks::cisco_syslog::SendMode = transport.parse().map_err(anyhow::Error::msg)?;
            let rt = tokio::runtime::Runtime::new()?;
            // Reading and splitting a big file takes a while; this line says when sending starts
            // (bench/run.py times the daemon from it).
            eprintln!("sending {} line(s) to {target} over {transport}", lines.len());
            let n = rt.block_on(logfetch_mocks::cisco_syslog::send(&lines, &target, mode, rate, ca_file.as_deref())).map_err(anyhow::Error::msg)?;
            eprintln!("sent {n} line(s) to {target} over {transport}");
            return Ok(ExitCode::SUCCESS);
        }
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let st = Arc::new(MockState { seed, interval_ms, token, ..MockState::default() });
        st.rate_limit_next.store(rate_limit_first, std::sync::atomic::Ordering::SeqCst);
        st.retry_after_secs.store(retry_after, std::sync::atomic::Ordering::SeqCst);
        st.delay_ms.store(delay_ms, std::sync::atomic::Ordering::SeqCst);
        st.faults.lock().expect("faults").extend(server::parse_faults(&faults).map_err(anyhow::Error::msg)?);
        st.clock_offset_secs.store(clock_offset_secs, std::sync::atomic::Ordering::SeqCst);
        let addr = server::start(st).await?;
        println!("listening on http://{addr}");
        use std::io::Write;
        std::io::stdout().flush()?;
        tokio::signal::ctrl_c().await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
