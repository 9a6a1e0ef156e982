//! `vouch verify`: check a whole log — a local store, an export file, or the export of a running
//! server — with the verifier key alone; and `vouch verify checkpoint`: check that one signed
//! checkpoint extends another.

use std::io::{BufRead, BufReader, IsTerminal as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::counted;
use super::failure::Failure;
use super::ExitCode;
use crate::ledger::{
    read_verifier_key, verify_blocks_from, verify_consistency, verify_export, verify_store_from,
    Checkpoint, ConsistencyProof, Height, NoteError, Place, StoreError, VerifierKey, VerifyError,
    VerifySummary, WalkError,
};

#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    group(clap::ArgGroup::new("source").required(true).args(["data", "export", "url", "tiles"]))
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Sub>,
    /// A local ledger's data folder (the server's `--data`). Read-only: the durable log, its
    /// blocks file, is walked without opening the index, so the server may be running.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// With `--data`: walk the server's index (sled) instead, as the server reads it. Opens the
    /// store as the server does — it must not be running — which first brings the index in line
    /// with the blocks file (replays blocks the index lacks, cuts an unfinished last record).
    #[arg(long, requires = "data")]
    pub index: bool,
    /// An export file (the JSON lines of `/v1/export`); `-` reads standard input.
    #[arg(long)]
    pub export: Option<PathBuf>,
    /// A running server: fetch its export from `URL/v1/export` (needs `--key-file`).
    #[arg(long, requires = "key_file")]
    pub url: Option<String>,
    /// A log's C2SP tlog-tiles prefix (a vouch server's URL): verify the log through its tiles
    /// alone — checkpoint, header bundles, hash tiles and each block's entries (which need
    /// `--key-file` with the audit action).
    #[arg(long, conflicts_with_all = ["from_checkpoint", "witness_keys"])]
    pub tiles: Option<String>,
    /// A file holding a regulator's API key, sent as a bearer token with `--url` or `--tiles`.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
    /// The log's verifier key file (`vouch keygen` writes it as `log.pub`).
    #[arg(long, required = true)]
    pub key: Option<PathBuf>,
    /// With an https:// `--url`: also trust the CA certificates in this PEM file (the system's
    /// roots are always trusted).
    #[arg(long, requires = "url", value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// A signed checkpoint verified before: check only what follows it, and that the log is
    /// consistent with it.
    #[arg(long, value_name = "FILE")]
    pub from_checkpoint: Option<PathBuf>,
    /// Write the last verified checkpoint here, for `--from-checkpoint` next time.
    #[arg(long, value_name = "FILE")]
    pub save_checkpoint: Option<PathBuf>,
    /// Demand witnesses: the log must be consistent with a checkpoint cosigned by these
    /// witnesses (key files; repeatable) — the `--from-checkpoint` note, which must carry their
    /// cosignatures, or with `--url` and no `--from-checkpoint`, the server's newest cosigned one.
    #[arg(long = "witness-key", value_name = "FILE")]
    pub witness_keys: Vec<PathBuf>,
    /// How many of the --witness-key witnesses must have cosigned [default: all].
    #[arg(long, requires = "witness_keys")]
    pub witness_quorum: Option<usize>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum Sub {
    /// Check that the signed checkpoint NEW extends OLD, with an RFC 9162 consistency proof.
    Checkpoint(CheckpointArgs),
}

#[derive(Debug, clap::Args)]
pub struct CheckpointArgs {
    /// The older signed checkpoint (note file).
    pub old: PathBuf,
    /// The newer signed checkpoint (note file).
    pub new: PathBuf,
    /// The consistency proof: JSON `{"old_size", "new_size", "path": [hex, …]}`.
    #[arg(long)]
    pub proof: PathBuf,
    /// The log's verifier key file.
    #[arg(long)]
    pub key: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> ExitCode {
    if let Some(Sub::Checkpoint(c)) = args.command {
        return run_checkpoint(c);
    }
    let json = args.json;
    match verify(&args) {
        Ok(s) => {
            let seconds = s.elapsed.as_secs_f64();
            let rate = s.entries as f64 / seconds.max(1e-9);
            if json {
                let out = serde_json::json!({
                    "verified": true, "entries": s.entries, "blocks": s.blocks,
                    "checkpoints": s.checkpoints,
                    "first_time": s.first_time, "last_time": s.last_time,
                    "checkpoint": s.checkpoint, "seconds": seconds,
                    "entries_per_second": rate.round(),
                    "unfinished_tail_bytes": s.unfinished_tail,
                });
                println!("{out}");
            } else {
                println!(
                    "verified: {} in {}, {} ({} .. {}), {:.2} s, {:.0} entries/s",
                    counted(s.entries, "entry", "entries"),
                    counted(s.blocks, "block", "blocks"),
                    counted(s.checkpoints, "checkpoint", "checkpoints"),
                    s.first_time.as_deref().unwrap_or("-"),
                    s.last_time.as_deref().unwrap_or("-"),
                    seconds,
                    rate
                );
                if s.unfinished_tail > 0 {
                    println!(
                        "not verified: {} after the last whole block, a block whose write \
                         never finished (never answered; the server cuts it when it starts) or \
                         one a running server is writing now",
                        counted(s.unfinished_tail, "byte", "bytes")
                    );
                }
            }
            if let Some(path) = &args.save_checkpoint {
                if let Err(failure) = save_checkpoint(path, &s) {
                    return failure.report("verify");
                }
            }
            ExitCode::Ok
        }
        Err(Outcome::Fault(f)) => {
            if json {
                let out = serde_json::json!({
                    "verified": false, "place": f.place.to_string(), "field": f.field,
                    "expected": f.expected, "found": f.found,
                });
                println!("{out}");
            }
            eprintln!(
                "vouch verify: VERIFICATION FAILED at {}: {}: expected {}, found {}",
                f.place, f.field, f.expected, f.found
            );
            ExitCode::VerificationFailed
        }
        Err(Outcome::RolledBack { trusted, size }) => {
            if json {
                let out = serde_json::json!({
                    "verified": false, "place": Place::Height(Height::new(size)).to_string(),
                    "field": "tree size", "rolled_back": true,
                    "expected": format!("at least {trusted} (the trusted checkpoint)"),
                    "found": size.to_string(),
                });
                println!("{out}");
            }
            eprintln!(
                "vouch verify: VERIFICATION FAILED: the log was rolled back: it now holds {}, \
                 fewer than the {trusted} of the trusted checkpoint it signed",
                counted(size, "block", "blocks")
            );
            ExitCode::VerificationFailed
        }
        Err(Outcome::Other(failure)) => {
            if json {
                println!("{}", failure.unverified_json());
            }
            failure.report("verify")
        }
    }
}

enum Outcome {
    Fault(crate::ledger::Fault),
    /// A store or server holds fewer blocks than a checkpoint signed with its key.
    RolledBack {
        trusted: u64,
        size: u64,
    },
    Other(Failure),
}

impl From<Failure> for Outcome {
    fn from(f: Failure) -> Outcome {
        Outcome::Other(f)
    }
}

fn verify(args: &Args) -> Result<VerifySummary, Outcome> {
    let key_path = args
        .key
        .as_deref()
        .ok_or_else(|| Failure::usage("--key is required"))?;
    let key = read_verifier_key(key_path).map_err(Failure::bad_input)?;
    if args.key_file.is_some() && args.url.is_none() && args.tiles.is_none() {
        return Err(Failure::usage("--key-file goes with --url or --tiles").into());
    }
    if let Some(prefix) = &args.tiles {
        return verify_through_tiles(prefix, args, &key);
    }
    let given = match &args.from_checkpoint {
        None => None,
        Some(path) => Some(read_checkpoint(path, &key, "the trusted checkpoint")?),
    };
    // Where an export from a server starts: the checkpoint given, not a cosigned one fetched.
    let from = given.as_ref().map(|(cp, _)| cp.size);
    let trusted = match super::witness::demanded(&args.witness_keys, args.witness_quorum)? {
        None => given,
        Some((witnesses, quorum)) => {
            let (cp, note) = match (given, &args.url, &args.key_file) {
                (Some(given), _, _) => given,
                (None, Some(url), Some(key_file)) => {
                    Server::new(url, Some(key_file), args.ca_file.as_deref())?.cosigned(&key)?
                }
                _ => {
                    return Err(Failure::usage(
                        "--witness-key needs the cosigned checkpoint to hold the log to: \
                         --from-checkpoint FILE (a note with the witnesses' cosignatures), or \
                         --url (the server's newest cosigned checkpoint)",
                    )
                    .into())
                }
            };
            let names = crate::ledger::cosigned_by(&note, &witnesses, quorum)
                .map_err(|e| Failure::verification(format!("the trusted checkpoint: {e}")))?;
            eprintln!(
                "vouch verify: holding the log to the checkpoint of {} cosigned by {}",
                counted(cp.size, "block", "blocks"),
                names.join(", ")
            );
            Some((cp, note))
        }
    };
    let trusted_ref = trusted.as_ref().map(|(cp, note)| (cp, note.as_str()));
    let bar = Progress::new();
    let mut progress = |n: u64| bar.set(n);
    let result = if let Some(dir) = &args.data {
        let trusted = trusted.as_ref().map(|(cp, _)| cp);
        if args.index {
            verify_store_from(dir, &key, trusted, &mut progress)
        } else {
            verify_blocks_from(dir, &key, trusted, &mut progress)
        }
    } else if let Some(path) = &args.export {
        if path == Path::new("-") {
            let stdin = BufReader::with_capacity(1 << 20, std::io::stdin());
            verify_export(stdin, &key, trusted_ref, &mut progress).map_err(WalkError::from)
        } else {
            let file = std::fs::File::open(path).map_err(|e| Failure::file(path, &e))?;
            let input = BufReader::with_capacity(1 << 20, file);
            verify_export(input, &key, trusted_ref, &mut progress).map_err(WalkError::from)
        }
    } else if let (Some(url), Some(key_file)) = (&args.url, &args.key_file) {
        let server = Server::new(url, Some(key_file), args.ca_file.as_deref())?;
        if let Some(trusted) = trusted.as_ref().map(|(cp, _)| cp.size) {
            // A server whose log is now shorter than a checkpoint it signed was rolled back; asked
            // for an export from the trusted size it could only refuse the range.
            let size = server.size(&key)?;
            if size < trusted {
                return Err(Outcome::RolledBack { trusted, size });
            }
        }
        let input = server.export(from)?;
        verify_export(input, &key, trusted_ref, &mut progress).map_err(WalkError::from)
    } else {
        return Err(Failure::usage("one of --data, --export, --url is needed").into());
    };
    bar.finish();
    let from_file = args.export.is_some();
    result.map_err(|e| match e {
        WalkError::Verify(VerifyError::Fault(f)) => Outcome::Fault(f),
        // An export file may simply be older than the checkpoint: it cannot show consistency
        // with it, but it is no forgery. A store or a live server is the log itself.
        WalkError::Verify(VerifyError::Shorter { trusted, size }) if from_file => {
            Outcome::Other(Failure::bad_input(format_args!(
                "stale export: it ends at tree size {size}, before the trusted checkpoint's tree \
                 size {trusted}, so it cannot show consistency with it (the blocks it holds \
                 verified). Verify a newer export, or the server itself with --url; a server \
                 now holding fewer than {trusted} blocks was rolled back"
            )))
        }
        WalkError::Verify(VerifyError::Shorter { trusted, size }) => {
            Outcome::RolledBack { trusted, size }
        }
        WalkError::Store(StoreError::Locked { dir }) => Outcome::Other(Failure::io(format_args!(
            "the ledger in {} is locked by another process (a running server?). \
                 --index opens the server's index, which only one process may hold: verify \
                 without --index (the blocks file, read-only) or with --url URL --key-file FILE",
            dir.display()
        ))),
        // A store that contradicts itself (a record that passes its CRC but does not parse, or
        // stands at the wrong height) failed verification; it is not a read error.
        WalkError::Store(e @ StoreError::Corrupt(_)) => {
            Outcome::Other(Failure::verification(e.to_string()))
        }
        WalkError::Verify(e @ VerifyError::StartsAfterTrusted { .. }) => {
            Outcome::Other(Failure::bad_input(e))
        }
        other => Outcome::Other(Failure::io(other)),
    })
}

/// `--tiles`: the log verified through its tiles alone.
fn verify_through_tiles(
    prefix: &str,
    args: &Args,
    key: &VerifierKey,
) -> Result<VerifySummary, Outcome> {
    let server = Server::new(prefix, args.key_file.as_deref(), args.ca_file.as_deref())?;
    let bar = Progress::new();
    let mut progress = |n: u64| bar.set(n);
    let mut fetch = |path: &str| -> crate::ledger::Fetched {
        let started = std::time::Instant::now();
        loop {
            match server.get(&format!("/{path}"), &[]) {
                Ok(resp) => {
                    let mut bytes = Vec::new();
                    std::io::Read::read_to_end(
                        &mut std::io::Read::take(resp.into_reader(), 64 << 20),
                        &mut bytes,
                    )
                    .map_err(|e| e.to_string())?;
                    return Ok(Some(bytes));
                }
                Err(Refused::Status(404, _)) => return Ok(None),
                Err(Refused::Busy(wait)) if started.elapsed() < EXPORT_WAIT_LIMIT => {
                    std::thread::sleep(Duration::from_secs(wait));
                }
                Err(e) => return Err(e.failure(path).to_string()),
            }
        }
    };
    let result = crate::ledger::verify_tiles(&mut fetch, key, &mut progress);
    bar.finish();
    result.map_err(|e| match e {
        crate::ledger::TilesError::Verify(VerifyError::Fault(f)) => Outcome::Fault(f),
        crate::ledger::TilesError::Verify(other) => {
            Outcome::Other(Failure::verification(other.to_string()))
        }
        crate::ledger::TilesError::Fetch { path, why } => {
            Outcome::Other(Failure::io(format_args!("{path}: {why}")))
        }
    })
}

/// Reads and opens a signed checkpoint file: malformed → bad input, not signed by the key →
/// verification failed.
fn read_checkpoint(
    path: &Path,
    key: &VerifierKey,
    what: &str,
) -> Result<(Checkpoint, String), Failure> {
    let note = std::fs::read_to_string(path).map_err(|e| Failure::file(path, &e))?;
    match Checkpoint::open(&note, key) {
        Ok(cp) => Ok((cp, note)),
        Err(e @ (NoteError::Malformed(_) | NoteError::Checkpoint(_))) => Err(Failure::bad_input(
            format_args!("{what} ({}): {e}", path.display()),
        )),
        Err(e) => Err(Failure::verification(format!(
            "{what} ({}): {e}",
            path.display()
        ))),
    }
}

/// Why a GET did not answer 200.
enum Refused {
    /// `429`: try again after this many seconds (`Retry-After`, held to 1–60).
    Busy(u64),
    /// Any other error status (`404` kept apart: an empty log has no checkpoint).
    Status(u16, Failure),
    /// The server could not be reached.
    Transport(Failure),
}

impl Refused {
    fn failure(self, path: &str) -> Failure {
        match self {
            Refused::Busy(wait) => Failure::io(format_args!(
                "{path}: the server stayed busy (429; it asks to wait {wait} s)"
            )),
            Refused::Status(_, f) | Refused::Transport(f) => f,
        }
    }
}

/// A running server's audit API, reached with a regulator's API key.
struct Server {
    base: String,
    /// Sent as a bearer token, when given.
    api_key: Option<String>,
    agent: ureq::Agent,
}

impl Server {
    fn new(url: &str, key_file: Option<&Path>, ca_file: Option<&Path>) -> Result<Server, Failure> {
        let api_key = match key_file {
            None => None,
            Some(key_file) => {
                let key =
                    std::fs::read_to_string(key_file).map_err(|e| Failure::file(key_file, &e))?;
                let key = key.trim().to_string();
                if key.is_empty() {
                    return Err(Failure::bad_input(format_args!(
                        "{}: the API key file is empty",
                        key_file.display()
                    )));
                }
                Some(key)
            }
        };
        let agent = super::http::agent(url, ca_file, Duration::from_secs(3600))
            .map_err(Failure::bad_input)?;
        Ok(Server {
            base: url.trim_end_matches('/').to_string(),
            api_key,
            agent,
        })
    }

    fn get(&self, path: &str, query: &[(&str, String)]) -> Result<ureq::Response, Refused> {
        let url = format!("{}{path}", self.base);
        let mut request = self.agent.get(&url);
        if let Some(key) = &self.api_key {
            request = request.set("Authorization", &format!("Bearer {key}"));
        }
        for (name, value) in query {
            request = request.query(name, value);
        }
        match request.call() {
            Ok(resp) => Ok(resp),
            Err(ureq::Error::Status(429, resp)) => Err(Refused::Busy(
                resp.header("retry-after")
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .unwrap_or(1)
                    .clamp(1, 60),
            )),
            Err(ureq::Error::Status(code, resp)) => {
                let body = resp.into_string().unwrap_or_default();
                Err(Refused::Status(
                    code,
                    Failure::status(path, code, body.trim()),
                ))
            }
            Err(ureq::Error::Transport(t)) => Err(Refused::Transport(Failure::transport(&url, &t))),
        }
    }

    /// The size of the server's log now: its latest checkpoint, opened with the log's key (0 for
    /// an empty log, which has none).
    fn size(&self, key: &VerifierKey) -> Result<u64, Failure> {
        let resp = match self.get("/v1/checkpoint", &[]) {
            Ok(resp) => resp,
            Err(Refused::Status(404, _)) => return Ok(0),
            Err(e) => return Err(e.failure("/v1/checkpoint")),
        };
        let answer: serde_json::Value = resp.into_json().map_err(|e| {
            Failure::io(format_args!("/v1/checkpoint: the answer is not JSON: {e}"))
        })?;
        let note = answer
            .get("checkpoint")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| Failure::verification("/v1/checkpoint answered no checkpoint"))?;
        let cp = Checkpoint::open(note, key)
            .map_err(|e| Failure::verification(format!("the server's latest checkpoint: {e}")))?;
        Ok(cp.size)
    }

    /// The server's newest cosigned checkpoint (`cosigned` of `/v1/checkpoint`), opened with the
    /// log's key: the checkpoint and its whole note with the cosignature lines.
    fn cosigned(&self, key: &VerifierKey) -> Result<(Checkpoint, String), Failure> {
        let answer: serde_json::Value = self
            .get("/v1/checkpoint", &[])
            .map_err(|e| e.failure("/v1/checkpoint"))?
            .into_json()
            .map_err(|e| {
                Failure::io(format_args!("/v1/checkpoint: the answer is not JSON: {e}"))
            })?;
        let note = answer
            .pointer("/cosigned/checkpoint")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| {
                Failure::verification(
                    "the server has no cosigned checkpoint (no witnesses, or none has cosigned yet)",
                )
            })?;
        let cp = Checkpoint::open(note, key)
            .map_err(|e| Failure::verification(format!("the server's cosigned checkpoint: {e}")))?;
        Ok((cp, note.to_string()))
    }

    /// GETs `/v1/export` (from `from_height` on) and returns the body as a stream.
    fn export(&self, from_height: Option<u64>) -> Result<Box<dyn BufRead + Send>, Failure> {
        let query: Vec<(&str, String)> = from_height
            .map(|h| ("from_height", h.to_string()))
            .into_iter()
            .collect();
        let started = std::time::Instant::now();
        let resp = loop {
            match self.get("/v1/export", &query) {
                Ok(resp) => break resp,
                // The server streams a bounded number of exports at once: wait as it asks, and
                // say so.
                Err(Refused::Busy(wait)) if started.elapsed() < EXPORT_WAIT_LIMIT => {
                    eprintln!(
                        "vouch verify: the server is streaming as many exports as it allows; \
                         retrying in {wait} s"
                    );
                    std::thread::sleep(Duration::from_secs(wait));
                }
                Err(e) => return Err(e.failure("/v1/export")),
            }
        };
        Ok(Box::new(BufReader::with_capacity(
            1 << 16,
            resp.into_reader(),
        )))
    }
}

/// How long `--url` keeps retrying an export the server is too busy to start.
const EXPORT_WAIT_LIMIT: Duration = Duration::from_secs(600);

/// Writes the last verified checkpoint note to `path` (a temp file, then a rename).
fn save_checkpoint(path: &Path, s: &VerifySummary) -> Result<(), Failure> {
    let Some(note) = &s.checkpoint else {
        return Err(Failure::io(
            "no checkpoint to save: the log verified is empty",
        ));
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, note).map_err(|e| Failure::file(&tmp, &e))?;
    std::fs::rename(&tmp, path).map_err(|e| Failure::file(path, &e))
}

/// A progress bar on standard error when it is a terminal; nothing otherwise.
struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    fn new() -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::new_spinner();
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{spinner} verified {human_pos} entries ({per_sec}) {elapsed}",
        ) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        Progress(Some(bar))
    }

    fn set(&self, n: u64) {
        if let Some(b) = &self.0 {
            b.set_position(n);
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}

fn run_checkpoint(args: CheckpointArgs) -> ExitCode {
    let result = (|| -> Result<serde_json::Value, Failure> {
        let key = read_verifier_key(&args.key).map_err(Failure::bad_input)?;
        let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| Failure::file(p, &e));
        let (old, new) = (read(&args.old)?, read(&args.new)?);
        let proof: ConsistencyProof = serde_json::from_str(&read(&args.proof)?).map_err(|e| {
            Failure::bad_input(format_args!(
                "{}: not a consistency proof: {e}",
                args.proof.display()
            ))
        })?;
        let (old, new) = verify_consistency(&old, &new, &proof, &key).map_err(|e| {
            if e.is_malformed() {
                Failure::bad_input(e)
            } else {
                Failure::verification(e.to_string())
            }
        })?;
        Ok(serde_json::json!({
            "verified": true, "old_size": old.size, "new_size": new.size,
            "old_root": old.root, "new_root": new.root,
        }))
    })();
    match result {
        Ok(v) => {
            if args.json {
                println!("{v}");
            } else {
                let size = |k: &str| {
                    let n = v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
                    counted(n, "block", "blocks")
                };
                println!(
                    "consistent: the checkpoint of {} extends the one of {}",
                    size("new_size"),
                    size("old_size")
                );
            }
            ExitCode::Ok
        }
        Err(failure) => {
            if args.json {
                println!("{}", failure.unverified_json());
            }
            failure.report("verify checkpoint")
        }
    }
}
