//! A small MaxMind DB (format 2.0) writer: an IPv6 search tree (IPv4 networks under `::/96`),
//! 32-bit records, a data section of maps, strings, numbers and arrays, and the metadata. Tests
//! and demos build their GeoIP/ASN databases with it, since real ones cannot be downloaded here.

use std::net::IpAddr;

/// A value in the data section.
#[derive(Debug, Clone)]
pub enum MValue {
    Str(String),
    F64(f64),
    U16(u16),
    U32(u32),
    U64(u64),
    Map(Vec<(String, MValue)>),
    Array(Vec<MValue>),
}

impl MValue {
    /// A map from `(key, value)` pairs.
    pub fn map<K: Into<String>>(pairs: impl IntoIterator<Item = (K, MValue)>) -> MValue {
        MValue::Map(pairs.into_iter().map(|(k, v)| (k.into(), v)).collect())
    }
    pub fn s(v: &str) -> MValue {
        MValue::Str(v.to_string())
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Rec {
    Empty,
    Node(u32),
    Data(u32),
}

/// Builds a database in memory.
#[derive(Debug)]
pub struct MmdbWriter {
    nodes: Vec<[Rec; 2]>,
    data: Vec<u8>,
    database_type: String,
}

fn control(out: &mut Vec<u8>, ty: u8, size: usize) {
    let (first, extra): (u8, Vec<u8>) = match size {
        0..=28 => (size as u8, vec![]),
        29..=284 => (29, vec![(size - 29) as u8]),
        285..=65_820 => (30, ((size - 285) as u16).to_be_bytes().to_vec()),
        _ => (31, ((size - 65_821) as u32).to_be_bytes()[1..].to_vec()),
    };
    if ty <= 7 {
        out.push(ty << 5 | first);
    } else {
        out.push(first);
        out.push(ty - 7);
    }
    out.extend(extra);
}

fn uint(out: &mut Vec<u8>, ty: u8, v: u64) {
    let bytes = v.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    control(out, ty, 8 - skip);
    out.extend(&bytes[skip..]);
}

fn encode(out: &mut Vec<u8>, v: &MValue) {
    match v {
        MValue::Str(s) => {
            control(out, 2, s.len());
            out.extend(s.as_bytes());
        }
        MValue::F64(f) => {
            control(out, 3, 8);
            out.extend(f.to_be_bytes());
        }
        MValue::U16(n) => uint(out, 5, *n as u64),
        MValue::U32(n) => uint(out, 6, *n as u64),
        MValue::U64(n) => uint(out, 9, *n),
        MValue::Map(pairs) => {
            control(out, 7, pairs.len());
            for (k, v) in pairs {
                encode(out, &MValue::Str(k.clone()));
                encode(out, v);
            }
        }
        MValue::Array(items) => {
            control(out, 11, items.len());
            for i in items {
                encode(out, i);
            }
        }
    }
}

impl MmdbWriter {
    pub fn new(database_type: &str) -> MmdbWriter {
        MmdbWriter { nodes: vec![[Rec::Empty, Rec::Empty]], data: Vec::new(), database_type: database_type.to_string() }
    }

    /// Maps the network `ip/prefix` to `value` (IPv4 prefixes count IPv4 bits).
    pub fn insert(&mut self, ip: IpAddr, prefix: u8, value: &MValue) {
        let (bits, len) = match ip {
            IpAddr::V4(v4) => (u32::from(v4) as u128, 96 + prefix.min(32) as u32),
            IpAddr::V6(v6) => (u128::from(v6), prefix.min(128) as u32),
        };
        let off = self.data.len() as u32;
        encode(&mut self.data, value);
        let mut node = 0usize;
        for depth in 0..len {
            let bit = ((bits >> (127 - depth)) & 1) as usize;
            if depth == len - 1 {
                self.nodes[node][bit] = Rec::Data(off);
                break;
            }
            node = match self.nodes[node][bit] {
                Rec::Node(n) => n as usize,
                other => {
                    // A new node; a shorter network that was here covers both halves.
                    let fill = if let Rec::Data(_) = other { other } else { Rec::Empty };
                    self.nodes.push([fill, fill]);
                    let n = self.nodes.len() - 1;
                    self.nodes[node][bit] = Rec::Node(n as u32);
                    n
                }
            };
        }
    }

    /// The database file's bytes.
    pub fn finish(&self) -> Vec<u8> {
        let count = self.nodes.len() as u32;
        let mut out = Vec::with_capacity(self.nodes.len() * 8 + 16 + self.data.len() + 512);
        for n in &self.nodes {
            for r in n {
                let v = match r {
                    Rec::Empty => count,
                    Rec::Node(i) => *i,
                    Rec::Data(off) => count + 16 + off,
                };
                out.extend(v.to_be_bytes());
            }
        }
        out.extend([0u8; 16]);
        out.extend(&self.data);
        out.extend(b"\xAB\xCD\xEFMaxMind.com");
        let meta = MValue::map([
            ("binary_format_major_version", MValue::U16(2)),
            ("binary_format_minor_version", MValue::U16(0)),
            ("build_epoch", MValue::U64(1_700_000_000)),
            ("database_type", MValue::Str(self.database_type.clone())),
            ("description", MValue::map([("en", MValue::s("logfetch test database"))])),
            ("ip_version", MValue::U16(6)),
            ("languages", MValue::Array(vec![MValue::s("en")])),
            ("node_count", MValue::U32(count)),
            ("record_size", MValue::U16(32)),
        ]);
        encode(&mut out, &meta);
        out
    }
}

/// A GeoLite2-City-shaped record.
pub fn city_record(country_iso: &str, country: &str, continent: &str, city: &str, lat: f64, lon: f64) -> MValue {
    MValue::map([
        ("city", MValue::map([("names", MValue::map([("en", MValue::s(city))]))])),
        ("continent", MValue::map([("code", MValue::s(&continent[..2.min(continent.len())].to_uppercase())), ("names", MValue::map([("en", MValue::s(continent))]))])),
        ("country", MValue::map([("iso_code", MValue::s(country_iso)), ("names", MValue::map([("en", MValue::s(country))]))])),
        ("location", MValue::map([("latitude", MValue::F64(lat)), ("longitude", MValue::F64(lon))])),
    ])
}

/// A GeoLite2-ASN-shaped record.
pub fn asn_record(number: u32, org: &str) -> MValue {
    MValue::map([("autonomous_system_number", MValue::U32(number)), ("autonomous_system_organization", MValue::s(org))])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_maxminddb_reader_reads_what_we_write() {
        let mut w = MmdbWriter::new("GeoLite2-City");
        w.insert("8.8.8.0".parse().unwrap(), 24, &city_record("US", "United States", "North America", "Mountain View", 37.4, -122.1));
        w.insert("2a00:1450::".parse().unwrap(), 32, &city_record("IE", "Ireland", "Europe", "Dublin", 53.3, -6.2));
        let r = maxminddb::Reader::from_source(w.finish()).unwrap();
        assert_eq!(r.metadata().database_type, "GeoLite2-City");
        let c: maxminddb::geoip2::City = r.lookup("8.8.8.8".parse().unwrap()).unwrap().decode().unwrap().unwrap();
        assert_eq!(c.country.iso_code, Some("US"));
        assert_eq!(c.city.names.english, Some("Mountain View"));
        let c: maxminddb::geoip2::City = r.lookup("2a00:1450:4001::1".parse().unwrap()).unwrap().decode().unwrap().unwrap();
        assert_eq!(c.country.iso_code, Some("IE"));
        assert!(!r.lookup("9.9.9.9".parse().unwrap()).unwrap().has_data());
    }
}
