//! Small zero-copy helpers for ASA message bodies: a token stream of words and parenthesised
//! groups (user names may contain spaces and non-ASCII letters), and address forms.

use std::net::IpAddr;

use logfetch_common::text::parse_ip;

/// A token: a run of non-space characters up to a `(`, or a parenthesised group (inner text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok<'a> {
    Word(&'a str),
    Paren(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub tok: Tok<'a>,
    /// Byte offsets in the body, for taking multi-word slices.
    pub start: usize,
    pub end: usize,
}

/// The tokens of one message: on the stack for all but the longest messages.
pub type Tokens<'a> = smallvec::SmallVec<[Token<'a>; 24]>;

/// Splits `s` into tokens.
pub fn tokens(s: &str) -> Tokens<'_> {
    let b = s.as_bytes();
    let mut out = Tokens::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' => i += 1,
            b'(' => {
                let mut depth = 0usize;
                let mut j = i;
                while j < b.len() {
                    match b[j] {
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                let end = (j + 1).min(b.len());
                let inner_end = j.min(b.len());
                out.push(Token { tok: Tok::Paren(&s[i + 1..inner_end]), start: i, end });
                i = end;
            }
            _ => {
                let j = word_end(b, i);
                out.push(Token { tok: Tok::Word(&s[i..j]), start: i, end: j });
                i = j;
            }
        }
    }
    out
}

/// Where the word starting at `i` ends: the next space, tab or `(`, or the end. Eight bytes at
/// a time (ASA bodies are mostly words of 5 to 25 bytes).
#[inline]
fn word_end(b: &[u8], mut j: usize) -> usize {
    use logfetch_common::text::word::{eq_mask, first};
    while let Some(w) = b.get(j..j + 8) {
        let x = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        // The lowest bit of the union is exact (see `word`): the first delimiter.
        let m = eq_mask(x, b' ') | eq_mask(x, b'\t') | eq_mask(x, b'(');
        if m != 0 {
            return j + first(m);
        }
        j += 8;
    }
    while j < b.len() && !matches!(b[j], b' ' | b'\t' | b'(') {
        j += 1;
    }
    j
}

impl<'a> Token<'a> {
    pub fn word(&self) -> Option<&'a str> {
        match self.tok {
            Tok::Word(w) => Some(w),
            Tok::Paren(_) => None,
        }
    }
    pub fn paren(&self) -> Option<&'a str> {
        match self.tok {
            Tok::Paren(p) => Some(p),
            Tok::Word(_) => None,
        }
    }
    pub fn is(&self, w: &str) -> bool {
        self.word().is_some_and(|x| x.eq_ignore_ascii_case(w))
    }
}

/// `ip/port` (port may be an ICMP id).
pub fn ip_port(s: &str) -> Option<(IpAddr, Option<u16>)> {
    // The `/` is a few bytes from the end: a scan from there beats a general reverse search.
    match s.bytes().rposition(|c| c == b'/') {
        Some(at) => Some((parse_ip(&s[..at])?, Some(s[at + 1..].parse().ok()?))),
        None => Some((parse_ip(s)?, None)),
    }
}

/// `ifc:ip[/port]`; the interface may itself contain `:` (`v1:outside:10.0.0.1/53`) and the
/// address may be IPv6, so the split is the leftmost `:` after which an address parses.
pub fn ifc_ip_port(s: &str) -> Option<(&str, IpAddr, Option<u16>)> {
    let b = s.as_bytes();
    let mut from = 0;
    while let Some(k) = b[from..].iter().position(|&c| c == b':') {
        let i = from + k;
        if let Some((ip, port)) = ip_port(&s[i + 1..]) {
            return Some((&s[..i], ip, port));
        }
        from = i + 1;
    }
    None
}

/// `ifc/ip` (106100 style; the port comes as a following parenthesised group). With `names`
/// configured the ASA writes a host name instead of the address: `Err(name)`.
pub fn ifc_slash_ip(s: &str) -> Option<(&str, Result<IpAddr, &str>)> {
    let (ifc, addr) = s.rsplit_once('/')?;
    if let Some(ip) = parse_ip(addr) {
        return Some((ifc, Ok(ip)));
    }
    let hostname = !addr.is_empty() && addr.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) && addr.chars().any(|c| c.is_ascii_alphabetic());
    hostname.then_some((ifc, Err(addr)))
}

/// `hostname/port` where the device logged a name instead of an address.
pub fn host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let (h, port) = match s.rsplit_once('/') {
        Some((h, p)) => (h, Some(p.parse().ok()?)),
        None => (s, None),
    };
    let ok = !h.is_empty() && h.contains('.') && h.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) && h.chars().any(|c| c.is_ascii_alphabetic());
    ok.then_some((h, port))
}

/// A user group: `LOCAL\user`, `DOMAIN\user`, `user@domain`, maybe `, SGT`. Returns the user,
/// or `None` for groups that are not users (mapped addresses, `type 3, code 0`).
pub fn user_of(group: &str) -> Option<&str> {
    let g = group.trim();
    if g.is_empty() || ip_port(g).is_some() || g.starts_with("type ") {
        return None;
    }
    let user = g.split(", ").next().unwrap_or(g).trim();
    // `LOCAL\user` is the ASA's local database: the user is what follows.
    let user = user.strip_prefix("LOCAL\\").unwrap_or(user);
    (!user.is_empty()).then_some(user)
}

/// `H:MM:SS` (hours may exceed 24) to milliseconds.
pub fn duration_ms(s: &str) -> Option<u64> {
    let mut it = s.split(':');
    let h: u64 = it.next()?.parse().ok()?;
    let m: u64 = it.next()?.parse().ok()?;
    let sec: u64 = it.next()?.parse().ok()?;
    if it.next().is_some() || m > 59 || sec > 59 {
        return None;
    }
    h.checked_mul(3600)?.checked_add(m * 60 + sec)?.checked_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_groups() {
        let t = tokens("for OUTSIDE:1.2.3.4/5 (6.7.8.9/5)(LOCAL\\dom\\Speciäl ÖN) to x");
        let kinds: Vec<String> = t.iter().map(|t| format!("{:?}", t.tok)).collect();
        assert_eq!(kinds, ["Word(\"for\")", "Word(\"OUTSIDE:1.2.3.4/5\")", "Paren(\"6.7.8.9/5\")", "Paren(\"LOCAL\\\\dom\\\\Speciäl ÖN\")", "Word(\"to\")", "Word(\"x\")"]);
        assert_eq!(user_of("LOCAL\\dom\\Speciäl ÖN"), Some("dom\\Speciäl ÖN"));
        assert_eq!(user_of("domain\\USER001"), Some("domain\\USER001"));
        assert_eq!(user_of("alice@corp, 12"), Some("alice@corp"));
        assert_eq!(user_of("6.7.8.9/5"), None);
    }

    #[test]
    fn word_ends_match_a_byte_loop() {
        let alphabet = b" \t(ab:./-)\xc3\xa9";
        let mut next = logfetch_common::text::xorshift(0x2545_f491_4f6c_dd1d);
        for _ in 0..20_000 {
            let x = next();
            let len = (x % 40) as usize;
            let s: Vec<u8> = (0..len).map(|k| alphabet[((x >> (k % 50)) as usize + k * 7) % alphabet.len()]).collect();
            for i in 0..len {
                let want = (i..len).find(|&j| matches!(s[j], b' ' | b'\t' | b'(')).unwrap_or(len);
                assert_eq!(word_end(&s, i), want, "{s:?} from {i}");
            }
        }
    }

    #[test]
    fn addresses() {
        assert_eq!(ifc_ip_port("v1:outside:10.8.1.9/54864").unwrap(), ("v1:outside", "10.8.1.9".parse().unwrap(), Some(54864)));
        assert_eq!(ifc_ip_port("outside:fe80::1/443").unwrap(), ("outside", "fe80::1".parse().unwrap(), Some(443)));
        assert_eq!(ifc_ip_port("Inside:10.1.1.1").unwrap(), ("Inside", "10.1.1.1".parse().unwrap(), None));
        assert!(ifc_ip_port("net:192.1682.2.2/10051").is_none());
        assert_eq!(duration_ms("10:00:01"), Some(36_001_000));
        assert_eq!(duration_ms("0:61:00"), None);
    }
}
