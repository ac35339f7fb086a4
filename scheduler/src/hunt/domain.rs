//! Domain name helpers: the registered domain (Public Suffix List), the label left of it, and
//! Shannon entropy.

/// `a.b.example.co.uk` → `example.co.uk`, by the Public Suffix List (the `psl` crate's compiled-in
/// copy, ICANN and private sections); the name itself when it has no registrable part.
pub fn registered(name: &str) -> &str {
    let n = name.trim_end_matches('.');
    psl::domain_str(n).unwrap_or(n)
}

/// Everything left of the registered domain (`a.b` for `a.b.example.com`), or "".
pub fn subdomain(name: &str) -> &str {
    let n = name.trim_end_matches('.');
    let r = registered(n);
    n.len().checked_sub(r.len() + 1).map_or("", |end| &n[..end])
}

/// The registered domain's own label (`example` for `www.example.co.uk`).
pub fn main_label(name: &str) -> &str {
    registered(name).split('.').next().unwrap_or("")
}

/// The public suffix (`co.uk`, `com`).
pub fn suffix(name: &str) -> &str {
    let r = registered(name);
    r.split_once('.').map_or("", |(_, s)| s)
}

/// Shannon entropy in bits per character.
pub fn entropy(s: &str) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for b in s.bytes() {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts.iter().filter(|c| **c > 0).map(|c| *c as f64 / n).map(|p| -p * p.log2()).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_domains() {
        assert_eq!(registered("a.b.example.com"), "example.com");
        assert_eq!(registered("www.example.co.uk."), "example.co.uk");
        assert_eq!(registered("example.com"), "example.com");
        assert_eq!(registered("localhost"), "localhost");
        assert_eq!(registered("x.user.github.io"), "user.github.io");
        assert_eq!(subdomain("q+Z8A.hidemyself.org."), "q+Z8A");
        assert_eq!(subdomain("example.com"), "");
        assert_eq!(main_label("www.example.co.uk"), "example");
        assert_eq!(suffix("a.example.co.uk"), "co.uk");
        assert!((entropy("abcd") - 2.0).abs() < 1e-9);
        assert_eq!(entropy("aaaa"), 0.0);
    }
}
