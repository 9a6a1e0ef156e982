//! `vouch keygen`: create the log's Ed25519 signing key.

use std::path::PathBuf;

use super::ExitCode;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The log's origin, used as the key name (e.g. `vouch.example/log`).
    #[arg(long)]
    pub name: String,
    /// Folder to write `log.key` (private, mode 0600) and `log.pub` (verifier key) into.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(_args: Args) -> ExitCode {
    ExitCode::Io
}
