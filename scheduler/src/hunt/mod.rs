//! DNS hunting over `DnsEvent`-shaped observations of any vendor: DGA scoring (`dga.rs`),
//! tunnelling / exfiltration per registered domain (`Tunnel`), per-client NXDOMAIN bursts of
//! DGA-looking names and TXT rates, and threat-intel matches; findings are OCSF Detection
//! Findings (class 2004). State is bounded: per-domain and per-client tables are capped and
//! windows expire.

pub mod dga;
pub mod domain;
pub mod eval;
pub mod lookalike;

use std::collections::{HashMap, HashSet, VecDeque};

use serde_json::{Value, json};

/// One DNS query as the detectors see it.
#[derive(Debug, Clone)]
pub struct Query<'a> {
    /// Unix ms.
    pub time: i64,
    pub client: &'a str,
    pub name: &'a str,
    pub qtype: Option<&'a str>,
    pub rcode: Option<u16>,
    /// The source event's id.
    pub uid: &'a str,
    /// Threat-intel feeds that matched the event.
    pub ti_feeds: Vec<String>,
}

/// Thresholds (all per tenant in the config; these are the defaults).
#[derive(Debug, Clone)]
pub struct HuntConfig {
    pub window_ms: i64,
    /// Tunnel: distinct subdomains of one registered domain before its features are judged.
    pub tunnel_min_unique: usize,
    /// Tunnel: distinct subdomains that raise a finding whatever they look like (RITA: 100).
    pub tunnel_unique_alone: usize,
    pub tunnel_mean_len: f64,
    pub tunnel_mean_entropy: f64,
    /// NXDOMAIN answers for DGA-scored names from one client in a window.
    pub nx_dga_min: usize,
    /// TXT queries per client per minute (Sigma: 50).
    pub txt_per_minute: usize,
    /// Tracked registered domains / clients before the oldest are evicted.
    pub max_domains: usize,
    pub max_clients: usize,
    /// Brand domains whose look-alikes are findings.
    pub brands: Vec<String>,
    /// Volume spike: a client's queries in a minute above its EWMA mean by this many standard
    /// deviations (and at least `spike_min` queries), after `spike_warmup` minutes of history.
    pub spike_sigmas: f64,
    pub spike_min: u64,
    pub spike_warmup: u32,
    /// NXDOMAIN share of a client's queries in a window (with at least `nx_ratio_min_queries`).
    pub nx_ratio: f64,
    pub nx_ratio_min_queries: u64,
    /// A registered domain first seen less than this long ago that gets `new_domain_volume`
    /// queries in a window.
    pub new_domain_age_ms: i64,
    pub new_domain_volume: u64,
    /// DGA score at or above which a name counts as DGA-like (default: the model's threshold).
    pub dga_threshold: f64,
}

impl Default for HuntConfig {
    fn default() -> Self {
        HuntConfig {
            window_ms: 10 * 60_000,
            tunnel_min_unique: 10,
            tunnel_unique_alone: 100,
            tunnel_mean_len: 18.0,
            tunnel_mean_entropy: 3.0,
            nx_dga_min: 5,
            txt_per_minute: 50,
            max_domains: 100_000,
            max_clients: 50_000,
            brands: Vec::new(),
            spike_sigmas: 4.0,
            spike_min: 100,
            spike_warmup: 10,
            nx_ratio: 0.5,
            nx_ratio_min_queries: 50,
            new_domain_age_ms: 3_600_000,
            new_domain_volume: 200,
            dga_threshold: dga::model().threshold,
        }
    }
}

/// Queries per minute against an EWMA of past minutes (silent minutes count as zeros).
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
struct Baseline {
    minute: i64,
    minute_count: u64,
    ewma_mean: f64,
    ewma_var: f64,
    minutes_seen: u32,
    #[serde(default)]
    spike_reported_minute: i64,
}

impl Baseline {
    /// Counts one query at `time`.
    fn tick(&mut self, time: i64) {
        let minute = time.div_euclid(60_000);
        if self.minute != minute {
            if self.minutes_seen > 0 || self.minute_count > 0 {
                // Close the finished minute, and count the silent minutes in between as zeros.
                let gaps = (minute - self.minute - 1).clamp(0, 60) as usize;
                for x in std::iter::once(self.minute_count as f64).chain(std::iter::repeat_n(0.0, gaps)) {
                    let alpha = 0.1;
                    let diff = x - self.ewma_mean;
                    self.ewma_mean += alpha * diff;
                    self.ewma_var = (1.0 - alpha) * (self.ewma_var + alpha * diff * diff);
                    self.minutes_seen += 1;
                }
            }
            self.minute = minute;
            self.minute_count = 0;
        }
        self.minute_count += 1;
    }

    /// `true` once per minute when this minute's count is a spike (and marks it reported).
    fn spike(&mut self, cfg: &HuntConfig) -> bool {
        let fire = self.minutes_seen >= cfg.spike_warmup
            && self.minute_count >= cfg.spike_min
            && self.spike_reported_minute != self.minute
            && (self.minute_count as f64) > self.ewma_mean + cfg.spike_sigmas * self.ewma_var.sqrt().max(1.0);
        if fire {
            self.spike_reported_minute = self.minute;
        }
        fire
    }

    fn evidence(&self) -> Value {
        json!({"queries_this_minute": self.minute_count, "ewma_mean": (self.ewma_mean * 10.0).round() / 10.0, "ewma_stddev": (self.ewma_var.sqrt() * 10.0).round() / 10.0})
    }
}

#[derive(Debug, Default)]
struct DomainState {
    first: i64,
    last: i64,
    /// Every query to the domain in the window; `sub_queries` those with a subdomain.
    queries: u64,
    sub_queries: u64,
    unique: HashSet<u64>,
    len_sum: f64,
    entropy_sum: f64,
    odd_chars: u64,
    heavy_types: u64,
    /// NULL records: almost only tunnels use them.
    null_seen: bool,
    qtypes: HashSet<String>,
    /// Queries with a subdomain per client (hashed), for the share of the busiest client.
    clients: HashMap<u64, u64>,
    samples: Vec<String>,
    uids: Vec<String>,
    /// Highest unique-count band already reported (100/500/800/1000).
    reported: usize,
    /// When the domain was first seen (survives window resets).
    born: i64,
    new_volume_reported: bool,
    /// Queries per minute against the domain's own baseline (survives window resets).
    volume: Baseline,
}

#[derive(Debug, Default)]
struct ClientState {
    first: i64,
    last: i64,
    nx_dga: Vec<(String, String)>,
    nx_reported: bool,
    txt: VecDeque<i64>,
    txt_reported_at: Option<i64>,
    /// Queries per minute against the client's own baseline.
    volume: Baseline,
    window_queries: u64,
    window_nx: u64,
    nx_ratio_reported: bool,
    rare_types: HashSet<String>,
}

fn h(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut x = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut x);
    x.finish()
}

/// A raised finding.
#[derive(Debug, Clone)]
pub struct Finding {
    pub time: i64,
    pub rule: &'static str,
    pub title: String,
    /// 0-100.
    pub score: u8,
    /// OCSF severity_id: 1 informational .. 5 critical.
    pub severity: u8,
    pub client: Option<String>,
    pub domain: Option<String>,
    pub evidence: Value,
    pub event_uids: Vec<String>,
}

impl Finding {
    /// An ECS alert document.
    pub fn to_ecs(&self, tenant: &str) -> Value {
        let o = self.to_ocsf(tenant);
        let ts = chrono::DateTime::from_timestamp_millis(self.time).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut v = json!({
            "@timestamp": ts, "ecs": {"version": "9.4.0"}, "message": self.title,
            "event": {"kind": "alert", "category": ["network"], "type": ["info"], "id": o["metadata"]["uid"], "severity": self.severity, "risk_score": self.score, "dataset": "logfetch.finding", "module": "hunt"},
            "rule": {"name": self.rule}, "organization": {"id": tenant},
            "logfetch": {"evidence": self.evidence, "source_event_ids": self.event_uids},
        });
        if let Some(c) = &self.client {
            v["source"] = json!({"ip": c});
        }
        if let Some(d) = &self.domain {
            v["dns"] = json!({"question": {"name": d}});
        }
        v
    }

    pub fn encode(&self, tenant: &str, format: logfetch_common::Format) -> Value {
        match format {
            logfetch_common::Format::Ecs => self.to_ecs(tenant),
            _ => self.to_ocsf(tenant),
        }
    }

    /// OCSF 1.3.0 Detection Finding (class 2004).
    pub fn to_ocsf(&self, tenant: &str) -> Value {
        let uid = format!("{:016x}", h(&format!("{tenant}|{}|{}|{}|{}", self.rule, self.client.as_deref().unwrap_or(""), self.domain.as_deref().unwrap_or(""), self.time / 60_000)));
        let mut v = json!({
            "class_uid": 2004, "class_name": "Detection Finding", "category_uid": 2, "category_name": "Findings",
            "activity_id": 1, "activity_name": "Create", "type_uid": 200401, "type_name": "Detection Finding: Create",
            "severity_id": self.severity, "time": self.time, "status_id": 1, "risk_score": self.score, "message": self.title,
            "metadata": {"version": "1.3.0", "product": {"name": "logfetch", "vendor_name": "logfetch"}, "tenant_uid": tenant, "uid": uid},
            "finding_info": {"uid": uid, "title": self.title, "analytic": {"name": self.rule, "uid": self.rule, "type_id": 1, "type": "Rule"}, "related_events": self.event_uids.iter().map(|u| json!({"uid": u})).collect::<Vec<_>>(), "types": ["DNS"]},
            "evidences": [{"data": self.evidence}],
            "unmapped": {"source_event_uids": self.event_uids},
        });
        if let Some(c) = &self.client {
            v["evidences"][0]["src_endpoint"] = json!({"ip": c});
        }
        if let Some(d) = &self.domain {
            v["evidences"][0]["query"] = json!({"hostname": d});
        }
        v
    }
}

/// The streaming detectors for one tenant.
#[derive(Debug, Default)]
pub struct Hunter {
    pub cfg: HuntConfig,
    domains: HashMap<String, DomainState>,
    clients: HashMap<String, ClientState>,
    pub evicted: u64,
    lookalikes: Option<lookalike::Lookalikes>,
    /// The first query's time: domains seen in the first `new_domain_age_ms` are not "new".
    started: Option<i64>,
    /// Look-alike domains already reported (bounded).
    reported_lookalikes: HashSet<String>,
}

fn severity_for(unique: usize) -> (usize, u8) {
    match unique {
        1000.. => (1000, 5),
        800.. => (800, 4),
        500.. => (500, 4),
        100.. => (100, 3),
        _ => (0, 2),
    }
}

impl Hunter {
    pub fn new(cfg: HuntConfig) -> Hunter {
        let lookalikes = (!cfg.brands.is_empty()).then(|| lookalike::Lookalikes::new(&cfg.brands));
        Hunter { cfg, lookalikes, ..Hunter::default() }
    }

    /// A hunter with a tenant's `[tenant.hunt]` settings.
    pub fn from_settings(h: &logfetch_config::HuntSettings) -> Hunter {
        let ms = |d: &logfetch_config::HumanDuration| i64::try_from(d.get().as_millis()).unwrap_or(i64::MAX);
        Hunter::new(HuntConfig {
            window_ms: ms(&h.window),
            tunnel_min_unique: h.tunnel_min_unique,
            tunnel_unique_alone: h.tunnel_unique_alone,
            tunnel_mean_len: h.tunnel_mean_length,
            tunnel_mean_entropy: h.tunnel_mean_entropy,
            nx_dga_min: h.nx_dga_min,
            txt_per_minute: h.txt_per_minute,
            max_domains: h.max_domains,
            max_clients: h.max_clients,
            brands: h.brands.clone(),
            spike_sigmas: h.spike_sigmas,
            spike_min: h.spike_min_queries,
            spike_warmup: u32::try_from(h.spike_warmup.get().as_secs().div_ceil(60)).unwrap_or(u32::MAX),
            nx_ratio: h.nx_ratio,
            nx_ratio_min_queries: h.nx_ratio_min_queries,
            new_domain_age_ms: ms(&h.new_domain_age),
            new_domain_volume: h.new_domain_queries,
            dga_threshold: h.dga_threshold.unwrap_or(dga::model().threshold),
        })
    }

    /// Runs the DNS events of a delivered page through the detectors.
    pub fn observe_events(&mut self, events: &[logfetch_common::Event]) -> Vec<Finding> {
        let mut out = Vec::new();
        for e in events {
            let logfetch_common::Event::Dns(d) = e else { continue };
            let client = d.client.ip.map(|i| i.to_string()).unwrap_or_else(|| "unknown".into());
            let feeds = d.envelope.enrichments.iter().filter(|x| x.field == "query.hostname").map(|x| x.feed.clone()).collect();
            let q = Query { time: d.envelope.time.timestamp_millis(), client: &client, name: &d.query_name, qtype: d.query_type.as_deref(), rcode: d.rcode, uid: &d.envelope.event_id, ti_feeds: feeds };
            out.extend(self.observe(&q));
        }
        out
    }

    fn evict(&mut self, now: i64) {
        let w = self.cfg.window_ms;
        if self.domains.len() > self.cfg.max_domains {
            self.domains.retain(|_, d| now - d.last < w);
            if self.domains.len() > self.cfg.max_domains {
                // Still too many: forget the least active half.
                let mut q: Vec<u64> = self.domains.values().map(|d| d.queries).collect();
                q.sort_unstable();
                let cut = q[q.len() / 2];
                let before = self.domains.len();
                self.domains.retain(|_, d| d.queries > cut);
                self.evicted += (before - self.domains.len()) as u64;
            }
        }
        if self.clients.len() > self.cfg.max_clients {
            let before = self.clients.len();
            self.clients.retain(|_, c| now - c.last < w);
            if self.clients.len() > self.cfg.max_clients {
                self.clients.clear();
            }
            self.evicted += (before - self.clients.len()) as u64;
        }
    }

    /// Feeds one query; returns the findings it raised.
    pub fn observe(&mut self, q: &Query<'_>) -> Vec<Finding> {
        let mut out = Vec::new();
        let name = q.name.trim_end_matches('.').to_ascii_lowercase();
        if name.is_empty() {
            return out;
        }
        let w = self.cfg.window_ms;
        for feed in &q.ti_feeds {
            out.push(Finding {
                time: q.time,
                rule: "threat-intel-match",
                title: format!("DNS query for {name} matches threat-intel feed `{feed}`"),
                score: 80,
                severity: 4,
                client: Some(q.client.to_string()),
                domain: Some(name.clone()),
                evidence: json!({"feed": feed, "query": name}),
                event_uids: vec![q.uid.to_string()],
            });
        }
        let started = *self.started.get_or_insert(q.time);
        let reg = domain::registered(&name).to_string();
        let sub = domain::subdomain(&name).to_string();
        if let Some((brand, how)) = self.lookalikes.as_ref().and_then(|l| l.check(&reg)) {
            if self.reported_lookalikes.len() < 10_000 && self.reported_lookalikes.insert(format!("{}|{reg}", q.client)) {
                out.push(Finding {
                    time: q.time,
                    rule: "lookalike-domain",
                    title: format!("{} queried {reg}, a look-alike of {brand} ({how})", q.client),
                    score: 70,
                    severity: 3,
                    client: Some(q.client.to_string()),
                    domain: Some(name.clone()),
                    evidence: json!({"brand": brand, "lookalike": reg, "technique": how, "query": name}),
                    event_uids: vec![q.uid.to_string()],
                });
            }
        }
        // Per registered domain: volume against its baseline, new domains, tunnelling.
        if !dga::allowed(&name) {
            let cfg = &self.cfg;
            let d = self.domains.entry(reg.clone()).or_default();
            if d.queries > 0 && q.time - d.first > w {
                let (born, nv, volume) = (d.born, d.new_volume_reported, std::mem::take(&mut d.volume));
                *d = DomainState { born, new_volume_reported: nv, volume, ..DomainState::default() };
            }
            if d.born == 0 {
                d.born = q.time;
            }
            if d.queries == 0 {
                d.first = q.time;
            }
            d.last = q.time;
            d.queries += 1;
            if d.uids.len() < 50 {
                d.uids.push(q.uid.to_string());
            }
            d.volume.tick(q.time);
            if d.volume.spike(cfg) {
                let mut evidence = d.volume.evidence();
                evidence["registered_domain"] = json!(reg);
                evidence["last_query"] = json!(name);
                out.push(Finding {
                    time: q.time,
                    rule: "domain-volume-spike",
                    title: format!("{reg} got {} queries this minute against a usual {:.0}", d.volume.minute_count, d.volume.ewma_mean),
                    score: 40,
                    severity: 2,
                    client: None,
                    domain: Some(reg.clone()),
                    evidence,
                    event_uids: vec![q.uid.to_string()],
                });
            }
            if !d.new_volume_reported && d.queries >= cfg.new_domain_volume && q.time - d.born < cfg.new_domain_age_ms && d.born - started >= cfg.new_domain_age_ms {
                d.new_volume_reported = true;
                out.push(Finding {
                    time: q.time,
                    rule: "new-domain-volume",
                    title: format!("{reg}, first seen {} min ago, already has {} queries", (q.time - d.born) / 60_000, d.queries),
                    score: 50,
                    severity: 2,
                    client: None,
                    domain: Some(reg.clone()),
                    evidence: json!({"registered_domain": reg, "first_seen_ms": d.born, "queries": d.queries, "clients": d.clients.len()}),
                    event_uids: d.uids.clone(),
                });
            }
            // Tunnelling: the subdomains of the registered domain.
            if !sub.is_empty() {
                d.sub_queries += 1;
                if d.unique.len() < 5_000 && d.unique.insert(h(&sub)) {
                    d.len_sum += sub.len() as f64;
                    d.entropy_sum += domain::entropy(&sub);
                    if sub.bytes().any(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')) || q.name.bytes().any(|b| b.is_ascii_uppercase()) {
                        d.odd_chars += 1;
                    }
                    if d.samples.len() < 10 {
                        d.samples.push(q.name.to_string());
                    }
                }
                if matches!(q.qtype, Some("TXT" | "NULL" | "CNAME" | "MX" | "10" | "16")) {
                    d.heavy_types += 1;
                }
                if matches!(q.qtype, Some("NULL" | "10")) {
                    d.null_seen = true;
                }
                if let Some(t) = q.qtype {
                    if d.qtypes.len() < 16 {
                        d.qtypes.insert(t.to_string());
                    }
                }
                let ch = h(q.client);
                if d.clients.len() < 1000 || d.clients.contains_key(&ch) {
                    *d.clients.entry(ch).or_default() += 1;
                }
                let u = d.unique.len();
                let mean_len = d.len_sum / u.max(1) as f64;
                let mean_ent = d.entropy_sum / u.max(1) as f64;
                let odd = d.odd_chars as f64 / u.max(1) as f64;
                let heavy = d.heavy_types as f64 / d.sub_queries as f64;
                // A client probing record types (iodine tries NULL, TXT, SRV, CNAME...) is a sign too.
                let signs = [mean_len >= cfg.tunnel_mean_len, mean_ent >= cfg.tunnel_mean_entropy, odd >= 0.5, heavy >= 0.5, d.null_seen, d.qtypes.len() >= 3].iter().filter(|b| **b).count();
                let unique_ratio = u as f64 / d.sub_queries as f64;
                let by_shape = u >= cfg.tunnel_min_unique && signs >= 2 && unique_ratio >= 0.5;
                let (band, sev) = severity_for(u);
                let fire = (d.reported == 0 && (by_shape || u >= cfg.tunnel_unique_alone)) || (band > d.reported && band >= 500);
                if fire {
                    d.reported = band.max(1);
                    let top_client = d.clients.values().copied().max().unwrap_or(0);
                    out.push(Finding {
                        time: q.time,
                        rule: "dns-tunnel",
                        title: format!("Possible DNS tunnel or exfiltration via {reg}: {u} distinct subdomains in {} queries", d.sub_queries),
                        score: (40 + 10 * signs as u8 + if u >= 100 { 20 } else { 0 }).min(100),
                        severity: if by_shape { sev.max(3) } else { sev },
                        client: None,
                        domain: Some(reg.clone()),
                        evidence: json!({"registered_domain": reg, "queries": d.sub_queries, "unique_subdomains": u, "encoded_bytes_per_query": (mean_len * mean_ent / 8.0 * 10.0).round() / 10.0, "busiest_client_share": (top_client as f64 / d.sub_queries as f64 * 100.0).round() / 100.0, "mean_subdomain_length": (mean_len * 10.0).round() / 10.0, "mean_subdomain_entropy": (mean_ent * 100.0).round() / 100.0, "encoded_share": (odd * 100.0).round() / 100.0, "txt_null_cname_mx_share": (heavy * 100.0).round() / 100.0, "null_records": d.null_seen, "query_types": d.qtypes.iter().collect::<Vec<_>>(), "clients": d.clients.len(), "sample": d.samples}),
                        event_uids: d.uids.clone(),
                    });
                }
            }
        }
        // Per client: NXDOMAIN bursts of DGA-looking names, TXT rate.
        let c = self.clients.entry(q.client.to_string()).or_default();
        if c.last > 0 && q.time - c.first > w {
            // A new window: the burst/ratio counters restart, the baseline carries on.
            let keep = ClientState { volume: std::mem::take(&mut c.volume), rare_types: std::mem::take(&mut c.rare_types), ..ClientState::default() };
            *c = keep;
        }
        if c.first == 0 {
            c.first = q.time;
        }
        c.last = q.time;
        // Volume against the client's own baseline (EWMA per minute).
        c.volume.tick(q.time);
        if c.volume.spike(&self.cfg) {
            let mut evidence = c.volume.evidence();
            evidence["last_query"] = json!(name);
            out.push(Finding {
                time: q.time,
                rule: "client-volume-spike",
                title: format!("{} sent {} queries this minute against a usual {:.0}", q.client, c.volume.minute_count, c.volume.ewma_mean),
                score: 40,
                severity: 2,
                client: Some(q.client.to_string()),
                domain: None,
                evidence,
                event_uids: vec![q.uid.to_string()],
            });
        }
        let cfg = &self.cfg;
        c.window_queries += 1;
        if q.rcode == Some(3) {
            c.window_nx += 1;
        }
        if !c.nx_ratio_reported && c.window_queries >= cfg.nx_ratio_min_queries && c.window_nx as f64 / c.window_queries as f64 >= cfg.nx_ratio {
            c.nx_ratio_reported = true;
            out.push(Finding {
                time: q.time,
                rule: "client-nxdomain-ratio",
                title: format!("{}: {} of {} queries answered NXDOMAIN", q.client, c.window_nx, c.window_queries),
                score: 45,
                severity: 2,
                client: Some(q.client.to_string()),
                domain: None,
                evidence: json!({"queries": c.window_queries, "nxdomain": c.window_nx}),
                event_uids: vec![q.uid.to_string()],
            });
        }
        if let Some(t) = q.qtype.map(|t| t.to_ascii_uppercase()) {
            const COMMON: &[&str] = &["A", "AAAA", "CNAME", "PTR", "MX", "TXT", "SRV", "HTTPS", "SVCB", "SOA", "NS", "DS", "DNSKEY", "1", "28", "5", "12", "15", "16", "33", "65", "6", "2"];
            if !COMMON.contains(&t.as_str()) && c.rare_types.len() < 16 && c.rare_types.insert(t.clone()) {
                out.push(Finding {
                    time: q.time,
                    rule: "rare-query-type",
                    title: format!("{} queried {name} with the rare type {t}", q.client),
                    score: 40,
                    severity: 2,
                    client: Some(q.client.to_string()),
                    domain: Some(name.clone()),
                    evidence: json!({"query_type": t, "query": name}),
                    event_uids: vec![q.uid.to_string()],
                });
            }
        }
        if q.rcode == Some(3) && dga::model().score(&name) >= self.cfg.dga_threshold && !c.nx_dga.iter().any(|(n, _)| *n == name) && c.nx_dga.len() < 200 {
            c.nx_dga.push((name.clone(), q.uid.to_string()));
            if c.nx_dga.len() >= self.cfg.nx_dga_min && !c.nx_reported {
                c.nx_reported = true;
                out.push(Finding {
                    time: q.time,
                    rule: "dga-nxdomain-burst",
                    title: format!("{} resolved {} DGA-looking names that do not exist", q.client, c.nx_dga.len()),
                    score: 85,
                    severity: 4,
                    client: Some(q.client.to_string()),
                    domain: None,
                    evidence: json!({"domains": c.nx_dga.iter().map(|(n, _)| n).collect::<Vec<_>>()}),
                    event_uids: c.nx_dga.iter().map(|(_, u)| u.clone()).collect(),
                });
            }
        }
        if matches!(q.qtype, Some("TXT" | "16")) {
            c.txt.push_back(q.time);
            while c.txt.front().is_some_and(|t| q.time - *t > 60_000) {
                c.txt.pop_front();
            }
            if c.txt.len() > self.cfg.txt_per_minute && c.txt_reported_at.is_none_or(|t| q.time - t > 60_000) {
                c.txt_reported_at = Some(q.time);
                out.push(Finding {
                    time: q.time,
                    rule: "dns-txt-rate",
                    title: format!("{} sent {} TXT queries in a minute", q.client, c.txt.len()),
                    score: 60,
                    severity: 3,
                    client: Some(q.client.to_string()),
                    domain: Some(name.clone()),
                    evidence: json!({"txt_per_minute": c.txt.len(), "last_query": name}),
                    event_uids: vec![q.uid.to_string()],
                });
            }
        }
        self.evict(q.time);
        out
    }

    pub fn tracked(&self) -> (usize, usize) {
        (self.domains.len(), self.clients.len())
    }

    /// The state worth keeping across a restart: when each registered domain was first seen
    /// (new-domain detection needs history), each client's volume baseline (spikes need a
    /// warm baseline), what was already reported (no repeat findings), and when hunting
    /// started. Window counters are not kept: they refill within a window.
    pub fn snapshot(&self) -> Vec<u8> {
        let snap = Snapshot {
            version: SNAPSHOT_VERSION,
            started: self.started,
            domains: self.domains.iter().map(|(name, d)| DomainSnap { name: name.clone(), born: d.born, first: d.first, last: d.last, reported: d.reported, new_volume_reported: d.new_volume_reported, volume: d.volume.clone() }).collect(),
            clients: self
                .clients
                .iter()
                .map(|(ip, c)| ClientSnap { ip: ip.clone(), first: c.first, last: c.last, volume: c.volume.clone(), nx_reported: c.nx_reported, nx_ratio_reported: c.nx_ratio_reported })
                .collect(),
            lookalikes: self.reported_lookalikes.iter().cloned().collect(),
        };
        serde_json::to_vec(&snap).unwrap_or_default()
    }

    /// Loads a [`Hunter::snapshot`] into a fresh hunter; returns (domains, clients) restored.
    /// Caps still apply: beyond `max_domains`/`max_clients` the least recent are left out.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(usize, usize), String> {
        let mut snap: Snapshot = serde_json::from_slice(bytes).map_err(|e| format!("hunting state is not readable ({e})"))?;
        if snap.version != SNAPSHOT_VERSION {
            return Err(format!("hunting state has version {}, this build reads {SNAPSHOT_VERSION}", snap.version));
        }
        snap.domains.sort_by_key(|d| std::cmp::Reverse(d.last));
        snap.domains.truncate(self.cfg.max_domains);
        snap.clients.sort_by_key(|c| std::cmp::Reverse(c.last));
        snap.clients.truncate(self.cfg.max_clients);
        let counts = (snap.domains.len(), snap.clients.len());
        self.started = match (self.started, snap.started) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        for d in snap.domains {
            self.domains.insert(d.name, DomainState { born: d.born, first: d.first, last: d.last, reported: d.reported, new_volume_reported: d.new_volume_reported, volume: d.volume, ..DomainState::default() });
        }
        for c in snap.clients {
            self.clients.insert(
                c.ip,
                ClientState { first: c.first, last: c.last, volume: c.volume, nx_reported: c.nx_reported, nx_ratio_reported: c.nx_ratio_reported, ..ClientState::default() },
            );
        }
        self.reported_lookalikes.extend(snap.lookalikes.into_iter().take(10_000));
        Ok(counts)
    }
}

const SNAPSHOT_VERSION: u32 = 1;

#[derive(serde::Serialize, serde::Deserialize)]
struct Snapshot {
    version: u32,
    started: Option<i64>,
    domains: Vec<DomainSnap>,
    clients: Vec<ClientSnap>,
    lookalikes: Vec<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct DomainSnap {
    name: String,
    born: i64,
    first: i64,
    last: i64,
    reported: usize,
    new_volume_reported: bool,
    /// Absent in snapshots from before per-domain baselines: starts afresh.
    #[serde(default)]
    volume: Baseline,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ClientSnap {
    ip: String,
    first: i64,
    last: i64,
    /// Flattened: the same keys as the snapshots written before `Baseline` existed.
    #[serde(flatten)]
    volume: Baseline,
    nx_reported: bool,
    nx_ratio_reported: bool,
}

/// A DNS query from an OCSF or ECS NDJSON event (the `hunt` command's input), if it is one.
pub fn query_from_json(v: &Value) -> Option<(i64, String, String, Option<String>, Option<u16>, String, Vec<String>)> {
    if v.get("class_uid").is_some() {
        if v["class_uid"] != 4003 {
            return None;
        }
        let feeds = v["enrichments"].as_array().map(|a| a.iter().filter(|e| e["name"] == "query.hostname").filter_map(|e| e["provider"].as_str().map(str::to_string)).collect()).unwrap_or_default();
        Some((
            v["time"].as_i64()?,
            v["src_endpoint"]["ip"].as_str().unwrap_or("unknown").to_string(),
            v["query"]["hostname"].as_str()?.to_string(),
            v["query"]["type"].as_str().map(str::to_string),
            v["rcode_id"].as_u64().map(|r| r as u16),
            v["metadata"]["uid"].as_str().unwrap_or("").to_string(),
            feeds,
        ))
    } else {
        let name = v["dns"]["question"]["name"].as_str()?;
        let t = chrono::DateTime::parse_from_rfc3339(v["@timestamp"].as_str()?).ok()?.timestamp_millis();
        let rcode = v["dns"]["response_code"].as_str().and_then(|r| logfetch_common::event::rcode_from_text(r));
        let feeds = v["threat"]["enrichments"].as_array().map(|a| a.iter().filter(|e| e["matched"]["field"] == "query.hostname").filter_map(|e| e["indicator"]["provider"].as_str().map(str::to_string)).collect()).unwrap_or_default();
        Some((t, v["source"]["ip"].as_str().unwrap_or("unknown").to_string(), name.to_string(), v["dns"]["question"]["type"].as_str().map(str::to_string), rcode, v["event"]["id"].as_str().unwrap_or("").to_string(), feeds))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q<'a>(t: i64, client: &'a str, name: &'a str, qtype: &'a str, rcode: u16) -> Query<'a> {
        Query { time: t, client, name, qtype: Some(qtype), rcode: Some(rcode), uid: "u", ti_feeds: vec![] }
    }

    #[test]
    fn a_tunnel_is_flagged_and_a_busy_benign_domain_is_not() {
        let mut h = Hunter::new(HuntConfig::default());
        let mut fired = None;
        for i in 0..100 {
            let name = format!("{:x}{:x}a9f3kq2z{}.t.evil-tunnel.com", i * 7919, i * 104729, i);
            if let Some(f) = h.observe(&q(i, "10.0.0.5", &name, "TXT", 0)).into_iter().find(|f| f.rule == "dns-tunnel") {
                fired = Some(i);
                // One client sends it all; each query carries several bytes of encoded data.
                assert_eq!(f.evidence["busiest_client_share"], 1.0);
                assert!(f.evidence["encoded_bytes_per_query"].as_f64().is_some_and(|b| b > 5.0), "{}", f.evidence);
                assert_eq!(f.evidence["txt_null_cname_mx_share"], 1.0);
                break;
            }
        }
        assert!(fired.is_some_and(|i| i < 40), "{fired:?}");
        // 300 queries to a handful of ordinary hosts of one domain: nothing.
        let mut h = Hunter::new(HuntConfig::default());
        for i in 0..300 {
            let host = ["www", "mail", "api", "cdn", "static"][i % 5];
            let name = format!("{host}.example.com");
            assert!(h.observe(&q(i as i64, "10.0.0.6", &name, "A", 0)).is_empty());
        }
    }

    #[test]
    fn nxdomain_burst_of_dga_names_and_txt_rate() {
        let mut h = Hunter::new(HuntConfig::default());
        let names = ["xjwqpzkvbnrt.ru", "gllxeenmijch.com", "eclirvvqkpxw.com", "zxkqvjwnpqhr.com", "kqwxzjvbtpml.net", "wpqzxkjvnbrt.org"];
        let mut found = vec![];
        for (i, n) in names.iter().enumerate() {
            found.extend(h.observe(&q(i as i64 * 1000, "10.0.0.7", n, "A", 3)));
        }
        assert_eq!(found.iter().filter(|f| f.rule == "dga-nxdomain-burst").count(), 1);
        // The same names resolving fine, or ordinary NXDOMAINs: nothing.
        let mut h = Hunter::new(HuntConfig::default());
        for (i, n) in ["printer.local.lan", "wpad.example.com", "intranet.corp", "oldsite.example.org", "typo-gogle.com", "foo.example.net"].iter().enumerate() {
            assert!(h.observe(&q(i as i64, "10.0.0.8", n, "A", 3)).is_empty(), "{n}");
        }
        let mut h = Hunter::new(HuntConfig::default());
        let mut txt = 0;
        for i in 0..60 {
            txt += h.observe(&q(i * 500, "10.0.0.9", "x.example.com", "TXT", 0)).iter().filter(|f| f.rule == "dns-txt-rate").count();
        }
        assert_eq!(txt, 1);
        // 50 TXT queries in a minute is not more than 50: nothing.
        let mut h = Hunter::new(HuntConfig::default());
        let quiet: usize = (0..50).map(|i| h.observe(&q(i * 1000, "10.0.0.9", "x.example.com", "TXT", 0)).iter().filter(|f| f.rule == "dns-txt-rate").count()).sum();
        assert_eq!(quiet, 0);
        let v = Finding { time: 1, rule: "r", title: "t".into(), score: 1, severity: 2, client: Some("10.0.0.9".into()), domain: None, evidence: json!({}), event_uids: vec![] }.to_ocsf("t1");
        assert_eq!((v["class_uid"].as_i64(), v["type_uid"].as_i64()), (Some(2004), Some(200401)));
    }

    #[test]
    fn state_survives_a_restart_through_a_snapshot() {
        // 70 minutes of one client's steady traffic: a warm baseline and an hour of history.
        let mut h = Hunter::new(HuntConfig::default());
        for m in 0..70i64 {
            for k in 0..10 {
                assert!(h.observe(&q(m * 60_000 + k * 1000, "10.0.0.1", "www.example.com", "A", 0)).is_empty());
            }
        }
        let bytes = h.snapshot();
        // Restarted without the snapshot: no baseline, no history, so neither fires.
        let burst = |h: &mut Hunter| -> Vec<&'static str> {
            let mut rules = Vec::new();
            for k in 0..400i64 {
                rules.extend(h.observe(&q(70 * 60_000 + k * 100, "10.0.0.1", "www.example.com", "A", 0)).into_iter().map(|f| f.rule));
                let c = format!("10.1.0.{}", k % 50);
                let name = format!("h{}.fresh-domain.com", k % 3);
                rules.extend(h.observe(&q(70 * 60_000 + k * 100, &c, &name, "A", 0)).into_iter().map(|f| f.rule));
            }
            rules.sort();
            rules.dedup();
            rules
        };
        assert!(burst(&mut Hunter::new(HuntConfig::default())).is_empty());
        // With it: the spike and the new domain are seen at once.
        let mut restored = Hunter::new(HuntConfig::default());
        assert_eq!(restored.restore(&bytes).unwrap(), (1, 1));
        assert_eq!(burst(&mut restored), vec!["client-volume-spike", "domain-volume-spike", "new-domain-volume"]);
        // Already reported before the restart: not again.
        let mut again = Hunter::new(HuntConfig::default());
        again.restore(&restored.snapshot()).unwrap();
        assert!(!burst(&mut again).contains(&"new-domain-volume"));
        // Caps apply to what is restored; garbage and other versions are errors, not panics.
        let mut small = Hunter::new(HuntConfig { max_domains: 0, max_clients: 0, ..HuntConfig::default() });
        assert_eq!(small.restore(&bytes).unwrap(), (0, 0));
        assert!(Hunter::new(HuntConfig::default()).restore(b"{not json").unwrap_err().contains("not readable"));
        // A snapshot written before per-domain baselines (no `volume`, no `spike_reported_minute`).
        let old = br#"{"version":1,"started":1,"domains":[{"name":"example.com","born":1,"first":1,"last":2,"reported":0,"new_volume_reported":false}],"clients":[{"ip":"10.0.0.1","first":1,"last":2,"minute":0,"minute_count":3,"ewma_mean":2.5,"ewma_var":1.0,"minutes_seen":20,"nx_reported":false,"nx_ratio_reported":false}],"lookalikes":[]}"#;
        let mut h_old = Hunter::new(HuntConfig::default());
        assert_eq!(h_old.restore(old).unwrap(), (1, 1));
        assert_eq!(h_old.clients["10.0.0.1"].volume.minutes_seen, 20);
        let other = String::from_utf8(bytes).unwrap().replacen("\"version\":1", "\"version\":99", 1);
        assert!(Hunter::new(HuntConfig::default()).restore(other.as_bytes()).unwrap_err().contains("version 99"));
    }

    #[test]
    fn a_tenants_thresholds_take_effect() {
        let settings = |v: Value| -> logfetch_config::HuntSettings { serde_json::from_value(v).unwrap() };
        let mut h = Hunter::from_settings(&settings(json!({"txt_per_minute": 5, "nx_dga_min": 2, "dga_threshold": 0.999999})));
        let txt: usize = (0..6).map(|i| h.observe(&q(i * 1000, "10.0.0.9", "x.example.com", "TXT", 0)).iter().filter(|f| f.rule == "dns-txt-rate").count()).sum();
        assert_eq!(txt, 1, "6 TXT queries in a minute exceed txt_per_minute = 5");
        // Clearly DGA names, but below this tenant's very high DGA threshold: no burst.
        let names = ["xjwqpzkvbnrt.ru", "gllxeenmijch.com", "eclirvvqkpxw.com"];
        let burst: usize = names.iter().enumerate().map(|(i, n)| h.observe(&q(i as i64, "10.0.0.7", n, "A", 3)).iter().filter(|f| f.rule == "dga-nxdomain-burst").count()).sum();
        assert_eq!(burst, 0);
        let mut h = Hunter::from_settings(&settings(json!({"nx_dga_min": 2})));
        let burst: usize = names.iter().enumerate().map(|(i, n)| h.observe(&q(i as i64, "10.0.0.7", n, "A", 3)).iter().filter(|f| f.rule == "dga-nxdomain-burst").count()).sum();
        assert_eq!(burst, 1, "two names reach nx_dga_min = 2 at the model's threshold");
        let mut h = Hunter::from_settings(&settings(json!({"tunnel_unique_alone": 30, "tunnel_min_unique": 1000})));
        let at = (0..100i64).find(|i| h.observe(&q(*i, "10.0.0.8", &format!("www{i}.example.net"), "A", 0)).iter().any(|f| f.rule == "dns-tunnel"));
        assert_eq!(at, Some(29), "the 30th distinct subdomain raises it");
    }

    #[test]
    fn every_rule_raises_a_valid_ocsf_detection_finding() {
        const T0: i64 = 1_763_000_000_000;
        let mut h = Hunter::new(HuntConfig { brands: vec!["example.com".into()], ..HuntConfig::default() });
        let mut found = Vec::new();
        for (i, n) in ["xjwqpzkvbnrt.ru", "gllxeenmijch.com", "eclirvvqkpxw.com", "zxkqvjwnpqhr.com", "kqwxzjvbtpml.net"].iter().enumerate() {
            found.extend(h.observe(&q(T0 + i as i64, "10.0.0.7", n, "A", 3)));
        }
        for i in 0..120i64 {
            let name = format!("{:x}{:x}.t.evil-tunnel.net", i * 7919, i * 104_729);
            found.extend(h.observe(&q(T0 + 100 + i, "10.0.0.8", &name, "TXT", 0)));
        }
        for k in 0..60i64 {
            let name = format!("host{k}.corp.example.org");
            found.extend(h.observe(&q(T0 + 200 + k, "10.0.0.2", &name, "A", 3)));
        }
        found.extend(h.observe(&q(T0 + 300, "10.0.0.9", "examp1e.com", "AXFR", 0)));
        found.extend(h.observe(&q(T0 + 302, "10.0.0.10", "login.xn--exmple-4nf.com", "A", 0)));
        assert!(found.iter().any(|f| f.rule == "lookalike-domain" && f.evidence["technique"] == "idn-homograph"), "exаmple.com (Cyrillic а) is an IDN homograph");
        found.extend(h.observe(&Query { time: T0 + 301, client: "10.0.0.9", name: "bad.example.net", qtype: Some("A"), rcode: Some(0), uid: "e1", ti_feeds: vec!["feed-a".into()] }));
        let rules: HashSet<&str> = found.iter().map(|f| f.rule).collect();
        for r in ["dga-nxdomain-burst", "dns-tunnel", "dns-txt-rate", "lookalike-domain", "rare-query-type", "threat-intel-match", "client-nxdomain-ratio"] {
            assert!(rules.contains(r), "{r} not raised: {rules:?}");
        }
        for f in &found {
            let v = f.to_ocsf("t1");
            let report = logfetch_common::validate::validate(&v);
            assert!(report.is_valid(), "{}: {:?}\n{v}", f.rule, report.violations);
            assert_eq!(v["finding_info"]["related_events"].as_array().map(Vec::len), Some(f.event_uids.len()), "the source events are listed");
        }
        // The validator would catch a wrong attribute inside finding_info.
        let mut bad = found[0].to_ocsf("t1");
        bad["finding_info"]["related_events_count"] = json!(1);
        assert!(!logfetch_common::validate::validate(&bad).is_valid());
    }

    #[test]
    fn volume_spikes_nx_ratio_rare_types_and_new_domains() {
        let mut h = Hunter::new(HuntConfig::default());
        let mut rules = Vec::new();
        // 30 quiet minutes of ~10 queries, then a minute of 400.
        for m in 0..30i64 {
            for k in 0..10 {
                rules.extend(h.observe(&q(m * 60_000 + k * 1000, "10.0.0.1", "www.example.com", "A", 0)).into_iter().map(|f| f.rule));
            }
        }
        assert!(rules.is_empty(), "{rules:?}");
        for k in 0..400 {
            rules.extend(h.observe(&q(30 * 60_000 + k * 100, "10.0.0.1", "www.example.com", "A", 0)).into_iter().map(|f| f.rule));
        }
        assert_eq!(rules, vec!["domain-volume-spike", "client-volume-spike"]);
        // A domain spike spread over many clients, none of them unusual: only the domain's.
        let mut h = Hunter::new(HuntConfig::default());
        let mut rules = Vec::new();
        for m in 0..30i64 {
            for k in 0..10 {
                let c = format!("10.2.0.{k}");
                rules.extend(h.observe(&q(m * 60_000 + k * 1000, &c, "api.example.org", "A", 0)).into_iter().map(|f| f.rule));
            }
        }
        // Each of 50 clients: its usual pace (about one query a minute) plus a few.
        for k in 0..400i64 {
            let c = format!("10.3.{}.{}", k % 50, k % 7);
            rules.extend(h.observe(&q(30 * 60_000 + k * 100, &c, "api.example.org", "A", 0)).into_iter().map(|f| f.rule));
        }
        assert_eq!(rules, vec!["domain-volume-spike"]);
        // The same steady pace without a burst: nothing.
        let mut h = Hunter::new(HuntConfig::default());
        for m in 0..60i64 {
            for k in 0..10 {
                assert!(h.observe(&q(m * 60_000 + k * 1000, "10.2.0.1", "api.example.org", "A", 0)).is_empty());
            }
        }
        // Another client: mostly NXDOMAIN (ordinary names), and an ANY query.
        let mut h = Hunter::new(HuntConfig::default());
        let mut rules = Vec::new();
        for k in 0..60 {
            let name = format!("host{k}.corp.example.com");
            rules.extend(h.observe(&q(k, "10.0.0.2", &name, "A", if k % 3 == 0 { 0 } else { 3 })).into_iter().map(|f| f.rule));
        }
        rules.extend(h.observe(&q(100, "10.0.0.2", "example.com", "ANY", 0)).into_iter().map(|f| f.rule));
        rules.extend(h.observe(&q(101, "10.0.0.2", "example.com", "ANY", 0)).into_iter().map(|f| f.rule));
        assert_eq!(rules, vec!["client-nxdomain-ratio", "rare-query-type"]);
        // A third of the answers NXDOMAIN, ordinary types: nothing.
        let mut h = Hunter::new(HuntConfig::default());
        for k in 0..60 {
            let name = format!("host{k}.corp.example.com");
            assert!(h.observe(&q(k, "10.0.0.3", &name, "A", if k % 3 == 0 { 3 } else { 0 })).is_empty(), "{name}");
        }
        // After an hour of history, a brand-new domain that suddenly gets 200 queries.
        let mut h = Hunter::new(HuntConfig::default());
        let mut n = 0;
        for m in 0..70i64 {
            n += h.observe(&q(m * 60_000, "10.1.0.1", "www.example.com", "A", 0)).iter().filter(|f| f.rule == "new-domain-volume").count();
        }
        for k in 0..250i64 {
            let c = format!("10.1.0.{}", k % 50);
            let name = format!("h{}.fresh-domain.com", k % 3);
            n += h.observe(&q(70 * 60_000 + k * 1000, &c, &name, "A", 0)).iter().filter(|f| f.rule == "new-domain-volume").count();
        }
        assert_eq!(n, 1, "only the new domain, not the one seen from the start");
    }

    #[test]
    fn memory_stays_bounded_with_a_million_domains() {
        let mut h = Hunter::new(HuntConfig { max_domains: 10_000, max_clients: 1_000, ..HuntConfig::default() });
        for i in 0..1_000_000i64 {
            let name = format!("h{}.d{i}.com", i % 7);
            let client = format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
            h.observe(&q(i, &client, &name, "A", 0));
        }
        let (d, c) = h.tracked();
        assert!(d <= 10_001 && c <= 1_001, "{d} {c}");
    }
}
