//! The `test` vendor's data: deterministic records from a seed.

use chrono::{DateTime, Duration, Utc};

/// A small deterministic PRNG (splitmix64): the same seed gives the same data everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

const DOMAINS: &[&str] = &["www.example.com", "mail.example.org", "cdn.example.net", "api.example.co.uk", "updates.example.com", "login.example.org"];

/// One generated record: its id, time and JSON line.
#[derive(Debug, Clone)]
pub struct TestRecordLine {
    pub id: String,
    pub time: DateTime<Utc>,
    pub kind: &'static str,
    pub line: String,
}

/// `n` records of `kind` ("flow" or "dns") spread evenly over [start, start + span).
pub fn generate(seed: u64, kind: &'static str, n: usize, start: DateTime<Utc>, span: Duration) -> Vec<TestRecordLine> {
    let mut rng = Rng::new(seed ^ if kind == "dns" { 0xD45 } else { 0xF10 });
    let step_ms = if n == 0 { 0 } else { span.num_milliseconds() / n as i64 };
    (0..n)
        .map(|i| {
            let time = start + Duration::milliseconds(step_ms * i as i64);
            let id = format!("{kind}-{seed}-{i}");
            let ts = time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let client = format!("10.0.{}.{}", rng.below(4), 1 + rng.below(250));
            let line = if kind == "dns" {
                let q = DOMAINS[rng.below(DOMAINS.len() as u64) as usize];
                let nx = rng.below(10) == 0;
                let ans = if nx { String::new() } else { format!("\"192.0.2.{}\"", 1 + rng.below(250)) };
                format!(
                    r#"{{"type":"dns","id":"{id}","time":"{ts}","client_ip":"{client}","query":"{q}","qtype":"A","rcode":"{}","answers":[{ans}]}}"#,
                    if nx { "NXDOMAIN" } else { "NOERROR" }
                )
            } else {
                let port = [443u16, 80, 53, 22, 8443][rng.below(5) as usize];
                let proto = if port == 53 { "udp" } else { "tcp" };
                let action = if rng.below(8) == 0 { "deny" } else { "allow" };
                format!(
                    r#"{{"type":"flow","id":"{id}","time":"{ts}","src_ip":"{client}","src_port":{},"dst_ip":"198.51.100.{}","dst_port":{port},"proto":"{proto}","bytes_out":{},"bytes_in":{},"action":"{action}"}}"#,
                    1024 + rng.below(60000),
                    1 + rng.below(250),
                    rng.below(5000),
                    rng.below(500000)
                )
            };
            TestRecordLine { id, time, kind, line }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic() {
        let t = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        let a = generate(7, "flow", 10, t, Duration::minutes(10));
        let b = generate(7, "flow", 10, t, Duration::minutes(10));
        assert_eq!(a.iter().map(|r| &r.line).collect::<Vec<_>>(), b.iter().map(|r| &r.line).collect::<Vec<_>>());
        assert_eq!(a[3].time, t + Duration::minutes(3));
        assert_ne!(a[0].line, generate(8, "flow", 1, t, Duration::minutes(1))[0].line);
    }
}
