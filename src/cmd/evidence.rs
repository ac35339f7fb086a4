//! `logfetch evidence`: verify pull manifests and file-sink hash chains; make a signing key.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use logfetch_scheduler::evidence;

#[derive(Subcommand, Debug)]
pub enum EvidenceCommand {
    /// Check a pull directory (its manifest.json, and signature) or a file-sink directory (its
    /// per-day chain.jsonl hash chains); names every file that was changed, removed or added.
    Verify {
        dir: PathBuf,
        /// The expected Ed25519 public key: 64 hex characters, or @FILE holding them.
        #[arg(long)]
        public_key: Option<String>,
    },
    /// Make an Ed25519 signing key: the private key goes to FILE (mode 0600), the public key to stdout.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run(cmd: EvidenceCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        EvidenceCommand::Verify { dir, public_key } => {
            let pk = match public_key {
                None => None,
                Some(k) => {
                    let text = match k.strip_prefix('@') {
                        Some(f) => std::fs::read_to_string(f).with_context(|| format!("reading the public key from {f}"))?,
                        None => k,
                    };
                    Some(evidence::verifying_key(&text).map_err(anyhow::Error::msg)?)
                }
            };
            let v = evidence::verify(&dir, pk.as_ref()).map_err(anyhow::Error::msg)?;
            for n in &v.notes {
                println!("note: {n}");
            }
            for p in &v.problems {
                println!("FAIL: {p}");
            }
            if v.ok() {
                println!("OK: {} file(s) in {} match", v.checked, dir.display());
                Ok(ExitCode::SUCCESS)
            } else {
                println!("{} problem(s) in {}", v.problems.len(), dir.display());
                Ok(ExitCode::from(1))
            }
        }
        EvidenceCommand::Keygen { out } => {
            if out.exists() {
                bail!("{} exists; not overwriting a key", out.display());
            }
            let (sk, pk) = evidence::keygen();
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&out).with_context(|| format!("creating {}", out.display()))?;
            writeln!(f, "{sk}")?;
            println!("{pk}");
            eprintln!("private key written to {} (mode 0600); reference it as `evidence_signing_key = \"file:{}\"`; the public key above verifies signatures", out.display(), out.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}
