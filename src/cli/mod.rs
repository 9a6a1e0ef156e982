//! The `vouch` subcommands. Each one parses its arguments, calls the library, prints, and picks an
//! [`ExitCode`]; none holds logic of its own that a test could not reach through the library.

mod audit;
mod audit_print;
mod caller;
pub mod demo;
mod failure;
mod http;
mod keygen;
mod policy;
mod policy_replay;
mod receipt;
pub mod serve;
mod verify;
mod witness;

use clap::{Parser, Subcommand, ValueEnum};

/// Process exit codes, the same for every subcommand (also listed in `docs/CLI.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// Success: the command did what it was asked, or what was checked verified.
    Ok = 0,
    /// Verification failed: a log, receipt or checkpoint is not what it claims to be.
    VerificationFailed = 1,
    /// The command line itself was wrong (clap's own code for usage errors).
    Usage = 2,
    /// An input file or value was malformed (not a verification failure: it could not be read as
    /// what it should be).
    BadInput = 3,
    /// Reading or writing a file, or opening the store, failed.
    Io = 4,
    /// The policy denied the request (`vouch policy eval`).
    Denied = 5,
    /// Some recorded decisions would change under the bundle given (`vouch policy replay`).
    Changed = 6,
}

#[derive(Debug, Parser)]
#[command(
    name = "vouch",
    version,
    about = "Serve ONNX models, judge every call by readable rules, and prove what was done in a signed ledger."
)]
pub struct Cli {
    /// Log format on standard error.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "VOUCH_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a log signing key: a private key file (mode 0600) and a public verifier key.
    Keygen(keygen::Args),
    /// Verify a ledger: every entry, block, link, history-tree node and checkpoint signature.
    Verify(verify::Args),
    /// Check the policy bundle, judge one imagined call against it, or judge recorded calls again.
    Policy(policy::Args),
    /// Manage the caller registry (API keys are stored only as hashes).
    Caller(caller::Args),
    /// Serve the models over the Open Inference Protocol v2, judging and recording every call.
    Serve(serve::Args),
    /// Query the ledger as a regulator, verifying every answer before printing it.
    Audit(audit::Args),
    /// Check a receipt offline.
    #[command(subcommand)]
    Receipt(receipt::Command),
    /// Run a witness that cosigns logs' checkpoints only if consistent with those it cosigned.
    #[command(subcommand)]
    Witness(witness::Command),
}

/// `n` and the noun in the right number: "1 entry", "2 entries", "0 entries".
pub(crate) fn counted(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Sets up `tracing` on standard error. `RUST_LOG` chooses the level (default `info`).
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal, never in a file or a log collector.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Runs one parsed command line and returns its exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Keygen(args) => keygen::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Policy(args) => policy::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Receipt(cmd) => receipt::run(cmd),
        Command::Caller(args) => caller::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Witness(cmd) => witness::run(cmd),
    }
}
