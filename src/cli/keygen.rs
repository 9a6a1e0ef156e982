//! `vouch keygen`: create the log's Ed25519 signing key.

use std::path::PathBuf;

use super::ExitCode;
use crate::ledger::{write_key_pair, SignerKey};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The log's origin, used as the key name and in every checkpoint (e.g. `vouch.example/log`).
    #[arg(long)]
    pub name: String,
    /// Folder to write `log.key` (private, mode 0600) and `log.pub` (the verifier key) into.
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: Args) -> ExitCode {
    let key = match SignerKey::generate(&args.name) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("vouch keygen: {e}");
            return ExitCode::BadInput;
        }
    };
    match write_key_pair(&key, &args.out) {
        Ok((private, public)) => {
            println!(
                "private key: {} (mode 0600; keep it secret)",
                private.display()
            );
            println!("verifier key: {}", public.display());
            println!("{}", key.verifier());
            ExitCode::Ok
        }
        Err(e) => {
            eprintln!("vouch keygen: {e}");
            ExitCode::Io
        }
    }
}
