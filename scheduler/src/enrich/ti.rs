//! Threat-intelligence indicators: loading feeds (plain lists, CSV with a column mapping, STIX
//! 2.1 bundles) and matching at ingest.
//!
//! - IPs: a hash of exact addresses, and CIDRs as one hash table per prefix length (longest-prefix
//!   lookups cost one probe per length present — at most 33 for IPv4).
//! - Domains: a hash of names walked from the full name up through its parent suffixes (the
//!   reversed-label order): an entry matches its exact name, and its subdomains too when the feed
//!   says `subdomains = true` or the entry is written `*.example.com` / `.example.com`.
//! - Every indicator keeps its feed, type, confidence and expiry (`valid_until`, or the feed's
//!   `ttl` after it was last seen); expired indicators stop matching.

use std::collections::HashMap;
use std::net::IpAddr;

use chrono::DateTime;
use logfetch_common::text::split_delimited;
use serde_json::Value;

/// Indicator types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndKind {
    Ip,
    Cidr,
    Domain,
    Url,
}

impl IndKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IndKind::Ip => "ip",
            IndKind::Cidr => "cidr",
            IndKind::Domain => "domain",
            IndKind::Url => "url",
        }
    }
}

/// One indicator.
#[derive(Debug, Clone)]
pub struct Indicator {
    /// Shared with the index key (one allocation per indicator).
    pub value: std::sync::Arc<str>,
    pub kind: IndKind,
    pub feed: u16,
    pub confidence: Option<u8>,
    /// Unix seconds.
    pub valid_until: Option<i64>,
    /// Domains: also matches subdomains.
    pub subdomains: bool,
    pub description: Option<Box<str>>,
}

/// How one feed's entries are read.
#[derive(Debug, Clone, Default)]
pub struct FeedSpec {
    pub name: String,
    pub format: String,
    pub ttl: Option<std::time::Duration>,
    pub confidence: Option<u8>,
    pub subdomains: bool,
    pub delimiter: char,
    pub col_value: String,
    pub col_kind: Option<String>,
    pub col_confidence: Option<String>,
    pub col_valid_until: Option<String>,
    pub col_last_seen: Option<String>,
    pub col_description: Option<String>,
}

/// What loading a feed produced.
#[derive(Debug, Default)]
pub struct Loaded {
    pub indicators: Vec<Indicator>,
    /// `(line or object number, why)` of entries that could not be used.
    pub rejected: Vec<(usize, String)>,
}

fn normalise_domain(s: &str) -> Option<(String, bool)> {
    let s = s.trim().trim_end_matches('.').to_ascii_lowercase();
    let (s, wild) = match s.strip_prefix("*.").or_else(|| s.strip_prefix('.')) {
        Some(rest) => (rest.to_string(), true),
        None => (s, false),
    };
    let ok = !s.is_empty() && s.len() <= 253 && s.contains('.') && s.split('.').all(|l| !l.is_empty() && l.len() <= 63 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    ok.then_some((s, wild))
}

/// Classifies one value: `(kind, normalised value, wildcard)`.
pub fn classify(v: &str) -> Option<(IndKind, String, bool)> {
    let v = v.trim();
    if v.is_empty() {
        return None;
    }
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some((IndKind::Ip, ip.to_string(), false));
    }
    if let Some((a, p)) = v.split_once('/') {
        if let (Ok(ip), Ok(p)) = (a.parse::<IpAddr>(), p.parse::<u8>()) {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if p <= max {
                return Some((IndKind::Cidr, format!("{}/{p}", mask(ip, p).1), false));
            }
        }
    }
    let lower = v.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Some((IndKind::Url, normalise_url(v), false));
    }
    normalise_domain(v).map(|(d, w)| (IndKind::Domain, d, w))
}

/// URLs compare on lower-case scheme and host, the rest as written, without a trailing `/`.
pub fn normalise_url(u: &str) -> String {
    let u = u.trim();
    match u.find("://") {
        Some(i) => {
            let rest = &u[i + 3..];
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            format!("{}://{}{}", u[..i].to_ascii_lowercase(), host.to_ascii_lowercase(), path.trim_end_matches('/'))
        }
        None => u.to_string(),
    }
}

/// `(bits, masked address)` for `ip/p`.
fn mask(ip: IpAddr, p: u8) -> (u128, IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            let m = if p == 0 { 0 } else { u32::MAX << (32 - p as u32) };
            let v = u32::from(v4) & m;
            (v as u128, IpAddr::V4(v.into()))
        }
        IpAddr::V6(v6) => {
            let m = if p == 0 { 0 } else { u128::MAX << (128 - p as u32) };
            let v = u128::from(v6) & m;
            (v, IpAddr::V6(v.into()))
        }
    }
}

fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.timestamp());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S") {
        return Some(t.and_utc().timestamp());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp());
    }
    s.parse::<i64>().ok().map(|n| if n > 100_000_000_000 { n / 1000 } else { n })
}

impl FeedSpec {
    fn expiry(&self, valid_until: Option<i64>, last_seen: Option<i64>) -> Option<i64> {
        valid_until.or_else(|| self.ttl.zip(last_seen).map(|(ttl, seen)| seen + ttl.as_secs() as i64))
    }

    fn push(&self, out: &mut Loaded, n: usize, raw: &str, kind_hint: Option<&str>, conf: Option<u8>, valid_until: Option<i64>, last_seen: Option<i64>, desc: Option<&str>, feed: u16) {
        let Some((kind, value, wild)) = classify(raw) else {
            out.rejected.push((n, format!("`{}` is not an IP, CIDR, domain or URL", raw.chars().take(80).collect::<String>())));
            return;
        };
        if let Some(h) = kind_hint.map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()) {
            let fits = match kind {
                IndKind::Ip | IndKind::Cidr => h.contains("ip") || h.contains("cidr") || h.contains("net") || h.contains("addr"),
                IndKind::Domain => h.contains("domain") || h.contains("host") || h.contains("fqdn") || h.contains("dns"),
                IndKind::Url => h.contains("url") || h.contains("uri") || h.contains("link"),
            };
            if !fits {
                out.rejected.push((n, format!("`{raw}` does not look like its stated type `{h}`")));
                return;
            }
        }
        out.indicators.push(Indicator {
            value: value.into(),
            kind,
            feed,
            confidence: conf.or(self.confidence),
            valid_until: self.expiry(valid_until, last_seen),
            subdomains: wild || self.subdomains,
            description: desc.filter(|d| !d.is_empty()).map(Into::into),
        });
    }

    /// Reads a feed's text. `file_time` stands in for "last seen" in formats without one.
    pub fn parse(&self, text: &str, feed: u16, file_time: Option<i64>) -> Loaded {
        let mut out = Loaded::default();
        match self.format.as_str() {
            "csv" => self.parse_csv(text, feed, file_time, &mut out),
            "stix" => self.parse_stix(text, feed, file_time, &mut out),
            _ => {
                for (i, line) in text.lines().enumerate() {
                    let l = line.trim();
                    if l.is_empty() || l.starts_with('#') || l.starts_with("//") || l.starts_with(';') {
                        continue;
                    }
                    // Hosts-file style blocklists: `0.0.0.0 bad.example`.
                    let l = l.split_whitespace().collect::<Vec<_>>();
                    let v = match l.as_slice() {
                        [a, b, ..] if (*a == "0.0.0.0" || *a == "127.0.0.1") => *b,
                        [v, ..] => *v,
                        [] => continue,
                    };
                    self.push(&mut out, i + 1, v, None, None, None, file_time, None, feed);
                }
            }
        }
        out
    }

    fn parse_csv(&self, text: &str, feed: u16, file_time: Option<i64>, out: &mut Loaded) {
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
        let Some((_, header)) = lines.next() else { return };
        let cols: Vec<String> = split_delimited(header, self.delimiter).into_iter().map(|c| c.trim().to_ascii_lowercase()).collect();
        let idx = |name: &Option<String>| name.as_ref().and_then(|n| cols.iter().position(|c| *c == n.to_ascii_lowercase()));
        let Some(vi) = idx(&Some(self.col_value.clone())) else {
            out.rejected.push((1, format!("no `{}` column in the header (columns: {})", self.col_value, cols.join(", "))));
            return;
        };
        let (ki, ci, ui, si, di) = (idx(&self.col_kind), idx(&self.col_confidence), idx(&self.col_valid_until), idx(&self.col_last_seen), idx(&self.col_description));
        for (i, line) in lines {
            let f = split_delimited(line, self.delimiter);
            let get = |i: Option<usize>| i.and_then(|i| f.get(i)).map(|s| s.as_str());
            let Some(v) = get(Some(vi)) else {
                out.rejected.push((i + 1, format!("no value in column `{}`", self.col_value)));
                continue;
            };
            let conf = get(ci).and_then(|c| c.trim().parse::<f64>().ok()).map(|c| if c <= 1.0 && c.fract() != 0.0 { c * 100.0 } else { c }).map(|c| c.clamp(0.0, 100.0) as u8);
            let last_seen = get(si).and_then(parse_time).or(file_time);
            self.push(out, i + 1, v, get(ki), conf, get(ui).and_then(parse_time), last_seen, get(di), feed);
        }
    }

    fn parse_stix(&self, text: &str, feed: u16, file_time: Option<i64>, out: &mut Loaded) {
        let v: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                out.rejected.push((0, format!("not a STIX JSON bundle: {e}")));
                return;
            }
        };
        let objects = v["objects"].as_array().cloned().unwrap_or_else(|| if v["type"] == "indicator" { vec![v.clone()] } else { vec![] });
        for (i, o) in objects.iter().enumerate().filter(|(_, o)| o["type"] == "indicator") {
            if o["revoked"] == true {
                continue;
            }
            if o["pattern_type"].as_str().is_some_and(|t| t != "stix") {
                out.rejected.push((i, format!("pattern_type `{}` is not supported", o["pattern_type"].as_str().unwrap_or(""))));
                continue;
            }
            let pattern = o["pattern"].as_str().unwrap_or("");
            let values = match stix_values(pattern) {
                Ok(v) => v,
                Err(why) => {
                    out.rejected.push((i, why));
                    continue;
                }
            };
            let conf = o["confidence"].as_u64().map(|c| c.min(100) as u8);
            let until = o["valid_until"].as_str().and_then(parse_time);
            let seen = o["modified"].as_str().or(o["created"].as_str()).and_then(parse_time).or(file_time);
            let desc = o["name"].as_str().or(o["description"].as_str());
            for (obj, val) in values {
                let hint = match obj.as_str() {
                    "domain-name" => "domain",
                    "url" => "url",
                    _ => "ip",
                };
                self.push(out, i, &val, Some(hint), conf, until, seen, desc, feed);
            }
        }
    }
}

/// The `(object type, value)` comparisons of a simple STIX pattern: `[x:value = '...']`, joined
/// by `OR` (inside or across brackets). Anything else is refused with the reason.
pub fn stix_values(p: &str) -> Result<Vec<(String, String)>, String> {
    let supported = ["domain-name", "ipv4-addr", "ipv6-addr", "url"];
    let mut out = Vec::new();
    let mut rest = p.trim();
    if rest.contains(" AND ") || rest.contains(" FOLLOWEDBY ") {
        return Err(format!("pattern `{p}` combines observations (AND/FOLLOWEDBY); only single values are matched"));
    }
    while let Some(i) = rest.find(":value") {
        let head = &rest[..i];
        let obj = head.rsplit(|c: char| c == '[' || c == ' ' || c == '(').next().unwrap_or("").trim();
        let after = rest[i + 6..].trim_start();
        let Some(after) = after.strip_prefix('=') else { return Err(format!("pattern `{p}`: only `=` comparisons are supported")) };
        let after = after.trim_start();
        let Some(body) = after.strip_prefix('\'') else { return Err(format!("pattern `{p}`: expected a quoted value")) };
        let mut val = String::new();
        let mut chars = body.char_indices();
        let mut end = None;
        while let Some((j, c)) = chars.next() {
            match c {
                '\\' => {
                    if let Some((_, n)) = chars.next() {
                        val.push(n);
                    }
                }
                '\'' => {
                    end = Some(j);
                    break;
                }
                c => val.push(c),
            }
        }
        let Some(end) = end else { return Err(format!("pattern `{p}`: unterminated value")) };
        if !supported.contains(&obj) {
            return Err(format!("pattern `{p}`: object `{obj}` is not one of {}", supported.join(", ")));
        }
        out.push((obj.to_string(), val));
        rest = &body[end + 1..];
    }
    if out.is_empty() {
        return Err(format!("pattern `{p}` has no `<object>:value = '...'` comparison"));
    }
    Ok(out)
}

/// A match: the indicator, and how it matched (`exact`, `subdomain`, `cidr`).
#[derive(Debug, Clone)]
pub struct Match<'a> {
    pub indicator: &'a Indicator,
    pub feed: &'a str,
    pub by: &'static str,
}

/// All loaded indicators, indexed.
#[derive(Debug, Default)]
pub struct TiStore {
    pub feeds: Vec<String>,
    indicators: Vec<Indicator>,
    ips: HashMap<IpAddr, Ids>,
    /// `(prefix length, v4?)` → masked bits → indicators; longest prefixes first.
    cidrs: Vec<(u8, bool, HashMap<u128, Ids>)>,
    domains: HashMap<std::sync::Arc<str>, Ids>,
    urls: HashMap<std::sync::Arc<str>, Ids>,
}

/// Indicator numbers under one key: almost always one, so no allocation for it.
#[derive(Debug, Clone)]
enum Ids {
    One(u32),
    Many(Vec<u32>),
}

impl Ids {
    fn as_slice(&self) -> &[u32] {
        match self {
            Ids::One(a) => std::slice::from_ref(a),
            Ids::Many(v) => v,
        }
    }
}

fn add<K: std::hash::Hash + Eq>(m: &mut HashMap<K, Ids>, k: K, i: u32) {
    match m.get_mut(&k) {
        Some(Ids::One(a)) => {
            let a = *a;
            m.insert(k, Ids::Many(vec![a, i]));
        }
        Some(Ids::Many(v)) => v.push(i),
        None => {
            m.insert(k, Ids::One(i));
        }
    }
}

impl TiStore {
    /// Indexes the indicators of every feed (`feeds[i]` names feed `i`).
    pub fn build(feeds: Vec<String>, per_feed: Vec<Vec<Indicator>>) -> TiStore {
        let mut s = TiStore { feeds, ..TiStore::default() };
        let mut cidr: HashMap<(u8, bool), HashMap<u128, Ids>> = HashMap::new();
        for ind in per_feed.into_iter().flatten() {
            let i = s.indicators.len() as u32;
            match ind.kind {
                IndKind::Ip => {
                    if let Ok(ip) = ind.value.parse::<IpAddr>() {
                        add(&mut s.ips, ip, i);
                    }
                }
                IndKind::Cidr => {
                    if let Some((a, p)) = ind.value.split_once('/') {
                        if let (Ok(ip), Ok(p)) = (a.parse::<IpAddr>(), p.parse::<u8>()) {
                            add(cidr.entry((p, ip.is_ipv4())).or_default(), mask(ip, p).0, i);
                        }
                    }
                }
                IndKind::Domain => add(&mut s.domains, ind.value.clone(), i),
                IndKind::Url => add(&mut s.urls, ind.value.clone(), i),
            }
            s.indicators.push(ind);
        }
        s.ips.shrink_to_fit();
        s.domains.shrink_to_fit();
        s.indicators.shrink_to_fit();
        s.cidrs = cidr.into_iter().map(|((p, v4), m)| (p, v4, m)).collect();
        s.cidrs.sort_by(|a, b| b.0.cmp(&a.0));
        s
    }

    pub fn len(&self) -> usize {
        self.indicators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.indicators.is_empty()
    }

    fn live<'s>(&'s self, idx: &[u32], now: i64, by: &'static str, filter: impl Fn(&Indicator) -> bool, out: &mut Vec<Match<'s>>) {
        for &i in idx {
            let ind = &self.indicators[i as usize];
            if ind.valid_until.is_none_or(|u| u > now) && filter(ind) {
                out.push(Match { indicator: ind, feed: self.feeds.get(ind.feed as usize).map_or("", String::as_str), by });
            }
        }
    }

    /// Indicators matching an address (exactly or by CIDR) that have not expired at `now`.
    pub fn match_ip(&self, ip: IpAddr, now: i64) -> Vec<Match<'_>> {
        let mut out = Vec::new();
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if let Some(idx) = self.ips.get(&ip) {
            self.live(idx.as_slice(), now, "exact", |_| true, &mut out);
        }
        for (p, v4, m) in &self.cidrs {
            if *v4 != ip.is_ipv4() {
                continue;
            }
            if let Some(idx) = m.get(&mask(ip, *p).0) {
                self.live(idx.as_slice(), now, "cidr", |_| true, &mut out);
            }
        }
        out
    }

    /// Indicators matching a domain name: its own entries, then parents that cover subdomains.
    pub fn match_domain(&self, name: &str, now: i64) -> Vec<Match<'_>> {
        let mut out = Vec::new();
        if self.domains.is_empty() {
            return out;
        }
        let lower;
        let mut n = name.trim_end_matches('.');
        if n.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = n.to_ascii_lowercase();
            n = &lower;
        }
        if let Some(idx) = self.domains.get(n) {
            self.live(idx.as_slice(), now, "exact", |_| true, &mut out);
        }
        let mut rest = n;
        while let Some(i) = rest.find('.') {
            rest = &rest[i + 1..];
            if !rest.contains('.') {
                break; // a bare TLD is never an indicator
            }
            if let Some(idx) = self.domains.get(rest) {
                self.live(idx.as_slice(), now, "subdomain", |ind| ind.subdomains, &mut out);
            }
        }
        out
    }

    /// Indicators matching a URL exactly (after normalising scheme and host case).
    pub fn match_url(&self, url: &str, now: i64) -> Vec<Match<'_>> {
        let mut out = Vec::new();
        if let Some(idx) = self.urls.get(normalise_url(url).as_str()) {
            self.live(idx.as_slice(), now, "exact", |_| true, &mut out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(format: &str) -> FeedSpec {
        FeedSpec { name: "f".into(), format: format.into(), delimiter: ',', col_value: "indicator".into(), ..FeedSpec::default() }
    }

    fn store(specs_texts: &[(&FeedSpec, &str)]) -> TiStore {
        let names = specs_texts.iter().map(|(s, _)| s.name.clone()).collect();
        let per = specs_texts.iter().enumerate().map(|(i, (s, t))| s.parse(t, i as u16, Some(1_000)).indicators).collect();
        TiStore::build(names, per)
    }

    #[test]
    fn lists_classify_and_reject_with_line_numbers() {
        let l = spec("list").parse("# comment\n198.51.100.7\n10.0.0.0/8\nEvil.Example.COM.\n*.wild.example\nhttps://Bad.Example/path/\n0.0.0.0 hosts.example\nnot a domain!\n", 0, None);
        let kinds: Vec<(IndKind, &str)> = l.indicators.iter().map(|i| (i.kind, &*i.value)).collect();
        assert_eq!(
            kinds,
            vec![(IndKind::Ip, "198.51.100.7"), (IndKind::Cidr, "10.0.0.0/8"), (IndKind::Domain, "evil.example.com"), (IndKind::Domain, "wild.example"), (IndKind::Url, "https://bad.example/path"), (IndKind::Domain, "hosts.example")]
        );
        assert!(l.indicators[3].subdomains && !l.indicators[2].subdomains);
        assert_eq!(l.rejected.len(), 1);
        assert_eq!(l.rejected[0].0, 8);
    }

    #[test]
    fn exact_vs_subdomain_matching() {
        let exact = FeedSpec { name: "exact".into(), ..spec("list") };
        let subs = FeedSpec { name: "subs".into(), subdomains: true, ..spec("list") };
        let s = store(&[(&exact, "evil.example.com\n"), (&subs, "bad.example.org\n")]);
        let feeds = |ms: Vec<Match<'_>>| ms.iter().map(|m| (m.feed.to_string(), m.by)).collect::<Vec<_>>();
        assert_eq!(feeds(s.match_domain("evil.example.com", 0)), vec![("exact".to_string(), "exact")]);
        assert_eq!(feeds(s.match_domain("EVIL.example.com.", 0)), vec![("exact".to_string(), "exact")]);
        assert!(s.match_domain("a.evil.example.com", 0).is_empty(), "exact entries do not cover subdomains");
        assert!(s.match_domain("example.com", 0).is_empty());
        assert_eq!(feeds(s.match_domain("x.y.bad.example.org", 0)), vec![("subs".to_string(), "subdomain")]);
        assert_eq!(feeds(s.match_domain("bad.example.org", 0)), vec![("subs".to_string(), "exact")]);
        assert!(s.match_domain("notbad.example.org", 0).is_empty(), "label boundaries, not string suffixes");
    }

    #[test]
    fn cidr_and_exact_ip_matching() {
        let s = store(&[(&spec("list"), "203.0.113.0/24\n198.51.100.7\n2001:db8::/32\n0.0.0.0/0\n")]);
        let by = |ip: &str| {
            let mut v: Vec<&str> = s.match_ip(ip.parse().unwrap(), 0).iter().map(|m| &*m.indicator.value).collect();
            v.sort();
            v
        };
        assert_eq!(by("203.0.113.77"), vec!["0.0.0.0/0", "203.0.113.0/24"]);
        assert_eq!(by("198.51.100.7"), vec!["0.0.0.0/0", "198.51.100.7"]);
        assert_eq!(by("2001:db8:1::5"), vec!["2001:db8::/32"]);
        assert_eq!(by("::ffff:198.51.100.7"), vec!["0.0.0.0/0", "198.51.100.7"]);
        assert!(by("2001:db9::1").is_empty());
    }

    #[test]
    fn expiry_from_valid_until_and_ttl() {
        let csv = "indicator,type,confidence,expires,last_seen,note\nevil.example,domain,90,2030-01-01T00:00:00Z,,c2\nold.example,domain,0.4,,2020-01-01,\n8.8.8.8,domain,50,,,\n";
        let f = FeedSpec { ttl: Some(std::time::Duration::from_secs(86_400)), col_kind: Some("type".into()), col_confidence: Some("confidence".into()), col_valid_until: Some("expires".into()), col_last_seen: Some("last_seen".into()), col_description: Some("note".into()), ..spec("csv") };
        let l = f.parse(csv, 0, None);
        assert_eq!(l.indicators.len(), 2);
        assert_eq!(l.rejected.len(), 1, "an IP declared as a domain is refused: {:?}", l.rejected);
        let s = TiStore::build(vec!["f".into()], vec![l.indicators]);
        let now_2025 = DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z").unwrap().timestamp();
        let m = s.match_domain("evil.example", now_2025);
        assert_eq!((m[0].indicator.confidence, m[0].indicator.description.as_deref()), (Some(90), Some("c2")));
        assert!(s.match_domain("evil.example", now_2025 + 10 * 365 * 86_400).is_empty(), "past valid_until");
        // last seen 2020-01-01 + 1 day ttl: long expired; before then it matched.
        assert!(s.match_domain("old.example", now_2025).is_empty());
        let jan_1_2020 = DateTime::parse_from_rfc3339("2020-01-01T12:00:00Z").unwrap().timestamp();
        assert_eq!(s.match_domain("old.example", jan_1_2020)[0].indicator.confidence, Some(40));
    }

    #[test]
    fn stix_bundles() {
        let bundle = r#"{"type":"bundle","id":"bundle--1","objects":[
          {"type":"indicator","spec_version":"2.1","id":"indicator--1","created":"2024-01-01T00:00:00Z","modified":"2024-01-02T00:00:00Z","name":"C2 domain","pattern":"[domain-name:value = 'c2.example.net']","pattern_type":"stix","valid_from":"2024-01-01T00:00:00Z","valid_until":"2030-01-01T00:00:00Z","confidence":85},
          {"type":"indicator","id":"indicator--2","pattern":"[ipv4-addr:value = '192.0.2.10'] OR [ipv6-addr:value = '2001:db8::10']","pattern_type":"stix","created":"2024-01-01T00:00:00Z"},
          {"type":"indicator","id":"indicator--3","pattern":"[url:value = 'http://x.example/a\\'b']","pattern_type":"stix"},
          {"type":"indicator","id":"indicator--4","pattern":"[file:hashes.'SHA-256' = 'aa']","pattern_type":"stix"},
          {"type":"indicator","id":"indicator--5","pattern":"[ipv4-addr:value = '1.2.3.4' AND domain-name:value = 'a.example']","pattern_type":"stix"},
          {"type":"malware","id":"malware--1","name":"x"}]}"#;
        let l = spec("stix").parse(bundle, 0, None);
        let vals: Vec<&str> = l.indicators.iter().map(|i| &*i.value).collect();
        assert_eq!(vals, vec!["c2.example.net", "192.0.2.10", "2001:db8::10", "http://x.example/a'b"]);
        assert_eq!(l.indicators[0].confidence, Some(85));
        assert_eq!(l.indicators[0].valid_until, Some(DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z").unwrap().timestamp()));
        assert_eq!(l.indicators[0].description.as_deref(), Some("C2 domain"));
        assert_eq!(l.rejected.len(), 2, "{:?}", l.rejected);
        assert!(l.rejected.iter().any(|(_, w)| w.contains("AND")));
    }
}
