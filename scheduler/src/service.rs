//! The daemon: one scheduling loop per pull stream (tenant × kind), runs under global and
//! per-tenant concurrency limits with a per-tenant rate limiter, the admin API, reload and
//! graceful shutdown.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use logfetch_common::LogKind;
use logfetch_common::checkpoint::SledCheckpointStore;
use logfetch_config::secret::ProcessEnv;
use logfetch_config::{Config, TenantConfig};
use logfetch_connectors::ParseContext;
use logfetch_connectors::http::{RateLimiter, RetryPolicy};
use logfetch_connectors::pull::{PullSettings, PullSource};
use tokio::sync::{Mutex, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::metrics::Metrics;
use crate::runner::{RunSummary, StreamPlan, StreamRun};
use crate::schedule::CronSchedule;
use crate::sink::{self, Sink};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("{0}")]
    Config(String),
    #[error("checkpoint store: {0}")]
    Store(#[from] logfetch_common::checkpoint::CheckpointError),
    #[error("admin API cannot listen on {addr}: {why}")]
    Listen { addr: String, why: String },
}

/// A running stream's handle.
struct StreamHandle {
    running: SingleFlight,
    trigger: Arc<Notify>,
    cancel: CancellationToken,
    /// The tenant config it was started from; a reload restarts the stream only if it changed.
    fingerprint: String,
    task: tokio::task::JoinHandle<()>,
}

/// An on-demand pull's progress, for `GET /api/v1/pulls/{id}`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PullJob {
    pub id: String,
    pub tenant: String,
    pub kind: LogKind,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub out_dir: PathBuf,
    pub state: String,
    pub pages: u64,
    pub events: u64,
    pub rejected: u64,
    pub error: Option<String>,
}

/// State shared by the stream loops and the admin API.
pub struct Service {
    pub config_path: PathBuf,
    pub config: Mutex<Arc<Config>>,
    pub store: Arc<SledCheckpointStore>,
    pub metrics: Arc<Metrics>,
    streams: Mutex<BTreeMap<(String, LogKind), StreamHandle>>,
    /// Push tenants: listener + spool drain, with the config fingerprint they started from.
    pushes: Mutex<BTreeMap<String, (String, CancellationToken, tokio::task::JoinHandle<()>)>>,
    global: Arc<Semaphore>,
    tenant_limits: Mutex<BTreeMap<String, (Arc<Semaphore>, RateLimiter)>>,
    pub pulls: Mutex<BTreeMap<String, PullJob>>,
    pub shutdown: CancellationToken,
    /// Per-tenant DNS hunting state (tenants with `[tenant.hunt]`), shared by its streams.
    hunters: std::sync::Mutex<BTreeMap<String, Arc<std::sync::Mutex<crate::hunt::Hunter>>>>,
    /// Enrichment sources (GeoIP, ASN, threat intel, users), shared by every tenant.
    pub enrich: std::sync::RwLock<Arc<crate::enrich::EnrichSources>>,
}

/// Resolves the tenant's secrets and builds its pull source.
pub fn pull_source(t: &TenantConfig, limiter: RateLimiter) -> Result<Box<dyn PullSource>, String> {
    let mut settings = pull_source_settings(t)?;
    settings.limiter = limiter;
    logfetch_connectors::registry::pull_source_for(t.vendor(), &settings).map_err(|e| e.to_string())
}

/// The tenant's pull settings with its secrets resolved (never logged).
pub fn pull_source_settings(t: &TenantConfig) -> Result<PullSettings, String> {
    let limiter = RateLimiter::new(t.rate_limit);
    let resolve = |r: &Option<logfetch_config::SecretRef>, field: &str| -> Result<Option<String>, String> {
        match r {
            None => Ok(None),
            Some(r) => r.resolve(&ProcessEnv).map(|s| Some(s.expose().to_string())).map_err(|e| format!("tenant `{}`, connection.{field} ({r}): {e}", t.id())),
        }
    };
    let token = match resolve(&t.connection.token, "token")? {
        Some(tok) => Some(tok),
        None => resolve(&t.connection.api_key, "api_key")?,
    };
    let settings = PullSettings {
        tenant: t.id().to_string(),
        url: t.connection.url.clone(),
        token,
        username: t.connection.username.clone(),
        password: resolve(&t.connection.password, "password")?,
        ca_file: t.connection.ca_file.clone(),
        tls_verify: t.connection.tls_verify,
        timeout: t.connection.timeout.get(),
        page_size: t.connection.page_size,
        limiter,
        policy: RetryPolicy { max_retries: t.connection.max_retries, ..RetryPolicy::default() },
        tz: t.tz(),
        poll_interval: t.connection.poll_interval.get(),
        api: t.connection.api.clone(),
        query_launch_interval: t.connection.query_launch_interval.map(|d| d.get()),
    };
    Ok(settings)
}

/// A push tenant's listener settings, with its token resolved.
pub fn push_settings(t: &TenantConfig) -> Result<logfetch_connectors::push::PushSettings, String> {
    let c = &t.connection;
    Ok(logfetch_connectors::push::PushSettings {
        tenant: t.id().to_string(),
        listen: c.listen.clone().unwrap_or_default(),
        max_message_bytes: c.max_message_bytes,
        max_connections: c.max_connections,
        idle_timeout: c.idle_timeout.get(),
        recv_buffer: c.recv_buffer,
        tls_cert: c.tls_cert.clone(),
        tls_key: c.tls_key.clone(),
        token: match &c.token {
            None => None,
            Some(r) => Some(r.resolve(&ProcessEnv).map_err(|e| format!("connection.token ({r}): {e}"))?.expose().to_string()),
        },
        token_header: c.token_header.clone(),
    })
}

/// The plan for one stream of a tenant.
pub fn stream_plan(cfg: &Config, t: &TenantConfig, kind: LogKind) -> StreamPlan {
    let routes = t.routes(cfg);
    StreamPlan {
        tenant: t.id().to_string(),
        kind,
        initial_lookback: t.initial_lookback.get(),
        max_lookback: t.max_lookback.get(),
        window: t.window.get(),
        delay: t.delay.get(),
        overlap: t.overlap.map(|o| o.get()).unwrap_or_else(|| logfetch_connectors::registry::default_overlap(t.vendor())),
        batch_max_events: routes.iter().map(|s| s.batch_max_events).min().unwrap_or(5000),
        batch_max_bytes: routes.iter().map(|s| s.batch_max_bytes).min().unwrap_or(8 << 20),
        rejects_dir: cfg.service.data_dir.join("rejects"),
        sink_retry_for: Duration::from_secs(60),
    }
}

/// The sinks a tenant routes to.
pub fn build_sinks(cfg: &Config, t: &TenantConfig) -> Result<Vec<Arc<dyn Sink>>, String> {
    t.routes(cfg).into_iter().map(|s| sink::from_config_in(s, &cfg.service.data_dir)).collect()
}

/// What a stream depends on: its tenant's settings (except the list of kinds, so adding a kind
/// does not restart the others) and its sinks.
fn fingerprint(cfg: &Config, t: &TenantConfig) -> String {
    let mut t = t.clone();
    t.kinds.clear();
    let sinks: Vec<String> = t.routes(cfg).iter().map(|s| format!("{s:?}")).collect();
    format!("{t:?}|{sinks:?}")
}

/// At most one run of a stream at a time.
#[derive(Debug, Clone, Default)]
pub struct SingleFlight(Arc<AtomicBool>);

/// Held while a run goes; dropping it (also by a panic) frees the stream.
#[derive(Debug)]
pub struct Flight(Arc<AtomicBool>);

impl Drop for Flight {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl SingleFlight {
    /// `None` when a run is already going.
    pub fn try_start(&self) -> Option<Flight> {
        (!self.0.swap(true, Ordering::SeqCst)).then(|| Flight(self.0.clone()))
    }
    pub fn is_running(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

impl Service {
    /// The enrichment a tenant asked for (`enrich = [...]`), if any.
    pub fn enricher(&self, t: &TenantConfig) -> Option<crate::enrich::TenantEnricher> {
        let wanted: Vec<String> = t.enrich.iter().map(|e| e.get_ref().clone()).collect();
        crate::enrich::TenantEnricher::new(self.enrich.read().unwrap_or_else(|e| e.into_inner()).clone(), &wanted)
    }

    /// The tenant's hunting state, if it hunts.
    pub fn hunter(&self, t: &TenantConfig) -> Option<Arc<std::sync::Mutex<crate::hunt::Hunter>>> {
        let h = t.hunt.as_ref()?;
        let mut m = self.hunters.lock().unwrap_or_else(|e| e.into_inner());
        Some(
            m.entry(t.id().to_string())
                .or_insert_with(|| {
                    let mut hunter = crate::hunt::Hunter::from_settings(h);
                    self.restore_hunter(t.id(), &mut hunter);
                    Arc::new(std::sync::Mutex::new(hunter))
                })
                .clone(),
        )
    }

    /// Loads a tenant's saved hunting state, if any (a bad one is reported and set aside).
    fn restore_hunter(&self, tenant: &str, hunter: &mut crate::hunt::Hunter) {
        let tree = match self.store.db().open_tree(HUNT_STATE_TREE) {
            Ok(t) => t,
            Err(e) => return tracing::warn!(tenant, error = %e, "cannot open the hunting state; starting without history"),
        };
        match tree.get(tenant) {
            Ok(Some(bytes)) => match hunter.restore(&bytes) {
                Ok((domains, clients)) => tracing::info!(tenant, domains, clients, "restored hunting state (domain first-seen times, client baselines)"),
                Err(why) => {
                    tracing::warn!(tenant, %why, "hunting state set aside; starting without history");
                    let _ = tree.insert(format!("{tenant}.unreadable"), bytes);
                }
            },
            Ok(None) => {}
            Err(e) => tracing::warn!(tenant, error = %e, "cannot read the hunting state; starting without history"),
        }
    }

    /// Writes every tenant's hunting state to the store (every minute and at shutdown).
    pub fn save_hunters(&self) {
        let hunters: Vec<(String, Arc<std::sync::Mutex<crate::hunt::Hunter>>)> = self.hunters.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        if hunters.is_empty() {
            return;
        }
        let tree = match self.store.db().open_tree(HUNT_STATE_TREE) {
            Ok(t) => t,
            Err(e) => return tracing::warn!(error = %e, "cannot save the hunting state"),
        };
        for (tenant, h) in hunters {
            let bytes = h.lock().unwrap_or_else(|e| e.into_inner()).snapshot();
            let n = bytes.len();
            match tree.insert(tenant.as_str(), bytes) {
                Ok(_) => tracing::debug!(tenant, bytes = n, "hunting state saved"),
                Err(e) => tracing::warn!(tenant, error = %e, "cannot save the hunting state"),
            }
        }
        if let Err(e) = self.store.db().flush() {
            tracing::warn!(error = %e, "cannot flush the hunting state");
        }
    }

    /// Opens the store and prepares the service (nothing runs yet).
    pub fn new(config_path: PathBuf, cfg: Config) -> Result<Arc<Service>, ServiceError> {
        std::fs::create_dir_all(&cfg.service.data_dir).map_err(|e| ServiceError::Config(format!("data_dir {}: {e}", cfg.service.data_dir.display())))?;
        let store = SledCheckpointStore::open(&cfg.service.data_dir.join("state"))?;
        Ok(Arc::new(Service {
            config_path,
            global: Arc::new(Semaphore::new(cfg.service.max_concurrent_runs.max(1))),
            config: Mutex::new(Arc::new(cfg)),
            store: Arc::new(store),
            metrics: Arc::new(Metrics::default()),
            streams: Mutex::new(BTreeMap::new()),
            pushes: Mutex::new(BTreeMap::new()),
            tenant_limits: Mutex::new(BTreeMap::new()),
            pulls: Mutex::new(BTreeMap::new()),
            shutdown: CancellationToken::new(),
            enrich: std::sync::RwLock::new(crate::enrich::EnrichSources::empty()),
            hunters: std::sync::Mutex::new(BTreeMap::new()),
        }))
    }

    async fn tenant_limits(&self, t: &TenantConfig) -> (Arc<Semaphore>, RateLimiter) {
        let mut m = self.tenant_limits.lock().await;
        m.entry(t.id().to_string()).or_insert_with(|| (Arc::new(Semaphore::new(t.max_concurrent.max(1))), RateLimiter::new(t.rate_limit))).clone()
    }

    /// Starts (or, after a reload, reconciles) one loop per enabled tenant × kind.
    pub async fn reconcile(self: &Arc<Self>) {
        let cfg = self.config.lock().await.clone();
        let mut streams = self.streams.lock().await;
        self.reconcile_push(&cfg).await;
        let mut wanted = BTreeMap::new();
        for t in cfg.tenants.iter().filter(|t| t.enabled && t.connection.listen.is_none()) {
            for kind in &t.kinds {
                wanted.insert((t.id().to_string(), *kind), (t.clone(), fingerprint(&cfg, t)));
            }
        }
        // Stop streams that went away or changed.
        let keys: Vec<_> = streams.keys().cloned().collect();
        for key in keys {
            let keep = wanted.get(&key).is_some_and(|(_, fp)| streams.get(&key).is_some_and(|h| &h.fingerprint == fp));
            if !keep {
                if let Some(h) = streams.remove(&key) {
                    tracing::info!(tenant = %key.0, stream = %key.1, "stopping stream (removed or changed)");
                    h.cancel.cancel();
                    let _ = h.task.await;
                }
            }
        }
        for (key, (t, fp)) in wanted {
            if streams.contains_key(&key) {
                continue;
            }
            let handle = self.clone().spawn_stream(cfg.clone(), t, key.1, fp).await;
            streams.insert(key, handle);
        }
    }

    async fn reconcile_push(self: &Arc<Self>, cfg: &Arc<Config>) {
        let mut pushes = self.pushes.lock().await;
        let wanted: BTreeMap<String, (TenantConfig, String)> =
            cfg.tenants.iter().filter(|t| t.enabled && t.connection.listen.is_some()).map(|t| (t.id().to_string(), (t.clone(), format!("{:?}", (t, t.routes(cfg)))))).collect();
        let keys: Vec<String> = pushes.keys().cloned().collect();
        for k in keys {
            if wanted.get(&k).map(|(_, fp)| fp) != pushes.get(&k).map(|(fp, _, _)| fp) {
                if let Some((_, c, task)) = pushes.remove(&k) {
                    tracing::info!(tenant = %k, "stopping push listener (removed or changed)");
                    c.cancel();
                    let _ = task.await;
                }
            }
        }
        for (id, (t, fp)) in wanted {
            if pushes.contains_key(&id) {
                continue;
            }
            let cancel = self.shutdown.child_token();
            let span = tracing::info_span!("push", tenant = %id);
            let task = tokio::spawn(self.clone().push_tenant(cfg.clone(), t, cancel.clone()).instrument(span));
            pushes.insert(id, (fp, cancel, task));
        }
    }

    async fn push_tenant(self: Arc<Self>, cfg: Arc<Config>, t: TenantConfig, cancel: CancellationToken) {
        let id = t.id().to_string();
        let fail = |e: String| {
            tracing::error!(error = %e, "push tenant not started");
            self.metrics.stream(&id, "push", |s| s.last_error = Some(e));
        };
        let spool = match logfetch_common::spool::Spool::open(self.store.db(), &id, cfg.service.spool_max_bytes) {
            Ok(s) => Arc::new(s),
            Err(e) => return fail(e.to_string()),
        };
        let settings = match push_settings(&t) {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let source = match logfetch_connectors::registry::push_source_for(t.vendor(), &settings) {
            Ok(s) => s,
            Err(e) => return fail(e.to_string()),
        };
        let (parser, sinks) = match (logfetch_connectors::registry::parser_for(t.vendor()), build_sinks(&cfg, &t)) {
            (Ok(p), Ok(s)) => (p, s),
            (Err(e), _) | (_, Err(e)) => return fail(e),
        };
        let routes = t.routes(&cfg);
        let plan = crate::push::DrainPlan {
            tenant: id.clone(),
            kinds: t.kinds.clone(),
            batch_max_events: routes.iter().map(|s| s.batch_max_events).min().unwrap_or(5000),
            batch_max_bytes: routes.iter().map(|s| s.batch_max_bytes).min().unwrap_or(8 << 20),
            flush_interval: routes.iter().map(|s| s.flush_interval.get()).min().unwrap_or(Duration::from_secs(5)),
            rejects_dir: cfg.service.data_dir.join("rejects"),
            enricher: self.enricher(&t),
            hunter: self.hunter(&t),
        };
        let mut ctx = ParseContext::new(&id, t.tz());
        ctx.keep_raw = t.keep_raw;
        // ZIA API user context: a periodic directory sync when the tenant names the API.
        if t.vendor() == "zscaler" && t.connection.url.is_some() {
            let me = self.clone();
            let (t2, cancel2) = (t.clone(), cancel.clone());
            tokio::spawn(async move { me.zia_sync_loop(t2, cancel2).await }.instrument(tracing::Span::current()));
        }
        let observer = Arc::new(crate::push::MetricsObserver { tenant: id.clone(), metrics: self.metrics.clone(), bound: std::sync::Mutex::new(None) });
        let drain = tokio::spawn(crate::push::drain(plan, spool.clone(), parser, ctx, sinks, self.metrics.clone(), cancel.clone()).instrument(tracing::Span::current()));
        if let Err(e) = source.run(spool, observer, cancel.clone()).await {
            fail(e.to_string());
            cancel.cancel();
        }
        match drain.await {
            Ok(Err(e)) => tracing::error!(error = %e, "spool drain failed"),
            Err(e) => tracing::error!(error = %e, "spool drain task failed"),
            Ok(Ok(())) => {}
        }
    }

    /// Agents updated since the stored cursor, every `sync_interval`; the cursor is a checkpoint.
    async fn s1_agents_loop(self: Arc<Self>, t: TenantConfig, cancel: CancellationToken) {
        use logfetch_common::checkpoint::{commit, load};
        let id = t.id().to_string();
        let c = &t.connection;
        let token = match c.token.as_ref().or(c.api_key.as_ref()).map(|r| r.resolve(&ProcessEnv)) {
            Some(Ok(s)) => s.expose().to_string(),
            _ => return,
        };
        let (Some(url), Ok(http)) = (c.url.clone(), (PullSettings {
            tenant: id.clone(),
            url: c.url.clone(),
            token: None,
            username: None,
            password: None,
            ca_file: c.ca_file.clone(),
            tls_verify: c.tls_verify,
            timeout: c.timeout.get(),
            page_size: None,
            limiter: RateLimiter::new(25.0),
            policy: RetryPolicy::default(),
            tz: t.tz(),
            poll_interval: c.poll_interval.get(),
            api: None,
            query_launch_interval: None,
        })
        .http_client()) else {
            return;
        };
        let (limiter, policy) = (RateLimiter::new(25.0), RetryPolicy::default());
        loop {
            let current = load::<String>(&*self.store, &id, "agents").ok().flatten();
            let since = current.as_ref().map(|(s, _)| s.clone());
            match logfetch_connectors::sentinelone::agents::sync_agents(&http, &url, &token, self.store.db(), &id, since.as_deref(), &limiter, &policy).await {
                Ok((n, newest)) => {
                    tracing::info!(agents = n, "SentinelOne agents synced");
                    if let (Some(newest), true) = (newest, n > 0) {
                        let _ = commit(&*self.store, &id, "agents", current.map(|(_, g)| g), &newest).await;
                    }
                    self.metrics.stream(&id, "agents", |s| {
                        s.runs_ok += 1;
                        s.records_received += n as u64;
                        s.last_error = None;
                    });
                }
                Err(e) => {
                    tracing::error!(error = %e, "SentinelOne agents sync failed");
                    self.metrics.stream(&id, "agents", |s| {
                        s.runs_failed += 1;
                        s.last_error = Some(e.to_string());
                    });
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(c.sync_interval.get()) => {}
                _ = cancel.cancelled() => return,
            }
        }
    }

    async fn zia_sync_loop(self: Arc<Self>, t: TenantConfig, cancel: CancellationToken) {
        use logfetch_connectors::zscaler::api::{ZiaAuth, ZiaClient, sync_directory};
        let id = t.id().to_string();
        let c = &t.connection;
        let secret = |r: &Option<logfetch_config::SecretRef>| r.as_ref().and_then(|r| r.resolve(&ProcessEnv).ok()).map(|s| s.expose().to_string());
        let auth = match (&c.token_url, c.username.clone(), secret(&c.password), secret(&c.api_key)) {
            (Some(url), Some(id_), Some(sec), _) => ZiaAuth::OAuth { token_url: url.clone(), client_id: id_, client_secret: sec },
            (None, Some(user), Some(pw), Some(key)) => ZiaAuth::Legacy { api_key: key, username: user, password: pw },
            _ => {
                let e = "ZIA API sync needs api_key + username + password (legacy) or token_url + username (client id) + password (client secret)".to_string();
                tracing::error!(error = %e, "directory sync not started");
                self.metrics.stream(&id, "directory", |s| s.last_error = Some(e));
                return;
            }
        };
        let settings = PullSettings {
            tenant: id.clone(),
            url: c.url.clone(),
            token: None,
            username: None,
            password: None,
            ca_file: c.ca_file.clone(),
            tls_verify: c.tls_verify,
            timeout: c.timeout.get(),
            page_size: None,
            limiter: RateLimiter::new(2.0),
            policy: RetryPolicy::default(),
            tz: t.tz(),
            poll_interval: c.poll_interval.get(),
            api: None,
            query_launch_interval: None,
        };
        let http = match settings.http_client() {
            Ok(h) => h,
            Err(e) => return tracing::error!(error = %e, "directory sync not started"),
        };
        let mut client = ZiaClient::new(&id, c.url.as_deref().unwrap_or_default(), auth, http);
        loop {
            let started = Utc::now();
            match sync_directory(&mut client, self.store.db(), &id, 1000).await {
                Ok((u, d, g)) => {
                    tracing::info!(users = u, departments = d, groups = g, "ZIA directory synced");
                    self.metrics.stream(&id, "directory", |s| {
                        s.runs_ok += 1;
                        s.records_received = u as u64;
                        s.last_run_start = Some(started);
                        s.last_run_end = Some(Utc::now());
                        s.last_error = None;
                    });
                }
                Err(e) => {
                    tracing::error!(error = %e, "ZIA directory sync failed");
                    self.metrics.stream(&id, "directory", |s| {
                        s.runs_failed += 1;
                        s.last_error = Some(e.clone());
                    });
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(c.sync_interval.get()) => {}
                _ = cancel.cancelled() => return,
            }
        }
    }

    async fn spawn_stream(self: Arc<Self>, cfg: Arc<Config>, t: TenantConfig, kind: LogKind, fingerprint: String) -> StreamHandle {
        let running = SingleFlight::default();
        let trigger = Arc::new(Notify::new());
        let cancel = self.shutdown.child_token();
        let span = tracing::info_span!("stream", tenant = %t.id(), stream = %kind);
        // SentinelOne user/host context: the agents sync rides on the tenant's first stream.
        if t.vendor() == "sentinelone" && t.kinds.first() == Some(&kind) {
            let me = self.clone();
            let (t2, c2) = (t.clone(), cancel.clone());
            tokio::spawn(async move { me.s1_agents_loop(t2, c2).await }.instrument(tracing::info_span!("agents", tenant = %t.id())));
        }
        let task = tokio::spawn(self.clone().stream_loop(cfg, t, kind, running.clone(), trigger.clone(), cancel.clone()).instrument(span));
        StreamHandle { running, trigger, cancel, fingerprint, task }
    }

    async fn stream_loop(self: Arc<Self>, cfg: Arc<Config>, t: TenantConfig, kind: LogKind, running: SingleFlight, trigger: Arc<Notify>, cancel: CancellationToken) {
        let (tid, k) = (t.id().to_string(), kind.as_str());
        let schedule = match CronSchedule::parse(t.schedule.get_ref(), t.tz()) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "stream not started");
                self.metrics.stream(&tid, k, |s| s.last_error = Some(e.to_string()));
                return;
            }
        };
        let mut runs: Vec<tokio::task::JoinHandle<()>> = Vec::new();
        loop {
            let jitter = t.jitter.get();
            let jitter = if jitter.is_zero() { Duration::ZERO } else { Duration::from_millis(rand::random::<u64>() % jitter.as_millis().max(1) as u64) };
            let next = schedule.next_after(Utc::now()).map(|n| n + chrono::Duration::from_std(jitter).unwrap_or_default());
            self.metrics.stream(&tid, k, |s| s.next_run = next);
            let wait = next.map(|n| (n - Utc::now()).to_std().unwrap_or(Duration::ZERO)).unwrap_or(Duration::from_secs(3600));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = trigger.notified() => { tracing::info!("run requested"); }
                _ = cancel.cancelled() => break,
            }
            // Single flight: a tick while the previous run is still going is skipped and counted.
            let Some(flight) = running.try_start() else {
                tracing::warn!("previous run still going; tick skipped");
                self.metrics.stream(&tid, k, |s| s.ticks_skipped += 1);
                continue;
            };
            let me = self.clone();
            let (cfg2, t2, cancel2) = (cfg.clone(), t.clone(), cancel.clone());
            let span = tracing::Span::current();
            runs.retain(|h| !h.is_finished());
            runs.push(tokio::spawn(
                async move {
                    let _flight = flight;
                    me.run_once(&cfg2, &t2, kind, cancel2).await;
                }
                .instrument(span),
            ));
        }
        // Let an in-flight run finish its current page (it stops at the next page boundary).
        for h in runs {
            let _ = h.await;
        }
    }

    /// One scheduled run, with the limits, metrics and logging around it.
    pub async fn run_once(&self, cfg: &Config, t: &TenantConfig, kind: LogKind, cancel: CancellationToken) -> Option<RunSummary> {
        let (tid, k) = (t.id(), kind.as_str());
        let (tenant_sem, limiter) = self.tenant_limits(t).await;
        let _g = self.global.clone().acquire_owned().await.ok()?;
        let _t = tenant_sem.acquire_owned().await.ok()?;
        let started = Utc::now();
        self.metrics.stream(tid, k, |s| {
            s.running = true;
            s.last_run_start = Some(started);
        });
        let result = async {
            let source = pull_source(t, limiter)?;
            let parser = logfetch_connectors::registry::parser_for(t.vendor())?;
            let sinks = build_sinks(cfg, t)?;
            let plan = stream_plan(cfg, t, kind);
            let mut ctx = ParseContext::new(tid, t.tz());
            ctx.keep_raw = t.keep_raw;
            let enricher = self.enricher(t);
            let hunter = self.hunter(t);
            let run = StreamRun { plan: &plan, source: &*source, parser: &*parser, ctx, sinks: &sinks, metrics: &self.metrics, cancel, on_page: None, enricher: enricher.as_ref(), hunter: hunter.as_deref() };
            run.run_scheduled(&*self.store, Utc::now()).await.map_err(|e| e.to_string())
        }
        .await;
        let ended = Utc::now();
        let secs = (ended - started).num_milliseconds() as f64 / 1000.0;
        match result {
            Ok(s) => {
                tracing::info!(pages = s.pages, events = s.events, rejected = s.rejected, windows = s.windows, seconds = secs, "run complete");
                self.metrics.stream(tid, k, |m| {
                    m.runs_ok += 1;
                    m.running = false;
                    m.last_run_end = Some(ended);
                    m.last_run_seconds = Some(secs);
                    m.last_error = None;
                });
                Some(s)
            }
            Err(e) => {
                tracing::error!(error = %e, "run failed; checkpoint unchanged");
                self.metrics.stream(tid, k, |m| {
                    m.runs_failed += 1;
                    m.running = false;
                    m.last_run_end = Some(ended);
                    m.last_run_seconds = Some(secs);
                    m.last_error = Some(e.clone());
                });
                None
            }
        }
    }

    /// Asks a stream to run now. `false` when there is no such stream.
    pub async fn trigger(&self, tenant: &str, kind: LogKind) -> bool {
        match self.streams.lock().await.get(&(tenant.to_string(), kind)) {
            Some(h) => {
                h.trigger.notify_one();
                true
            }
            None => false,
        }
    }

    pub async fn is_running(&self, tenant: &str, kind: LogKind) -> bool {
        self.streams.lock().await.get(&(tenant.to_string(), kind)).is_some_and(|h| h.running.is_running())
    }

    /// Re-reads the config file; unchanged streams keep running.
    pub async fn reload(self: &Arc<Self>) -> Result<(), String> {
        let vendors = logfetch_connectors::registry::vendor_names();
        let data_dir = self.config.lock().await.service.data_dir.clone();
        let cfg = match Config::load(&self.config_path, &vendors) {
            Ok(c) => c,
            Err(errs) => {
                let why = errs.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; ");
                let _ = crate::audit::record(&data_dir, "config_reload", "service", serde_json::json!({"config": self.config_path}), Err(why.clone()));
                return Err(why);
            }
        };
        // What changed, for the audit trail.
        let old = self.config.lock().await.clone();
        let ids = |c: &Config| c.tenants.iter().map(|t| (t.id().to_string(), fingerprint(c, t))).collect::<BTreeMap<_, _>>();
        let (before, after) = (ids(&old), ids(&cfg));
        let added: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
        let removed: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
        let changed: Vec<&String> = after.iter().filter(|(k, v)| before.get(*k).is_some_and(|b| b != *v)).map(|(k, _)| k).collect();
        let sinks_changed = format!("{:?}", old.sinks) != format!("{:?}", cfg.sinks);
        let _ = crate::audit::record(&data_dir, "config_reload", "service", serde_json::json!({"config": self.config_path, "tenants_added": added, "tenants_removed": removed, "tenants_changed": changed, "sinks_changed": sinks_changed}), Ok(()));
        *self.config.lock().await = Arc::new(cfg);
        self.reconcile().await;
        tracing::info!(config = %self.config_path.display(), "configuration reloaded");
        Ok(())
    }

    /// Stops every stream, letting in-flight pages finish for up to `timeout`.
    pub async fn stop(&self, timeout: Duration) -> bool {
        self.shutdown.cancel();
        let handles: Vec<_> = std::mem::take(&mut *self.streams.lock().await).into_values().collect();
        let pushes: Vec<_> = std::mem::take(&mut *self.pushes.lock().await).into_values().collect();
        let all = async {
            for h in handles {
                let _ = h.task.await;
            }
            for (_, _, task) in pushes {
                let _ = task.await;
            }
        };
        tokio::time::timeout(timeout, all).await.is_ok()
    }

    /// Starts an on-demand pull in the background; returns its id.
    pub async fn start_pull(self: &Arc<Self>, tenant: &str, kind: LogKind, since: DateTime<Utc>, until: DateTime<Utc>) -> Result<String, String> {
        let cfg = self.config.lock().await.clone();
        let t = cfg.tenant(tenant).ok_or_else(|| format!("no tenant `{tenant}`"))?.clone();
        if !t.kinds.contains(&kind) {
            return Err(format!("tenant `{tenant}` does not collect `{kind}`"));
        }
        let id = format!("{}-{}-{}", Utc::now().format("%Y%m%dT%H%M%SZ"), tenant, kind);
        let out_dir = cfg.service.incidents_dir.join(&id);
        let job = PullJob { id: id.clone(), tenant: tenant.into(), kind, since, until, out_dir: out_dir.clone(), state: "running".into(), pages: 0, events: 0, rejected: 0, error: None };
        self.pulls.lock().await.insert(id.clone(), job);
        let me = self.clone();
        let id2 = id.clone();
        tokio::spawn(async move {
            let (_, limiter) = me.tenant_limits(&t).await;
            let enricher = me.enricher(&t);
            let result = adhoc_pull(&cfg, &t, kind, since, until, &out_dir, limiter, &me.metrics, me.shutdown.child_token(), None, enricher.as_ref()).await;
            let mut pulls = me.pulls.lock().await;
            if let Some(j) = pulls.get_mut(&id2) {
                match result {
                    Ok(s) => {
                        j.state = if s.cancelled { "cancelled".into() } else { "done".into() };
                        j.pages = s.pages;
                        j.events = s.events;
                        j.rejected = s.rejected;
                    }
                    Err(e) => {
                        j.state = "failed".into();
                        j.error = Some(e);
                    }
                }
            }
        });
        Ok(id)
    }
}

/// One ad-hoc pull of `[since, until)` into `out_dir` (a file sink in the tenant's first routed
/// format, default OCSF), never touching the scheduled checkpoint.
#[allow(clippy::too_many_arguments)]
pub async fn adhoc_pull(
    cfg: &Config,
    t: &TenantConfig,
    kind: LogKind,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    out_dir: &std::path::Path,
    limiter: RateLimiter,
    metrics: &Metrics,
    cancel: CancellationToken,
    on_page: Option<&(dyn Fn(&RunSummary) + Send + Sync)>,
    enricher: Option<&crate::enrich::TenantEnricher>,
) -> Result<RunSummary, String> {
    let format = t.routes(cfg).first().map(|s| s.format).unwrap_or_default();
    let sinks: Vec<Arc<dyn Sink>> = vec![Arc::new(sink::file::FileSink::new("incident", out_dir.to_path_buf(), format, false))];
    let key = crate::evidence::configured_key(cfg)?;
    let started = Utc::now();
    let result = adhoc_pull_to(cfg, t, kind, since, until, &sinks, limiter, metrics, cancel, on_page, enricher).await;
    // The evidence manifest, also for a pull that stopped early (it says so).
    let summary = result.as_ref().cloned().unwrap_or_default();
    let m = crate::evidence::pull_manifest(t, kind, since, until, format, started, &summary, result.as_ref().is_ok_and(|s| !s.cancelled));
    crate::evidence::write_manifest(out_dir, m, key.as_ref()).map_err(|e| format!("writing the manifest in {}: {e}", out_dir.display()))?;
    let details = serde_json::json!({"tenant": t.id(), "kind": kind.as_str(), "since": since, "until": until, "out": out_dir, "events": summary.events, "cancelled": summary.cancelled});
    let _ = crate::audit::record(&cfg.service.data_dir, "pull", "admin-api", details, result.as_ref().map(|_| ()).map_err(|e| e.clone()));
    result
}

/// The same, into the given sinks (the CLI passes a stdout sink for `--out -`).
#[allow(clippy::too_many_arguments)]
pub async fn adhoc_pull_to(
    cfg: &Config,
    t: &TenantConfig,
    kind: LogKind,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    sinks: &[Arc<dyn Sink>],
    limiter: RateLimiter,
    metrics: &Metrics,
    cancel: CancellationToken,
    on_page: Option<&(dyn Fn(&RunSummary) + Send + Sync)>,
    enricher: Option<&crate::enrich::TenantEnricher>,
) -> Result<RunSummary, String> {
    let source = pull_source(t, limiter)?;
    let parser = logfetch_connectors::registry::parser_for(t.vendor())?;
    let mut plan = stream_plan(cfg, t, kind);
    plan.rejects_dir = cfg.service.incidents_dir.join("rejects");
    let mut ctx = ParseContext::new(t.id(), t.tz());
    ctx.keep_raw = t.keep_raw;
    let run = StreamRun { plan: &plan, source: &*source, parser: &*parser, ctx, sinks, metrics, cancel, on_page, enricher, hunter: None };
    run.run_adhoc(since, until).await.map_err(|e| e.to_string())
}

/// Runs the daemon until `stop` is cancelled, or SIGTERM / SIGINT arrive; SIGHUP reloads.
/// `ready` receives the admin API's bound address once it listens.
/// sled tree with one hunting snapshot per tenant.
const HUNT_STATE_TREE: &str = "hunt-state";

pub async fn run_daemon(config_path: PathBuf, cfg: Config, stop: CancellationToken, ready: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>) -> Result<(), ServiceError> {
    use tokio::signal::unix::{SignalKind, signal};
    let admin_addr = cfg.service.admin_listen;
    let shutdown_timeout = cfg.service.shutdown_timeout.get();
    let token = match &cfg.service.admin_token {
        Some(r) => Some(r.resolve(&ProcessEnv).map_err(|e| ServiceError::Config(format!("[service] admin_token ({r}): {e}")))?.expose().to_string()),
        None => None,
    };
    let enrich_cfg = cfg.enrichment.clone();
    let svc = Service::new(config_path, cfg)?;
    let resolve = |r: &logfetch_config::SecretRef| r.resolve(&ProcessEnv).map(|s| s.expose().to_string()).map_err(|e| e.to_string());
    let sources = crate::enrich::EnrichSources::open(&enrich_cfg, Some(svc.store.db().clone()), &resolve).await.map_err(ServiceError::Config)?;
    *svc.enrich.write().unwrap_or_else(|e| e.into_inner()) = sources.clone();
    tokio::spawn(sources.watch(svc.shutdown.clone()));
    let listener = tokio::net::TcpListener::bind(admin_addr).await.map_err(|e| ServiceError::Listen { addr: admin_addr.to_string(), why: e.to_string() })?;
    let bound = listener.local_addr().map_err(|e| ServiceError::Listen { addr: admin_addr.to_string(), why: e.to_string() })?;
    let app = crate::admin::router(svc.clone(), token);
    let admin_stop = svc.shutdown.clone();
    let admin = tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).with_graceful_shutdown(async move { admin_stop.cancelled().await }).await;
    });
    tracing::info!(admin = %bound, "logfetch running; admin API listening");
    if let Some(tx) = ready {
        let _ = tx.send(bound);
    }
    svc.reconcile().await;
    // Hunting state reaches the disk every minute, so a crash loses at most that much history.
    let saver = {
        let svc = svc.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = svc.shutdown.cancelled() => break,
                    _ = tick.tick() => {
                        let s = svc.clone();
                        let _ = tokio::task::spawn_blocking(move || s.save_hunters()).await;
                    }
                }
            }
        })
    };
    let mut term = signal(SignalKind::terminate()).map_err(|e| ServiceError::Config(format!("signal handler: {e}")))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| ServiceError::Config(format!("signal handler: {e}")))?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| ServiceError::Config(format!("signal handler: {e}")))?;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = term.recv() => { tracing::info!("SIGTERM: draining"); break }
            _ = int.recv() => { tracing::info!("interrupt: draining"); break }
            _ = hup.recv() => {
                if let Err(e) = svc.reload().await {
                    tracing::error!(error = %e, "reload failed; keeping the running configuration");
                }
            }
        }
    }
    let drained = svc.stop(shutdown_timeout).await;
    let _ = saver.await;
    svc.save_hunters();
    if drained {
        tracing::info!("all streams stopped cleanly");
    } else {
        tracing::warn!(timeout = ?shutdown_timeout, "shutdown timeout reached with runs in flight; their checkpoints were not moved, they resume on restart");
    }
    let _ = admin.await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_flight_allows_one_run_at_a_time() {
        let sf = SingleFlight::default();
        let first = sf.try_start().expect("idle stream starts");
        assert!(sf.is_running());
        assert!(sf.try_start().is_none(), "a second run is refused while the first goes");
        drop(first);
        assert!(!sf.is_running());
        let again = sf.try_start();
        assert!(again.is_some());
        // A panicking run releases the stream too.
        let sf2 = sf.clone();
        drop(again);
        let r = std::panic::catch_unwind(move || {
            let _f = sf2.try_start().unwrap();
            panic!("boom");
        });
        assert!(r.is_err());
        assert!(sf.try_start().is_some());
    }
}
