//! `logfetch mock`: run a vendor mock on loopback (for tests and trying things out).

use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use logfetch_mocks::test_source::server::{self, MockState};

#[derive(Subcommand, Debug)]
pub enum MockCommand {
    /// The `test` vendor's paged HTTP API. Prints `listening on http://ADDR` and serves until killed.
    TestApi {
        /// Bearer token the mock requires.
        #[arg(long)]
        token: Option<String>,
        /// One record per kind every this many milliseconds.
        #[arg(long, default_value_t = 1000)]
        interval_ms: i64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Answer the first N requests with HTTP 429.
        #[arg(long, default_value_t = 0)]
        rate_limit_first: u32,
        /// Retry-After seconds for those 429s.
        #[arg(long, default_value_t = 1)]
        retry_after: u32,
        /// Delay every answer by this many milliseconds.
        #[arg(long, default_value_t = 0)]
        delay_ms: u64,
    },
}

pub fn run(cmd: MockCommand) -> anyhow::Result<ExitCode> {
    let MockCommand::TestApi { token, interval_ms, seed, rate_limit_first, retry_after, delay_ms } = cmd;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let st = Arc::new(MockState { seed, interval_ms, token, ..MockState::default() });
        st.rate_limit_next.store(rate_limit_first, std::sync::atomic::Ordering::SeqCst);
        st.retry_after_secs.store(retry_after, std::sync::atomic::Ordering::SeqCst);
        st.delay_ms.store(delay_ms, std::sync::atomic::Ordering::SeqCst);
        let addr = server::start(st).await?;
        println!("listening on http://{addr}");
        use std::io::Write;
        std::io::stdout().flush()?;
        tokio::signal::ctrl_c().await?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(ExitCode::SUCCESS)
}
