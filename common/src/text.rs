//! Small text helpers shared by parsers and loaders.

/// Splits one delimited line (CSV, TSV) with double quotes, `""` inside quotes being a quote.
pub fn split_delimited(line: &str, delim: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            c if c == delim && !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Parses an IP address as `str::parse::<IpAddr>` does (same answers, same rejections: no
/// leading zeros, no whitespace), with dotted-quad IPv4 read by hand first: every flow record
/// carries two to four addresses, and std's general parser costs several times more.
#[inline]
pub fn parse_ip(s: &str) -> Option<std::net::IpAddr> {
    match parse_ipv4(s.as_bytes()) {
        Some(v4) => Some(std::net::IpAddr::V4(v4)),
        None => s.parse().ok(),
    }
}

#[inline]
fn parse_ipv4(b: &[u8]) -> Option<std::net::Ipv4Addr> {
    if b.len() < 7 || b.len() > 15 {
        return None;
    }
    let mut octets = [0u8; 4];
    let mut i = 0;
    for (k, octet) in octets.iter_mut().enumerate() {
        if k > 0 {
            if b.get(i) != Some(&b'.') {
                return None;
            }
            i += 1;
        }
        let start = i;
        let mut v = 0u32;
        while i < b.len() && i - start < 3 && b[i].is_ascii_digit() {
            v = v * 10 + (b[i] - b'0') as u32;
            i += 1;
        }
        let digits = i - start;
        if digits == 0 || v > 255 || (digits > 1 && b[start] == b'0') {
            return None;
        }
        *octet = v as u8;
    }
    (i == b.len()).then(|| std::net::Ipv4Addr::from(octets))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ip_answers_like_std() {
        let cases = [
            "10.0.0.1", "255.255.255.255", "0.0.0.0", "1.2.3.4", "192.168.100.200", "256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.04", "1.2.3.4 ",
            " 1.2.3.4", "1..3.4", "1.2.3.", ".1.2.3", "1234.1.1.1", "1.2.3.4/24", "a.b.c.d", "", "::1", "fe80::1%2", "2001:db8::7", "::ffff:10.0.0.1", "10.0.0.1:80",
            "0.0.0.00", "99.999.9.9", "1.2.3.-4", "+1.2.3.4", "1.2.3.4\n", "١.٢.٣.٤",
        ];
        for c in cases {
            assert_eq!(parse_ip(c), c.parse().ok(), "{c:?}");
        }
        // Every short string over the bytes that matter.
        let alphabet = b"0159.:a ";
        let mut s = Vec::new();
        for n in 0..200_000u64 {
            s.clear();
            let mut x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n;
            let len = 7 + (x % 9) as usize;
            for _ in 0..len {
                s.push(alphabet[(x % alphabet.len() as u64) as usize]);
                x = (x / alphabet.len() as u64) ^ x.rotate_left(29);
            }
            let t = std::str::from_utf8(&s).unwrap();
            assert_eq!(parse_ip(t), t.parse().ok(), "{t:?}");
        }
        for a in [0u32, 1, 9, 10, 99, 100, 199, 200, 249, 250, 255] {
            let t = format!("{a}.{a}.{a}.{a}");
            assert_eq!(parse_ip(&t), t.parse().ok(), "{t}");
        }
    }

    #[test]
    fn quotes_and_delimiters() {
        assert_eq!(super::split_delimited(r#"a,"b,c","d""e",,f"#, ','), vec!["a", "b,c", "d\"e", "", "f"]);
        assert_eq!(super::split_delimited("x\ty", '\t'), vec!["x", "y"]);
    }
}
