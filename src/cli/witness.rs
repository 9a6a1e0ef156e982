//! `vouch witness serve`: run a witness (C2SP `tlog-witness`) that cosigns the checkpoints of
//! the logs it is given, each only if consistent with the last it cosigned.

use std::path::PathBuf;
use std::sync::Arc;

use crate::ledger::{read_signer_key, read_verifier_key};
use crate::witness::{serve, Witness};

use super::failure::Failure;
use super::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Serve `POST /add-checkpoint`: cosign a log's checkpoint if it is consistent with the last
    /// one cosigned for that log (C2SP tlog-witness, cosignature/v1).
    Serve(ServeArgs),
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The witness's private key (from `vouch keygen --name <witness name>`); its name is the
    /// witness's name in cosignatures.
    #[arg(long)]
    pub key: PathBuf,
    /// Folder of the witness's state (the latest checkpoint cosigned per log).
    #[arg(long)]
    pub data: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub bind: String,
    /// A log's verifier key file (its name is the log's origin); repeatable.
    #[arg(long = "log", required = true)]
    pub logs: Vec<PathBuf>,
    /// HTTP worker threads.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
}

pub fn run(cmd: Command) -> ExitCode {
    match cmd {
        Command::Serve(args) => match serve_witness(&args) {
            Ok(()) => ExitCode::Ok,
            Err(f) => f.report("witness"),
        },
    }
}

fn serve_witness(args: &ServeArgs) -> Result<(), Failure> {
    let key = read_signer_key(&args.key).map_err(|e| Failure::from(crate::Error::from(e)))?;
    let logs = args
        .logs
        .iter()
        .map(|p| read_verifier_key(p).map_err(|e| Failure::from(crate::Error::from(e))))
        .collect::<Result<Vec<_>, _>>()?;
    std::fs::create_dir_all(&args.data).map_err(|e| Failure::file(&args.data, &e))?;
    let witness = Witness::open(&args.data, &key, logs).map_err(Failure::io)?;
    let listener = std::net::TcpListener::bind(&args.bind)
        .map_err(|e| Failure::io(format_args!("cannot listen on {}: {e}", args.bind)))?;
    let addr = listener.local_addr().map_err(Failure::io)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Failure::io)?;
    let witness = Arc::new(witness);
    println!("witness cosigner key: {}", witness.verifier());
    println!("witness follows: {}", witness.origins().join(", "));
    println!("vouch witness serving on http://{addr}");
    let server = {
        let _entered = rt.enter();
        serve(Arc::clone(&witness), listener, args.workers).map_err(Failure::io)?
    };
    let handle = server.handle();
    rt.spawn(async move {
        super::serve::shutdown_signal().await;
        handle.stop(true).await;
    });
    rt.block_on(server).map_err(Failure::io)?;
    witness.close();
    Ok(())
}

/// The witnesses a client demands (`--witness-key FILE`, repeatable) and how many of them must
/// have cosigned (`--witness-quorum K`, default all); `None` when none is given.
pub(super) fn demanded(
    paths: &[PathBuf],
    quorum: Option<usize>,
) -> Result<Option<(Vec<crate::ledger::CosignatureVerifier>, usize)>, Failure> {
    if paths.is_empty() {
        return Ok(None);
    }
    let keys = paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(|e| Failure::file(p, &e))?;
            text.parse::<crate::ledger::CosignatureVerifier>()
                .map_err(|e| Failure::bad_input(format_args!("{}: {e}", p.display())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let quorum = quorum.unwrap_or(keys.len());
    if !(1..=keys.len()).contains(&quorum) {
        return Err(Failure::usage(format!(
            "--witness-quorum {quorum} is not between 1 and the {} witness keys given",
            keys.len()
        )));
    }
    Ok(Some((keys, quorum)))
}
