//! Zscaler NSS feed records as a NSS VM sends them (zscaler.md §8): the recommended JSON
//! layouts and the default CSV rows, with the feed quirks — percent-encoded `e`-fields, quoted
//! and unquoted numbers, `None`/`NA`/`Unknown` placeholders, double-space dates — sent LF-framed
//! over TCP; `replay` resends the last records after a reconnect, as NSS does.

use chrono::{DateTime, Utc};

use crate::test_source::Rng;

/// `n` records (DNS and firewall, JSON and CSV mixed) ending at `end`.
pub fn generate(seed: u64, n: usize, end: DateTime<Utc>) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|i| {
            let t = end - chrono::Duration::seconds((n - i) as i64);
            // `%e` pads single-digit days with a space: the double-space dates of the feeds.
            let ts = t.format("%a %b %e %H:%M:%S %Y").to_string();
            let h = 1 + rng.below(250);
            let user = ["alice%40example.com", "bob%40example.com", "Unknown"][rng.below(3) as usize];
            match rng.below(4) {
                0 => format!(
                    r#"{{"sourcetype":"zscalernss-fw","event":{{"datetime":"{ts}","user":"{user}","department":"Sales","locationname":"HQ%20Berlin","cdport":443,"csport":{},"sdport":443,"ssport":0,"csip":"10.2.0.{h}","cdip":"203.0.113.{h}","ssip":"0.0.0.0","sdip":"203.0.113.{h}","tsip":"0.0.0.0","tunsport":0,"tuntype":"GRE","action":"{}","dnat":"No","stateful":"Yes","aggregate":"{}","nwsvc":"HTTPS","nwapp":"ssl","proto":"TCP","ipcat":"None","destcountry":"Germany","avgduration":31,"rulelabel":"Default%20Firewall%20Rule","inbytes":{},"outbytes":{},"duration":0,"durationms":31,"numsessions":{},"ipsrulelabel":"None","threatcat":"None","threatname":"None","deviceowner":"NA","devicehostname":"NA"}}}}"#,
                    20000 + i,
                    if rng.below(5) == 0 { "Drop" } else { "Allow" },
                    if rng.below(3) == 0 { "Yes" } else { "No" },
                    rng.below(100_000),
                    rng.below(10_000),
                    1 + rng.below(5)
                ),
                1 => format!(
                    r#""{ts}","{}","Sales","HQ","{}","{}","80","0","10.2.0.{h}","198.51.100.{h}","0.0.0.0","198.51.100.{h}","0.0.0.0","0","GRE","Allow","No","Yes","No","HTTP","web","TCP","None","United States","21","Firewall_1","{}","{}","0","21","1","None","None","None","NA","NA""#,
                    user.replace("%40", "@"),
                    80,
                    30000 + i,
                    rng.below(50_000),
                    rng.below(5_000)
                ),
                _ => format!(
                    r#"{{"sourcetype":"zscalernss-dns","event":{{"datetime":"{ts}","user":"{user}","department":"Sales","location":"HQ%20Berlin","reqaction":"REQ_ALLOW","resaction":"{}","reqrulelabel":"None","resrulelabel":"DNS_1","dns_reqtype":"A record","dns_req":"host{i}.example.com","dns_resp":"{}","srv_dport":"53","durationms":"3","clt_sip":"10.2.0.{h}","srv_dip":"185.46.212.88","category":"Other","deviceowner":"NA","devicehostname":"NA"}}}}"#,
                    if rng.below(10) == 0 { "RES_BLOCK" } else { "RES_ALLOW" },
                    if rng.below(8) == 0 { "NotFound".to_string() } else { format!("192.0.2.{h}") }
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_the_feed_quirks() {
        let r = generate(1, 200, Utc::now());
        assert!(r.iter().any(|l| l.starts_with("{\"sourcetype\":\"zscalernss-dns\"")));
        assert!(r.iter().any(|l| l.starts_with('"') && l.matches("\",\"").count() == 35), "default CSV rows");
        assert!(r.iter().any(|l| l.contains("%40")), "percent-encoded fields");
        assert!(r.iter().any(|l| l.contains("\"cdport\":443")), "unquoted numbers");
    }
}
