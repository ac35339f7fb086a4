//! Look-alikes of brand domains, dnstwist-style: omission, insertion, repetition,
//! transposition, replacement, homoglyphs, hyphenation, bitsquatting, and TLD swaps. The
//! permutations of each brand are generated once; a query matches when its registered domain is
//! one of them (and is not the brand itself).

use std::collections::{HashMap, HashSet};

const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789-";
const TLDS: &[&str] = &["com", "net", "org", "co", "io", "info", "biz", "xyz", "online", "site", "top", "app", "shop", "club", "live", "ru", "cn", "de", "uk", "co.uk", "eu", "us", "me", "cc", "tk", "ml", "ga", "cf", "gq"];
const HOMOGLYPHS: &[(&str, &[&str])] = &[
    ("o", &["0"]), ("0", &["o"]), ("l", &["1", "i"]), ("i", &["1", "l"]), ("1", &["l", "i"]), ("m", &["rn", "nn"]), ("w", &["vv"]), ("e", &["3"]), ("a", &["4"]), ("s", &["5"]), ("g", &["q", "9"]),
    ("b", &["d", "6"]), ("d", &["b", "cl"]), ("u", &["v"]), ("v", &["u"]), ("n", &["m", "r"]), ("rn", &["m"]), ("cl", &["d"]), ("vv", &["w"]),
];

/// Every look-alike label of `label` (without the label itself), with the technique.
pub fn permutations(label: &str) -> HashMap<String, &'static str> {
    let b = label.as_bytes();
    let mut out: HashMap<String, &'static str> = HashMap::new();
    let mut add = |s: String, how: &'static str| {
        if s != label && !s.is_empty() && !s.starts_with('-') && !s.ends_with('-') {
            out.entry(s).or_insert(how);
        }
    };
    for i in 0..b.len() {
        add(format!("{}{}", &label[..i], &label[i + 1..]), "omission");
        add(format!("{}{}{}", &label[..i], b[i] as char, &label[i..]), "repetition");
        if i + 1 < b.len() {
            let mut t = b.to_vec();
            t.swap(i, i + 1);
            add(String::from_utf8_lossy(&t).to_string(), "transposition");
            add(format!("{}-{}", &label[..i + 1], &label[i + 1..]), "hyphenation");
        }
        for &c in CHARS {
            let mut t = b.to_vec();
            t[i] = c;
            add(String::from_utf8_lossy(&t).to_string(), "replacement");
        }
        for bit in 0..8 {
            let f = b[i] ^ (1 << bit);
            if f.is_ascii_lowercase() || f.is_ascii_digit() || f == b'-' {
                let mut t = b.to_vec();
                t[i] = f;
                add(String::from_utf8_lossy(&t).to_string(), "bitsquatting");
            }
        }
    }
    for i in 0..=b.len() {
        for &c in CHARS {
            add(format!("{}{}{}", &label[..i], c as char, &label[i..]), "insertion");
        }
    }
    for (from, tos) in HOMOGLYPHS {
        for (i, _) in label.match_indices(from) {
            for to in *tos {
                add(format!("{}{}{}", &label[..i], to, &label[i + from.len()..]), "homoglyph");
            }
        }
    }
    out
}

/// The look-alike registered domains of a set of brands.
#[derive(Debug, Default)]
pub struct Lookalikes {
    /// registered domain → (brand, technique)
    map: HashMap<String, (String, &'static str)>,
    brands: HashSet<String>,
}

impl Lookalikes {
    pub fn new(brands: &[String]) -> Lookalikes {
        let mut l = Lookalikes::default();
        for brand in brands {
            let brand = brand.trim().trim_end_matches('.').to_ascii_lowercase();
            let label = super::domain::main_label(&brand).to_string();
            let suffix = super::domain::suffix(&brand).to_string();
            l.brands.insert(brand.clone());
            for (p, how) in permutations(&label) {
                l.map.entry(format!("{p}.{suffix}")).or_insert((brand.clone(), how));
            }
            for tld in TLDS.iter().filter(|t| **t != suffix) {
                l.map.entry(format!("{label}.{tld}")).or_insert((brand.clone(), "tld-swap"));
            }
        }
        l
    }

    /// `(brand, technique)` when `registered` imitates a brand.
    pub fn check(&self, registered: &str) -> Option<&(String, &'static str)> {
        if self.brands.contains(registered) {
            return None;
        }
        self.map.get(registered)
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_technique() {
        let l = Lookalikes::new(&["example.com".to_string()]);
        for (d, how) in [
            ("exmple.com", "omission"),
            ("exammple.com", "repetition"),
            ("exmaple.com", "transposition"),
            ("exa-mple.com", "hyphenation"),
            ("exampie.com", "replacement"),
            ("examp1e.com", "replacement"),
            ("exarnple.com", "homoglyph"),
            ("example.net", "tld-swap"),
            ("example.co.uk", "tld-swap"),
            ("examplle.com", "repetition"),
            ("gxample.com", "replacement"),
        ] {
            assert_eq!(l.check(d).map(|x| x.1), Some(how), "{d}");
        }
        assert!(l.check("example.com").is_none(), "the brand itself");
        assert!(l.check("wikipedia.org").is_none());
        assert!(l.check("exampleshop.com").is_none());
        // Bitsquatting: 'e' (0x65) ^ 0x04 = 'a'.
        assert!(permutations("example").contains_key("axample"));
    }
}
