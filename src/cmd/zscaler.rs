//! `logfetch zscaler feed-template`: the exact Feed Output Format to paste into the ZIA portal.

use std::process::ExitCode;

use clap::Subcommand;
use logfetch_connectors::zscaler::{Feed, template};

#[derive(Subcommand, Debug)]
pub enum ZscalerCommand {
    /// Print the Feed Output Format (and the portal settings around it) whose records logfetch
    /// reads, for an NSS (TCP) or Cloud NSS (HTTPS) DNS or firewall feed.
    FeedTemplate {
        #[arg(long, value_parser = ["dns", "firewall"])]
        feed: String,
        #[arg(long, value_parser = ["nss", "cloud-nss"], default_value = "nss")]
        transport: String,
        /// Print only the format string (for scripts).
        #[arg(long)]
        raw: bool,
    },
}

pub fn run(cmd: ZscalerCommand) -> anyhow::Result<ExitCode> {
    let ZscalerCommand::FeedTemplate { feed, transport, raw } = cmd;
    let feed = if feed == "dns" { Feed::Dns } else { Feed::Firewall };
    let transport = if transport == "nss" { template::Transport::Nss } else { template::Transport::CloudNss };
    let format = template::feed_output_format(feed);
    if raw {
        println!("{format}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("Settings in the ZIA admin portal:");
    for (k, v) in template::settings(feed, transport) {
        println!("  {k:<22} {v}");
    }
    println!("\nFeed Output Format (paste as one line, exactly):\n\n{format}\n");
    Ok(ExitCode::SUCCESS)
}
