//! DGA scoring of a domain's registered label: character bigram/trigram log-likelihoods against
//! benign, DGA and per-family models, entropy, length, digit / vowel / rare-letter ratios,
//! consonant runs and alternation, hyphens and how common the TLD is among benign and DGA names,
//! combined by boosted depth-2 trees. The model (n-gram and TLD tables, trees, threshold) is
//! trained ahead of time by `logfetch hunt train` from the labelled samples and compiled in
//! (`dga_model.json`); nothing is fetched at run time.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::domain;

pub const FEATURES: usize = 21;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DgaModel {
    pub trigrams: HashMap<String, f32>,
    pub trigram_default: f32,
    /// The same for DGA names (the likelihood ratio is a feature).
    pub dga_trigrams: HashMap<String, f32>,
    pub dga_trigram_default: f32,
    /// Bigram tables (benign, DGA): smoother on short labels.
    #[serde(default)]
    pub bigrams: (HashMap<String, f32>, f32, HashMap<String, f32>, f32),
    /// One table per DGA family: the best-fitting family's likelihood is a feature.
    #[serde(default)]
    pub family_trigrams: Vec<(String, HashMap<String, f32>, f32)>,
    pub tlds: HashMap<String, f32>,
    pub tld_default: f32,
    /// TLD frequencies among DGA names.
    #[serde(default)]
    pub dga_tlds: HashMap<String, f32>,
    /// The dictionary for word coverage: alphabetic tokens (3–12 letters) seen at least twice in
    /// the labels of benign training names ("mail", "cloud", "shop", "news", brand names).
    #[serde(default)]
    pub words: std::collections::HashSet<String>,
    /// Gradient-boosted depth-2 trees over the features.
    pub trees: Vec<Tree>,
    pub base: f64,
    /// Scores at or above this are DGA (chosen for ≤ 0.7 % out-of-fold false positives on each
    /// OpenDNS training list; see [`train`]).
    pub threshold: f64,
}

static MODEL: LazyLock<DgaModel> = LazyLock::new(|| serde_json::from_str(include_str!("dga_model.json")).expect("the compiled-in DGA model is valid JSON"));

/// The compiled-in model.
pub fn model() -> &'static DgaModel {
    &MODEL
}

/// Lookup domains of CDNs, clouds and security products, which look random by design.
const ALLOW: &[&str] = &[
    "akamaiedge.net", "akamai.net", "akamaihd.net", "edgekey.net", "cloudfront.net", "amazonaws.com", "azureedge.net", "azurefd.net", "windows.net", "trafficmanager.net", "googleusercontent.com",
    "googlevideo.com", "gvt1.com", "1e100.net", "fastly.net", "fastlylb.net", "cloudflare.net", "cdn77.org", "llnwd.net", "msedge.net", "office365.com", "sophosxl.net", "mcafee.com", "trendmicro.com",
    "spamhaus.org", "surbl.org", "barracudabrts.com", "senderbase.org", "e5.sk", "in-addr.arpa", "ip6.arpa", "local", "arpa",
];

pub fn allowed(name: &str) -> bool {
    let r = domain::registered(name);
    // `r` is a suffix of `name`, so a name under an allowed domain covers `r` being under it.
    let under = |a: &str| name.len() > a.len() && name.ends_with(a) && name.as_bytes()[name.len() - a.len() - 1] == b'.';
    ALLOW.iter().any(|a| r == *a || under(a))
}

fn is_vowel(b: u8) -> bool {
    matches!(b, b'a' | b'e' | b'i' | b'o' | b'u' | b'y')
}

impl DgaModel {
    fn ll(table: &HashMap<String, f32>, default: f32, label: &str) -> f64 {
        Self::ll_n(table, default, label, 3)
    }

    fn ll_n(table: &HashMap<String, f32>, default: f32, label: &str, n: usize) -> f64 {
        let padded = format!("^{label}$");
        let b = padded.as_bytes();
        if b.len() < n {
            return default as f64;
        }
        let k = b.len() + 1 - n;
        (0..k).map(|i| std::str::from_utf8(&b[i..i + n]).ok().and_then(|t| table.get(t)).copied().unwrap_or(default) as f64).sum::<f64>() / k as f64
    }

    /// The raw features of a domain name.
    pub fn features(&self, name: &str) -> [f64; FEATURES] {
        let lower = name.trim_end_matches('.').to_ascii_lowercase();
        let label = domain::main_label(&lower);
        let tld = lower.rsplit('.').next().unwrap_or("");
        let len = label.len().max(1) as f64;
        let digits = label.bytes().filter(u8::is_ascii_digit).count() as f64;
        let vowels = label.bytes().filter(|b| is_vowel(*b)).count() as f64;
        let mut run = 0usize;
        let mut max_run = 0usize;
        for b in label.bytes() {
            if b.is_ascii_alphabetic() && !is_vowel(b) {
                run += 1;
                max_run = max_run.max(run);
            } else {
                run = 0;
            }
        }
        let benign_ll = Self::ll(&self.trigrams, self.trigram_default, label);
        let dga_ll = Self::ll(&self.dga_trigrams, self.dga_trigram_default, label);
        let fam_ll = self.family_trigrams.iter().map(|(_, t, d)| Self::ll(t, *d, label)).fold(f64::NEG_INFINITY, f64::max);
        let fam_ll = if fam_ll.is_finite() { fam_ll } else { dga_ll };
        let (bb, bbd, bd, bdd) = &self.bigrams;
        let (b_ll, d_ll) = (Self::ll_n(bb, *bbd, label, 2), Self::ll_n(bd, *bdd, label, 2));
        let distinct = {
            let mut seen = [false; 256];
            label.bytes().filter(|b| !std::mem::replace(&mut seen[*b as usize], true)).count()
        };
        let rare = label.bytes().filter(|b| b"qxzjvkw".contains(b)).count() as f64 / len;
        let letters: Vec<bool> = label.bytes().filter(u8::is_ascii_alphabetic).map(is_vowel).collect();
        let alternation = if letters.len() < 2 { 0.0 } else { letters.windows(2).filter(|w| w[0] != w[1]).count() as f64 / (letters.len() - 1) as f64 };
        let dga_tld = self.dga_tlds.get(tld).copied().unwrap_or(self.tld_default) as f64;
        [
            dga_tld - self.tlds.get(tld).copied().unwrap_or(self.tld_default) as f64,
            rare,
            alternation,
            distinct as f64 / len,
            max_run as f64,
            b_ll,
            b_ll - d_ll,
            fam_ll,
            benign_ll - fam_ll,
            benign_ll,
            dga_ll,
            benign_ll - dga_ll,
            domain::entropy(label),
            len.ln(),
            digits / len,
            vowels / len,
            max_run as f64 / len,
            label.bytes().filter(|b| *b == b'-').count() as f64,
            self.tlds.get(tld).copied().unwrap_or(self.tld_default) as f64,
            (label.len() as f64 - 12.0).max(0.0).sqrt(),
            self.word_coverage(label),
        ]
    }

    /// The share of the label's characters covered by non-overlapping dictionary words (the best
    /// segmentation): near 1 for "securemailcloud", near 0 for "xjwqkvhd".
    pub fn word_coverage(&self, label: &str) -> f64 {
        let b = label.as_bytes();
        let n = b.len();
        if n == 0 || self.words.is_empty() {
            return 0.0;
        }
        // best[i]: most characters of label[..i] covered.
        let mut best = vec![0usize; n + 1];
        for i in 1..=n {
            best[i] = best[i - 1];
            for len in WORD_MIN..=WORD_MAX.min(i) {
                if let Ok(w) = std::str::from_utf8(&b[i - len..i]) {
                    if self.words.contains(w) {
                        best[i] = best[i].max(best[i - len] + len);
                    }
                }
            }
        }
        best[n] as f64 / n as f64
    }

    /// Probability-like score in [0, 1]; allow-listed names score 0.
    pub fn score(&self, name: &str) -> f64 {
        if allowed(&name.to_ascii_lowercase()) {
            return 0.0;
        }
        let f = self.features(name);
        let z = self.base + self.trees.iter().map(|t| t.predict(&f)).sum::<f64>();
        1.0 / (1.0 + (-z).exp())
    }

    pub fn is_dga(&self, name: &str) -> bool {
        self.score(name) >= self.threshold
    }
}

/// One depth-2 regression tree: a root split and one split under each side.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tree {
    pub f: [usize; 3],
    pub t: [f64; 3],
    pub leaf: [f64; 4],
}

impl Tree {
    pub fn predict(&self, x: &[f64]) -> f64 {
        let (node, base) = if x[self.f[0]] < self.t[0] { (1, 0) } else { (2, 2) };
        self.leaf[base + usize::from(x[self.f[node]] >= self.t[node])]
    }
}

const LAMBDA: f64 = 1.0;

/// The best split of `idx` by gradient/hessian gain: (feature, threshold, gain).
fn best_split(xs: &[[f64; FEATURES]], g: &[f64], h: &[f64], idx: &[usize], cuts: &[Vec<f64>]) -> Option<(usize, f64, f64)> {
    let (gs, hs): (f64, f64) = idx.iter().fold((0.0, 0.0), |(a, b), &i| (a + g[i], b + h[i]));
    let parent = gs * gs / (hs + LAMBDA);
    let mut best: Option<(usize, f64, f64)> = None;
    for f in 0..FEATURES {
        for &t in &cuts[f] {
            let (mut gl, mut hl) = (0.0, 0.0);
            for &i in idx {
                if xs[i][f] < t {
                    gl += g[i];
                    hl += h[i];
                }
            }
            let (gr, hr) = (gs - gl, hs - hl);
            if hl < 1.0 || hr < 1.0 {
                continue;
            }
            let gain = gl * gl / (hl + LAMBDA) + gr * gr / (hr + LAMBDA) - parent;
            if best.is_none_or(|b| gain > b.2) {
                best = Some((f, t, gain));
            }
        }
    }
    best
}

/// Boosted depth-2 trees (logistic loss, Newton steps, shrinkage 0.1).
pub fn boost(xs: &[[f64; FEATURES]], ys: &[f64], weights: &[f64], rounds: usize) -> (f64, Vec<Tree>) {
    let n = xs.len();
    let cuts: Vec<Vec<f64>> = (0..FEATURES)
        .map(|f| {
            let mut v: Vec<f64> = xs.iter().map(|x| x[f]).collect();
            v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
            v.dedup();
            // Cuts half-way between neighbouring values, so a threshold read back from JSON
            // (last-digit rounding) splits the data the same way.
            let m = v.len();
            let mut c: Vec<f64> = (1..32).map(|q| q * (m - 1) / 32).filter(|&i| i + 1 < m).map(|i| (v[i] + v[i + 1]) / 2.0).collect();
            c.dedup();
            c
        })
        .collect();
    let pos: f64 = ys.iter().zip(weights).map(|(y, w)| y * w).sum::<f64>() / weights.iter().sum::<f64>();
    let base = (pos / (1.0 - pos)).ln();
    let mut z = vec![base; n];
    let mut trees = Vec::new();
    let all: Vec<usize> = (0..n).collect();
    for _ in 0..rounds {
        let (g, h): (Vec<f64>, Vec<f64>) = (0..n)
            .map(|i| {
                let p = 1.0 / (1.0 + (-z[i]).exp());
                (weights[i] * (p - ys[i]), weights[i] * (p * (1.0 - p)).max(1e-6))
            })
            .unzip();
        let Some((f0, t0, _)) = best_split(xs, &g, &h, &all, &cuts) else { break };
        let (l, r): (Vec<usize>, Vec<usize>) = all.iter().partition(|&&i| xs[i][f0] < t0);
        let mut tree = Tree { f: [f0, 0, 0], t: [t0, f64::MAX, f64::MAX], leaf: [0.0; 4] };
        for (side, set) in [(1usize, &l), (2usize, &r)] {
            if let Some((f, t, _)) = best_split(xs, &g, &h, set, &cuts) {
                tree.f[side] = f;
                tree.t[side] = t;
            }
            let base_leaf = if side == 1 { 0 } else { 2 };
            for k in 0..2 {
                let (gs, hs) = set.iter().filter(|&&i| usize::from(xs[i][tree.f[side]] >= tree.t[side]) == k).fold((0.0, 0.0), |(a, b), &i| (a + g[i], b + h[i]));
                tree.leaf[base_leaf + k] = -0.1 * gs / (hs + LAMBDA);
            }
        }
        for i in 0..n {
            z[i] += tree.predict(&xs[i]);
        }
        trees.push(tree);
    }
    (base, trees)
}

/// Log-frequencies of the TLDs seen at least 3 times among `names`, and the default for others.
fn tld_table(names: &[String]) -> (HashMap<String, f32>, f32) {
    let mut c: HashMap<String, u32> = HashMap::new();
    for d in names {
        *c.entry(d.trim_end_matches('.').rsplit('.').next().unwrap_or("").to_ascii_lowercase()).or_default() += 1;
    }
    let n = names.len() as f64 + 100.0;
    (c.into_iter().filter(|(_, k)| *k >= 3).map(|(t, k)| (t, ((k as f64 + 1.0) / n).ln() as f32)).collect(), (1.0 / n).ln() as f32)
}

const WORD_MIN: usize = 3;
const WORD_MAX: usize = 12;

/// Tokens of 3–12 letters in the labels (TLD excluded) of these names, kept when seen twice.
fn word_table(names: &[String]) -> std::collections::HashSet<String> {
    let mut counts: HashMap<String, u32> = HashMap::new();
    for d in names {
        let l = d.trim_end_matches('.').to_ascii_lowercase();
        let labels: Vec<&str> = l.split('.').collect();
        for label in &labels[..labels.len().saturating_sub(1)] {
            for tok in label.split(|c: char| !c.is_ascii_alphabetic()) {
                if (WORD_MIN..=WORD_MAX).contains(&tok.len()) {
                    *counts.entry(tok.to_string()).or_default() += 1;
                }
            }
        }
    }
    counts.into_iter().filter(|(_, c)| *c >= 2).map(|(w, _)| w).collect()
}

fn table(names: &[String]) -> (HashMap<String, f32>, f32) {
    table_n(names, 3)
}

fn table_n(names: &[String], n: usize) -> (HashMap<String, f32>, f32) {
    let mut tri: HashMap<String, u32> = HashMap::new();
    let mut total = 0u32;
    for d in names {
        let l = d.trim_end_matches('.').to_ascii_lowercase();
        let p = format!("^{}$", domain::main_label(&l));
        let b = p.as_bytes();
        for i in 0..(b.len() + 1).saturating_sub(n) {
            if let Ok(t) = std::str::from_utf8(&b[i..i + n]) {
                *tri.entry(t.to_string()).or_default() += 1;
                total += 1;
            }
        }
    }
    let denom = total as f64 + 40f64.powi(n as i32);
    (tri.into_iter().filter(|(_, c)| *c >= 2).map(|(t, c)| (t, ((c as f64 + 1.0) / denom).ln() as f32)).collect(), (1.0 / denom).ln() as f32)
}

/// A model with the n-gram and TLD tables of these names and no trees yet.
fn tables(benign: &[String], families: &[(String, Vec<String>)]) -> DgaModel {
    let dga: Vec<String> = families.iter().flat_map(|(_, v)| v.iter().cloned()).collect();
    let (dga_trigrams, dga_trigram_default) = table(&dga);
    let family_trigrams = families
        .iter()
        .map(|(f, v)| {
            let (t, d) = table(v);
            (f.clone(), t, d)
        })
        .collect();
    let (trigrams, trigram_default) = table(benign);
    let (tlds, tld_default) = tld_table(benign);
    DgaModel {
        trigrams,
        trigram_default,
        dga_trigrams,
        dga_trigram_default,
        family_trigrams,
        dga_tlds: tld_table(&dga).0,
        words: word_table(benign),
        bigrams: {
            let (a, ad) = table_n(benign, 2);
            let (b, bd) = table_n(&dga, 2);
            (a, ad, b, bd)
        },
        tlds,
        tld_default,
        trees: Vec::new(),
        base: 0.0,
        threshold: 0.5,
    }
}

/// Trains with cross-fitting: the names are cut into `folds` folds by `fold_of`; each fold's
/// features come from tables built on the other folds (so the trees learn from names the
/// tables have not seen, as in production, and every training name fits the trees); the
/// shipped tables are then built on all of them and the trees fitted on all folds. The
/// threshold comes from out-of-fold scores (trees fitted without the fold): the lowest score
/// that keeps each of the `benign` lists flagged in `calibrate` at or under `max_fp` false
/// positives — thousands of benign names per list instead of a small held-out set.
pub fn train(benign: &[Vec<String>], calibrate: &[bool], families: &[(String, Vec<String>)], folds: usize, fold_of: &dyn Fn(&str) -> usize, rounds: usize, max_fp: f64) -> DgaModel {
    let all_benign: Vec<String> = benign.iter().flatten().cloned().collect();
    // Per row: features, label, fold, and the benign list it came from.
    let mut rows: Vec<([f64; FEATURES], f64, usize, Option<usize>)> = Vec::new();
    for k in 0..folds {
        let tb: Vec<String> = all_benign.iter().filter(|d| fold_of(d) != k).cloned().collect();
        let tf: Vec<(String, Vec<String>)> = families.iter().map(|(f, v)| (f.clone(), v.iter().filter(|d| fold_of(d) != k).cloned().collect())).collect();
        let m = tables(&tb, &tf);
        for (li, list) in benign.iter().enumerate() {
            for d in list.iter().filter(|d| fold_of(d) == k) {
                rows.push((m.features(d), 0.0, k, Some(li)));
            }
        }
        for d in families.iter().flat_map(|(_, v)| v.iter()).filter(|d| fold_of(d) == k) {
            rows.push((m.features(d), 1.0, k, None));
        }
    }
    let fit = |keep: &dyn Fn(usize) -> bool| -> (f64, Vec<Tree>) {
        let sel: Vec<&([f64; FEATURES], f64, usize, Option<usize>)> = rows.iter().filter(|r| keep(r.2)).collect();
        let xs: Vec<[f64; FEATURES]> = sel.iter().map(|r| r.0).collect();
        let ys: Vec<f64> = sel.iter().map(|r| r.1).collect();
        // Class-balanced weights.
        let nd = ys.iter().filter(|y| **y > 0.5).count().max(1) as f64;
        let nb = (ys.len() as f64 - nd).max(1.0);
        let ws: Vec<f64> = ys.iter().map(|y| if *y > 0.5 { 0.5 * ys.len() as f64 / nd } else { 0.5 * ys.len() as f64 / nb }).collect();
        boost(&xs, &ys, &ws, rounds)
    };
    // Out-of-fold scores of the benign names, per list.
    let mut oof: Vec<Vec<f64>> = vec![Vec::new(); benign.len()];
    for k in 0..folds {
        let (base, trees) = fit(&|f| f != k);
        for r in rows.iter().filter(|r| r.2 == k) {
            if let Some(li) = r.3 {
                let z = base + trees.iter().map(|t| t.predict(&r.0)).sum::<f64>();
                oof[li].push(1.0 / (1.0 + (-z).exp()));
            }
        }
    }
    let mut m = tables(&all_benign, families);
    let (base, trees) = fit(&|_| true);
    m.base = base;
    m.trees = trees;
    m.threshold = oof
        .iter_mut()
        .zip(calibrate)
        .filter(|(list, c)| **c && !list.is_empty())
        .map(|(scores, _)| {
            scores.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
            scores.get((scores.len() as f64 * max_fp) as usize).copied().unwrap_or(0.5) + 1e-9
        })
        .fold(0.5, f64::max);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_coverage_segments_labels_into_dictionary_words() {
        let names: Vec<String> = ["mail.secure.com", "secure.example.org", "mail.example.net", "cloud.shop.io", "cloud.news.de", "x1.ab.com"].iter().map(|s| s.to_string()).collect();
        let words = word_table(&names);
        // Seen twice: kept; seen once, too short, or a TLD: not.
        assert!(words.contains("mail") && words.contains("secure") && words.contains("cloud") && words.contains("example"), "{words:?}");
        assert!(!words.contains("shop") && !words.contains("ab") && !words.contains("com"), "{words:?}");
        let mut m = model().clone();
        m.words = words;
        assert_eq!(m.word_coverage("securemailcloud"), 1.0);
        assert_eq!(m.word_coverage("mailxq"), 4.0 / 6.0);
        assert_eq!(m.word_coverage("xjwqkvhd"), 0.0);
        assert_eq!(m.word_coverage(""), 0.0);
        // The shipped dictionary covers ordinary names better than random ones.
        let m = model();
        assert!(!m.words.is_empty());
        assert!(m.word_coverage("mailnews") > m.word_coverage("qzkvxwjt"));
    }

    #[test]
    fn the_shipped_model_separates_obvious_cases() {
        let m = model();
        for d in ["google.com", "facebook.com", "wikipedia.org", "weather.co.uk", "bankofamerica.com"] {
            assert!(!m.is_dga(d), "{d}: {}", m.score(d));
        }
        for d in ["xjwqpzkvbnrt.ru", "gllxeenmijch.com", "eclirvvqkpxw.com", "bffuulgghrkc.com"] {
            assert!(m.is_dga(d), "{d}: {}", m.score(d));
        }
        assert_eq!(m.score("e2847.dscx.akamaiedge.net"), 0.0, "allow-listed");
    }
}
