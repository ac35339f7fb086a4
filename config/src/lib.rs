//! The `logfetch.toml` model: `[service]`, `[[tenant]]` and `[[sink]]` sections, parsed with
//! serde (`deny_unknown_fields`), then checked as a whole. Every error names the file, line and
//! column and says what was expected. Secrets are references ([`secret::SecretRef`]), resolved
//! only when a connector needs them.

pub mod duration;
pub mod secret;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use logfetch_common::{Format, LogKind};
use serde::Deserialize;
use toml::Spanned;

pub use duration::HumanDuration;
pub use secret::{Secret, SecretError, SecretRef};

/// A problem with the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {file}: {why}")]
    Read { file: PathBuf, why: String },
    #[error("{file}:{line}:{column}: {message}")]
    At { file: PathBuf, line: usize, column: usize, message: String },
    #[error("{file}: {message}")]
    File { file: PathBuf, message: String },
}

/// Top level of `logfetch.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub service: ServiceConfig,
    #[serde(default, rename = "tenant")]
    pub tenants: Vec<TenantConfig>,
    #[serde(default, rename = "sink")]
    pub sinks: Vec<SinkConfig>,
    #[serde(default)]
    pub enrichment: EnrichmentConfig,
}

/// `[enrichment]`: the sources tenants can use with `enrich = [...]`. Files are watched and
/// swapped while running; feeds are refreshed on their own schedule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichmentConfig {
    /// MaxMind-format city or country database (`.mmdb`): GeoLite2-City, DB-IP, ip-location-db...
    pub geoip: Option<PathBuf>,
    /// MaxMind-format ASN database (`.mmdb`).
    pub asn: Option<PathBuf>,
    /// IP ranges / host names → user, department, owner, with optional validity intervals (CSV
    /// or JSON).
    pub users_file: Option<PathBuf>,
    /// How often watched files are checked for changes.
    #[serde(default = "default_watch_interval")]
    pub watch_interval: HumanDuration,
    /// Threat-intelligence feeds.
    #[serde(default, rename = "feed")]
    pub feeds: Vec<FeedConfig>,
    /// Most indicators kept from one feed; the rest are counted and logged, not loaded (a
    /// runaway feed must not exhaust memory).
    #[serde(default = "default_max_indicators")]
    pub max_indicators: usize,
}

impl Default for EnrichmentConfig {
    fn default() -> Self {
        EnrichmentConfig { geoip: None, asn: None, users_file: None, watch_interval: default_watch_interval(), feeds: Vec::new(), max_indicators: default_max_indicators() }
    }
}

fn default_max_indicators() -> usize {
    5_000_000
}

fn default_watch_interval() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}

/// `[[enrichment.feed]]`: one indicator feed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedConfig {
    pub name: String,
    /// A local file (watched) ...
    pub path: Option<PathBuf>,
    /// ... or an HTTPS URL (fetched every `refresh`).
    pub url: Option<String>,
    /// Bearer token for `url`.
    pub token: Option<SecretRef>,
    /// `list` (one IP, CIDR, domain or URL per line), `csv` or `stix` (a STIX 2.1 bundle).
    #[serde(default = "default_feed_format")]
    pub format: String,
    #[serde(default = "default_feed_refresh")]
    pub refresh: HumanDuration,
    /// Indicators without their own expiry expire this long after they were last seen (the
    /// CSV `last_seen` column, STIX `modified`, or the file's modification time).
    pub ttl: Option<HumanDuration>,
    /// Confidence (0-100) for indicators that carry none.
    pub confidence: Option<u8>,
    /// Domain indicators also match their subdomains.
    #[serde(default)]
    pub subdomains: bool,
    /// CSV: which column holds what (header names).
    #[serde(default)]
    pub columns: FeedColumns,
    /// CSV: field delimiter.
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
}

/// CSV column names for a feed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedColumns {
    #[serde(default = "default_value_column")]
    pub value: String,
    pub kind: Option<String>,
    pub confidence: Option<String>,
    pub valid_until: Option<String>,
    pub last_seen: Option<String>,
    pub description: Option<String>,
}

impl Default for FeedColumns {
    fn default() -> Self {
        FeedColumns { value: default_value_column(), kind: None, confidence: None, valid_until: None, last_seen: None, description: None }
    }
}

fn default_value_column() -> String {
    "indicator".into()
}
fn default_feed_format() -> String {
    "list".into()
}
fn default_feed_refresh() -> HumanDuration {
    HumanDuration(Duration::from_secs(3600))
}
fn default_delimiter() -> char {
    ','
}

/// `[tenant.hunt]`: DNS hunting thresholds (defaults documented in the README).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HuntSettings {
    /// Per-domain and per-client state lives this long.
    #[serde(default = "default_hunt_window")]
    pub window: HumanDuration,
    /// Tunnel: distinct subdomains of one registered domain before their shape is judged.
    #[serde(default = "default_tunnel_min_unique")]
    pub tunnel_min_unique: usize,
    /// Tunnel: distinct subdomains that raise a finding on their own (RITA: 100).
    #[serde(default = "default_tunnel_unique_alone")]
    pub tunnel_unique_alone: usize,
    /// Tunnel signs: mean subdomain length and Shannon entropy (bits per character) at or above these.
    #[serde(default = "default_tunnel_mean_length")]
    pub tunnel_mean_length: f64,
    #[serde(default = "default_tunnel_mean_entropy")]
    pub tunnel_mean_entropy: f64,
    /// NXDOMAIN answers for DGA-scored names from one client in a window.
    #[serde(default = "default_nx_dga_min")]
    pub nx_dga_min: usize,
    /// DGA score (0-1) at or above which a name counts as DGA-like; unset: the model's own
    /// calibrated threshold (shown by `logfetch hunt eval`).
    #[serde(default)]
    pub dga_threshold: Option<f64>,
    /// TXT queries per client per minute (Sigma: 50).
    #[serde(default = "default_txt_per_minute")]
    pub txt_per_minute: usize,
    /// Volume spike: a client's queries in one minute above its EWMA baseline by this many
    /// standard deviations, with at least `spike_min_queries`, after `spike_warmup` of history.
    #[serde(default = "default_spike_sigmas")]
    pub spike_sigmas: f64,
    #[serde(default = "default_spike_min_queries")]
    pub spike_min_queries: u64,
    #[serde(default = "default_spike_warmup")]
    pub spike_warmup: HumanDuration,
    /// NXDOMAIN share (0-1) of a client's queries in a window, over at least `nx_ratio_min_queries`.
    #[serde(default = "default_nx_ratio")]
    pub nx_ratio: f64,
    #[serde(default = "default_nx_ratio_min_queries")]
    pub nx_ratio_min_queries: u64,
    /// A registered domain first seen less than `new_domain_age` ago with `new_domain_queries`.
    #[serde(default = "default_new_domain_age")]
    pub new_domain_age: HumanDuration,
    #[serde(default = "default_new_domain_queries")]
    pub new_domain_queries: u64,
    /// State caps: registered domains and clients tracked before the oldest are evicted.
    #[serde(default = "default_max_domains")]
    pub max_domains: usize,
    #[serde(default = "default_max_clients")]
    pub max_clients: usize,
    /// Your brand domains: queries for look-alikes (typos, homoglyphs, TLD swaps) are findings.
    #[serde(default)]
    pub brands: Vec<String>,
}

impl HuntSettings {
    /// Range problems, one message each.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut unit = |name: &str, v: f64| {
            if !(v > 0.0 && v <= 1.0) {
                out.push(format!("hunt.{name} = {v} must be above 0 and at most 1"));
            }
        };
        unit("nx_ratio", self.nx_ratio);
        if let Some(t) = self.dga_threshold {
            unit("dga_threshold", t);
        }
        let mut positive = |name: &str, ok: bool| {
            if !ok {
                out.push(format!("hunt.{name} must be above 0"));
            }
        };
        positive("window", !self.window.0.is_zero());
        positive("tunnel_min_unique", self.tunnel_min_unique > 0);
        positive("tunnel_unique_alone", self.tunnel_unique_alone > 0);
        positive("tunnel_mean_length", self.tunnel_mean_length > 0.0 && self.tunnel_mean_length.is_finite());
        positive("tunnel_mean_entropy", self.tunnel_mean_entropy > 0.0 && self.tunnel_mean_entropy.is_finite());
        positive("nx_dga_min", self.nx_dga_min > 0);
        positive("txt_per_minute", self.txt_per_minute > 0);
        positive("spike_sigmas", self.spike_sigmas > 0.0 && self.spike_sigmas.is_finite());
        positive("max_domains", self.max_domains > 0);
        positive("max_clients", self.max_clients > 0);
        for b in &self.brands {
            if !b.contains('.') || b.starts_with('.') || b.ends_with('.') {
                out.push(format!("hunt.brands: `{b}` is not a domain name such as `example.com`"));
            }
        }
        out
    }
}

fn default_hunt_window() -> HumanDuration {
    HumanDuration(Duration::from_secs(600))
}
fn default_tunnel_min_unique() -> usize {
    10
}
fn default_tunnel_unique_alone() -> usize {
    100
}
fn default_tunnel_mean_length() -> f64 {
    18.0
}
fn default_tunnel_mean_entropy() -> f64 {
    3.0
}
fn default_nx_dga_min() -> usize {
    5
}
fn default_txt_per_minute() -> usize {
    50
}
fn default_spike_sigmas() -> f64 {
    4.0
}
fn default_spike_min_queries() -> u64 {
    100
}
fn default_spike_warmup() -> HumanDuration {
    HumanDuration(Duration::from_secs(600))
}
fn default_nx_ratio() -> f64 {
    0.5
}
fn default_nx_ratio_min_queries() -> u64 {
    50
}
fn default_new_domain_age() -> HumanDuration {
    HumanDuration(Duration::from_secs(3600))
}
fn default_new_domain_queries() -> u64 {
    200
}
fn default_max_domains() -> usize {
    100_000
}
fn default_max_clients() -> usize {
    50_000
}

/// Enrichments a tenant can ask for.
pub const ENRICHMENTS: &[&str] = &["geo", "asn", "threat_intel", "user"];

/// `[service]`: process-wide settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// Checkpoints, spool and rejects live here.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// Admin API address; loopback by default.
    #[serde(default = "default_admin_listen")]
    pub admin_listen: SocketAddr,
    /// Ed25519 key (64 hex characters, by secret reference) that signs pull manifests;
    /// `logfetch evidence keygen` makes one.
    #[serde(default)]
    pub evidence_signing_key: Option<SecretRef>,
    /// Bearer token for the admin API; required when `admin_listen` is not loopback.
    #[serde(default)]
    pub admin_token: Option<SecretRef>,
    /// Runs allowed at once across all tenants.
    #[serde(default = "default_max_concurrent_runs")]
    pub max_concurrent_runs: usize,
    /// How long SIGTERM waits for in-flight batches.
    #[serde(default = "default_shutdown_timeout")]
    pub shutdown_timeout: HumanDuration,
    /// Where on-demand pulls write (`incidents/<UTC>-<tenant>-<kind>/`).
    #[serde(default = "default_incidents_dir")]
    pub incidents_dir: PathBuf,
    /// Bound of each push tenant's durable spool; when full, receivers push back.
    #[serde(default = "default_spool_max_bytes")]
    pub spool_max_bytes: u64,
}

fn default_spool_max_bytes() -> u64 {
    256 * 1024 * 1024
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./logfetch-data")
}
fn default_admin_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8686))
}
fn default_max_concurrent_runs() -> usize {
    4
}
fn default_shutdown_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(30))
}
fn default_incidents_dir() -> PathBuf {
    PathBuf::from("./incidents")
}

impl Default for ServiceConfig {
    fn default() -> Self {
        ServiceConfig {
            evidence_signing_key: None,
            data_dir: default_data_dir(),
            admin_listen: default_admin_listen(),
            admin_token: None,
            max_concurrent_runs: default_max_concurrent_runs(),
            shutdown_timeout: default_shutdown_timeout(),
            incidents_dir: default_incidents_dir(),
            spool_max_bytes: default_spool_max_bytes(),
        }
    }
}

/// `[[tenant]]`: one vendor account, firewall, console or feed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub id: Spanned<String>,
    /// Which connector: `cisco`, `paloalto`, `sentinelone`, `zscaler` (or `test`).
    pub vendor: Spanned<String>,
    #[serde(default = "default_kinds")]
    pub kinds: Vec<LogKind>,
    /// IANA zone for zone-less vendor timestamps and for the schedule.
    #[serde(default = "default_tz")]
    pub timezone: Spanned<String>,
    /// Cron schedule of pull streams: 5 fields (crontab) or 6 (with seconds).
    #[serde(default = "default_schedule")]
    pub schedule: Spanned<String>,
    /// Random delay added to each scheduled run, to spread load.
    #[serde(default)]
    pub jitter: HumanDuration,
    /// Where a new stream starts: now minus this.
    #[serde(default = "default_initial_lookback")]
    pub initial_lookback: HumanDuration,
    /// After downtime, never reach further back than this.
    #[serde(default = "default_max_lookback")]
    pub max_lookback: HumanDuration,
    /// Catch-up walks forward in windows of this size.
    #[serde(default = "default_window")]
    pub window: HumanDuration,
    /// Windows end this long before now, so records still being written are not cut in half.
    #[serde(default = "default_delay")]
    pub delay: HumanDuration,
    /// Each pull window re-reads this much before its start and drops what was already delivered
    /// (by event id), so records the vendor shows late are still collected. Default: the
    /// vendor's (SentinelOne 2m, others 0).
    #[serde(default)]
    pub overlap: Option<HumanDuration>,
    /// Enrichment at ingest: any of `geo`, `asn`, `threat_intel`, `user` (sources in
    /// `[enrichment]`).
    #[serde(default)]
    pub enrich: Vec<Spanned<String>>,
    /// DNS hunting on this tenant's DNS events; findings go to the sinks as `kind=finding`.
    pub hunt: Option<HuntSettings>,
    /// Keep the original record in each event.
    #[serde(default = "default_true")]
    pub keep_raw: bool,
    /// Sink names this tenant's batches go to (default: every sink).
    #[serde(default)]
    pub sinks: Vec<Spanned<String>>,
    /// Requests per second to the vendor API, shared by scheduled and on-demand work.
    #[serde(default = "default_rate")]
    pub rate_limit: f64,
    /// Runs of this tenant allowed at once.
    #[serde(default = "default_tenant_concurrency")]
    pub max_concurrent: usize,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub connection: ConnectionConfig,
}

fn default_kinds() -> Vec<LogKind> {
    vec![LogKind::Flow, LogKind::Dns]
}
fn default_tz() -> Spanned<String> {
    Spanned::new(0..0, "UTC".to_string())
}
fn default_schedule() -> Spanned<String> {
    Spanned::new(0..0, "*/5 * * * *".to_string())
}
fn default_initial_lookback() -> HumanDuration {
    HumanDuration(Duration::from_secs(3600))
}
fn default_max_lookback() -> HumanDuration {
    HumanDuration(Duration::from_secs(7 * 86400))
}
fn default_window() -> HumanDuration {
    HumanDuration(Duration::from_secs(3600))
}
fn default_delay() -> HumanDuration {
    HumanDuration(Duration::from_secs(2))
}
fn default_true() -> bool {
    true
}
fn default_rate() -> f64 {
    5.0
}
fn default_tenant_concurrency() -> usize {
    2
}

/// `[tenant.connection]`: how to reach the vendor. Which keys apply depends on the vendor.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionConfig {
    /// API base URL (PAN-OS firewall/Panorama, SentinelOne console, ZIA cloud).
    pub url: Option<String>,
    pub api_key: Option<SecretRef>,
    pub username: Option<String>,
    pub password: Option<SecretRef>,
    pub token: Option<SecretRef>,
    /// Cloud NSS listeners: the header carrying `token` (default `authorization`).
    pub token_header: Option<String>,
    /// ZIA OneAPI: the OAuth token URL (`https://<vanity>.zslogin.net/oauth2/v1/token`); with it,
    /// `username`/`password` are the client id and secret. Without it, `api_key` + `username` +
    /// `password` log in to the legacy API.
    pub token_url: Option<String>,
    /// How often directory data (ZIA users, departments, groups) is synced.
    #[serde(default = "default_sync_interval")]
    pub sync_interval: HumanDuration,
    /// PEM file with the CA that signed the vendor's certificate.
    pub ca_file: Option<PathBuf>,
    /// TLS certificate verification; only an explicit `false` turns it off.
    #[serde(default = "default_true")]
    pub tls_verify: bool,
    /// Listener address for push sources (syslog, NSS, Cloud NSS). Setting it makes the tenant
    /// a push tenant: records are received, not pulled.
    pub listen: Option<String>,
    /// Longest accepted pushed record; longer ones are truncated and counted.
    #[serde(default = "default_max_message")]
    pub max_message_bytes: usize,
    /// Syslog over TCP/TLS: connections accepted at once.
    #[serde(default = "default_max_connections")]
    pub max_connections: usize,
    /// Syslog over TCP/TLS: close a connection silent this long.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: HumanDuration,
    /// Syslog over UDP: socket receive buffer (SO_RCVBUF) in bytes.
    pub recv_buffer: Option<usize>,
    /// Syslog over TLS (`listen = "tls://..."`): certificate chain and key, PEM files.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Records per page for pull APIs.
    pub page_size: Option<u32>,
    /// SentinelOne: `lrq` (Long Running Query, the default) or `dv` (Deep Visibility, deprecated;
    /// falls back to LRQ by itself once the console answers that DV is gone).
    pub api: Option<String>,
    /// SentinelOne Deep Visibility: least time between two `init-query` calls (the documented
    /// limit is 1 per minute per token, the default).
    pub query_launch_interval: Option<HumanDuration>,
    /// How often asynchronous API jobs (PAN-OS log queries) are polled.
    #[serde(default = "default_poll_interval")]
    pub poll_interval: HumanDuration,
    /// HTTP request timeout.
    #[serde(default = "default_http_timeout")]
    pub timeout: HumanDuration,
    /// Retries for 5xx and connection errors before a run fails.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
}

fn default_sync_interval() -> HumanDuration {
    HumanDuration(Duration::from_secs(3600))
}
fn default_poll_interval() -> HumanDuration {
    HumanDuration(Duration::from_millis(500))
}
fn default_max_connections() -> usize {
    1000
}
fn default_idle_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(600))
}
fn default_max_message() -> usize {
    64 * 1024
}
fn default_http_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}
fn default_retries() -> u32 {
    5
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            url: None,
            api_key: None,
            username: None,
            password: None,
            token: None,
            token_header: None,
            token_url: None,
            sync_interval: default_sync_interval(),
            ca_file: None,
            tls_verify: true,
            listen: None,
            max_message_bytes: default_max_message(),
            max_connections: default_max_connections(),
            idle_timeout: default_idle_timeout(),
            recv_buffer: None,
            tls_cert: None,
            tls_key: None,
            page_size: None,
            poll_interval: default_poll_interval(),
            api: None,
            query_launch_interval: None,
            timeout: default_http_timeout(),
            max_retries: default_retries(),
        }
    }
}

impl ConnectionConfig {
    /// Every secret reference with its field name.
    pub fn secret_refs(&self) -> Vec<(&'static str, &SecretRef)> {
        let mut out = Vec::new();
        if let Some(r) = &self.api_key {
            out.push(("api_key", r));
        }
        if let Some(r) = &self.password {
            out.push(("password", r));
        }
        if let Some(r) = &self.token {
            out.push(("token", r));
        }
        out
    }
}

/// The kind of sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SinkType {
    File,
    Stdout,
    SplunkHec,
    Elasticsearch,
    Nats,
}

/// `[[sink]]`: where normalised batches go.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    pub name: Spanned<String>,
    #[serde(rename = "type")]
    pub kind: SinkType,
    /// `file`: the root directory.
    pub path: Option<PathBuf>,
    #[serde(default)]
    pub format: Format,
    #[serde(default)]
    pub gzip: bool,
    /// File sink: keep a per-day SHA-256 hash chain of the batches (`chain.jsonl`), so a removed
    /// or altered batch is detected by `logfetch evidence verify`.
    #[serde(default)]
    pub hash_chain: bool,
    #[serde(default = "default_batch_events")]
    pub batch_max_events: usize,
    #[serde(default = "default_batch_bytes")]
    pub batch_max_bytes: usize,
    #[serde(default = "default_flush")]
    pub flush_interval: HumanDuration,
    /// Network sinks: the server (`https://splunk:8088`, `https://es:9200`).
    pub url: Option<String>,
    /// Splunk HEC token, or an Elasticsearch bearer token.
    pub token: Option<SecretRef>,
    /// Elasticsearch API key (`id:key` base64, as Kibana shows it).
    pub api_key: Option<SecretRef>,
    /// Elasticsearch basic auth.
    pub username: Option<String>,
    pub password: Option<SecretRef>,
    /// HEC index, or the Elasticsearch index template (`logs-logfetch.{kind}-{tenant}-%Y.%m.%d`).
    pub index: Option<String>,
    /// HEC sourcetype (default `logfetch:<format>:<kind>`).
    pub sourcetype: Option<String>,
    /// HEC indexer acknowledgement: "accepted" means indexed.
    #[serde(default)]
    pub ack: bool,
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_true")]
    pub tls_verify: bool,
    #[serde(default = "default_http_timeout")]
    pub timeout: HumanDuration,
    /// Where documents a server rejects for good (mapping errors) are kept, with the reason.
    pub dead_letter: Option<PathBuf>,
    /// NATS: the JetStream stream to publish into (created if missing, subjects `logfetch.>`).
    pub stream: Option<String>,
}

fn default_batch_events() -> usize {
    5000
}
fn default_batch_bytes() -> usize {
    8 * 1024 * 1024
}
fn default_flush() -> HumanDuration {
    HumanDuration(Duration::from_secs(5))
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A semantic problem, located by the span of the value it is about.
struct Problem {
    span: std::ops::Range<usize>,
    message: String,
}

impl Config {
    /// Parses TOML text. `file` is only used in messages.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        toml::from_str::<Config>(text).map_err(|e| {
            let message = e.message().trim().to_string();
            match e.span() {
                Some(span) => {
                    let (line, column) = line_col(text, span.start);
                    ConfigError::At { file: file.into(), line, column, message }
                }
                None => ConfigError::File { file: file.into(), message },
            }
        })
    }

    /// Reads and parses a file, then checks it against the known vendors.
    pub fn load(file: &Path, vendors: &[&str]) -> Result<Config, Vec<ConfigError>> {
        let text = std::fs::read_to_string(file).map_err(|e| vec![ConfigError::Read { file: file.into(), why: e.to_string() }])?;
        let cfg = Config::parse(&text, file).map_err(|e| vec![e])?;
        cfg.check(&text, file, vendors)?;
        Ok(cfg)
    }

    /// Whole-file checks serde cannot make: unique ids, known vendors, valid zones, sink
    /// references, admin exposure.
    pub fn check(&self, text: &str, file: &Path, vendors: &[&str]) -> Result<(), Vec<ConfigError>> {
        let mut problems: Vec<Problem> = Vec::new();
        for f in &self.enrichment.feeds {
            let n = &f.name;
            let mut why = Vec::new();
            if f.path.is_some() == f.url.is_some() {
                why.push(format!("feed `{n}`: give exactly one of `path` or `url`"));
            }
            if !["list", "csv", "stix"].contains(&f.format.as_str()) {
                why.push(format!("feed `{n}`: format `{}` is not `list`, `csv` or `stix`", f.format));
            }
            if let Some(u) = &f.url {
                let loopback = u.starts_with("http://127.0.0.1") || u.starts_with("http://localhost") || u.starts_with("http://[::1]");
                if !u.starts_with("https://") && !loopback {
                    why.push(format!("feed `{n}`: url `{u}` must be https://"));
                }
            }
            if f.confidence.is_some_and(|c| c > 100) {
                why.push(format!("feed `{n}`: confidence must be 0-100"));
            }
            problems.extend(why.into_iter().map(|message| Problem { span: 0..0, message }));
        }
        let mut file_level: Vec<String> = Vec::new();
        let mut seen = BTreeSet::new();
        let sink_names: BTreeSet<&str> = self.sinks.iter().map(|s| s.name.get_ref().as_str()).collect();
        for t in &self.tenants {
            let id = t.id.get_ref();
            if id.is_empty() || !id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
                problems.push(Problem { span: t.id.span(), message: format!("tenant id `{id}` must be non-empty and use only letters, digits, `-`, `_` and `.`") });
            }
            if !seen.insert(id.as_str()) {
                problems.push(Problem { span: t.id.span(), message: format!("tenant id `{id}` is used twice") });
            }
            if !vendors.contains(&t.vendor.get_ref().as_str()) {
                problems.push(Problem {
                    span: t.vendor.span(),
                    message: format!("tenant `{id}`: unknown vendor `{}`, expected one of: {}", t.vendor.get_ref(), vendors.join(", ")),
                });
            }
            if logfetch_common::time::parse_tz(t.timezone.get_ref()).is_err() {
                problems.push(Problem {
                    span: t.timezone.span(),
                    message: format!("tenant `{id}`: unknown time zone `{}`, expected an IANA name such as `Europe/Berlin` or `UTC`", t.timezone.get_ref()),
                });
            }
            for e in &t.enrich {
                let problem = match e.get_ref().as_str() {
                    x if !ENRICHMENTS.contains(&x) => Some(format!("tenant `{id}`: unknown enrichment `{x}`, expected one of: {}", ENRICHMENTS.join(", "))),
                    "geo" if self.enrichment.geoip.is_none() => Some(format!("tenant `{id}`: enrichment `geo` needs `[enrichment] geoip = \"<file>.mmdb\"`")),
                    "asn" if self.enrichment.asn.is_none() => Some(format!("tenant `{id}`: enrichment `asn` needs `[enrichment] asn = \"<file>.mmdb\"`")),
                    "threat_intel" if self.enrichment.feeds.is_empty() => Some(format!("tenant `{id}`: enrichment `threat_intel` needs at least one `[[enrichment.feed]]`")),
                    _ => None,
                };
                if let Some(message) = problem {
                    problems.push(Problem { span: e.span(), message });
                }
            }
            for s in &t.sinks {
                if !sink_names.contains(s.get_ref().as_str()) {
                    problems.push(Problem { span: s.span(), message: format!("tenant `{id}`: no sink named `{}` (defined: {})", s.get_ref(), sink_names.iter().copied().collect::<Vec<_>>().join(", ")) });
                }
            }
            if !(t.rate_limit > 0.0 && t.rate_limit.is_finite()) {
                problems.push(Problem { span: t.id.span(), message: format!("tenant `{id}`: rate_limit must be a positive number of requests per second") });
            }
            if t.max_lookback.0 < t.initial_lookback.0 {
                problems.push(Problem { span: t.id.span(), message: format!("tenant `{id}`: max_lookback ({}) is shorter than initial_lookback ({})", t.max_lookback, t.initial_lookback) });
            }
            if t.window.0.is_zero() {
                problems.push(Problem { span: t.id.span(), message: format!("tenant `{id}`: window must be longer than 0s") });
            }
            if let Some(h) = &t.hunt {
                problems.extend(h.problems().into_iter().map(|m| Problem { span: t.id.span(), message: format!("tenant `{id}`: {m}") }));
            }
            if let Some(url) = &t.connection.url {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    problems.push(Problem { span: t.id.span(), message: format!("tenant `{id}`: connection.url `{url}` must start with https:// (or http:// for a local mock)") });
                }
            }
        }
        let mut sink_seen = BTreeSet::new();
        for s in &self.sinks {
            let name = s.name.get_ref();
            if !sink_seen.insert(name.as_str()) {
                problems.push(Problem { span: s.name.span(), message: format!("sink name `{name}` is used twice") });
            }
            if s.kind == SinkType::File && s.path.is_none() {
                problems.push(Problem { span: s.name.span(), message: format!("sink `{name}`: type = \"file\" needs `path`") });
            }
            if matches!(s.kind, SinkType::SplunkHec | SinkType::Elasticsearch | SinkType::Nats) && s.url.is_none() {
                problems.push(Problem { span: s.name.span(), message: format!("sink `{name}`: a network sink needs `url`") });
            }
            if s.kind == SinkType::SplunkHec && s.token.is_none() {
                problems.push(Problem { span: s.name.span(), message: format!("sink `{name}`: type = \"splunk_hec\" needs `token` (a secret reference)") });
            }
            if s.batch_max_events == 0 || s.batch_max_bytes == 0 {
                problems.push(Problem { span: s.name.span(), message: format!("sink `{name}`: batch_max_events and batch_max_bytes must be above 0") });
            }
        }
        if !self.service.admin_listen.ip().is_loopback() && self.service.admin_token.is_none() {
            file_level.push(format!(
                "[service] admin_listen = {} is not a loopback address: set admin_token (a secret reference) so the admin API requires a bearer token",
                self.service.admin_listen
            ));
        }
        if !self.tenants.is_empty() && self.sinks.is_empty() {
            file_level.push("no [[sink]] defined: collected events would have nowhere to go".into());
        }
        if problems.is_empty() && file_level.is_empty() {
            return Ok(());
        }
        let mut errs: Vec<ConfigError> = problems
            .into_iter()
            .map(|p| {
                let (line, column) = line_col(text, p.span.start);
                ConfigError::At { file: file.into(), line, column, message: p.message }
            })
            .collect();
        errs.extend(file_level.into_iter().map(|message| ConfigError::File { file: file.into(), message }));
        Err(errs)
    }

    pub fn tenant(&self, id: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.id.get_ref() == id)
    }

    /// Resolves every secret reference, returning one message per failure (tenant, field, why).
    pub fn check_secrets(&self, env: &dyn secret::Environment) -> Vec<String> {
        let mut out = Vec::new();
        for t in &self.tenants {
            for (field, r) in t.connection.secret_refs() {
                if let Err(e) = r.resolve(env) {
                    out.push(format!("tenant `{}`, connection.{field} ({r}): {e}", t.id.get_ref()));
                }
            }
        }
        if let Some(r) = &self.service.admin_token {
            if let Err(e) = r.resolve(env) {
                out.push(format!("[service] admin_token ({r}): {e}"));
            }
        }
        for s in &self.sinks {
            for (field, r) in [("token", &s.token), ("api_key", &s.api_key), ("password", &s.password)] {
                if let Some(r) = r {
                    if let Err(e) = r.resolve(env) {
                        out.push(format!("sink `{}`, {field} ({r}): {e}", s.name.get_ref()));
                    }
                }
            }
        }
        out
    }
}

impl TenantConfig {
    pub fn id(&self) -> &str {
        self.id.get_ref()
    }
    pub fn vendor(&self) -> &str {
        self.vendor.get_ref()
    }
    pub fn tz(&self) -> chrono_tz::Tz {
        logfetch_common::time::parse_tz(self.timezone.get_ref()).unwrap_or(chrono_tz::UTC)
    }
    /// The sinks this tenant routes to (all, when the tenant names none).
    pub fn routes<'a>(&'a self, cfg: &'a Config) -> Vec<&'a SinkConfig> {
        if self.sinks.is_empty() {
            cfg.sinks.iter().collect()
        } else {
            cfg.sinks.iter().filter(|s| self.sinks.iter().any(|n| n.get_ref() == s.name.get_ref())).collect()
        }
    }
}

#[cfg(test)]
mod tests;
