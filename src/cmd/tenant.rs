//! `logfetch tenant add|test|list|show|remove`: onboarding a vendor tenant without hand-editing
//! the config or waiting for the first scheduled run to find out what is wrong.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use clap::{Args, Subcommand};
use logfetch_common::LogKind;
use logfetch_config::{Config, Secret, SecretRef, TenantConfig};
use tokio_util::sync::CancellationToken;

use crate::ConfigPath;

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Add a tenant: asks on a terminal (with defaults and checks), or takes flags with
    /// --non-interactive. Stores the secret, appends a `[[tenant]]` block to the config (comments
    /// and layout kept) and runs `tenant test`.
    Add(AddArgs),
    /// Check a tenant step by step: DNS, TCP, TLS, authentication, permissions per log kind,
    /// clock skew and a dry-run pull of the last minutes (5 normalised records per kind).
    /// Push tenants: listens for a while and shows what arrives. Checkpoints are never touched.
    Test(TestArgs),
    /// One line per tenant: id, vendor, pull or push, kinds, schedule or listener.
    List {
        #[command(flatten)]
        config: ConfigPath,
    },
    /// A tenant's settings (secrets as references, never values) and the vendor-side
    /// configuration it needs.
    Show {
        id: String,
        #[command(flatten)]
        config: ConfigPath,
    },
    /// Remove a tenant's block from the config; asks before deleting its checkpoints.
    Remove {
        id: String,
        /// Delete the checkpoints without asking.
        #[arg(long, conflicts_with = "keep_checkpoints")]
        yes: bool,
        /// Keep the checkpoints (a re-added tenant with the same id resumes where it stopped).
        #[arg(long)]
        keep_checkpoints: bool,
        #[command(flatten)]
        config: ConfigPath,
    },
}

#[derive(Args, Debug)]
pub struct AddArgs {
    /// Tenant id (letters, digits, `-`, `_`).
    #[arg(long)]
    pub id: Option<String>,
    /// cisco, paloalto, sentinelone or zscaler.
    #[arg(long)]
    pub vendor: Option<String>,
    /// API base URL (pull tenants: PAN-OS, SentinelOne).
    #[arg(long)]
    pub url: Option<String>,
    /// Listener for push tenants (`tcp://0.0.0.0:6514`, `udp://…`, `tls://…`, `https://…` for
    /// Zscaler Cloud NSS).
    #[arg(long)]
    pub listen: Option<String>,
    /// Log kinds, comma-separated.
    #[arg(long, default_value = "flow,dns")]
    pub kinds: String,
    /// Cron schedule for pull tenants.
    #[arg(long)]
    pub schedule: Option<String>,
    /// IANA time zone of the device (for zone-less timestamps).
    #[arg(long)]
    pub timezone: Option<String>,
    /// Sink names, comma-separated (default: every sink).
    #[arg(long)]
    pub sinks: Option<String>,
    /// Where the secret lives: `keyring:<service>/<account>`, `env:VAR`, `file:/path`,
    /// `systemd:NAME`. Default for keyring: `keyring:logfetch/<id>`.
    #[arg(long)]
    pub secret_ref: Option<String>,
    /// Which connection field the secret is: api_key, password or token (default per vendor).
    #[arg(long)]
    pub secret_field: Option<String>,
    /// Read the secret value from stdin (one line) and store it in the keyring.
    #[arg(long)]
    pub secret_stdin: bool,
    /// API user name (PAN-OS with a password instead of an API key).
    #[arg(long)]
    pub username: Option<String>,
    /// PEM file with the CA that signed the vendor's certificate.
    #[arg(long)]
    pub ca_file: Option<PathBuf>,
    /// Turn TLS verification off for this tenant (logged as a warning at every start).
    #[arg(long)]
    pub insecure_skip_verify: bool,
    /// Never prompt; fail on anything missing.
    #[arg(long)]
    pub non_interactive: bool,
    /// Do not run `tenant test` after adding.
    #[arg(long)]
    pub no_test: bool,
    #[command(flatten)]
    pub config: ConfigPath,
}

#[derive(Args, Debug)]
pub struct TestArgs {
    pub id: String,
    /// Dry-run pull window: this many minutes back from now.
    #[arg(long, default_value_t = 15)]
    pub minutes: u32,
    /// Push tenants: how long to listen for records.
    #[arg(long, default_value_t = 30)]
    pub listen_secs: u64,
    /// Records shown per kind.
    #[arg(long, default_value_t = 5)]
    pub show: usize,
    #[command(flatten)]
    pub config: ConfigPath,
}

pub fn run(cmd: TenantCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TenantCommand::Add(a) => add(a),
        TenantCommand::Test(a) => test(a),
        TenantCommand::List { config } => list(&config.config),
        TenantCommand::Show { id, config } => show(&id, &config.config),
        TenantCommand::Remove { id, yes, keep_checkpoints, config } => remove(&id, yes, keep_checkpoints, &config.config),
    }
}

const VENDORS: [&str; 4] = ["cisco", "paloalto", "sentinelone", "zscaler"];

fn is_push(t: &TenantConfig) -> bool {
    t.connection.listen.is_some()
}

// ------------------------------------------------------------------ list / show -----

fn list(path: &Path) -> anyhow::Result<ExitCode> {
    let cfg = super::load_config(path)?;
    if cfg.tenants.is_empty() {
        println!("no tenants in {}; add one with `logfetch tenant add`", path.display());
    }
    for t in &cfg.tenants {
        let kinds: Vec<&str> = t.kinds.iter().map(|k| k.as_str()).collect();
        let how = match &t.connection.listen {
            Some(l) => format!("push  listen {l}"),
            None => format!("pull  {}  schedule \"{}\"", t.connection.url.as_deref().unwrap_or("-"), t.schedule.get_ref()),
        };
        println!("{:<20} {:<12} {:<10} {how}", t.id(), t.vendor(), kinds.join(","));
    }
    Ok(ExitCode::SUCCESS)
}

fn show(id: &str, path: &Path) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let cfg = super::load_config(path)?;
    let t = cfg.tenant(id).with_context(|| format!("no tenant `{id}` in {}", path.display()))?;
    // The block as written (secrets are references by construction: the config refuses values).
    let doc: toml_edit::DocumentMut = text.parse().context("parsing the config")?;
    if let Some(block) = find_block(&doc, id) {
        let mut one = toml_edit::DocumentMut::new();
        let mut arr = toml_edit::ArrayOfTables::new();
        arr.push(block.clone());
        one.insert("tenant", toml_edit::Item::ArrayOfTables(arr));
        println!("{}", one.to_string().trim_end());
    }
    println!("\nStreams: {}", t.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "));
    println!("Sinks:   {}", t.routes(&cfg).iter().map(|s| s.name.get_ref().as_str()).collect::<Vec<_>>().join(", "));
    println!("\nVendor-side configuration:\n{}", vendor_hints(t));
    Ok(ExitCode::SUCCESS)
}

/// What the vendor side must be configured with for this tenant.
pub fn vendor_hints(t: &TenantConfig) -> String {
    let listen = t.connection.listen.as_deref().unwrap_or("");
    let (scheme, port) = match listen.split_once("://") {
        Some((s, rest)) => (s, rest.rsplit(':').next().unwrap_or("").trim_end_matches(|c: char| !c.is_ascii_digit()).to_string()),
        None => ("", String::new()),
    };
    let port = port.split('/').next().unwrap_or("").to_string();
    let mut out = String::new();
    match (t.vendor(), is_push(t)) {
        ("cisco", _) => {
            let proto = match scheme {
                "udp" => format!("udp/{port}"),
                "tls" => format!("tcp/{port} secure"),
                _ => format!("tcp/{port}"),
            };
            out.push_str(&format!(
                "  ASA (CLI):\n    logging enable\n    logging timestamp\n    logging device-id hostname\n    logging host <interface> <logfetch-ip> {proto}\n    logging trap informational\n    logging permit-hostdown\n"
            ));
            out.push_str(&format!(
                "  FTD (FMC: Devices > Platform Settings > Syslog): Syslog Servers: <logfetch-ip>, protocol {}, port {port}{}; Logging Setup: enable logging, send connection events (Access Control rules: Log at End of Connection) to this syslog server.\n",
                if scheme == "udp" { "UDP" } else { "TCP" },
                if scheme == "tls" { ", Enable secure syslog (upload logfetch's CA)" } else { "" }
            ));
            if scheme == "tls" {
                out.push_str("  TLS: the device must trust the CA that signed tls_cert.\n");
            }
        }
        ("paloalto", true) => {
            out.push_str(&format!(
                "  Device > Server Profiles > Syslog: server <logfetch-ip>, transport {}, port {port}, format BSD, facility LOG_USER.\n  Objects > Log Forwarding: a profile sending Traffic and Threat (URL, DNS) logs to that syslog profile; attach it to the security rules.\n  Device > Setup > Management > Logging and Reporting: \"Send Hostname in Syslog\" = FQDN or hostname.\n",
                match scheme {
                    "udp" => "UDP",
                    "tls" => "SSL",
                    _ => "TCP",
                }
            ));
        }
        ("paloalto", false) => {
            out.push_str("  Device > Admin Roles: a role with XML API > Log enabled (and nothing else: no Web UI, no configuration rights).\n  Device > Administrators: a user with that role; generate its API key (`type=keygen`) or give logfetch username + password.\n  Panorama: the same role under Panorama > Admin Roles; logfetch queries the collectors through Panorama.\n");
        }
        ("sentinelone", _) => {
            let lrq = t.connection.api.as_deref() != Some("dv");
            out.push_str(&format!(
                "  Settings > Users > Service Users: create one with a role that has {} and Endpoints > View (agent context), scoped to the account or site to collect.\n  Copy its API token into the secret reference of this tenant.\n",
                if lrq { "Skylight Query API view (Long Running Query, SDL)" } else { "SDL Data viewEdr (Deep Visibility)" }
            ));
        }
        ("zscaler", _) => {
            let transport = if scheme == "https" { logfetch_connectors::zscaler::template::Transport::CloudNss } else { logfetch_connectors::zscaler::template::Transport::Nss };
            for (name, feed) in [("DNS", logfetch_connectors::zscaler::Feed::Dns), ("Firewall", logfetch_connectors::zscaler::Feed::Firewall)] {
                let kind = if matches!(feed, logfetch_connectors::zscaler::Feed::Dns) { LogKind::Dns } else { LogKind::Flow };
                if !t.kinds.contains(&kind) {
                    continue;
                }
                out.push_str(&format!("  ZIA {name} feed ({}):\n", if scheme == "https" { "Cloud NSS" } else { "NSS" }));
                for (k, v) in logfetch_connectors::zscaler::template::settings(feed, transport) {
                    out.push_str(&format!("    {k:<22} {v}\n"));
                }
                out.push_str(&format!("    {:<22} {}\n", "Feed Output Format", logfetch_connectors::zscaler::template::feed_output_format(feed)));
            }
            out.push_str(&format!("  Destination: <logfetch-host>:{port} ({listen})\n"));
        }
        (v, _) => out.push_str(&format!("  no vendor-side hints for `{v}`\n")),
    }
    out
}

// ------------------------------------------------------------------ config editing -----

fn find_block<'a>(doc: &'a toml_edit::DocumentMut, id: &str) -> Option<&'a toml_edit::Table> {
    doc.get("tenant")?.as_array_of_tables()?.iter().find(|t| t.get("id").and_then(|v| v.as_str()) == Some(id))
}

/// Writes `text` over `path` atomically, keeping the file's permissions.
fn write_config(path: &Path, text: &str) -> anyhow::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp-{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("logfetch.toml"), std::process::id()));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Checks a candidate config text the way `config check` would, before it replaces the file.
fn check_candidate(path: &Path, text: &str) -> anyhow::Result<Config> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.check-{}", path.file_name().and_then(|n| n.to_str()).unwrap_or("logfetch.toml"), std::process::id()));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    if let Ok(meta) = std::fs::metadata(path) {
        let _ = std::fs::set_permissions(&tmp, meta.permissions());
    }
    let vendors = logfetch_connectors::registry::vendor_names();
    let r = Config::load(&tmp, &vendors);
    let _ = std::fs::remove_file(&tmp);
    match r {
        Ok(c) => Ok(c),
        Err(errs) => {
            for e in &errs {
                eprintln!("error: {}", e.to_string().replace(&tmp.display().to_string(), &path.display().to_string()));
            }
            bail!("the new tenant would make {} invalid; nothing was written", path.display())
        }
    }
}

/// Everything `tenant add` needs, after prompting or from flags.
#[derive(Debug, Default)]
struct NewTenant {
    id: String,
    vendor: String,
    url: Option<String>,
    listen: Option<String>,
    kinds: Vec<String>,
    schedule: Option<String>,
    timezone: String,
    sinks: Vec<String>,
    secret: Option<(String, SecretRef)>,
    username: Option<String>,
    ca_file: Option<PathBuf>,
    tls_verify: bool,
}

fn tenant_table(n: &NewTenant) -> toml_edit::Table {
    use toml_edit::{Array, Item, Table, value};
    let mut t = Table::new();
    t.insert("id", value(n.id.as_str()));
    t.insert("vendor", value(n.vendor.as_str()));
    let mut kinds = Array::new();
    n.kinds.iter().for_each(|k| kinds.push(k.as_str()));
    t.insert("kinds", value(kinds));
    t.insert("timezone", value(n.timezone.as_str()));
    if let Some(s) = &n.schedule {
        t.insert("schedule", value(s.as_str()));
    }
    if !n.sinks.is_empty() {
        let mut a = Array::new();
        n.sinks.iter().for_each(|s| a.push(s.as_str()));
        t.insert("sinks", value(a));
    }
    let mut c = Table::new();
    if let Some(u) = &n.url {
        c.insert("url", value(u.as_str()));
    }
    if let Some(l) = &n.listen {
        c.insert("listen", value(l.as_str()));
    }
    if let Some(u) = &n.username {
        c.insert("username", value(u.as_str()));
    }
    if let Some((field, r)) = &n.secret {
        c.insert(field, value(r.to_string()));
    }
    if let Some(ca) = &n.ca_file {
        c.insert("ca_file", value(ca.display().to_string()));
    }
    if !n.tls_verify {
        c.insert("tls_verify", value(false));
    }
    t.insert("connection", Item::Table(c));
    t.decor_mut().set_prefix(format!("\n# Added by `logfetch tenant add` on {}.\n", Utc::now().format("%Y-%m-%d")));
    t
}

/// The connection field a vendor's secret goes in.
fn default_secret_field(vendor: &str, push: bool, username: bool) -> Option<&'static str> {
    match (vendor, push) {
        ("paloalto", false) if username => Some("password"),
        ("paloalto", false) => Some("api_key"),
        ("sentinelone", _) => Some("token"),
        ("zscaler", true) => None,
        ("zscaler", false) => Some("api_key"),
        _ => None,
    }
}

fn valid_id(id: &str) -> Result<(), String> {
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("`{id}`: use letters, digits, `-` and `_`"));
    }
    Ok(())
}

fn valid_url(u: &str) -> Result<(), String> {
    let p = reqwest::Url::parse(u).map_err(|e| format!("`{u}` is not a URL: {e}"))?;
    if !matches!(p.scheme(), "https" | "http") || p.host_str().is_none() {
        return Err(format!("`{u}`: expected https://host[:port]"));
    }
    Ok(())
}

fn valid_listen(l: &str) -> Result<(), String> {
    match l.split_once("://") {
        Some(("tcp" | "udp" | "tls" | "https" | "http", addr)) if addr.rsplit_once(':').is_some_and(|(_, p)| p.split('/').next().is_some_and(|p| p.parse::<u16>().is_ok())) => Ok(()),
        _ => Err(format!("`{l}`: expected tcp://ADDR:PORT, udp://…, tls://… or https://ADDR:PORT/path")),
    }
}

fn valid_kinds(k: &str) -> Result<Vec<String>, String> {
    let kinds: Vec<String> = k.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    if kinds.is_empty() {
        return Err("at least one kind (flow, dns)".into());
    }
    for x in &kinds {
        x.parse::<LogKind>().map_err(|e| format!("`{x}`: {e}"))?;
    }
    Ok(kinds)
}

fn valid_schedule(s: &str) -> Result<(), String> {
    logfetch_scheduler::schedule::CronSchedule::parse(s, chrono_tz::UTC).map(|_| ()).map_err(|e| format!("`{s}`: {e}"))
}

fn valid_tz(z: &str) -> Result<(), String> {
    logfetch_common::time::parse_tz(z).map(|_| ()).map_err(|e| e.to_string())
}

/// Line-based prompts on the terminal (stdin), with a default and a check; asks again on error.
struct Prompter<R: BufRead> {
    input: R,
}

impl<R: BufRead> Prompter<R> {
    fn ask(&mut self, q: &str, default: Option<&str>, check: &dyn Fn(&str) -> Result<(), String>) -> anyhow::Result<String> {
        loop {
            match default {
                Some(d) if !d.is_empty() => eprint!("{q} [{d}]: "),
                _ => eprint!("{q}: "),
            }
            std::io::stderr().flush().ok();
            let mut line = String::new();
            if self.input.read_line(&mut line)? == 0 {
                bail!("input ended while asking: {q}");
            }
            let v = line.trim();
            let v = if v.is_empty() { default.unwrap_or("").to_string() } else { v.to_string() };
            match check(&v) {
                Ok(()) => return Ok(v),
                Err(e) => eprintln!("  {e}"),
            }
        }
    }
}

fn add(a: AddArgs) -> anyhow::Result<ExitCode> {
    let path = a.config.config.clone();
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {} (create it first, e.g. from the README's configuration reference)", path.display()))?;
    let cfg = super::load_config(&path)?;
    let interactive = !a.non_interactive && std::io::stdin().is_terminal();
    let sink_names: Vec<String> = cfg.sinks.iter().map(|s| s.name.get_ref().clone()).collect();
    let n = if interactive { ask_interactive(&a, &cfg, &sink_names)? } else { from_flags(&a, &cfg, &sink_names)? };

    // The secret: stored in the keyring when the reference is a keyring one and a value is given.
    let mut doc: toml_edit::DocumentMut = text.parse().with_context(|| format!("parsing {}", path.display()))?;
    match doc.get_mut("tenant") {
        Some(toml_edit::Item::ArrayOfTables(arr)) => arr.push(tenant_table(&n)),
        Some(_) => bail!("{}: `tenant` is not an array of tables ([[tenant]])", path.display()),
        None => {
            let mut arr = toml_edit::ArrayOfTables::new();
            arr.push(tenant_table(&n));
            doc.insert("tenant", toml_edit::Item::ArrayOfTables(arr));
        }
    }
    let new_text = doc.to_string();
    // Check with the secret's reference before storing anything.
    if let Some((field, r)) = &n.secret {
        if let SecretRef::Keyring { service, account } = r {
            let value = if a.secret_stdin {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line).context("reading the secret from stdin")?;
                Some(line.trim_end_matches(['\n', '\r']).to_string())
            } else if interactive {
                Some(rpassword::prompt_password(format!("{field} for tenant {} (not echoed): ", n.id)).context("reading the secret from the terminal")?)
            } else {
                None
            };
            match value {
                Some(v) if v.is_empty() => bail!("empty {field}; nothing written"),
                Some(v) => {
                    logfetch_config::secret::keyring::set(service, account, &Secret::new(v)).with_context(|| format!("storing connection.{field} in the keyring as {r}"))?;
                    let _ = logfetch_scheduler::audit::record(&cfg.service.data_dir, "secret_set", &logfetch_scheduler::audit::cli_actor(), serde_json::json!({"tenant": n.id, "field": field, "reference": r.to_string()}), Ok(()));
                    eprintln!("stored connection.{field} of tenant `{}` in the keyring as {r}", n.id);
                }
                None => eprintln!("note: {r} must already hold the {field} (use --secret-stdin, or `logfetch secret set {} --field {field}` later)", n.id),
            }
        }
    }
    check_candidate(&path, &new_text)?;
    write_config(&path, &new_text)?;
    let _ = logfetch_scheduler::audit::record(&cfg.service.data_dir, "tenant_added", &logfetch_scheduler::audit::cli_actor(), serde_json::json!({"tenant": n.id, "vendor": n.vendor, "config": path.display().to_string()}), Ok(()));
    println!("added tenant `{}` ({}) to {}", n.id, n.vendor, path.display());
    println!("a running daemon picks it up on reload: `kill -HUP <pid>` or `POST /api/v1/reload`");
    if a.no_test {
        return Ok(ExitCode::SUCCESS);
    }
    println!();
    let id = n.id.clone();
    let code = test(TestArgs { id: id.clone(), minutes: 15, listen_secs: if interactive { 30 } else { 5 }, show: 5, config: ConfigPath { config: path.clone() } })?;
    if code != ExitCode::SUCCESS {
        println!("The tenant was added. Fix what failed, then `logfetch tenant test {id} -c {}` (or `logfetch tenant remove {id}`).", path.display());
    }
    Ok(code)
}

fn from_flags(a: &AddArgs, cfg: &Config, sink_names: &[String]) -> anyhow::Result<NewTenant> {
    let id = a.id.clone().context("--id is required with --non-interactive (or when stdin is not a terminal)")?;
    valid_id(&id).map_err(|e| anyhow::anyhow!("--id {e}"))?;
    if cfg.tenant(&id).is_some() {
        bail!("tenant `{id}` already exists; `logfetch tenant show {id}` shows it");
    }
    let vendor = a.vendor.clone().context("--vendor is required (cisco, paloalto, sentinelone, zscaler)")?;
    if !VENDORS.contains(&vendor.as_str()) {
        bail!("--vendor `{vendor}`: expected one of {}", VENDORS.join(", "));
    }
    match (&a.url, &a.listen) {
        (None, None) => bail!("give --url (pull from the vendor's API) or --listen (receive pushed logs)"),
        (Some(_), Some(_)) if vendor != "zscaler" => bail!("give either --url or --listen, not both"),
        _ => {}
    }
    if let Some(u) = &a.url {
        valid_url(u).map_err(|e| anyhow::anyhow!("--url {e}"))?;
    }
    if let Some(l) = &a.listen {
        valid_listen(l).map_err(|e| anyhow::anyhow!("--listen {e}"))?;
    }
    if a.listen.is_none() && matches!(vendor.as_str(), "cisco") {
        bail!("Cisco ASA/FTD tenants receive syslog: give --listen tcp://0.0.0.0:6514");
    }
    let kinds = valid_kinds(&a.kinds).map_err(|e| anyhow::anyhow!("--kinds {e}"))?;
    let push = a.listen.is_some();
    let schedule = if push { None } else { Some(a.schedule.clone().unwrap_or_else(|| "*/5 * * * *".into())) };
    if let Some(s) = &schedule {
        valid_schedule(s).map_err(|e| anyhow::anyhow!("--schedule {e}"))?;
    }
    let timezone = a.timezone.clone().unwrap_or_else(|| "UTC".into());
    valid_tz(&timezone).map_err(|e| anyhow::anyhow!("--timezone {e}"))?;
    let sinks = parse_sinks(a.sinks.as_deref().unwrap_or(""), sink_names).map_err(|e| anyhow::anyhow!("--sinks {e}"))?;
    let field = a.secret_field.clone().or_else(|| default_secret_field(&vendor, push, a.username.is_some()).map(str::to_string));
    let secret = match (field, &a.secret_ref) {
        (Some(f), r) => {
            check_field(&f)?;
            let r: SecretRef = r.clone().unwrap_or_else(|| format!("keyring:logfetch/{id}")).parse().map_err(|e: logfetch_config::secret::SecretError| anyhow::anyhow!("--secret-ref {e}"))?;
            Some((f, r))
        }
        (None, Some(_)) => bail!("--secret-ref needs --secret-field (api_key, password or token) for a {vendor} {} tenant", if push { "push" } else { "pull" }),
        (None, None) => None,
    };
    Ok(NewTenant {
        id,
        vendor,
        url: a.url.clone(),
        listen: a.listen.clone(),
        kinds,
        schedule,
        timezone,
        sinks,
        secret,
        username: a.username.clone(),
        ca_file: a.ca_file.clone(),
        tls_verify: !a.insecure_skip_verify,
    })
}

fn check_field(f: &str) -> anyhow::Result<()> {
    if !matches!(f, "api_key" | "password" | "token") {
        bail!("--secret-field `{f}`: expected api_key, password or token");
    }
    Ok(())
}

fn parse_sinks(s: &str, names: &[String]) -> Result<Vec<String>, String> {
    let list: Vec<String> = s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect();
    for x in &list {
        if !names.contains(x) {
            return Err(format!("no sink `{x}` in the config (sinks: {})", if names.is_empty() { "none".to_string() } else { names.join(", ") }));
        }
    }
    Ok(list)
}

fn ask_interactive(a: &AddArgs, cfg: &Config, sink_names: &[String]) -> anyhow::Result<NewTenant> {
    let stdin = std::io::stdin();
    let mut p = Prompter { input: stdin.lock() };
    eprintln!("Adding a tenant to {} (Enter keeps the [default]).", a.config.config.display());
    let vendor = p.ask("Vendor (cisco, paloalto, sentinelone, zscaler)", a.vendor.as_deref(), &|v| {
        if VENDORS.contains(&v) { Ok(()) } else { Err(format!("`{v}`: choose one of {}", VENDORS.join(", "))) }
    })?;
    let id = p.ask("Tenant id", Some(a.id.as_deref().unwrap_or(&format!("{vendor}-1"))), &|v| {
        valid_id(v)?;
        if cfg.tenant(v).is_some() { Err(format!("tenant `{v}` already exists")) } else { Ok(()) }
    })?;
    let push = match vendor.as_str() {
        "cisco" | "zscaler" => true,
        "sentinelone" => false,
        _ => p.ask("Collect by pull (XML API) or push (syslog)", Some("pull"), &|v| if matches!(v, "pull" | "push") { Ok(()) } else { Err("pull or push".into()) })? == "push",
    };
    let (url, listen) = if push {
        let default = if vendor == "zscaler" { "tcp://0.0.0.0:9514" } else { "tcp://0.0.0.0:6514" };
        (None, Some(p.ask("Listen on (tcp://, udp://, tls://, https:// for Cloud NSS)", Some(a.listen.as_deref().unwrap_or(default)), &valid_listen)?))
    } else {
        let hint = if vendor == "sentinelone" { "Console URL (https://<tenant>.sentinelone.net)" } else { "Firewall or Panorama URL (https://host)" };
        (Some(p.ask(hint, a.url.as_deref(), &valid_url)?), None)
    };
    let kinds = p.ask("Log kinds (flow, dns)", Some(&a.kinds), &|v| valid_kinds(v).map(|_| ()))?;
    let schedule = if push { None } else { Some(p.ask("Schedule (cron)", Some(a.schedule.as_deref().unwrap_or("*/5 * * * *")), &valid_schedule)?) };
    let timezone = p.ask("Device time zone (IANA)", Some(a.timezone.as_deref().unwrap_or("UTC")), &valid_tz)?;
    let username = if vendor == "paloalto" && !push {
        let u = p.ask("API user name (empty: use an API key)", a.username.as_deref(), &|_| Ok(()))?;
        (!u.is_empty()).then_some(u)
    } else {
        None
    };
    let secret = match default_secret_field(&vendor, push, username.is_some()) {
        Some(f) => {
            let default = a.secret_ref.clone().unwrap_or_else(|| format!("keyring:logfetch/{id}"));
            let r = p.ask(&format!("Where the {f} is kept (keyring:…, env:…, file:…, systemd:…)"), Some(&default), &|v| v.parse::<SecretRef>().map(|_| ()).map_err(|e| e.to_string()))?;
            Some((f.to_string(), r.parse::<SecretRef>().map_err(|e| anyhow::anyhow!("{e}"))?))
        }
        None => None,
    };
    let sinks = p.ask(&format!("Sinks (comma-separated; empty = all: {})", sink_names.join(", ")), a.sinks.as_deref(), &|v| parse_sinks(v, sink_names).map(|_| ()))?;
    let ca_file = if url.as_deref().is_some_and(|u| u.starts_with("https://")) {
        let c = p.ask("CA file for the vendor's certificate (empty: system roots)", a.ca_file.as_ref().map(|p| p.display().to_string()).as_deref(), &|v| {
            if v.is_empty() || Path::new(v).is_file() { Ok(()) } else { Err(format!("{v}: no such file")) }
        })?;
        (!c.is_empty()).then(|| PathBuf::from(c))
    } else {
        None
    };
    Ok(NewTenant {
        id,
        vendor,
        url,
        listen,
        kinds: valid_kinds(&kinds).map_err(anyhow::Error::msg)?,
        schedule,
        timezone,
        sinks: parse_sinks(&sinks, sink_names).map_err(anyhow::Error::msg)?,
        secret,
        username,
        ca_file,
        tls_verify: !a.insecure_skip_verify,
    })
}

// ------------------------------------------------------------------ remove -----

fn remove(id: &str, yes: bool, keep: bool, path: &Path) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let cfg = super::load_config(path)?;
    if cfg.tenant(id).is_none() {
        bail!("no tenant `{id}` in {}", path.display());
    }
    let mut doc: toml_edit::DocumentMut = text.parse().context("parsing the config")?;
    let Some(toml_edit::Item::ArrayOfTables(arr)) = doc.get_mut("tenant") else { bail!("no [[tenant]] blocks in {}", path.display()) };
    let idx = arr.iter().position(|t| t.get("id").and_then(|v| v.as_str()) == Some(id)).context("tenant block not found")?;
    arr.remove(idx);
    if arr.is_empty() {
        doc.remove("tenant");
    }
    let new_text = doc.to_string();
    check_candidate(path, &new_text)?;
    // Checkpoints: ask first (they are what makes a re-added tenant resume instead of re-reading).
    let delete = if keep {
        false
    } else if yes {
        true
    } else if std::io::stdin().is_terminal() {
        eprint!("Delete the checkpoints of `{id}` too? A tenant re-added with this id would then start from its initial lookback. [y/N]: ");
        std::io::stderr().flush().ok();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        matches!(line.trim(), "y" | "Y" | "yes")
    } else {
        eprintln!("keeping the checkpoints of `{id}` (pass --yes to delete them)");
        false
    };
    write_config(path, &new_text)?;
    let mut removed = 0usize;
    if delete {
        match super::open_store(&cfg) {
            Ok(store) => {
                use logfetch_common::checkpoint::CheckpointStore;
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                for (t, stream, _) in store.list()? {
                    if t == id && rt.block_on(store.remove(&t, &stream))? {
                        removed += 1;
                    }
                }
            }
            Err(e) => eprintln!("the checkpoints were not deleted: {e} (a running daemon holds the store; `logfetch checkpoint reset {id} <stream>` goes through it)"),
        }
    }
    let _ = logfetch_scheduler::audit::record(&cfg.service.data_dir, "tenant_removed", &logfetch_scheduler::audit::cli_actor(), serde_json::json!({"tenant": id, "checkpoints_deleted": removed}), Ok(()));
    println!("removed tenant `{id}` from {}{}", path.display(), if delete { format!("; {removed} checkpoint(s) deleted") } else { String::new() });
    println!("a running daemon stops its streams on reload: `kill -HUP <pid>` or `POST /api/v1/reload`");
    Ok(ExitCode::SUCCESS)
}

// ------------------------------------------------------------------ test -----

/// Prints one step's result; returns whether it passed.
struct Report {
    failed: usize,
}

impl Report {
    fn pass(&mut self, step: &str, detail: impl AsRef<str>) {
        println!("PASS  {step:<14} {}", detail.as_ref());
    }
    fn fail(&mut self, step: &str, detail: impl AsRef<str>) {
        self.failed += 1;
        println!("FAIL  {step:<14} {}", detail.as_ref());
    }
    fn warn(&mut self, step: &str, detail: impl AsRef<str>) {
        println!("WARN  {step:<14} {}", detail.as_ref());
    }
    fn skip(&mut self, step: &str, detail: impl AsRef<str>) {
        println!("SKIP  {step:<14} {}", detail.as_ref());
    }
}

fn test(a: TestArgs) -> anyhow::Result<ExitCode> {
    let cfg = super::load_config(&a.config.config)?;
    let t = cfg.tenant(&a.id).with_context(|| format!("no tenant `{}` in {}", a.id, a.config.config.display()))?.clone();
    println!("Testing tenant `{}` ({}, {})", t.id(), t.vendor(), if is_push(&t) { "push" } else { "pull" });
    let mut r = Report { failed: 0 };
    let rt = tokio::runtime::Runtime::new()?;
    // Secrets first: nothing else works without them.
    let mut secrets_ok = true;
    for (field, reference) in t.connection.secret_refs() {
        match reference.resolve(&logfetch_config::secret::ProcessEnv) {
            Ok(_) => r.pass("secret", format!("connection.{field} ({reference}) is readable")),
            Err(e) => {
                secrets_ok = false;
                r.fail("secret", format!("connection.{field} ({reference}): {e}"));
            }
        }
    }
    if is_push(&t) {
        rt.block_on(test_push(&t, &a, &mut r))?;
    } else if secrets_ok {
        rt.block_on(test_pull(&cfg, &t, &a, &mut r))?;
    }
    if r.failed > 0 {
        println!("\n{} step(s) failed. Vendor-side configuration this tenant expects:\n{}", r.failed, vendor_hints(&t));
        return Ok(ExitCode::FAILURE);
    }
    println!("\nAll checks passed.");
    Ok(ExitCode::SUCCESS)
}

async fn test_pull(cfg: &Config, t: &TenantConfig, a: &TestArgs, r: &mut Report) -> anyhow::Result<()> {
    let Some(url) = t.connection.url.clone() else {
        r.fail("config", "no connection.url");
        return Ok(());
    };
    let parsed = reqwest::Url::parse(&url).with_context(|| format!("connection.url `{url}`"))?;
    let host = parsed.host_str().unwrap_or("").to_string();
    let port = parsed.port_or_known_default().unwrap_or(443);
    // DNS.
    let addrs: Vec<std::net::SocketAddr> = match tokio::time::timeout(Duration::from_secs(10), tokio::net::lookup_host((host.as_str(), port))).await {
        Ok(Ok(a)) => a.collect(),
        Ok(Err(e)) => {
            r.fail("dns", format!("{host}: {e}"));
            return Ok(());
        }
        Err(_) => {
            r.fail("dns", format!("{host}: no answer in 10 s"));
            return Ok(());
        }
    };
    r.pass("dns", format!("{host} -> {}", addrs.iter().map(|a| a.ip().to_string()).collect::<Vec<_>>().join(", ")));
    // TCP.
    let started = std::time::Instant::now();
    match tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect(addrs.as_slice())).await {
        Ok(Ok(_)) => r.pass("tcp", format!("{host}:{port} connected in {} ms", started.elapsed().as_millis())),
        Ok(Err(e)) => {
            r.fail("tcp", format!("{host}:{port}: {e} (firewall between logfetch and the vendor? wrong port?)"));
            return Ok(());
        }
        Err(_) => {
            r.fail("tcp", format!("{host}:{port}: no connection in 10 s (dropped by a firewall?)"));
            return Ok(());
        }
    }
    // TLS + clock skew: one plain request with the tenant's own HTTP client.
    let settings = logfetch_scheduler::service::pull_source_settings(t).map_err(anyhow::Error::msg)?;
    let client = settings.http_client().map_err(|e| anyhow::anyhow!("{e}"))?;
    match client.get(parsed.clone()).send().await {
        Ok(resp) => {
            if parsed.scheme() == "https" {
                r.pass("tls", if t.connection.tls_verify { "certificate verified".to_string() } else { "verification is OFF for this tenant (tls_verify = false)".to_string() });
            } else {
                r.warn("tls", "plain http: credentials cross the network unencrypted");
            }
            match resp.headers().get(reqwest::header::DATE).and_then(|d| d.to_str().ok()).and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok()) {
                Some(their) => {
                    let skew = (Utc::now() - their.with_timezone(&Utc)).num_seconds();
                    if skew.abs() > 120 {
                        r.fail("clock", format!("{skew:+} s between this host and {host}: pull windows would miss or repeat records; fix NTP on either side"));
                    } else {
                        r.pass("clock", format!("{skew:+} s against {host}"));
                    }
                }
                None => r.skip("clock", format!("{host} sent no Date header")),
            }
        }
        Err(e) if parsed.scheme() == "https" && is_cert_error(&e) => {
            r.fail("tls", format!("{host}:{port}: the certificate is not trusted ({})", root_cause(&e)));
            match fetch_certificate(&host, port).await {
                Ok((desc, pem)) => {
                    let dir = cfg.service.data_dir.join("certs");
                    let saved = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(dir.join(format!("{}.pem", t.id())), pem)).map(|_| dir.join(format!("{}.pem", t.id())));
                    println!("      presented certificate: {desc}");
                    match saved {
                        Ok(p) => println!("      if this is the vendor's certificate (compare its fingerprint with the device), add\n        ca_file = \"{}\"\n      to [tenant.connection] of `{}` (the chain was saved there)", p.display(), t.id()),
                        Err(e) => println!("      (could not save the chain: {e})"),
                    }
                }
                Err(e) => println!("      could not read the certificate: {e}"),
            }
            return Ok(());
        }
        Err(e) => {
            r.fail("https", format!("{url}: {}", root_cause(&e)));
            return Ok(());
        }
    }
    // Authentication and permissions: a small real query per kind, last few minutes.
    let source = match logfetch_scheduler::service::pull_source(t, logfetch_connectors::http::RateLimiter::new(t.rate_limit)) {
        Ok(s) => s,
        Err(e) => {
            r.fail("auth", e);
            return Ok(());
        }
    };
    let now = Utc::now();
    let window = logfetch_connectors::pull::TimeWindow { start: now - chrono::Duration::minutes(5), end: now };
    let mut authed = false;
    let mut allowed = Vec::new();
    for kind in &t.kinds {
        match tokio::time::timeout(Duration::from_secs(60), source.fetch_page(*kind, window, None)).await {
            Ok(Ok(_)) => {
                if !authed {
                    r.pass("auth", "credentials accepted");
                    authed = true;
                }
                r.pass(&format!("perm {kind}"), format!("{kind} logs can be queried"));
                allowed.push(*kind);
            }
            Ok(Err(e)) => {
                let msg = e.to_string();
                match classify(t.vendor(), &msg) {
                    Problem::Auth => {
                        r.fail("auth", format!("{msg}\n      check the secret ({}); a changed password invalidates PAN-OS API keys", t.connection.secret_refs().iter().map(|(f, r)| format!("{f} = {r}")).collect::<Vec<_>>().join(", ")));
                        return Ok(());
                    }
                    Problem::Permission => {
                        if !authed {
                            r.pass("auth", "credentials accepted");
                            authed = true;
                        }
                        r.fail(&format!("perm {kind}"), format!("the API refused the {kind} query ({})\n      the account lacks the right: {}", http_part(&msg), permission_hint(t)));
                    }
                    Problem::Other => r.fail(&format!("perm {kind}"), msg),
                }
            }
            Err(_) => r.fail(&format!("perm {kind}"), "no answer within 60 s"),
        }
    }
    // Dry run: the real pull path into a scratch directory; no checkpoint is read or written.
    let scratch = tempfile::tempdir()?;
    for kind in allowed {
        let dir = scratch.path().join(kind.as_str());
        let sink: Arc<dyn logfetch_scheduler::sink::Sink> = Arc::new(logfetch_scheduler::sink::file::FileSink::new("dry-run", dir.clone(), logfetch_common::Format::Ocsf, false));
        let since = now - chrono::Duration::minutes(a.minutes as i64);
        let metrics = logfetch_scheduler::metrics::Metrics::default();
        let res = logfetch_scheduler::service::adhoc_pull_to(cfg, t, kind, since, now, &[sink], logfetch_connectors::http::RateLimiter::new(t.rate_limit), &metrics, CancellationToken::new(), None, None).await;
        match res {
            Ok(s) => {
                r.pass(&format!("dry-run {kind}"), format!("{} events, {} rejected in the last {} min", s.events, s.rejected, a.minutes));
                for line in first_lines(&dir, a.show) {
                    println!("      {}", summarise(&line));
                }
            }
            Err(e) => r.fail(&format!("dry-run {kind}"), e.to_string()),
        }
    }
    Ok(())
}

enum Problem {
    Auth,
    Permission,
    Other,
}

fn classify(vendor: &str, msg: &str) -> Problem {
    let m = msg.to_ascii_lowercase();
    let auth_text = ["invalid credential", "authentication failed", "401", "unauthorized", "invalid api key", "invalid key"];
    let perm_text = ["insufficient permissions", "permission denied", "forbidden", "not authorized", "4030010"];
    if perm_text.iter().any(|p| m.contains(p)) {
        return Problem::Permission;
    }
    if auth_text.iter().any(|p| m.contains(p)) {
        return Problem::Auth;
    }
    if m.contains("403") {
        // PAN-OS answers a wrong key or password with 403 "Invalid Credential" (matched above);
        // other 403s are missing rights.
        return if vendor == "paloalto" && m.contains("credential") { Problem::Auth } else { Problem::Permission };
    }
    Problem::Other
}

/// The `HTTP 403: …` part of a pull error, without the generic advice around it.
fn http_part(msg: &str) -> &str {
    let start = msg.find("HTTP ").unwrap_or(0);
    let rest = &msg[start..];
    rest.find("); check").map_or(rest, |end| &rest[..end])
}

fn permission_hint(t: &TenantConfig) -> String {
    match t.vendor() {
        "sentinelone" if t.connection.api.as_deref() == Some("dv") => "role with SDL Data viewEdr (Deep Visibility) and Endpoints view".into(),
        "sentinelone" => "role with Skylight Query API view (Long Running Query) and Endpoints view; the token's scope must cover the sites".into(),
        "paloalto" => "admin role with XML API > Log".into(),
        "zscaler" => "API role with access to the admin API".into(),
        v => format!("see the {v} section of docs/onboarding.md"),
    }
}

fn is_cert_error(e: &reqwest::Error) -> bool {
    let text = root_cause(e).to_ascii_lowercase();
    e.is_connect() && (text.contains("certificate") || text.contains("unknownissuer") || text.contains("invalid peer") || text.contains("self-signed") || text.contains("self signed"))
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(s) = cur {
        let t = s.to_string();
        if !parts.iter().any(|p| p.contains(&t)) {
            parts.push(t);
        }
        cur = s.source();
    }
    parts.join(": ")
}

/// Reads the server's certificate chain without verifying it, to show what was presented.
async fn fetch_certificate(host: &str, port: u16) -> anyhow::Result<(String, String)> {
    #[derive(Debug)]
    struct AcceptAny(Arc<rustls::crypto::CryptoProvider>);
    impl rustls::client::danger::ServerCertVerifier for AcceptAny {
        fn verify_server_cert(&self, _: &rustls::pki_types::CertificateDer<'_>, _: &[rustls::pki_types::CertificateDer<'_>], _: &rustls::pki_types::ServerName<'_>, _: &[u8], _: rustls::pki_types::UnixTime) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(&self, m: &[u8], c: &rustls::pki_types::CertificateDer<'_>, d: &rustls::DigitallySignedStruct) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls12_signature(m, c, d, &self.0.signature_verification_algorithms)
        }
        fn verify_tls13_signature(&self, m: &[u8], c: &rustls::pki_types::CertificateDer<'_>, d: &rustls::DigitallySignedStruct) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(m, c, d, &self.0.signature_verification_algorithms)
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect((host, port))).await??;
    let name = rustls::pki_types::ServerName::try_from(host.to_string())?;
    let tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp)).await??;
    let chain = tls.get_ref().1.peer_certificates().map(|c| c.to_vec()).unwrap_or_default();
    let leaf = chain.first().context("no certificate presented")?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).map_err(|e| anyhow::anyhow!("certificate does not parse: {e}"))?;
    let not_after = cert.validity().not_after.to_datetime();
    let expired = cert.validity().time_to_expiration().is_none();
    let self_signed = cert.subject() == cert.issuer();
    let fp = {
        use sha2::Digest;
        let d = sha2::Sha256::digest(leaf.as_ref());
        d.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
    };
    let desc = format!(
        "subject {}, issuer {}{}, expires {}{}, SHA-256 {fp}",
        cert.subject(),
        cert.issuer(),
        if self_signed { " (self-signed)" } else { "" },
        not_after,
        if expired { " (EXPIRED)" } else { "" }
    );
    let mut pem = String::new();
    for c in &chain {
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        let b64 = base64_encode(c.as_ref());
        for chunk in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(chunk).unwrap_or(""));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    Ok((desc, pem))
}

fn base64_encode(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The first `n` NDJSON lines under `dir` (a file sink's output).
fn first_lines(dir: &Path, n: usize) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "ndjson" || x == "json" || x == "gz") {
                files.push(p);
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let Ok(text) = read_maybe_gz(&f) else { continue };
        for l in text.lines().filter(|l| !l.trim().is_empty()) {
            if out.len() >= n {
                return out;
            }
            out.push(l.to_string());
        }
    }
    out
}

fn read_maybe_gz(p: &Path) -> std::io::Result<String> {
    let bytes = std::fs::read(p)?;
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&bytes[..]), &mut s)?;
        Ok(s)
    } else {
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// One line per OCSF event: time, class, who talked to whom, what happened.
fn summarise(line: &str) -> String {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else { return line.chars().take(160).collect() };
    let time = v["time"].as_i64().and_then(chrono::DateTime::from_timestamp_millis).map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default();
    let ep = |e: &serde_json::Value| match (e["ip"].as_str(), e["port"].as_u64()) {
        (Some(ip), Some(p)) => format!("{ip}:{p}"),
        (Some(ip), None) => ip.to_string(),
        _ => "-".into(),
    };
    let what = match v["class_uid"].as_u64() {
        Some(4003) => format!("DNS {} {} {}", v["query"]["type"].as_str().unwrap_or(""), v["query"]["hostname"].as_str().unwrap_or(""), v["rcode"].as_str().unwrap_or("")),
        _ => format!("{} {} -> {} {}", v["connection_info"]["protocol_name"].as_str().unwrap_or(""), ep(&v["src_endpoint"]), ep(&v["dst_endpoint"]), v["activity_name"].as_str().unwrap_or("")),
    };
    format!("{time}  {what}  {}", v["action"].as_str().unwrap_or(""))
}

async fn test_push(t: &TenantConfig, a: &TestArgs, r: &mut Report) -> anyhow::Result<()> {
    let settings = match logfetch_scheduler::service::push_settings(t) {
        Ok(s) => s,
        Err(e) => {
            r.fail("config", e);
            return Ok(());
        }
    };
    let source = match logfetch_connectors::registry::push_source_for(t.vendor(), &settings) {
        Ok(s) => s,
        Err(e) => {
            r.fail("listen", e.to_string());
            return Ok(());
        }
    };
    let scratch = tempfile::tempdir()?;
    let db = sled::open(scratch.path().join("spool"))?;
    let spool = Arc::new(logfetch_common::spool::Spool::open(&db, t.id(), 64 << 20)?);
    let obs = Arc::new(Observer::default());
    let cancel = CancellationToken::new();
    let listen = t.connection.listen.clone().unwrap_or_default();
    let task = {
        let (spool, obs, cancel) = (spool.clone(), obs.clone(), cancel.clone());
        tokio::spawn(async move { source.run(spool, obs, cancel).await })
    };
    // Wait for the listener (or its failure).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while obs.bound.lock().unwrap_or_else(|e| e.into_inner()).is_none() && !task.is_finished() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if task.is_finished() {
        let why = match task.await {
            Ok(Err(e)) => e.to_string(),
            Ok(Ok(())) => "the listener stopped".into(),
            Err(e) => e.to_string(),
        };
        let hint = if why.to_ascii_lowercase().contains("in use") { " (a running logfetch daemon may hold it: `logfetch status` shows what it receives)" } else { "" };
        r.fail("listen", format!("{listen}: {why}{hint}"));
        return Ok(());
    }
    let bound = *obs.bound.lock().unwrap_or_else(|e| e.into_inner());
    let Some(bound) = bound else {
        cancel.cancel();
        r.fail("listen", format!("{listen}: the listener did not start within 5 s"));
        return Ok(());
    };
    r.pass("listen", format!("listening on {bound} ({listen}) for {} s; send logs now", a.listen_secs));
    let until = std::time::Instant::now() + Duration::from_secs(a.listen_secs);
    while std::time::Instant::now() < until && spool.peek(a.show * 4 + 1)?.len() < a.show * 4 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), task).await;
    let recs = spool.peek(1000)?;
    if recs.is_empty() {
        r.fail("receive", format!("nothing arrived on {bound} in {} s. The device must send to this host and port; its configuration:", a.listen_secs));
        return Ok(());
    }
    let peers: std::collections::BTreeSet<String> = recs.iter().filter_map(|(_, x)| x.peer.clone()).map(|p| p.rsplit_once(':').map(|(h, _)| h.to_string()).unwrap_or(p)).collect();
    r.pass("receive", format!("{} record(s) from {}", recs.len(), peers.into_iter().collect::<Vec<_>>().join(", ")));
    let parser = logfetch_connectors::registry::parser_for(t.vendor()).map_err(anyhow::Error::msg)?;
    let mut ctx = logfetch_connectors::ParseContext::new(t.id(), t.tz());
    ctx.keep_raw = false;
    let (mut shown, mut rejected, mut skipped) = (0usize, 0usize, 0usize);
    for (_, rec) in &recs {
        match parser.parse(&rec.line, &ctx) {
            logfetch_connectors::ParseOutcome::Events(evs) => {
                for ev in evs {
                    if shown < a.show && t.kinds.contains(&ev.kind()) {
                        let mut buf = Vec::new();
                        logfetch_common::write_event(&mut buf, &ev, logfetch_common::Format::Ocsf);
                        println!("      {}", summarise(&String::from_utf8_lossy(&buf)));
                        shown += 1;
                    }
                }
            }
            logfetch_connectors::ParseOutcome::Skipped { .. } => skipped += 1,
            logfetch_connectors::ParseOutcome::Rejected { reason } => {
                if rejected == 0 {
                    println!("      first rejected record: {reason}: {}", rec.line.chars().take(200).collect::<String>());
                }
                rejected += 1;
            }
        }
    }
    if shown == 0 {
        r.fail("parse", format!("none of the {} record(s) is a {} record this tenant collects ({} rejected, {} skipped as other message types)", recs.len(), t.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join("/"), rejected, skipped));
    } else {
        r.pass("parse", format!("{shown} shown; {rejected} rejected, {skipped} other message types"));
    }
    Ok(())
}

#[derive(Default)]
struct Observer {
    bound: std::sync::Mutex<Option<std::net::SocketAddr>>,
}

impl logfetch_connectors::push::PushObserver for Observer {
    fn listening(&self, addr: std::net::SocketAddr) {
        *self.bound.lock().unwrap_or_else(|e| e.into_inner()) = Some(addr);
    }
    fn received(&self, _records: u64, _bytes: u64) {}
    fn truncated(&self, _n: u64) {}
    fn backpressure(&self, _dropped: u64) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"foobar"), "Zm9vYmFy");
    }

    #[test]
    fn errors_are_told_apart() {
        assert!(matches!(classify("paloalto", "HTTP 403: Invalid Credential"), Problem::Auth));
        assert!(matches!(classify("sentinelone", "HTTP 403 {\"errors\":[{\"code\":4030010,\"title\":\"Insufficient permissions\"}]}"), Problem::Permission));
        assert!(matches!(classify("sentinelone", "HTTP 401 Authentication Failed"), Problem::Auth));
        assert!(matches!(classify("paloalto", "connection reset"), Problem::Other));
    }

    #[test]
    fn a_new_tenant_block_keeps_the_rest_of_the_file() {
        let text = "# my config\n[service]\ndata_dir = \"/x\"  # where state lives\n\n[[tenant]]\nid = \"a\"\nvendor = \"cisco\"\n[tenant.connection]\nlisten = \"tcp://0.0.0.0:1\"\n";
        let mut doc: toml_edit::DocumentMut = text.parse().unwrap();
        let n = NewTenant {
            id: "pan-1".into(),
            vendor: "paloalto".into(),
            url: Some("https://fw".into()),
            kinds: vec!["flow".into()],
            schedule: Some("*/5 * * * *".into()),
            timezone: "UTC".into(),
            secret: Some(("api_key".into(), "keyring:logfetch/pan-1".parse().unwrap())),
            tls_verify: true,
            ..NewTenant::default()
        };
        doc["tenant"].as_array_of_tables_mut().unwrap().push(tenant_table(&n));
        let out = doc.to_string();
        assert!(out.starts_with(text), "{out}");
        assert!(out.contains("[[tenant]]\nid = \"pan-1\""), "{out}");
        assert!(out.contains("[tenant.connection]\nurl = \"https://fw\"\napi_key = \"keyring:logfetch/pan-1\""), "{out}");
    }
}
