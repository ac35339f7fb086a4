//! The `logfetch` command line: a thin shell over the workspace crates.

mod cmd;

// The parsers and encoders allocate many small strings per record; mimalloc handles that pattern
// markedly faster than the system allocator (see bench/run.py). `mimalloc::MiMalloc` sends every
// allocation through mimalloc's aligned entry points; ordinary layouts (all but a few) take the
// plain ones here, whose blocks mimalloc aligns to 16 bytes from 16 bytes up and to 8 below: about
// 1 % fewer instructions per parsed record.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

/// mimalloc as the global allocator.
struct MiMalloc;

/// Whether mimalloc's plain entry points give `size` bytes aligned to `align`: its blocks are
/// aligned to 16 bytes (`MI_MAX_ALIGN_SIZE`) from 16 bytes up and to 8 below, so the alignment
/// must be at most 16 and at most the size.
#[inline(always)]
fn plain(align: usize, size: usize) -> bool {
    align <= 16 && align <= size
}

// SAFETY: each method hands the layout's size (and, above 16 bytes, its alignment) to the
// matching mimalloc function, which returns memory of at least that size and alignment or null;
// `mi_free` and `mi_realloc*` accept any pointer mimalloc returned, whichever function did.
unsafe impl std::alloc::GlobalAlloc for MiMalloc {
    #[inline]
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys as mi;
        // SAFETY: see the impl.
        unsafe { if plain(l.align(), l.size()) { mi::mi_malloc(l.size()) } else { mi::mi_malloc_aligned(l.size(), l.align()) }.cast() }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, l: std::alloc::Layout) -> *mut u8 {
        use libmimalloc_sys as mi;
        // SAFETY: see the impl.
        unsafe { if plain(l.align(), l.size()) { mi::mi_zalloc(l.size()) } else { mi::mi_zalloc_aligned(l.size(), l.align()) }.cast() }
    }

    #[inline]
    unsafe fn dealloc(&self, p: *mut u8, _l: std::alloc::Layout) {
        // SAFETY: see the impl.
        unsafe { libmimalloc_sys::mi_free(p.cast()) }
    }

    #[inline]
    unsafe fn realloc(&self, p: *mut u8, l: std::alloc::Layout, n: usize) -> *mut u8 {
        use libmimalloc_sys as mi;
        // SAFETY: see the impl; the alignment stays the layout's.
        unsafe { if plain(l.align(), n) { mi::mi_realloc(p.cast(), n) } else { mi::mi_realloc_aligned(p.cast(), n, l.align()) }.cast() }
    }
}

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

#[cfg(test)]
mod tests {
    use std::alloc::{GlobalAlloc, Layout};

    #[test]
    fn the_allocator_keeps_every_alignment_through_realloc() {
        for align in [1, 2, 8, 16, 32, 64, 4096] {
            for size in [1, 7, 8, 15, 16, 24, 100, 5000] {
                let l = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero size; the pointer is checked, written within its size, and
                // freed with its layout.
                unsafe {
                    let p = super::GLOBAL.alloc_zeroed(l);
                    assert!(!p.is_null() && p as usize % align == 0, "{size} bytes aligned to {align}");
                    assert!(std::slice::from_raw_parts(p, size).iter().all(|b| *b == 0));
                    p.write_bytes(0xab, size);
                    // Grown, then shrunk below the alignment.
                    let q = super::GLOBAL.realloc(p, l, size * 3);
                    assert!(!q.is_null() && q as usize % align == 0, "{size} bytes grown, aligned to {align}");
                    assert!(std::slice::from_raw_parts(q, size).iter().all(|b| *b == 0xab), "contents kept");
                    let grown = Layout::from_size_align(size * 3, align).unwrap();
                    let r = super::GLOBAL.realloc(q, grown, 1);
                    assert!(!r.is_null() && r as usize % align == 0, "shrunk to 1 byte, aligned to {align}");
                    assert_eq!(*r, 0xab, "first byte kept");
                    super::GLOBAL.dealloc(r, Layout::from_size_align(1, align).unwrap());
                }
            }
        }
    }
}
