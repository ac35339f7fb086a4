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

pub const FEATURES: usize = 20;

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
    /// Gradient-boosted depth-2 trees over the features.
    pub trees: Vec<Tree>,
    pub base: f64,
    /// Scores at or above this are DGA (chosen for ≤ 0.65 % false positives on held-out calibration names).
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
        ]
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

/// `benign`/`families` build the tables; `fit_benign`/`fit_dga` (names not in the tables, so the
/// trees see unseen names as they will in production) fit the trees; `calibrate` (benign names
/// used for nothing else) sets the threshold.
pub fn train(benign: &[String], families: &[(String, Vec<String>)], fit_benign: &[String], fit_dga: &[String], calibrate: &[String]) -> DgaModel {
    let dga: Vec<String> = families.iter().flat_map(|(_, v)| v.iter().cloned()).collect();
    let (dga_trigrams, dga_trigram_default) = table(&dga);
    let family_trigrams = families.iter().map(|(f, v)| {
        let (t, d) = table(v);
        (f.clone(), t, d)
    }).collect();
    let (trigrams, trigram_default) = table(benign);
    let (tlds, tld_default) = tld_table(benign);
    let mut m = DgaModel {
        trigrams,
        trigram_default,
        dga_trigrams,
        dga_trigram_default,
        family_trigrams,
        dga_tlds: tld_table(&dga).0,
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
    };
    let (benign, dga) = (fit_benign, fit_dga);
    let xs: Vec<([f64; FEATURES], f64)> = benign.iter().map(|d| (m.features(d), 0.0)).chain(dga.iter().map(|d| (m.features(d), 1.0))).collect();
    let (nb, nd) = (benign.len().max(1) as f64, dga.len().max(1) as f64);
    // Boosted trees, class-balanced.
    let ys: Vec<f64> = xs.iter().map(|(_, y)| *y).collect();
    let ws: Vec<f64> = ys.iter().map(|y| if *y > 0.5 { 0.5 * xs.len() as f64 / nd } else { 0.5 * xs.len() as f64 / nb }).collect();
    let feats: Vec<[f64; FEATURES]> = xs.iter().map(|(x, _)| *x).collect();
    let (base, trees) = boost(&feats, &ys, &ws, 400);
    m.base = base;
    m.trees = trees;
    // The threshold: at most 0.65 % of the benign calibration names (used for nothing else) above it.
    let mut scores: Vec<f64> = calibrate.iter().map(|d| m.score(d)).collect();
    scores.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
    let k = (scores.len() as f64 * 0.0065) as usize;
    m.threshold = scores.get(k).copied().unwrap_or(0.5) + 1e-9;
    m
}

#[cfg(test)]
mod tests {
    use super::*;

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
