//! The `protocall` binary: parse the command line and hand over to the library.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    protocall::cli::run(protocall::cli::Cli::parse()).await
}
