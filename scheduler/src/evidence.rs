//! Evidence: a `manifest.json` for every on-demand pull (what was asked, from where, when, what
//! came back, and the SHA-256 of every file), optionally signed with the operator's Ed25519 key;
//! a per-day hash chain for scheduled file-sink batches; and the verification of both, naming the
//! file that changed.

use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const MANIFEST: &str = "manifest.json";
pub const SIGNATURE: &str = "manifest.json.sig";
pub const CHAIN: &str = "chain.jsonl";

/// One output file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    pub path: String,
    pub bytes: u64,
    pub lines: u64,
    pub sha256: String,
}

/// What a pull was and produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub manifest_version: u32,
    pub logfetch_version: String,
    pub tenant: String,
    pub vendor: String,
    pub kinds: Vec<String>,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub format: String,
    /// Where the data came from: the API base URL and the API used (no credentials).
    pub source: serde_json::Value,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub completed: bool,
    pub events: u64,
    pub pages: u64,
    pub rejected: u64,
    /// SHA-256 of the tenant's effective configuration (secret references, never values).
    pub config_sha256: String,
    pub operator: Option<String>,
    pub host: Option<String>,
    pub files: Vec<FileEntry>,
    /// Hex Ed25519 public key when signed (the signature is in `manifest.json.sig`).
    pub signed_by: Option<String>,
}

pub fn sha256_file(p: &Path) -> std::io::Result<(String, u64, u64)> {
    let mut f = std::fs::File::open(p)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let (mut bytes, mut lines) = (0u64, 0u64);
    loop {
        let n = std::io::Read::read(&mut f, &mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        bytes += n as u64;
        lines += memchr_count(&buf[..n]);
    }
    Ok((hex::encode(h.finalize()), bytes, lines))
}

fn memchr_count(b: &[u8]) -> u64 {
    b.iter().filter(|c| **c == b'\n').count() as u64
}

/// Output files under `dir` (relative, sorted), without the manifest, signature and temp files.
pub fn output_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            if p.is_dir() {
                stack.push(p);
            } else if !name.starts_with('.') && !(d == dir && (name == MANIFEST || name == SIGNATURE)) {
                out.push(p.strip_prefix(dir).unwrap_or(&p).to_path_buf());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Parses a signing key: 32 bytes as 64 hex characters.
pub fn signing_key(text: &str) -> Result<SigningKey, String> {
    let b = hex::decode(text.trim()).map_err(|_| "the signing key must be 64 hex characters (an Ed25519 seed)".to_string())?;
    let seed: [u8; 32] = b.try_into().map_err(|_| "the signing key must be 32 bytes (64 hex characters)".to_string())?;
    Ok(SigningKey::from_bytes(&seed))
}

pub fn verifying_key(text: &str) -> Result<VerifyingKey, String> {
    let b = hex::decode(text.trim()).map_err(|_| "the public key must be 64 hex characters".to_string())?;
    let k: [u8; 32] = b.try_into().map_err(|_| "the public key must be 32 bytes (64 hex characters)".to_string())?;
    VerifyingKey::from_bytes(&k).map_err(|e| format!("not an Ed25519 public key: {e}"))
}

/// A new key pair: (private seed hex, public key hex).
pub fn keygen() -> (String, String) {
    let seed: [u8; 32] = rand::random();
    let k = SigningKey::from_bytes(&seed);
    (hex::encode(seed), hex::encode(k.verifying_key().to_bytes()))
}

/// Hashes the files under `dir` into `m.files`, writes `manifest.json` (and the signature).
pub fn write_manifest(dir: &Path, mut m: Manifest, key: Option<&SigningKey>) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    m.files = output_files(dir)?
        .into_iter()
        .map(|rel| {
            let (sha256, bytes, lines) = sha256_file(&dir.join(&rel))?;
            Ok(FileEntry { path: rel.to_string_lossy().to_string(), bytes, lines, sha256 })
        })
        .collect::<std::io::Result<_>>()?;
    m.signed_by = key.map(|k| hex::encode(k.verifying_key().to_bytes()));
    let body = serde_json::to_vec_pretty(&m).map_err(std::io::Error::other)?;
    let path = dir.join(MANIFEST);
    let tmp = dir.join(".manifest.json.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    if let Some(k) = key {
        let mut signed = body.clone();
        signed.push(b'\n');
        std::fs::write(dir.join(SIGNATURE), format!("{}\n", hex::encode(k.sign(&signed).to_bytes())))?;
    }
    Ok(path)
}

/// What verification found.
#[derive(Debug, Default)]
pub struct Verdict {
    pub checked: usize,
    pub problems: Vec<String>,
    pub notes: Vec<String>,
}

impl Verdict {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Verifies a pull directory (manifest) or a file-sink tree (hash chains), whichever it holds.
pub fn verify(dir: &Path, public_key: Option<&VerifyingKey>) -> Result<Verdict, String> {
    if dir.join(MANIFEST).exists() {
        return verify_manifest(dir, public_key);
    }
    let mut v = Verdict::default();
    let mut chains = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?.flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else if e.file_name() == CHAIN {
                chains.push(e.path());
            }
        }
    }
    if chains.is_empty() {
        return Err(format!("{}: no {MANIFEST} and no {CHAIN} (was the pull's manifest or the sink's hash_chain turned on?)", dir.display()));
    }
    chains.sort();
    for c in chains {
        verify_chain(&c, &mut v);
    }
    Ok(v)
}

fn verify_manifest(dir: &Path, public_key: Option<&VerifyingKey>) -> Result<Verdict, String> {
    let mut v = Verdict::default();
    let raw = std::fs::read(dir.join(MANIFEST)).map_err(|e| format!("{}: {e}", dir.join(MANIFEST).display()))?;
    let m: Manifest = serde_json::from_slice(&raw).map_err(|e| format!("{}: not a logfetch manifest: {e}", dir.join(MANIFEST).display()))?;
    match (std::fs::read_to_string(dir.join(SIGNATURE)).ok(), public_key) {
        (Some(sig), Some(pk)) => {
            let ok = hex::decode(sig.trim()).ok().and_then(|b| <[u8; 64]>::try_from(b).ok()).map(|b| Signature::from_bytes(&b)).is_some_and(|s| pk.verify(&raw, &s).is_ok());
            if ok {
                v.notes.push(format!("signature valid for key {}", hex::encode(pk.to_bytes())));
            } else {
                v.problems.push(format!("{MANIFEST}: the signature does not match key {} (the manifest was altered, or signed by another key)", hex::encode(pk.to_bytes())));
            }
        }
        (None, Some(_)) => v.problems.push(format!("{MANIFEST} is not signed ({SIGNATURE} is missing) but a public key was given")),
        (Some(_), None) => v.notes.push(format!("{MANIFEST} is signed by {}; pass --public-key to check the signature", m.signed_by.as_deref().unwrap_or("?"))),
        (None, None) => v.notes.push(format!("{MANIFEST} is not signed")),
    }
    let listed: std::collections::BTreeSet<String> = m.files.iter().map(|f| f.path.clone()).collect();
    for f in &m.files {
        let p = dir.join(&f.path);
        v.checked += 1;
        match sha256_file(&p) {
            Err(_) => v.problems.push(format!("{}: listed in the manifest but missing", f.path)),
            Ok((h, bytes, _)) if h != f.sha256 => v.problems.push(format!("{}: changed (sha256 {h}, {bytes} bytes; the manifest says {}, {} bytes)", f.path, f.sha256, f.bytes)),
            Ok(_) => {}
        }
    }
    for extra in output_files(dir).map_err(|e| e.to_string())? {
        let s = extra.to_string_lossy().to_string();
        if !listed.contains(&s) {
            v.problems.push(format!("{s}: not in the manifest (added after the pull)"));
        }
    }
    Ok(v)
}

/// One line of a day's hash chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChainEntry {
    pub seq: u64,
    pub file: String,
    pub sha256: String,
    pub prev: String,
    /// SHA-256 over `seq|file|sha256|prev`.
    pub entry: String,
    pub at: DateTime<Utc>,
}

fn entry_hash(seq: u64, file: &str, sha: &str, prev: &str) -> String {
    hex::encode(Sha256::digest(format!("{seq}|{file}|{sha}|{prev}").as_bytes()))
}

/// Appends `file` (in `dir`) to `dir/chain.jsonl`, fsynced.
pub fn chain_append(dir: &Path, file: &str) -> std::io::Result<()> {
    let (sha, _, _) = sha256_file(&dir.join(file))?;
    let path = dir.join(CHAIN);
    let last: Option<ChainEntry> = std::fs::read_to_string(&path).ok().and_then(|t| t.lines().last().and_then(|l| serde_json::from_str(l).ok()));
    let (seq, prev) = last.map_or((0, "0".repeat(64)), |l| (l.seq + 1, l.entry));
    let e = ChainEntry { seq, file: file.to_string(), entry: entry_hash(seq, file, &sha, &prev), sha256: sha, prev, at: Utc::now() };
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    let mut line = serde_json::to_vec(&e).map_err(std::io::Error::other)?;
    line.push(b'\n');
    f.write_all(&line)?;
    f.sync_data()
}

fn verify_chain(path: &Path, v: &mut Verdict) {
    let dir = path.parent().unwrap_or(Path::new("."));
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            v.problems.push(format!("{}: {e}", path.display()));
            return;
        }
    };
    let mut prev = "0".repeat(64);
    let mut latest: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for (i, l) in text.lines().enumerate() {
        let Ok(e) = serde_json::from_str::<ChainEntry>(l) else {
            v.problems.push(format!("{}:{}: not a chain entry", path.display(), i + 1));
            return;
        };
        if e.seq != i as u64 || e.prev != prev || e.entry != entry_hash(e.seq, &e.file, &e.sha256, &e.prev) {
            v.problems.push(format!("{}:{}: the chain is broken here (an entry before it was removed or edited)", path.display(), i + 1));
            return;
        }
        prev = e.entry.clone();
        latest.insert(e.file, e.sha256);
    }
    for (file, sha) in latest {
        v.checked += 1;
        match sha256_file(&dir.join(&file)) {
            Err(_) => v.problems.push(format!("{}: batch in the chain but missing (deleted)", dir.join(&file).display())),
            Ok((h, _, _)) if h != sha => v.problems.push(format!("{}: changed since it was chained", dir.join(&file).display())),
            Ok(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest() -> Manifest {
        let t = Utc::now();
        Manifest {
            manifest_version: 1,
            logfetch_version: "test".into(),
            tenant: "t".into(),
            vendor: "v".into(),
            kinds: vec!["dns".into()],
            since: t,
            until: t,
            format: "ocsf".into(),
            source: serde_json::json!({}),
            started_at: t,
            finished_at: t,
            completed: true,
            events: 2,
            pages: 1,
            rejected: 0,
            config_sha256: "x".into(),
            operator: None,
            host: None,
            files: vec![],
            signed_by: None,
        }
    }

    #[test]
    fn manifests_verify_and_name_what_changed() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("kind=dns")).unwrap();
        std::fs::write(d.path().join("kind=dns/a.ndjson"), "{}\n{}\n").unwrap();
        std::fs::write(d.path().join("kind=dns/b.ndjson"), "{}\n").unwrap();
        let (sk, pk) = keygen();
        let key = signing_key(&sk).unwrap();
        write_manifest(d.path(), manifest(), Some(&key)).unwrap();
        let pk = verifying_key(&pk).unwrap();
        assert!(verify(d.path(), Some(&pk)).unwrap().ok());
        // Another key fails.
        let (_, other) = keygen();
        let bad = verify(d.path(), Some(&verifying_key(&other).unwrap())).unwrap();
        assert!(bad.problems[0].contains("signature does not match"), "{:?}", bad.problems);
        // One flipped byte names the file.
        std::fs::write(d.path().join("kind=dns/b.ndjson"), "{ }\n").unwrap();
        let v = verify(d.path(), Some(&pk)).unwrap();
        assert_eq!(v.problems.len(), 1);
        assert!(v.problems[0].starts_with("kind=dns/b.ndjson: changed"), "{:?}", v.problems);
        // An edited manifest breaks the signature.
        std::fs::write(d.path().join("kind=dns/b.ndjson"), "{}\n").unwrap();
        let m = std::fs::read_to_string(d.path().join(MANIFEST)).unwrap().replace("\"events\": 2", "\"events\": 3");
        std::fs::write(d.path().join(MANIFEST), m).unwrap();
        assert!(verify(d.path(), Some(&pk)).unwrap().problems.iter().any(|p| p.contains("signature does not match")));
    }

    #[test]
    fn chains_detect_deleted_changed_and_removed_entries() {
        let d = tempfile::tempdir().unwrap();
        for n in ["1.ndjson", "2.ndjson", "3.ndjson"] {
            std::fs::write(d.path().join(n), format!("{n}\n")).unwrap();
            chain_append(d.path(), n).unwrap();
        }
        assert!(verify(d.path(), None).unwrap().ok());
        std::fs::remove_file(d.path().join("2.ndjson")).unwrap();
        let v = verify(d.path(), None).unwrap();
        assert!(v.problems[0].contains("2.ndjson: batch in the chain but missing"), "{:?}", v.problems);
        std::fs::write(d.path().join("2.ndjson"), "2.ndjson\n").unwrap();
        let chain = std::fs::read_to_string(d.path().join(CHAIN)).unwrap();
        let without_second: Vec<&str> = chain.lines().enumerate().filter(|(i, _)| *i != 1).map(|(_, l)| l).collect();
        std::fs::write(d.path().join(CHAIN), without_second.join("\n") + "\n").unwrap();
        assert!(verify(d.path(), None).unwrap().problems[0].contains(":2: the chain is broken"));
    }
}

/// The manifest of an ad-hoc pull of `t` (files are filled in by [`write_manifest`]).
#[allow(clippy::too_many_arguments)]
pub fn pull_manifest(t: &logfetch_config::TenantConfig, kind: logfetch_common::LogKind, since: DateTime<Utc>, until: DateTime<Utc>, format: logfetch_common::Format, started: DateTime<Utc>, summary: &crate::runner::RunSummary, completed: bool) -> Manifest {
    let c = &t.connection;
    Manifest {
        manifest_version: 1,
        logfetch_version: env!("CARGO_PKG_VERSION").to_string(),
        tenant: t.id().to_string(),
        vendor: t.vendor().to_string(),
        kinds: vec![kind.as_str().to_string()],
        since,
        until,
        format: format!("{format:?}").to_lowercase(),
        source: serde_json::json!({"url": c.url, "api": c.api, "page_size": c.page_size, "window": t.window.get().as_secs(), "timezone": t.timezone.get_ref()}),
        started_at: started,
        finished_at: Utc::now(),
        completed,
        events: summary.events,
        pages: summary.pages,
        rejected: summary.rejected,
        config_sha256: hex::encode(Sha256::digest(format!("{t:?}").as_bytes())),
        operator: std::env::var("USER").ok().or_else(|| std::env::var("LOGNAME").ok()),
        host: std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string()),
        files: Vec::new(),
        signed_by: None,
    }
}

/// The operator's signing key from `[service] evidence_signing_key`, if configured.
pub fn configured_key(cfg: &logfetch_config::Config) -> Result<Option<SigningKey>, String> {
    let Some(r) = &cfg.service.evidence_signing_key else { return Ok(None) };
    let s = r.resolve(&logfetch_config::secret::ProcessEnv).map_err(|e| format!("[service] evidence_signing_key ({r}): {e}"))?;
    signing_key(s.expose()).map(Some).map_err(|e| format!("[service] evidence_signing_key ({r}): {e}"))
}
