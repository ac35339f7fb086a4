//! `logfetch secret set`.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use logfetch_config::{Secret, SecretRef};

use crate::ConfigPath;

#[derive(Subcommand, Debug)]
pub enum SecretCommand {
    /// Read a secret from the terminal (no echo) or stdin and store it in the OS keyring under
    /// the `keyring:<service>/<account>` reference the tenant's config uses.
    Set {
        /// Tenant id from the config.
        tenant: String,
        /// Which connection field: api_key, password or token (default: the tenant's only
        /// keyring reference).
        #[arg(long)]
        field: Option<String>,
        #[command(flatten)]
        config: ConfigPath,
    },
}

pub fn run(cmd: SecretCommand) -> anyhow::Result<ExitCode> {
    let SecretCommand::Set { tenant, field, config } = cmd;
    let cfg = super::load_config(&config.config)?;
    let t = cfg.tenant(&tenant).with_context(|| format!("no tenant `{tenant}` in {}", config.config.display()))?;
    let refs = t.connection.secret_refs();
    let (name, reference) = match &field {
        Some(f) => refs.iter().find(|(n, _)| n == f).with_context(|| format!("tenant `{tenant}` has no connection.{f} in {}", config.config.display()))?,
        None => {
            let kr: Vec<_> = refs.iter().filter(|(_, r)| matches!(r, SecretRef::Keyring { .. })).collect();
            match kr.as_slice() {
                [one] => *one,
                [] => bail!("tenant `{tenant}` has no keyring: secret reference; nothing to store"),
                _ => bail!("tenant `{tenant}` has several keyring references; choose one with --field"),
            }
        }
    };
    let SecretRef::Keyring { service, account } = reference else {
        bail!("tenant `{tenant}` connection.{name} is `{reference}`, not a keyring: reference; provide the secret there instead");
    };
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("{name} for tenant {tenant}: ")).context("reading from the terminal")?
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading stdin")?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    if value.is_empty() {
        bail!("empty secret; nothing stored");
    }
    let stored = logfetch_config::secret::keyring::set(service, account, &Secret::new(value));
    let _ = logfetch_scheduler::audit::record(&cfg.service.data_dir, "secret_set", &logfetch_scheduler::audit::cli_actor(), serde_json::json!({"tenant": tenant, "field": name, "reference": reference.to_string()}), stored.as_ref().map(|_| ()).map_err(|e| e.to_string()));
    stored?;
    eprintln!("stored connection.{name} of tenant `{tenant}` in the keyring as {reference}");
    Ok(ExitCode::SUCCESS)
}
