//! FTD connection events 430002/430003 (cisco.md §4): `Key: Value` pairs separated by `, `,
//! where keys may contain spaces and values commas; a new pair starts only where `, ` is
//! followed by something shaped like a key and `: `.

/// The pairs of a key/value body, borrowed.
pub fn pairs(body: &str) -> Vec<(&str, &str)> {
    fn key_at(s: &str) -> Option<usize> {
        // A key: letters, digits, `_` and single spaces, up to 40 chars, then `: `.
        let end = s.find(": ")?;
        let k = &s[..end];
        (end > 0 && end <= 40 && k.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ' ') && !k.contains("  ")).then_some(end)
    }
    let mut out = Vec::new();
    let mut rest = body.trim();
    while let Some(kend) = key_at(rest) {
        let key = &rest[..kend];
        let after = &rest[kend + 2..];
        // The value runs to the next `, <Key>: `.
        let mut search = 0;
        let vend = loop {
            match after[search..].find(", ") {
                Some(p) => {
                    let at = search + p;
                    if key_at(&after[at + 2..]).is_some() {
                        break at;
                    }
                    search = at + 2;
                }
                None => break after.len(),
            }
        };
        out.push((key, after[..vend].trim()));
        rest = after.get(vend + 2..).unwrap_or("");
    }
    out
}

/// Looks a key up.
pub fn get<'a>(pairs: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v).filter(|v| !v.is_empty())
}

/// `DNSRecordType` phrases back to RR types (cisco.md §4.3).
pub fn record_type(phrase: &str) -> Option<&'static str> {
    Some(match phrase.trim().to_ascii_lowercase().as_str() {
        "a host address" => "A",
        "ip6 address" => "AAAA",
        "the canonical name for an alias" => "CNAME",
        "text strings" => "TXT",
        "marks the start of a zone of authority" => "SOA",
        "mail exchange" => "MX",
        "an authoritative name server" => "NS",
        "a domain name pointer" => "PTR",
        "server selection" => "SRV",
        "host information" => "HINFO",
        "naming authority pointer" => "NAPTR",
        "delegation signer" => "DS",
        "dns key" | "dnskey" => "DNSKEY",
        "certification authority restriction" => "CAA",
        "https binding" | "https specific service endpoints" => "HTTPS",
        "service binding" => "SVCB",
        "a request for all records" => "ANY",
        _ => return None,
    })
}

/// `DNSResponseType` phrases to RCODEs.
pub fn response_code(phrase: &str) -> Option<u16> {
    Some(match phrase.trim().to_ascii_lowercase().as_str() {
        "no error" => 0,
        "format error" => 1,
        "server failure" => 2,
        "non-existent domain" => 3,
        "not implemented" => 4,
        "query refused" => 5,
        "name exists when it should not" => 6,
        "rr set exists when it should not" => 7,
        "rr set that should exist does not" => 8,
        "server not authoritative for zone" | "not authorized" => 9,
        "name not contained in zone" => 10,
        _ => return logfetch_common::event::rcode_from_text(phrase),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_with_spaces_in_keys_and_commas_in_values() {
        let p = pairs("AccessControlRuleAction: <br/>Block with reset, Prefilter Policy: Default, Prefilter Policy, URL: http://x/?a=1, b=2, SrcIP: 10.0.0.1");
        assert_eq!(get(&p, "AccessControlRuleAction"), Some("<br/>Block with reset"));
        assert_eq!(get(&p, "Prefilter Policy"), Some("Default, Prefilter Policy"));
        assert_eq!(get(&p, "URL"), Some("http://x/?a=1, b=2"));
        assert_eq!(get(&p, "SrcIP"), Some("10.0.0.1"));
        assert_eq!(record_type("IP6 Address"), Some("AAAA"));
        assert_eq!(response_code("No error"), Some(0));
        assert_eq!(response_code("Non-Existent Domain"), Some(3));
    }
}
