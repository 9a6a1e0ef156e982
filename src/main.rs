//! The `vouch` binary: parse the command line, set up logging, hand over to [`vouch::cli`], and
//! turn the outcome into the process exit code (see `vouch::cli::ExitCode`).

use clap::Parser;

/// The system allocator spends a third of a busy ledger writer's time in malloc and free; this
/// one does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = vouch::cli::Cli::parse();
    vouch::cli::init_tracing(args.log_format);
    let code = vouch::cli::run(args);
    std::process::ExitCode::from(code as u8)
}
