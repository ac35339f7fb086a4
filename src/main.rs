//! The `logfetch` command line: a thin shell over the workspace crates.

mod cmd;

// The parsers and encoders allocate many small strings per record; mimalloc handles that pattern
// markedly faster than the system allocator (see bench/run.py).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// Collect firewall flow logs and DNS logs from Cisco ASA/FTD, PAN-OS, SentinelOne and Zscaler,
/// normalise them to OCSF 1.3.0 (or ECS), and deliver them to files, your SIEM or data lake.
#[derive(Parser, Debug)]
#[command(name = "logfetch", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Log output: human-readable text or JSON lines.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// More log output (-v info, -vv debug, -vvv trace). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check a configuration file: syntax, references, secrets, schedules.
    Config {
        #[command(subcommand)]
        command: cmd::config::ConfigCommand,
    },
    /// Onboard vendor tenants: add (interactive or flags), test step by step, list, show, remove.
    Tenant {
        #[command(subcommand)]
        command: cmd::tenant::TenantCommand,
    },
    /// Store a tenant's secret in the OS keyring under the reference its config uses.
    Secret {
        #[command(subcommand)]
        command: cmd::secret::SecretCommand,
    },
    /// Inspect and rewind collection progress (per tenant and stream).
    Checkpoint {
        #[command(subcommand)]
        command: cmd::checkpoint::CheckpointCommand,
    },
    /// Normalise exported vendor log files to OCSF or ECS NDJSON on stdout (offline, no config).
    Parse(cmd::parse::ParseArgs),
    /// Check OCSF NDJSON against the OCSF 1.3.0 schema; reports coverage of recommended fields.
    Validate(cmd::validate::ValidateArgs),
    /// Run the collection daemon: schedules, pulls, sinks, admin API. SIGTERM drains, SIGHUP reloads.
    Run(cmd::run::RunArgs),
    /// Show every stream's state from a running daemon (last run, next run, lag, errors).
    Status(cmd::status::StatusArgs),
    /// Pull a time range from a tenant now (incident mode); never moves the scheduled checkpoint.
    Pull(cmd::pull::PullArgs),
    /// Evidence: verify pull manifests and sink hash chains; make a signing key.
    Evidence {
        #[command(subcommand)]
        command: cmd::evidence::EvidenceCommand,
    },
    /// Apply the configured enrichment (GeoIP, ASN, threat intel, users) to OCSF or ECS NDJSON.
    Enrich(cmd::enrich::EnrichArgs),
    /// DNS hunting over OCSF/ECS NDJSON: DGA, tunnelling, NXDOMAIN bursts, TXT rates, threat intel.
    Hunt(cmd::hunt::HuntArgs),
    /// Threat-intelligence feeds: which feeds match a value, and why.
    Ti {
        #[command(subcommand)]
        command: cmd::enrich::TiCommand,
    },
    /// Run the real pipeline against built-in mocks for a short time and summarise the output.
    Demo(cmd::demo::DemoArgs),
    /// Zscaler helpers: the exact feed template to paste into the ZIA admin portal.
    Zscaler {
        #[command(subcommand)]
        command: cmd::zscaler::ZscalerCommand,
    },
    /// Measurements for the README (enrichment throughput and memory).
    #[command(hide = true)]
    Bench {
        #[command(subcommand)]
        command: cmd::bench::BenchCommand,
    },
    /// Run a vendor mock on 127.0.0.1 (for tests and trials).
    #[command(hide = true)]
    Mock {
        #[command(subcommand)]
        command: cmd::mock::MockCommand,
    },
}

fn init_logging(format: LogFormat, verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let default = match verbose {
        0 => "warn,logfetch=info",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

fn main() -> ExitCode {
    // Behave like other Unix tools when piped into `head`: exit quietly on a closed pipe.
    // SAFETY: setting a signal disposition at startup, before any threads exist.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    init_logging(cli.log_format, cli.verbose);
    // reqwest is built with rustls but no default provider: install ring once (crates.md §8).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let result = match cli.command {
        Command::Config { command } => cmd::config::run(command),
        Command::Secret { command } => cmd::secret::run(command),
        Command::Tenant { command } => cmd::tenant::run(command),
        Command::Checkpoint { command } => cmd::checkpoint::run(command),
        Command::Parse(args) => cmd::parse::run(args),
        Command::Validate(args) => cmd::validate::run(args),
        Command::Run(args) => cmd::run::run(args),
        Command::Status(args) => cmd::status::run(args),
        Command::Pull(args) => cmd::pull::run(args),
        Command::Demo(args) => cmd::demo::run(args),
        Command::Bench { command } => cmd::bench::run(command),
        Command::Evidence { command } => cmd::evidence::run(command),
        Command::Hunt(args) => cmd::hunt::run(args),
        Command::Enrich(args) => cmd::enrich::run(args),
        Command::Ti { command } => cmd::enrich::run_ti(command),
        Command::Mock { command } => cmd::mock::run(command),
        Command::Zscaler { command } => cmd::zscaler::run(command),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `-c/--config` with its default.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigPath {
    /// Configuration file.
    #[arg(short, long = "config", default_value = "logfetch.toml", env = "LOGFETCH_CONFIG")]
    pub config: PathBuf,
}
