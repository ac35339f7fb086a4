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
        }
    }
}

#[derive(Debug, Default)]
struct DomainState {
    first: i64,
    last: i64,
    queries: u64,
    unique: HashSet<u64>,
    len_sum: f64,
    entropy_sum: f64,
    odd_chars: u64,
    heavy_types: u64,
    /// NULL records: almost only tunnels use them.
    null_seen: bool,
    qtypes: HashSet<String>,
    clients: HashSet<u64>,
    samples: Vec<String>,
    uids: Vec<String>,
    /// Highest unique-count band already reported (100/500/800/1000).
    reported: usize,
    /// When the domain was first seen (survives window resets).
    born: i64,
    new_volume_reported: bool,
}

#[derive(Debug, Default)]
struct ClientState {
    first: i64,
    last: i64,
    nx_dga: Vec<(String, String)>,
    nx_reported: bool,
    txt: VecDeque<i64>,
    txt_reported_at: Option<i64>,
    /// Queries in the current minute, and the EWMA of past minutes.
    minute: i64,
    minute_count: u64,
    ewma_mean: f64,
    ewma_var: f64,
    minutes_seen: u32,
    spike_reported_minute: i64,
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
            "severity_id": self.severity, "time": self.time, "status_id": 1, "risk_score": self.score,
            "metadata": {"version": "1.3.0", "product": {"name": "logfetch", "vendor_name": "logfetch"}, "tenant_uid": tenant, "uid": uid},
            "finding_info": {"uid": uid, "title": self.title, "analytic": {"name": self.rule, "type_id": 1, "type": "Rule"}, "related_events_count": self.event_uids.len(), "types": ["DNS"]},
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
        Hunter::new(HuntConfig {
            window_ms: h.window.get().as_millis() as i64,
            tunnel_min_unique: h.tunnel_min_unique,
            tunnel_unique_alone: h.tunnel_unique_alone,
            nx_dga_min: h.nx_dga_min,
            txt_per_minute: h.txt_per_minute,
            brands: h.brands.clone(),
            ..HuntConfig::default()
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
        // Tunnelling: per registered domain.
        if !sub.is_empty() && !dga::allowed(&name) {
            let cfg = &self.cfg;
            let d = self.domains.entry(reg.clone()).or_default();
            if d.queries > 0 && q.time - d.first > w {
                let (born, nv) = (d.born, d.new_volume_reported);
                *d = DomainState { born, new_volume_reported: nv, ..DomainState::default() };
            }
            if d.born == 0 {
                d.born = q.time;
            }
            if d.queries == 0 {
                d.first = q.time;
            }
            d.last = q.time;
            d.queries += 1;
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
            if d.clients.len() < 1000 {
                d.clients.insert(h(q.client));
            }
            if d.uids.len() < 50 {
                d.uids.push(q.uid.to_string());
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
            let u = d.unique.len();
            let mean_len = d.len_sum / u.max(1) as f64;
            let mean_ent = d.entropy_sum / u.max(1) as f64;
            let odd = d.odd_chars as f64 / u.max(1) as f64;
            let heavy = d.heavy_types as f64 / d.queries as f64;
            // A client probing record types (iodine tries NULL, TXT, SRV, CNAME...) is a sign too.
            let signs = [mean_len >= cfg.tunnel_mean_len, mean_ent >= cfg.tunnel_mean_entropy, odd >= 0.5, heavy >= 0.5, d.null_seen, d.qtypes.len() >= 3].iter().filter(|b| **b).count();
            let unique_ratio = u as f64 / d.queries as f64;
            let by_shape = u >= cfg.tunnel_min_unique && signs >= 2 && unique_ratio >= 0.5;
            let (band, sev) = severity_for(u);
            let fire = (d.reported == 0 && (by_shape || u >= cfg.tunnel_unique_alone)) || (band > d.reported && band >= 500);
            if fire {
                d.reported = band.max(1);
                out.push(Finding {
                    time: q.time,
                    rule: "dns-tunnel",
                    title: format!("Possible DNS tunnel or exfiltration via {reg}: {u} distinct subdomains in {} queries", d.queries),
                    score: (40 + 10 * signs as u8 + if u >= 100 { 20 } else { 0 }).min(100),
                    severity: if by_shape { sev.max(3) } else { sev },
                    client: None,
                    domain: Some(reg.clone()),
                    evidence: json!({"registered_domain": reg, "queries": d.queries, "unique_subdomains": u, "mean_subdomain_length": (mean_len * 10.0).round() / 10.0, "mean_subdomain_entropy": (mean_ent * 100.0).round() / 100.0, "encoded_share": (odd * 100.0).round() / 100.0, "txt_null_cname_mx_share": (heavy * 100.0).round() / 100.0, "null_records": d.null_seen, "query_types": d.qtypes.iter().collect::<Vec<_>>(), "clients": d.clients.len(), "sample": d.samples}),
                    event_uids: d.uids.clone(),
                });
            }
        }
        // Per client: NXDOMAIN bursts of DGA-looking names, TXT rate.
        let c = self.clients.entry(q.client.to_string()).or_default();
        if c.last > 0 && q.time - c.first > w {
            // A new window: the burst/ratio counters restart, the baseline carries on.
            let keep = ClientState { minute: c.minute, minute_count: c.minute_count, ewma_mean: c.ewma_mean, ewma_var: c.ewma_var, minutes_seen: c.minutes_seen, spike_reported_minute: c.spike_reported_minute, rare_types: std::mem::take(&mut c.rare_types), ..ClientState::default() };
            *c = keep;
        }
        if c.first == 0 {
            c.first = q.time;
        }
        c.last = q.time;
        // Volume against the client's own baseline (EWMA per minute).
        let minute = q.time.div_euclid(60_000);
        if c.minute != minute {
            if c.minutes_seen > 0 || c.minute_count > 0 {
                // Close the finished minute, and count the silent minutes in between as zeros.
                let gaps = (minute - c.minute - 1).clamp(0, 60) as u32;
                for x in std::iter::once(c.minute_count as f64).chain(std::iter::repeat_n(0.0, gaps as usize)) {
                    let alpha = 0.1;
                    let diff = x - c.ewma_mean;
                    c.ewma_mean += alpha * diff;
                    c.ewma_var = (1.0 - alpha) * (c.ewma_var + alpha * diff * diff);
                    c.minutes_seen += 1;
                }
            }
            c.minute = minute;
            c.minute_count = 0;
        }
        c.minute_count += 1;
        let cfg = &self.cfg;
        if c.minutes_seen >= cfg.spike_warmup && c.minute_count >= cfg.spike_min && c.spike_reported_minute != minute && (c.minute_count as f64) > c.ewma_mean + cfg.spike_sigmas * c.ewma_var.sqrt().max(1.0) {
            c.spike_reported_minute = minute;
            out.push(Finding {
                time: q.time,
                rule: "client-volume-spike",
                title: format!("{} sent {} queries this minute against a usual {:.0}", q.client, c.minute_count, c.ewma_mean),
                score: 40,
                severity: 2,
                client: Some(q.client.to_string()),
                domain: None,
                evidence: json!({"queries_this_minute": c.minute_count, "ewma_mean": (c.ewma_mean * 10.0).round() / 10.0, "ewma_stddev": (c.ewma_var.sqrt() * 10.0).round() / 10.0, "last_query": name}),
                event_uids: vec![q.uid.to_string()],
            });
        }
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
        if q.rcode == Some(3) && dga::model().is_dga(&name) && !c.nx_dga.iter().any(|(n, _)| *n == name) && c.nx_dga.len() < 200 {
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
            if !h.observe(&q(i, "10.0.0.5", &name, "TXT", 0)).into_iter().filter(|f| f.rule == "dns-tunnel").collect::<Vec<_>>().is_empty() {
                fired = Some(i);
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
        let v = Finding { time: 1, rule: "r", title: "t".into(), score: 1, severity: 2, client: Some("10.0.0.9".into()), domain: None, evidence: json!({}), event_uids: vec![] }.to_ocsf("t1");
        assert_eq!((v["class_uid"].as_i64(), v["type_uid"].as_i64()), (Some(2004), Some(200401)));
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
        assert_eq!(rules, vec!["client-volume-spike"]);
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
