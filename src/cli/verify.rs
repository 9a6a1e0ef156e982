//! `vouch verify`: walk a ledger and check every entry, block, link, history node and signature.

use std::path::PathBuf;

use super::ExitCode;
use crate::ledger::{read_verifier_key, verify_store, VerifyError};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ledger's data folder (the server's `--data`).
    #[arg(long)]
    pub data: PathBuf,
    /// The log's verifier key file (`vouch keygen` writes it as `log.pub`).
    #[arg(long)]
    pub key: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> ExitCode {
    let key = match read_verifier_key(&args.key) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("vouch verify: {e}");
            return ExitCode::BadInput;
        }
    };
    match verify_store(&args.data, &key, &mut |_| {}) {
        Ok(s) => {
            let rate = s.entries as f64 / s.elapsed.as_secs_f64().max(1e-9);
            if args.json {
                let out = serde_json::json!({
                    "verified": true, "entries": s.entries, "blocks": s.blocks,
                    "first_time": s.first_time, "last_time": s.last_time,
                    "checkpoint": s.checkpoint, "seconds": s.elapsed.as_secs_f64(),
                });
                println!("{out}");
            } else {
                println!(
                    "verified: {} entries in {} blocks ({} .. {}), {:.0} entries/s",
                    s.entries,
                    s.blocks,
                    s.first_time.as_deref().unwrap_or("-"),
                    s.last_time.as_deref().unwrap_or("-"),
                    rate
                );
            }
            ExitCode::Ok
        }
        Err(VerifyError::Fault(f)) => {
            if args.json {
                let out = serde_json::json!({
                    "verified": false, "place": f.place.to_string(), "field": f.field,
                    "expected": f.expected, "found": f.found,
                });
                println!("{out}");
            }
            eprintln!(
                "vouch verify: FAILED at {}: {}: expected {}, found {}",
                f.place, f.field, f.expected, f.found
            );
            ExitCode::VerificationFailed
        }
        Err(e) => {
            eprintln!("vouch verify: {e}");
            ExitCode::Io
        }
    }
}
