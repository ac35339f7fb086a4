//! IP → user context: a file of IP ranges or host names → user, department, owner with optional
//! validity intervals (DHCP/VPN leases, honoured by the event's time), and the SentinelOne agents
//! cache (agent IPs → last logged-in user and host name).

use std::collections::HashMap;
use std::net::IpAddr;

use serde_json::Value;

use logfetch_common::text::split_delimited;

/// One mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct UserEntry {
    pub lo: u128,
    pub hi: u128,
    pub v4: bool,
    pub host: Option<String>,
    pub user: String,
    pub department: Option<String>,
    pub owner: Option<String>,
    /// Unix seconds, `[from, to)`.
    pub from: Option<i64>,
    pub to: Option<i64>,
}

fn bits(ip: IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(v4) => (u32::from(v4) as u128, true),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => (u32::from(v4) as u128, true),
            None => (u128::from(v6), false),
        },
    }
}

/// `10.0.0.5`, `10.0.0.0/24` or `10.0.0.10-10.0.0.20` → `(lo, hi, v4)`.
pub fn parse_range(s: &str) -> Result<(u128, u128, bool), String> {
    let s = s.trim();
    if let Some((a, b)) = s.split_once('-') {
        let (a, b) = (a.trim().parse::<IpAddr>().map_err(|_| format!("`{a}` is not an IP address"))?, b.trim().parse::<IpAddr>().map_err(|_| format!("`{b}` is not an IP address"))?);
        let ((lo, v4a), (hi, v4b)) = (bits(a), bits(b));
        if v4a != v4b || lo > hi {
            return Err(format!("`{s}` is not an ascending range of one address family"));
        }
        return Ok((lo, hi, v4a));
    }
    if let Some((a, p)) = s.split_once('/') {
        let ip: IpAddr = a.parse().map_err(|_| format!("`{a}` is not an IP address"))?;
        let (b, v4) = bits(ip);
        let width = if v4 { 32 } else { 128 };
        let p: u32 = p.parse().ok().filter(|p| *p <= width).ok_or_else(|| format!("`/{p}` is not a prefix length"))?;
        let host_bits = width - p;
        let span = if host_bits >= 128 { u128::MAX } else { (1u128 << host_bits) - 1 };
        let lo = b & !span;
        return Ok((lo, lo | span, v4));
    }
    let ip: IpAddr = s.parse().map_err(|_| format!("`{s}` is not an IP address, CIDR or range"))?;
    let (b, v4) = bits(ip);
    Ok((b, b, v4))
}

fn time(v: Option<&str>, what: &str) -> Result<Option<i64>, String> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => chrono::DateTime::parse_from_rfc3339(s).map(|t| Some(t.timestamp())).map_err(|_| format!("{what} `{s}` is not an RFC 3339 time")),
    }
}

/// The users file, indexed.
#[derive(Debug, Default)]
pub struct UserMap {
    entries: Vec<UserEntry>,
    exact: HashMap<(u128, bool), Vec<u32>>,
    ranges: Vec<u32>,
    hosts: HashMap<String, Vec<u32>>,
}

impl UserMap {
    /// Reads CSV (header: `network` and/or `host`, `user`, `department`, `owner`, `valid_from`,
    /// `valid_to`) or JSON (an array of objects with the same keys). Errors name the line.
    pub fn parse(text: &str, json: bool) -> Result<UserMap, String> {
        let rows: Vec<(usize, HashMap<String, String>)> = if json {
            let v: Value = serde_json::from_str(text).map_err(|e| format!("not a JSON array: {e}"))?;
            v.as_array()
                .ok_or("expected a JSON array of objects")?
                .iter()
                .enumerate()
                .map(|(i, o)| (i + 1, o.as_object().map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string()))).collect()).unwrap_or_default()))
                .collect()
        } else {
            let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty() && !l.starts_with('#'));
            let header: Vec<String> = lines.next().map(|(_, h)| split_delimited(h, ',').into_iter().map(|c| c.trim().to_ascii_lowercase()).collect()).unwrap_or_default();
            lines.map(|(i, l)| (i + 1, header.iter().cloned().zip(split_delimited(l, ',').into_iter().map(|s| s.trim().to_string())).collect())).collect()
        };
        let mut m = UserMap::default();
        for (line, r) in rows {
            let at = |why: String| format!("entry {line}: {why}");
            let get = |k: &str| r.get(k).map(String::as_str).filter(|s| !s.is_empty());
            let user = get("user").ok_or_else(|| at("`user` is missing".into()))?.to_string();
            let host = get("host").map(|h| h.to_ascii_lowercase());
            let (lo, hi, v4) = match get("network").or(get("ip")) {
                Some(n) => parse_range(n).map_err(at)?,
                None if host.is_some() => (1, 0, true), // host only: never matches an address
                None => return Err(at("give `network` (IP, CIDR or range) or `host`".into())),
            };
            let e = UserEntry {
                lo,
                hi,
                v4,
                host,
                user,
                department: get("department").map(str::to_string),
                owner: get("owner").map(str::to_string),
                from: time(get("valid_from"), "valid_from").map_err(at)?,
                to: time(get("valid_to"), "valid_to").map_err(at)?,
            };
            let i = m.entries.len() as u32;
            if lo == hi {
                m.exact.entry((lo, v4)).or_default().push(i);
            } else if lo < hi {
                m.ranges.push(i);
            }
            if let Some(h) = &e.host {
                m.hosts.entry(h.clone()).or_default().push(i);
            }
            m.entries.push(e);
        }
        Ok(m)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn valid(e: &UserEntry, t: i64) -> bool {
        e.from.is_none_or(|f| t >= f) && e.to.is_none_or(|to| t < to)
    }

    /// Who had `ip` at time `t` (Unix seconds): the narrowest matching range, then the latest lease.
    pub fn by_ip(&self, ip: IpAddr, t: i64) -> Option<&UserEntry> {
        let (b, v4) = bits(ip);
        let exact = self.exact.get(&(b, v4)).into_iter().flatten();
        let ranged = self.ranges.iter().filter(|i| {
            let e = &self.entries[**i as usize];
            e.v4 == v4 && e.lo <= b && b <= e.hi
        });
        exact
            .chain(ranged)
            .map(|i| &self.entries[*i as usize])
            .filter(|e| Self::valid(e, t))
            .min_by(|a, b| (a.hi - a.lo).cmp(&(b.hi - b.lo)).then_with(|| b.from.unwrap_or(i64::MIN).cmp(&a.from.unwrap_or(i64::MIN))))
    }

    /// Who used host `name` at time `t`.
    pub fn by_host(&self, name: &str, t: i64) -> Option<&UserEntry> {
        self.hosts.get(&name.to_ascii_lowercase()).into_iter().flatten().map(|i| &self.entries[*i as usize]).filter(|e| Self::valid(e, t)).max_by_key(|e| e.from.unwrap_or(i64::MIN))
    }
}

/// Agent IPs → (last logged-in user, host name) from every SentinelOne agents cache in `db`.
pub fn agent_index(db: &sled::Db) -> HashMap<IpAddr, (String, Option<String>)> {
    let mut out = HashMap::new();
    for name in db.tree_names() {
        let n = String::from_utf8_lossy(&name).to_string();
        if !(n.starts_with("s1/") && n.ends_with("/agents")) {
            continue;
        }
        let Ok(t) = db.open_tree(&name) else { continue };
        for (_, v) in t.iter().flatten() {
            let Ok(a) = serde_json::from_slice::<Value>(&v) else { continue };
            let Some(user) = a["user"].as_str().filter(|u| !u.is_empty()) else { continue };
            for ip in a["ips"].as_array().into_iter().flatten().filter_map(|i| i.as_str()?.parse::<IpAddr>().ok()) {
                out.insert(ip, (user.to_string(), a["name"].as_str().map(str::to_string)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> i64 {
        chrono::DateTime::parse_from_rfc3339(s).unwrap().timestamp()
    }

    #[test]
    fn leases_are_honoured_by_event_time_and_the_narrowest_range_wins() {
        let csv = "network,host,user,department,owner,valid_from,valid_to\n\
                   10.0.0.0/16,,it-pool,IT,,,\n\
                   10.0.5.20,,alice,Finance,,2026-01-01T08:00:00Z,2026-01-01T12:00:00Z\n\
                   10.0.5.20,,bob,Sales,,2026-01-01T12:00:00Z,2026-01-01T18:00:00Z\n\
                   10.0.9.1-10.0.9.50,,vpn-users,Remote,,,\n\
                   ,db01,svc-db,Platform,dba-team,,\n";
        let m = UserMap::parse(csv, false).unwrap();
        let ip = "10.0.5.20".parse().unwrap();
        assert_eq!(m.by_ip(ip, t("2026-01-01T09:00:00Z")).unwrap().user, "alice");
        assert_eq!(m.by_ip(ip, t("2026-01-01T12:00:00Z")).unwrap().user, "bob", "valid_to is exclusive");
        assert_eq!(m.by_ip(ip, t("2026-01-02T09:00:00Z")).unwrap().user, "it-pool", "outside both leases: the /16");
        assert_eq!(m.by_ip("10.0.9.7".parse().unwrap(), 0).unwrap().department.as_deref(), Some("Remote"));
        assert!(m.by_ip("10.1.0.1".parse().unwrap(), 0).is_none());
        assert_eq!(m.by_host("DB01", 0).unwrap().owner.as_deref(), Some("dba-team"));
        let e = UserMap::parse("network,user\n10.0.0.1/40,x\n", false).unwrap_err();
        assert!(e.contains("entry 2") && e.contains("/40"), "{e}");
        let j = UserMap::parse(r#"[{"network":"192.0.2.0/24","user":"lab","department":"R&D"}]"#, true).unwrap();
        assert_eq!(j.by_ip("192.0.2.9".parse().unwrap(), 0).unwrap().user, "lab");
    }
}
