//! `vouch verify`: walk a ledger and check every entry, block, link, node and signature.

use std::path::PathBuf;

use super::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ledger's data folder.
    #[arg(long)]
    pub data: PathBuf,
    /// The log's verifier key file (`vouch keygen` writes it as `log.pub`).
    #[arg(long)]
    pub key: PathBuf,
}

pub fn run(_args: Args) -> ExitCode {
    ExitCode::Io
}
