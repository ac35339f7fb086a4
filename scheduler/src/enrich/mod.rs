//! Enrichment at ingest, between mapping and batching: GeoIP and ASN (`geo.rs`), threat
//! intelligence (`ti.rs`) and user context (`users.rs`), configured per tenant with
//! `enrich = ["geo", "asn", "threat_intel", "user"]` and sourced from `[enrichment]`.
//!
//! Sources are swapped whole (`Arc` behind a lock held only to clone it) when their files change
//! or their feeds refresh, so enrichment never pauses a stream. A source that fails to load keeps
//! its previous contents and is counted and logged; an event is never dropped or delayed because
//! of enrichment.

pub mod geo;
pub mod mmdb_writer;
pub mod ti;
pub mod users;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, Utc};
use logfetch_common::Event;
use logfetch_common::event::{Endpoint, Enrichment, Owner};
use logfetch_config::{EnrichmentConfig, FeedConfig};
use serde_json::Value;

use geo::MmdbFile;
use ti::{FeedSpec, Match, TiStore};
use users::UserMap;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct EnrichStats {
    pub events: AtomicU64,
    pub geo_hits: AtomicU64,
    pub asn_hits: AtomicU64,
    pub ti_matches: AtomicU64,
    pub user_hits: AtomicU64,
    /// Sources that failed to load or refresh (the previous contents stay in use).
    pub source_failures: AtomicU64,
    pub reloads: AtomicU64,
    /// Indicators not loaded because a feed went over `max_indicators`.
    pub indicators_dropped: AtomicU64,
}

struct FeedState {
    cfg: FeedConfig,
    /// Bearer token for `url`, resolved.
    token: Option<String>,
    stamp: Option<(SystemTime, u64)>,
    last_fetch: Option<Instant>,
    indicators: Vec<ti::Indicator>,
}

/// Every enrichment source, shared by all tenants.
pub struct EnrichSources {
    pub geo: Option<MmdbFile>,
    pub asn: Option<MmdbFile>,
    ti: RwLock<Arc<TiStore>>,
    feeds: Mutex<Vec<FeedState>>,
    users_file: Option<PathBuf>,
    users_stamp: Mutex<Option<(SystemTime, u64)>>,
    users: RwLock<Arc<UserMap>>,
    agents: RwLock<Arc<HashMap<IpAddr, (String, Option<String>)>>>,
    agents_built: Mutex<Option<Instant>>,
    db: Option<sled::Db>,
    pub watch_interval: Duration,
    /// Most indicators kept per feed.
    pub max_indicators: usize,
    pub stats: EnrichStats,
    /// Only when a feed has a `url` (building a client needs the TLS provider installed).
    http: Option<reqwest::Client>,
}

impl std::fmt::Debug for EnrichSources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnrichSources").field("geo", &self.geo).field("asn", &self.asn).field("indicators", &self.ti().len()).finish_non_exhaustive()
    }
}

fn file_stamp(p: &std::path::Path) -> std::io::Result<(SystemTime, u64)> {
    let m = std::fs::metadata(p)?;
    Ok((m.modified()?, m.len()))
}

fn spec(f: &FeedConfig) -> FeedSpec {
    FeedSpec {
        name: f.name.clone(),
        format: f.format.clone(),
        ttl: f.ttl.map(|t| t.get()),
        confidence: f.confidence,
        subdomains: f.subdomains,
        delimiter: f.delimiter,
        col_value: f.columns.value.clone(),
        col_kind: f.columns.kind.clone(),
        col_confidence: f.columns.confidence.clone(),
        col_valid_until: f.columns.valid_until.clone(),
        col_last_seen: f.columns.last_seen.clone(),
        col_description: f.columns.description.clone(),
    }
}

impl EnrichSources {
    /// Opens every configured source. Files that cannot be read at start-up are errors (the
    /// configuration names something that is not there); later failures only log.
    pub async fn open(cfg: &EnrichmentConfig, db: Option<sled::Db>, resolve: &dyn Fn(&logfetch_config::SecretRef) -> Result<String, String>) -> Result<Arc<EnrichSources>, String> {
        let geo = cfg.geoip.as_deref().map(MmdbFile::open).transpose().map_err(|e| format!("[enrichment] geoip: {e}"))?;
        let asn = cfg.asn.as_deref().map(MmdbFile::open).transpose().map_err(|e| format!("[enrichment] asn: {e}"))?;
        let mut feeds = Vec::new();
        for f in &cfg.feeds {
            let token = f.token.as_ref().map(resolve).transpose().map_err(|e| format!("feed `{}`: token: {e}", f.name))?;
            feeds.push(FeedState { cfg: f.clone(), token, stamp: None, last_fetch: None, indicators: Vec::new() });
        }
        let s = Arc::new(EnrichSources {
            geo,
            asn,
            ti: RwLock::new(Arc::new(TiStore::default())),
            feeds: Mutex::new(feeds),
            users_file: cfg.users_file.clone(),
            users_stamp: Mutex::new(None),
            users: RwLock::new(Arc::new(UserMap::default())),
            agents: RwLock::new(Arc::new(HashMap::new())),
            agents_built: Mutex::new(None),
            db,
            watch_interval: cfg.watch_interval.get(),
            max_indicators: cfg.max_indicators,
            stats: EnrichStats::default(),
            http: if cfg.feeds.iter().any(|f| f.url.is_some()) {
                Some(reqwest::Client::builder().timeout(Duration::from_secs(60)).user_agent(concat!("logfetch/", env!("CARGO_PKG_VERSION"))).build().map_err(|e| e.to_string())?)
            } else {
                None
            },
        });
        if let Some(p) = &s.users_file {
            s.reload_users().map_err(|e| format!("[enrichment] users_file {}: {e}", p.display()))?;
        }
        let problems = s.refresh_feeds(true).await;
        if let Some(p) = problems.into_iter().next() {
            return Err(p);
        }
        s.refresh_agents();
        Ok(s)
    }

    /// No sources at all (tenants without `enrich`, tests).
    pub fn empty() -> Arc<EnrichSources> {
        Arc::new(EnrichSources {
            geo: None,
            asn: None,
            ti: RwLock::new(Arc::new(TiStore::default())),
            feeds: Mutex::new(Vec::new()),
            users_file: None,
            users_stamp: Mutex::new(None),
            users: RwLock::new(Arc::new(UserMap::default())),
            agents: RwLock::new(Arc::new(HashMap::new())),
            agents_built: Mutex::new(None),
            db: None,
            watch_interval: Duration::from_secs(5),
            max_indicators: usize::MAX,
            stats: EnrichStats::default(),
            http: None,
        })
    }

    /// Replaces the indicator index (benchmarks, tests).
    pub fn set_ti(&self, store: TiStore) {
        *self.ti.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(store);
    }

    pub fn ti(&self) -> Arc<TiStore> {
        self.ti.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn users(&self) -> Arc<UserMap> {
        self.users.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn reload_users(&self) -> Result<bool, String> {
        let Some(p) = &self.users_file else { return Ok(false) };
        let st = file_stamp(p).map_err(|e| e.to_string())?;
        if *self.users_stamp.lock().unwrap_or_else(|e| e.into_inner()) == Some(st) {
            return Ok(false);
        }
        *self.users_stamp.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
        let text = std::fs::read_to_string(p).map_err(|e| e.to_string())?;
        let json = p.extension().is_some_and(|e| e == "json");
        let m = UserMap::parse(&text, json)?;
        *self.users.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(m);
        Ok(true)
    }

    fn refresh_agents(&self) {
        let Some(db) = &self.db else { return };
        let mut built = self.agents_built.lock().unwrap_or_else(|e| e.into_inner());
        if built.is_some_and(|b| b.elapsed() < Duration::from_secs(60)) {
            return;
        }
        *built = Some(Instant::now());
        let idx = users::agent_index(db);
        *self.agents.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(idx);
    }

    /// Reloads feeds whose file changed or whose refresh is due; rebuilds the index when any
    /// did. Returns the problems (each also logged); a failing feed keeps its last indicators.
    pub async fn refresh_feeds(&self, force: bool) -> Vec<String> {
        // Decide what to fetch without holding the lock across awaits.
        let due: Vec<(usize, FeedConfig, Option<String>)> = {
            let feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
            feeds
                .iter()
                .enumerate()
                .filter(|(_, f)| match (&f.cfg.path, f.last_fetch) {
                    (Some(p), _) => force || file_stamp(p).ok() != f.stamp,
                    (None, None) => true,
                    (None, Some(t)) => force || t.elapsed() >= f.cfg.refresh.get(),
                })
                .map(|(i, f)| (i, f.cfg.clone(), f.token.clone()))
                .collect()
        };
        if due.is_empty() {
            return Vec::new();
        }
        let mut problems = Vec::new();
        let mut changed = false;
        for (i, cfg, token) in due {
            let fetched: Result<(String, Option<i64>, Option<(SystemTime, u64)>), String> = match (&cfg.path, &cfg.url) {
                (Some(p), _) => match (std::fs::read_to_string(p), file_stamp(p)) {
                    (Ok(t), Ok(st)) => Ok((t, st.0.duration_since(SystemTime::UNIX_EPOCH).ok().map(|d| d.as_secs() as i64), Some(st))),
                    (Err(e), _) | (_, Err(e)) => Err(format!("{}: {e}", p.display())),
                },
                (None, Some(u)) => {
                    let Some(http) = &self.http else { continue };
                    let mut req = http.get(u);
                    if let Some(t) = &token {
                        req = req.bearer_auth(t);
                    }
                    match req.send().await.and_then(|r| r.error_for_status()) {
                        Ok(r) => r.text().await.map(|t| (t, Some(Utc::now().timestamp()), None)).map_err(|e| format!("{u}: {e}")),
                        Err(e) => Err(format!("{u}: {}", e.without_url())),
                    }
                }
                (None, None) => Err("no path or url".into()),
            };
            let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
            let f = &mut feeds[i];
            f.last_fetch = Some(Instant::now());
            match fetched {
                Ok((text, seen, st)) => {
                    f.stamp = st;
                    let mut loaded = spec(&cfg).parse(&text, i as u16, seen);
                    if loaded.indicators.len() > self.max_indicators {
                        let over = loaded.indicators.len() - self.max_indicators;
                        tracing::warn!(feed = %cfg.name, limit = self.max_indicators, dropped = over, "feed has more indicators than max_indicators; the rest are not loaded");
                        self.stats.indicators_dropped.fetch_add(over as u64, Ordering::Relaxed);
                        loaded.indicators.truncate(self.max_indicators);
                    }
                    if !loaded.rejected.is_empty() {
                        let sample: Vec<String> = loaded.rejected.iter().take(3).map(|(n, w)| format!("entry {n}: {w}")).collect();
                        tracing::warn!(feed = %cfg.name, rejected = loaded.rejected.len(), sample = %sample.join("; "), "feed entries that could not be used");
                    }
                    if loaded.indicators.is_empty() && !text.trim().is_empty() {
                        let p = format!("feed `{}`: no usable indicator in {} bytes", cfg.name, text.len());
                        tracing::warn!("{p}; keeping the previous indicators");
                        self.stats.source_failures.fetch_add(1, Ordering::Relaxed);
                        problems.push(p);
                        continue;
                    }
                    tracing::info!(feed = %cfg.name, indicators = loaded.indicators.len(), "threat-intel feed loaded");
                    f.indicators = loaded.indicators;
                    changed = true;
                }
                Err(e) => {
                    let p = format!("feed `{}`: {e}", cfg.name);
                    tracing::warn!("{p}; keeping the previous indicators");
                    self.stats.source_failures.fetch_add(1, Ordering::Relaxed);
                    problems.push(p);
                }
            }
        }
        if changed {
            let (names, per) = {
                let feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
                (feeds.iter().map(|f| f.cfg.name.clone()).collect(), feeds.iter().map(|f| f.indicators.clone()).collect())
            };
            let store = tokio::task::spawn_blocking(move || TiStore::build(names, per)).await.unwrap_or_default();
            *self.ti.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(store);
            self.stats.reloads.fetch_add(1, Ordering::Relaxed);
        }
        problems
    }

    /// One watch tick: files that changed are swapped, due feeds refreshed.
    pub async fn tick(&self) {
        for (what, f) in [("geoip", &self.geo), ("asn", &self.asn)] {
            if let Some(f) = f {
                match f.reload_if_changed() {
                    Ok(true) => {
                        self.stats.reloads.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(file = %f.path.display(), "{what} database reloaded");
                    }
                    Ok(false) => {}
                    Err(e) => {
                        self.stats.source_failures.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!("{what}: {e}");
                    }
                }
            }
        }
        match self.reload_users() {
            Ok(true) => {
                self.stats.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!("users file reloaded");
            }
            Ok(false) => {}
            Err(e) => {
                self.stats.source_failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(error = %e, "users file could not be reloaded; keeping the previous one");
            }
        }
        self.refresh_feeds(false).await;
        self.refresh_agents();
    }

    /// Prometheus text for the enrichment counters.
    pub fn render_metrics(&self) -> String {
        use std::fmt::Write;
        let st = &self.stats;
        let mut out = String::new();
        for (name, help, v) in [
            ("logfetch_enrich_events_total", "Events passed through enrichment", &st.events),
            ("logfetch_enrich_geo_hits_total", "Endpoints given a GeoIP location", &st.geo_hits),
            ("logfetch_enrich_asn_hits_total", "Endpoints given an autonomous system", &st.asn_hits),
            ("logfetch_enrich_ti_matches_total", "Threat-intelligence matches added to events", &st.ti_matches),
            ("logfetch_enrich_user_hits_total", "Endpoints given a user from the users file or directory caches", &st.user_hits),
            ("logfetch_enrich_source_failures_total", "Enrichment sources that failed to load or refresh (previous contents kept)", &st.source_failures),
            ("logfetch_enrich_reloads_total", "Enrichment sources swapped after a change", &st.reloads),
            ("logfetch_enrich_indicators_dropped_total", "Indicators not loaded because a feed went over max_indicators", &st.indicators_dropped),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", v.load(Ordering::Relaxed));
        }
        let _ = writeln!(out, "# HELP logfetch_enrich_indicators Threat-intelligence indicators loaded\n# TYPE logfetch_enrich_indicators gauge\nlogfetch_enrich_indicators {}", self.ti().len());
        out
    }

    /// Runs [`Self::tick`] every `watch_interval` until cancelled.
    pub async fn watch(self: Arc<Self>, cancel: tokio_util::sync::CancellationToken) {
        let mut iv = tokio::time::interval(self.watch_interval.max(Duration::from_millis(100)));
        iv.tick().await;
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = iv.tick() => self.tick().await,
            }
        }
    }
}

/// What one tenant asked for.
#[derive(Debug, Clone)]
pub struct TenantEnricher {
    pub sources: Arc<EnrichSources>,
    pub geo: bool,
    pub asn: bool,
    pub ti: bool,
    pub user: bool,
}

impl TenantEnricher {
    pub fn new(sources: Arc<EnrichSources>, wanted: &[String]) -> Option<TenantEnricher> {
        let has = |k: &str| wanted.iter().any(|w| w == k);
        let e = TenantEnricher { sources, geo: has("geo"), asn: has("asn"), ti: has("threat_intel"), user: has("user") };
        (e.geo || e.asn || e.ti || e.user).then_some(e)
    }

    fn endpoint(&self, ep: &mut Endpoint, field: &str, t: i64, ti: &TiStore, users: &UserMap, agents: &HashMap<IpAddr, (String, Option<String>)>, out: &mut Vec<Enrichment>) {
        let s = &self.sources;
        if let Some(ip) = ep.ip {
            if self.geo {
                if let Some(g) = &s.geo {
                    ep.location = geo::locate(g, ip).map(Box::new);
                    if ep.location.is_some() {
                        s.stats.geo_hits.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if self.asn {
                if let Some(a) = &s.asn {
                    ep.autonomous_system = geo::asn(a, ip).map(Box::new);
                    if ep.autonomous_system.is_some() {
                        s.stats.asn_hits.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            if self.ti {
                push_matches(out, &format!("{field}.ip"), &ip.to_string(), ti.match_ip(ip, t));
            }
        }
        if self.ti {
            if let Some(h) = &ep.hostname {
                push_matches(out, &format!("{field}.hostname"), h, ti.match_domain(h, t));
            }
        }
        if self.user && ep.owner.is_none() {
            ep.owner = owner_for(ep.ip, ep.hostname.as_deref(), t, users, agents).map(Box::new);
            if ep.owner.is_some() {
                s.stats.user_hits.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Enriches one event in place.
    pub fn enrich(&self, ev: &mut Event) {
        let s = &self.sources;
        s.stats.events.fetch_add(1, Ordering::Relaxed);
        let ti = s.ti();
        let users = s.users();
        let agents = s.agents.read().unwrap_or_else(|e| e.into_inner()).clone();
        let t = ev.envelope().time.timestamp();
        let mut found = Vec::new();
        match ev {
            Event::Flow(f) => {
                self.endpoint(&mut f.src, "src_endpoint", t, &ti, &users, &agents, &mut found);
                self.endpoint(&mut f.dst, "dst_endpoint", t, &ti, &users, &agents, &mut found);
            }
            Event::Dns(d) => {
                self.endpoint(&mut d.client, "src_endpoint", t, &ti, &users, &agents, &mut found);
                self.endpoint(&mut d.server, "dst_endpoint", t, &ti, &users, &agents, &mut found);
                if self.ti {
                    push_matches(&mut found, "query.hostname", &d.query_name, ti.match_domain(&d.query_name, t));
                    for a in &d.answers {
                        if let Ok(ip) = a.data.parse::<IpAddr>() {
                            push_matches(&mut found, "answers.rdata", &a.data, ti.match_ip(ip, t));
                        } else if a.rtype.as_deref() == Some("CNAME") {
                            push_matches(&mut found, "answers.rdata", &a.data, ti.match_domain(&a.data, t));
                        }
                    }
                }
            }
        }
        if !found.is_empty() {
            s.stats.ti_matches.fetch_add(found.len() as u64, Ordering::Relaxed);
            ev.envelope_mut().enrichments.extend(found);
        }
        if self.user {
            // The vendor's own user with the ZIA directory's department.
            if let Some(db) = &s.db {
                zia_department(ev, db);
            }
        }
    }

    /// Enriches one NDJSON event (OCSF or ECS) in place: the offline `logfetch enrich`.
    pub fn enrich_json(&self, v: &mut Value) {
        let ocsf = v.get("class_uid").is_some();
        let t = if ocsf { v["time"].as_i64().map(|ms| ms / 1000) } else { v["@timestamp"].as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|d| d.timestamp()) }.unwrap_or_else(|| Utc::now().timestamp());
        let ti = self.sources.ti();
        let users = self.sources.users();
        let agents = self.sources.agents.read().unwrap_or_else(|e| e.into_inner()).clone();
        let sides: &[(&str, &str)] = if ocsf { &[("src_endpoint", "src_endpoint"), ("dst_endpoint", "dst_endpoint")] } else { &[("source", "src_endpoint"), ("destination", "dst_endpoint")] };
        let mut found = Vec::new();
        for (key, field) in sides {
            let Some(obj) = v.get(*key) else { continue };
            let mut ep = Endpoint {
                ip: obj["ip"].as_str().and_then(|s| s.parse().ok()),
                hostname: obj[if ocsf { "hostname" } else { "domain" }].as_str().map(str::to_string),
                ..Endpoint::default()
            };
            let had_user = obj.get(if ocsf { "owner" } else { "user" }).is_some();
            self.endpoint(&mut ep, field, t, &ti, &users, &agents, &mut found);
            let Some(Value::Object(o)) = v.get_mut(*key) else { continue };
            if let Some(l) = &ep.location {
                o.insert(if ocsf { "location" } else { "geo" }.into(), if ocsf { logfetch_common::ocsf::location_json(l) } else { logfetch_common::ecs::geo_json(l) });
            }
            if let Some(a) = &ep.autonomous_system {
                o.insert(if ocsf { "autonomous_system" } else { "as" }.into(), if ocsf { logfetch_common::ocsf::as_json(a) } else { logfetch_common::ecs::as_json(a) });
            }
            if let (Some(ow), false) = (&ep.owner, had_user) {
                o.insert(if ocsf { "owner" } else { "user" }.into(), if ocsf { logfetch_common::ocsf::owner_json(ow) } else { logfetch_common::ecs::owner_json(ow) });
            }
        }
        if self.ti {
            let q = if ocsf { v["query"]["hostname"].as_str() } else { v["dns"]["question"]["name"].as_str() }.map(str::to_string);
            if let Some(q) = q {
                push_matches(&mut found, "query.hostname", &q, ti.match_domain(&q, t));
            }
        }
        if found.is_empty() {
            return;
        }
        self.sources.stats.ti_matches.fetch_add(found.len() as u64, Ordering::Relaxed);
        if ocsf {
            let arr = v.as_object_mut().map(|m| m.entry("enrichments").or_insert_with(|| Value::Array(vec![])));
            if let Some(Value::Array(a)) = arr {
                a.extend(found.iter().map(logfetch_common::ocsf::enrichment_json));
            }
        } else if let Some(m) = v.as_object_mut() {
            let threat = m.entry("threat").or_insert_with(|| serde_json::json!({}));
            if let Value::Object(t) = threat {
                let arr = t.entry("enrichments").or_insert_with(|| Value::Array(vec![]));
                if let Value::Array(a) = arr {
                    a.extend(found.iter().map(logfetch_common::ecs::threat_enrichment_json));
                }
            }
        }
    }
}

fn push_matches(out: &mut Vec<Enrichment>, field: &str, value: &str, ms: Vec<Match<'_>>) {
    for m in ms {
        out.push(Enrichment {
            field: field.to_string(),
            value: value.to_string(),
            kind: m.indicator.kind.as_str().to_string(),
            indicator: m.indicator.value.to_string(),
            feed: m.feed.to_string(),
            confidence: m.indicator.confidence,
            valid_until: m.indicator.valid_until.and_then(|u| DateTime::from_timestamp(u, 0)),
            matched_by: m.by.to_string(),
            description: m.indicator.description.as_deref().map(str::to_string),
        });
    }
}

fn owner_for(ip: Option<IpAddr>, host: Option<&str>, t: i64, users: &UserMap, agents: &HashMap<IpAddr, (String, Option<String>)>) -> Option<Owner> {
    let from_file = ip.and_then(|ip| users.by_ip(ip, t)).or_else(|| host.and_then(|h| users.by_host(h, t)));
    if let Some(e) = from_file {
        return Some(Owner { name: e.user.clone(), department: e.department.clone(), owner: e.owner.clone(), source: "users-file".into() });
    }
    let (user, _host) = agents.get(&ip?)?;
    Some(Owner { name: user.clone(), department: None, owner: None, source: "sentinelone-agents".into() })
}

/// Zscaler events carry the login; the ZIA users cache knows the department.
fn zia_department(ev: &mut Event, db: &sled::Db) {
    let tenant = ev.envelope().tenant.clone();
    let (user, ep) = match ev {
        Event::Flow(f) => (f.user.clone().or_else(|| f.src.user.clone()), &mut f.src),
        Event::Dns(d) => (d.user.clone().or_else(|| d.client.user.clone()), &mut d.client),
    };
    let Some(user) = user else { return };
    if ep.owner.as_ref().is_some_and(|o| o.department.is_some()) {
        return;
    }
    if let Some(u) = logfetch_connectors::zscaler::api::cached_user(db, &tenant, &user) {
        let dept = u["department"]["name"].as_str().map(str::to_string);
        ep.owner = Some(Box::new(Owner { name: user, department: dept, owner: None, source: "zia-users".into() }));
    }
}
