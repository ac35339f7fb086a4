//! Domain name helpers: the registered domain (under a built-in list of multi-label public
//! suffixes — an approximation of the Public Suffix List, which cannot be fetched here), the
//! label left of it, and Shannon entropy.

/// Multi-label public suffixes common in traffic (a subset of the PSL).
const MULTI: &[&str] = &[
    "co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "net.uk", "ltd.uk", "plc.uk", "com.au", "net.au", "org.au", "edu.au", "gov.au", "co.nz", "org.nz", "net.nz", "co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp",
    "com.br", "net.br", "org.br", "gov.br", "com.cn", "net.cn", "org.cn", "gov.cn", "edu.cn", "com.tw", "org.tw", "com.hk", "org.hk", "co.in", "net.in", "org.in", "gov.in", "ac.in", "co.za", "org.za",
    "gov.za", "com.mx", "org.mx", "gob.mx", "co.kr", "or.kr", "ac.kr", "com.tr", "org.tr", "gov.tr", "com.ar", "org.ar", "com.sg", "org.sg", "gov.sg", "com.my", "com.ph", "com.vn", "com.ua", "com.pl",
    "co.il", "org.il", "co.id", "or.id", "ac.id", "com.eg", "com.sa", "com.pk", "com.ng", "co.ke", "com.co", "com.pe", "com.ve", "com.ec", "co.th", "in.th", "ac.th", "com.ru", "org.ru", "spb.ru", "msk.ru",
    "com.es", "org.es", "co.at", "or.at", "com.gr", "com.ro", "co.hu", "com.pt", "blogspot.com", "github.io", "herokuapp.com", "azurewebsites.net", "cloudfront.net", "appspot.com", "s3.amazonaws.com",
];

/// `a.b.example.co.uk` → `example.co.uk`. Lower-cases nothing: give it lower-case input.
pub fn registered(name: &str) -> &str {
    let n = name.trim_end_matches('.');
    let labels: Vec<usize> = std::iter::once(0).chain(n.match_indices('.').map(|(i, _)| i + 1)).collect();
    if labels.len() <= 2 {
        return n;
    }
    // The suffix is one label, or two when listed (three for a few).
    let last2 = &n[labels[labels.len() - 2]..];
    let last3 = &n[labels[labels.len() - 3]..];
    let keep = if labels.len() >= 4 && MULTI.contains(&last3) {
        4
    } else if MULTI.contains(&last2) {
        3
    } else {
        2
    };
    if labels.len() <= keep { n } else { &n[labels[labels.len() - keep]..] }
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
