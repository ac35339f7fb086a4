//! GeoIP and ASN lookups from MaxMind-format databases, swapped atomically when the file changes.
//!
//! A lookup clones an `Arc` to the current reader under a read lock held for nanoseconds, so a
//! reload never pauses the stream; events already being enriched finish on the old reader.
//! Private, loopback, link-local, documentation, multicast and other reserved addresses are
//! never looked up.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use logfetch_common::event::{AutonomousSystem, Location};
use maxminddb::Reader;
use serde::Deserialize;

/// One watched `.mmdb` file.
pub struct MmdbFile {
    pub path: PathBuf,
    reader: RwLock<Option<Arc<Reader<Vec<u8>>>>>,
    stamp: Mutex<Option<(SystemTime, u64)>>,
    pub loads: AtomicU64,
    pub load_failures: AtomicU64,
}

impl std::fmt::Debug for MmdbFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmdbFile").field("path", &self.path).field("loads", &self.loads).finish_non_exhaustive()
    }
}

fn stamp(path: &Path) -> std::io::Result<(SystemTime, u64)> {
    let m = std::fs::metadata(path)?;
    Ok((m.modified()?, m.len()))
}

impl MmdbFile {
    /// Opens the file; an unreadable file is an error here (at start-up), but a bad file later
    /// only logs and keeps the previous database.
    pub fn open(path: &Path) -> Result<MmdbFile, String> {
        let f = MmdbFile { path: path.to_path_buf(), reader: RwLock::new(None), stamp: Mutex::new(None), loads: AtomicU64::new(0), load_failures: AtomicU64::new(0) };
        f.reload_if_changed()?;
        Ok(f)
    }

    /// Loads the file again if its modification time or size changed. `Ok(true)`: swapped.
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let st = stamp(&self.path).map_err(|e| format!("{}: {e}", self.path.display()))?;
        if *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) == Some(st) {
            return Ok(false);
        }
        let loaded = std::fs::read(&self.path).map_err(|e| e.to_string()).and_then(|bytes| Reader::from_source(bytes).map_err(|e| e.to_string()));
        match loaded {
            Ok(r) => {
                *self.reader.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(r));
                *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
                self.loads.fetch_add(1, Ordering::Relaxed);
                Ok(true)
            }
            Err(e) => {
                // Remember the stamp so a broken file is reported once, not every tick.
                *self.stamp.lock().unwrap_or_else(|e| e.into_inner()) = Some(st);
                self.load_failures.fetch_add(1, Ordering::Relaxed);
                Err(format!("{} is not a readable MaxMind database ({e}); still using the previous one", self.path.display()))
            }
        }
    }

    pub fn current(&self) -> Option<Arc<Reader<Vec<u8>>>> {
        self.reader.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// True for addresses worth looking up: globally routed unicast.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || v4.is_unspecified()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
                || (o[0] == 198 && (18..20).contains(&o[1])))
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback() || v6.is_unspecified() || v6.is_multicast() || (s[0] & 0xfe00) == 0xfc00 || (s[0] & 0xffc0) == 0xfe80 || (s[0] == 0x2001 && s[1] == 0x0db8))
        }
    }
}

#[derive(Deserialize, Default)]
struct Named<'a> {
    #[serde(borrow, default)]
    iso_code: Option<&'a str>,
    #[serde(borrow, default)]
    code: Option<&'a str>,
    #[serde(borrow, default)]
    names: BTreeMap<&'a str, &'a str>,
}

#[derive(Deserialize, Default)]
struct LatLon {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

/// Fields of GeoLite2/GeoIP2 City and Country, DB-IP, and ip-location-db's flat layouts.
#[derive(Deserialize, Default)]
struct GeoRecord<'a> {
    #[serde(borrow, default)]
    country: Option<Named<'a>>,
    #[serde(borrow, default)]
    continent: Option<Named<'a>>,
    #[serde(borrow, default)]
    city: Option<Named<'a>>,
    #[serde(borrow, default)]
    subdivisions: Option<Vec<Named<'a>>>,
    #[serde(default)]
    location: Option<LatLon>,
    #[serde(borrow, default)]
    country_code: Option<&'a str>,
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(borrow, default)]
    autonomous_system_organization: Option<&'a str>,
}

fn record(file: &MmdbFile, ip: IpAddr, f: impl FnOnce(GeoRecord<'_>) -> Option<Location>) -> Option<Location> {
    let r = file.current()?;
    let res = r.lookup(ip).ok()?;
    let rec: GeoRecord<'_> = res.decode().ok()??;
    f(rec)
}

/// City / country for a public address.
pub fn locate(file: &MmdbFile, ip: IpAddr) -> Option<Location> {
    if !is_public(ip) {
        return None;
    }
    record(file, ip, |g| {
        let en = |n: &Option<Named<'_>>| n.as_ref().and_then(|n| n.names.get("en").map(|s| s.to_string()));
        let l = Location {
            country: g.country.as_ref().and_then(|c| c.iso_code).or(g.country_code).map(str::to_string),
            country_name: en(&g.country),
            continent: en(&g.continent).or_else(|| g.continent.as_ref().and_then(|c| c.code).map(str::to_string)),
            region: g.subdivisions.as_ref().and_then(|s| s.first()).and_then(|s| s.names.get("en").map(|s| s.to_string())),
            city: en(&g.city),
            lat: g.location.as_ref().and_then(|l| l.latitude),
            lon: g.location.as_ref().and_then(|l| l.longitude),
        };
        (l != Location::default()).then_some(l)
    })
}

/// The autonomous system of a public address.
pub fn asn(file: &MmdbFile, ip: IpAddr) -> Option<AutonomousSystem> {
    if !is_public(ip) {
        return None;
    }
    let r = file.current()?;
    let g: GeoRecord<'_> = r.lookup(ip).ok()?.decode().ok()??;
    g.autonomous_system_number.map(|number| AutonomousSystem { number, name: g.autonomous_system_organization.map(str::to_string) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::mmdb_writer::{MmdbWriter, asn_record, city_record};

    #[test]
    fn private_and_reserved_are_skipped() {
        for ip in ["10.1.1.1", "192.168.0.1", "127.0.0.1", "169.254.1.1", "100.64.0.1", "203.0.113.5", "224.0.0.1", "::1", "fe80::1", "fd00::1", "2001:db8::1", "::ffff:10.0.0.1"] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "1.1.1.1", "2a00:1450::1", "::ffff:8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn city_and_asn_lookups_and_a_swap() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("city.mmdb");
        let mut w = MmdbWriter::new("GeoLite2-City");
        w.insert("8.8.8.0".parse().unwrap(), 24, &city_record("US", "United States", "North America", "Mountain View", 37.4, -122.1));
        std::fs::write(&p, w.finish()).unwrap();
        let f = MmdbFile::open(&p).unwrap();
        let l = locate(&f, "8.8.8.8".parse().unwrap()).unwrap();
        assert_eq!((l.country.as_deref(), l.city.as_deref(), l.continent.as_deref()), (Some("US"), Some("Mountain View"), Some("North America")));
        assert_eq!((l.lat, l.lon), (Some(37.4), Some(-122.1)));
        assert!(locate(&f, "10.0.0.1".parse().unwrap()).is_none());
        // A new file: swapped on the next check.
        let mut w = MmdbWriter::new("GeoLite2-City");
        w.insert("8.8.8.0".parse().unwrap(), 24, &city_record("DE", "Germany", "Europe", "Berlin", 52.5, 13.4));
        w.insert("1.1.1.0".parse().unwrap(), 24, &city_record("AU", "Australia", "Oceania", "Sydney", -33.9, 151.2));
        std::fs::write(&p, w.finish()).unwrap();
        assert!(f.reload_if_changed().unwrap());
        assert_eq!(locate(&f, "8.8.8.8".parse().unwrap()).unwrap().country.as_deref(), Some("DE"));
        // A broken file keeps the previous database.
        std::fs::write(&p, b"not a database at all").unwrap();
        assert!(f.reload_if_changed().unwrap_err().contains("still using the previous one"));
        assert_eq!(locate(&f, "1.1.1.1".parse().unwrap()).unwrap().city.as_deref(), Some("Sydney"));
        let ap = dir.path().join("asn.mmdb");
        let mut w = MmdbWriter::new("GeoLite2-ASN");
        w.insert("8.8.8.0".parse().unwrap(), 24, &asn_record(15169, "GOOGLE"));
        std::fs::write(&ap, w.finish()).unwrap();
        let a = MmdbFile::open(&ap).unwrap();
        assert_eq!(asn(&a, "8.8.8.8".parse().unwrap()), Some(AutonomousSystem { number: 15169, name: Some("GOOGLE".into()) }));
    }
}
