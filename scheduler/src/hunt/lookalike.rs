//! Look-alikes of brand domains, dnstwist-style: omission, insertion, repetition,
//! transposition, replacement, homoglyphs, hyphenation, bitsquatting, and TLD swaps. The
//! permutations of each brand are generated once; a query matches when its registered domain is
//! one of them (and is not the brand itself). Internationalised names (`xn--` punycode, or
//! Unicode as some products log them) are decoded and reduced to an ASCII skeleton through a
//! table of confusable letters (Cyrillic, Greek, Latin with diacritics): a skeleton equal to a
//! brand, or to one of its permutations, is an IDN homograph.

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

/// Letters that render like an ASCII letter (Unicode confusables for the scripts homograph
/// attacks use), mapped to that letter.
const CONFUSABLES: &[(char, char)] = &[
    // Cyrillic
    ('а', 'a'), ('в', 'b'), ('с', 'c'), ('ԁ', 'd'), ('е', 'e'), ('ё', 'e'), ('һ', 'h'), ('і', 'i'), ('ї', 'i'), ('ј', 'j'), ('к', 'k'), ('ӏ', 'l'), ('м', 'm'), ('п', 'n'), ('о', 'o'), ('р', 'p'),
    ('ԛ', 'q'), ('г', 'r'), ('ѕ', 's'), ('т', 't'), ('ц', 'u'), ('ѵ', 'v'), ('ԝ', 'w'), ('х', 'x'), ('у', 'y'), ('ү', 'y'), ('з', '3'),
    // Greek
    ('α', 'a'), ('β', 'b'), ('ϲ', 'c'), ('ε', 'e'), ('η', 'n'), ('ι', 'i'), ('κ', 'k'), ('ν', 'v'), ('ο', 'o'), ('ρ', 'p'), ('τ', 't'), ('υ', 'u'), ('χ', 'x'), ('γ', 'y'), ('ω', 'w'),
    // Latin with diacritics and look-alike Latin letters
    ('à', 'a'), ('á', 'a'), ('â', 'a'), ('ã', 'a'), ('ä', 'a'), ('å', 'a'), ('ā', 'a'), ('ă', 'a'), ('ą', 'a'), ('ɑ', 'a'), ('ç', 'c'), ('ć', 'c'), ('č', 'c'), ('ċ', 'c'), ('ď', 'd'), ('đ', 'd'),
    ('è', 'e'), ('é', 'e'), ('ê', 'e'), ('ë', 'e'), ('ē', 'e'), ('ė', 'e'), ('ę', 'e'), ('ě', 'e'), ('ğ', 'g'), ('ġ', 'g'), ('ɡ', 'g'), ('ì', 'i'), ('í', 'i'), ('î', 'i'), ('ï', 'i'), ('ī', 'i'),
    ('į', 'i'), ('ı', 'i'), ('ĺ', 'l'), ('ļ', 'l'), ('ľ', 'l'), ('ł', 'l'), ('ñ', 'n'), ('ń', 'n'), ('ň', 'n'), ('ò', 'o'), ('ó', 'o'), ('ô', 'o'), ('õ', 'o'), ('ö', 'o'), ('ø', 'o'), ('ō', 'o'),
    ('ő', 'o'), ('ŕ', 'r'), ('ř', 'r'), ('ś', 's'), ('š', 's'), ('ş', 's'), ('ť', 't'), ('ţ', 't'), ('ù', 'u'), ('ú', 'u'), ('û', 'u'), ('ü', 'u'), ('ū', 'u'), ('ů', 'u'), ('ű', 'u'), ('ų', 'u'),
    ('ý', 'y'), ('ÿ', 'y'), ('ź', 'z'), ('ż', 'z'), ('ž', 'z'),
];

/// The ASCII skeleton of an internationalised domain (punycode or Unicode), when it has
/// non-ASCII letters that all have a confusable; `None` for plain ASCII names and for letters
/// that look like nothing in ASCII (a genuinely foreign name is not a homograph).
pub fn idn_skeleton(domain: &str) -> Option<String> {
    let unicode = if domain.contains("xn--") {
        let (u, r) = idna::domain_to_unicode(domain);
        r.ok()?;
        u
    } else {
        domain.to_string()
    };
    if unicode.is_ascii() {
        return None;
    }
    let mut out = String::with_capacity(unicode.len());
    for c in unicode.chars() {
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            let lower = c.to_lowercase().next().unwrap_or(c);
            out.push(CONFUSABLES.iter().find(|(u, _)| *u == lower).map(|(_, a)| *a)?);
        }
    }
    Some(out)
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
    pub fn check(&self, registered: &str) -> Option<(&str, &'static str)> {
        if self.brands.contains(registered) {
            return None;
        }
        if let Some((brand, how)) = self.map.get(registered) {
            return Some((brand, how));
        }
        // An IDN homograph: its skeleton is a brand, or one of a brand's look-alikes.
        let skeleton = idn_skeleton(registered)?;
        if let Some(b) = self.brands.get(&skeleton) {
            return Some((b, "idn-homograph"));
        }
        self.map.get(&skeleton).map(|(b, _)| (b.as_str(), "idn-homograph"))
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
        // IDN homographs: punycode with Cyrillic е/а, Greek ο, Latin é, the Unicode form, and a
        // homograph of a permutation (Cyrillic а plus an omission).
        for d in ["xn--xample-2of.com", "xn--exmple-4nf.com", "xn--exampl-8of.com", "xn--exampl-gva.com", "xn--xample-h0e.com", "exаmple.com", "xn--exple-5ve.com"] {
            assert_eq!(l.check(d), Some(("example.com", "idn-homograph")), "{d} ({:?})", idn_skeleton(d));
        }
        // gооgle (two Cyrillic о) imitates google.com, not example.com; аррӏе is the classic one.
        assert!(l.check("xn--ggle-55da.com").is_none());
        let other = Lookalikes::new(&["google.com".to_string(), "apple.com".to_string()]);
        assert_eq!(other.check("xn--ggle-55da.com"), Some(("google.com", "idn-homograph")));
        assert_eq!(other.check("xn--80ak6aa92e.com"), Some(("apple.com", "idn-homograph")));
        // A real word in another script (пример.рф: и has no ASCII look-alike) and plain ASCII.
        assert_eq!(idn_skeleton("xn--e1afmkfd.xn--p1ai"), None);
        assert_eq!(idn_skeleton("example.com"), None);
        assert_eq!(idn_skeleton("xn--broken-"), None);
        assert!(l.check("example.com").is_none(), "the brand itself");
        assert!(l.check("wikipedia.org").is_none());
        assert!(l.check("exampleshop.com").is_none());
        // Bitsquatting: 'e' (0x65) ^ 0x04 = 'a'.
        assert!(permutations("example").contains_key("axample"));
    }
}
