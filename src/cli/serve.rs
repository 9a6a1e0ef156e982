//! `vouch serve`: turn flags, `VOUCH_*` environment variables, the `--config` TOML file and the
//! defaults below (in that order) into a [`server::Config`], bind the listeners, and run the
//! library's [`server::Service`] until SIGINT or SIGTERM; SIGHUP reloads the callers. Loading and
//! serving are the library's; this file only parses, binds, catches signals and prints.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::failure::Failure;
use super::{demo, ExitCode};
use crate::policy::PolicyEngine;
use crate::server::{self, Service};

#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// A TOML file with any of the settings below (keys as the flags, with `_` for `-`).
    #[arg(long, env = "VOUCH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "VOUCH_BIND")]
    pub bind: Option<String>,
    /// Also serve the Open Inference Protocol v2 over gRPC on this address (off unless set).
    #[arg(long, env = "VOUCH_GRPC_BIND")]
    pub grpc_bind: Option<String>,
    /// Folder of the ledger (and, with --demo, of the demo keys and callers) [default: data].
    #[arg(long, env = "VOUCH_DATA")]
    pub data: Option<PathBuf>,
    /// Folder of the models [default: models].
    #[arg(long, env = "VOUCH_MODELS")]
    pub models: Option<PathBuf>,
    /// Folder of the policy bundle [default: policies].
    #[arg(long, env = "VOUCH_POLICIES")]
    pub policies: Option<PathBuf>,
    /// The caller registry [default: config/callers.toml; with --demo: DATA/callers.toml].
    #[arg(long, env = "VOUCH_CALLERS")]
    pub callers: Option<PathBuf>,
    /// The log's private key, mode 0600 (`vouch keygen`) [default: DATA/log.key].
    #[arg(long, env = "VOUCH_KEY")]
    pub key: Option<PathBuf>,
    /// HTTP worker threads [default: the number of CPUs].
    #[arg(long, env = "VOUCH_WORKERS")]
    pub workers: Option<usize>,
    /// Largest request body in bytes [default: 8388608].
    #[arg(long, env = "VOUCH_MAX_BODY")]
    pub max_body: Option<usize>,
    /// Per-call model timeout in milliseconds [default: 10000].
    #[arg(long, env = "VOUCH_TIMEOUT_MS")]
    pub timeout_ms: Option<u64>,
    /// Group commit: under concurrent load, how long the ledger writer waits for more entries
    /// before sealing a block, in microseconds (0 to 100000). Larger blocks cost less per call;
    /// a lone caller never waits [default: 500].
    #[arg(long, env = "VOUCH_COMMIT_WAIT_US")]
    pub commit_wait_us: Option<u64>,
    /// A model whose calls have lately taken less than this many microseconds runs on the HTTP
    /// worker instead of the blocking pool (0 to 10000; 0 sends every call to the pool)
    /// [default: 100].
    #[arg(long, env = "VOUCH_INLINE_BELOW_US")]
    pub inline_below_us: Option<u64>,
    /// Serve HTTPS (TLS 1.2 and 1.3) with this PEM certificate chain, leaf first (needs
    /// --tls-key).
    #[arg(long, env = "VOUCH_TLS_CERT", requires = "tls_key", value_name = "PEM")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert (PKCS #8, PKCS #1 or SEC 1).
    #[arg(long, env = "VOUCH_TLS_KEY", requires = "tls_cert", value_name = "PEM")]
    pub tls_key: Option<PathBuf>,
    /// Longest a client may take to send a request body, in milliseconds (1 to 600000)
    /// [default: 10000].
    #[arg(long, env = "VOUCH_BODY_TIMEOUT_MS")]
    pub body_timeout_ms: Option<u64>,
    /// Most client connections open at once; more wait until one closes [default: 4096].
    #[arg(long, env = "VOUCH_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Most exports (`/v1/export`) streaming at once; more are answered 429 [default: 2].
    #[arg(long, env = "VOUCH_MAX_EXPORTS")]
    pub max_exports: Option<usize>,
    /// A witness to ask for cosignatures, as URL=VERIFIER_KEY_FILE: its `add-checkpoint` prefix
    /// and its key (from `vouch keygen`, or the cosigner key `vouch witness serve` prints);
    /// repeatable (VOUCH_WITNESS: comma-separated).
    #[arg(
        long = "witness",
        env = "VOUCH_WITNESS",
        value_delimiter = ',',
        value_name = "URL=KEY_FILE"
    )]
    pub witnesses: Vec<String>,
    /// How many witnesses must cosign a checkpoint for it to count as cosigned [default: all].
    #[arg(long, env = "VOUCH_WITNESS_QUORUM")]
    pub witness_quorum: Option<usize>,
    /// Shortest time between two rounds of asking the witnesses, in milliseconds (10 to
    /// 3600000) [default: 1000].
    #[arg(long, env = "VOUCH_WITNESS_INTERVAL_MS")]
    pub witness_interval_ms: Option<u64>,
    /// Serve the tiles of block headers and /checkpoint (C2SP tlog-tiles) without a key, for
    /// monitors and caches; a block's entries still need the audit action.
    #[arg(long, env = "VOUCH_PUBLIC_TILES")]
    pub public_tiles: bool,
    /// Set up a demo: a log key, demo callers and their keys in the data folder (kept across
    /// runs), printed with a working example call.
    #[arg(long)]
    pub demo: bool,
    /// Load tests only (a build with the `bench-bare` feature): serve without policy and
    /// ledger, to measure what auditing costs.
    #[cfg(feature = "bench-bare")]
    #[arg(long)]
    pub bench_bare: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    bind: Option<String>,
    grpc_bind: Option<String>,
    data: Option<PathBuf>,
    models: Option<PathBuf>,
    policies: Option<PathBuf>,
    callers: Option<PathBuf>,
    key: Option<PathBuf>,
    workers: Option<usize>,
    max_body: Option<usize>,
    timeout_ms: Option<u64>,
    commit_wait_us: Option<u64>,
    inline_below_us: Option<u64>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    body_timeout_ms: Option<u64>,
    max_connections: Option<usize>,
    max_exports: Option<usize>,
    witness: Option<Vec<String>>,
    witness_quorum: Option<usize>,
    witness_interval_ms: Option<u64>,
    public_tiles: Option<bool>,
    demo: Option<bool>,
}

/// The settings after flags, environment, file and defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: String,
    /// The gRPC listener's address; `None`: no gRPC.
    pub grpc_bind: Option<String>,
    pub demo: bool,
    /// What the library's service is made of.
    pub service: server::Config,
}

/// Longest inline bound accepted, in microseconds: an HTTP worker must not be held longer.
const MAX_INLINE_BELOW_US: u64 = 10_000;

/// Longest group-commit wait accepted, in microseconds.
const MAX_COMMIT_WAIT_US: u64 = 100_000;

/// A setting in microseconds (`name` as the flag and the file spell it): `value`, else
/// `default`; more than `max` is refused.
fn micros(name: &str, value: Option<u64>, default: u64, max: u64) -> Result<Duration, String> {
    let us = value.unwrap_or(default);
    if us > max {
        return Err(format!(
            "{name}: {us} is more than {max} ({} ms)",
            max / 1000
        ));
    }
    Ok(Duration::from_micros(us))
}

fn settings(args: Args) -> Result<Settings, String> {
    let file: FileConfig = match &args.config {
        None => FileConfig::default(),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            toml::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?
        }
    };
    let data = args
        .data
        .or(file.data)
        .unwrap_or_else(|| PathBuf::from("data"));
    let demo = args.demo || file.demo.unwrap_or(false);
    let tls = match (
        args.tls_cert.or(file.tls_cert),
        args.tls_key.or(file.tls_key),
    ) {
        (Some(cert), Some(key)) => Some((cert, key)),
        (None, None) => None,
        _ => return Err("tls_cert and tls_key go together: give both or neither".into()),
    };
    // What is not given keeps the library's default (`server::Config::new`, `Limits::default`).
    let mut service = server::Config::new(data);
    let limits = &mut service.limits;
    let body_timeout_ms = args
        .body_timeout_ms
        .or(file.body_timeout_ms)
        .unwrap_or_else(|| millis(limits.body_timeout));
    if !(1..=600_000).contains(&body_timeout_ms) {
        return Err(format!(
            "body_timeout_ms: {body_timeout_ms} is not between 1 and 600000"
        ));
    }
    limits.body_timeout = Duration::from_millis(body_timeout_ms);
    if let Some(n) = args.max_connections.or(file.max_connections) {
        limits.max_connections = n;
    }
    if let Some(n) = args.max_exports.or(file.max_exports) {
        limits.max_exports = n;
    }
    if limits.max_connections == 0 || limits.max_exports == 0 {
        return Err("max_connections and max_exports must be at least 1".into());
    }
    if let Some(n) = args.max_body.or(file.max_body) {
        limits.max_body = n;
    }
    if let Some(ms) = args.timeout_ms.or(file.timeout_ms) {
        limits.call_timeout = Duration::from_millis(ms);
    }
    #[cfg(feature = "bench-bare")]
    {
        limits.bare = args.bench_bare;
    }
    // `vouch serve` waits for company before sealing a block; the library's default does not.
    service.ledger.max_wait = micros(
        "commit_wait_us",
        args.commit_wait_us.or(file.commit_wait_us),
        500,
        MAX_COMMIT_WAIT_US,
    )?;
    service.inline_below = micros(
        "inline_below_us",
        args.inline_below_us.or(file.inline_below_us),
        u64::try_from(service.inline_below.as_micros()).unwrap_or(u64::MAX),
        MAX_INLINE_BELOW_US,
    )?;
    if let Some(p) = args.models.or(file.models) {
        service.models = p;
    }
    if let Some(p) = args.policies.or(file.policies) {
        service.policies = p;
    }
    match args.callers.or(file.callers) {
        Some(p) => service.callers = p,
        None if demo => service.callers = service.data.join("callers.toml"),
        None => {}
    }
    if let Some(p) = args.key.or(file.key) {
        service.key = p;
    }
    if let Some(n) = args.workers.or(file.workers) {
        service.workers = n;
    }
    service.tls = tls;
    service.public_tiles = args.public_tiles || file.public_tiles.unwrap_or(false);
    let witnesses = if args.witnesses.is_empty() {
        file.witness.unwrap_or_default()
    } else {
        args.witnesses
    };
    service.witnesses = witness_settings(
        &witnesses,
        args.witness_quorum.or(file.witness_quorum),
        args.witness_interval_ms.or(file.witness_interval_ms),
    )?;
    Ok(Settings {
        bind: args
            .bind
            .or(file.bind)
            .unwrap_or_else(|| "127.0.0.1:8080".into()),
        grpc_bind: args.grpc_bind.or(file.grpc_bind),
        demo,
        service,
    })
}

/// The witnesses from their `URL=KEY_FILE` forms, the quorum (default: all) and the interval.
fn witness_settings(
    given: &[String],
    quorum: Option<usize>,
    interval_ms: Option<u64>,
) -> Result<server::WitnessSettings, String> {
    let mut witnesses = Vec::new();
    for w in given {
        let (url, file) = w
            .rsplit_once('=')
            .ok_or_else(|| format!("witness {w:?}: expected URL=VERIFIER_KEY_FILE"))?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(format!(
                "witness {w:?}: the URL must start with http:// or https://"
            ));
        }
        let text = std::fs::read_to_string(file).map_err(|e| format!("witness key {file}: {e}"))?;
        let key: crate::ledger::CosignatureVerifier = text
            .parse()
            .map_err(|e| format!("witness key {file}: {e}"))?;
        witnesses.push(server::WitnessEndpoint {
            url: url.to_string(),
            key,
        });
    }
    let quorum = quorum.unwrap_or(witnesses.len());
    if !witnesses.is_empty() && !(1..=witnesses.len()).contains(&quorum) {
        return Err(format!(
            "witness_quorum: {quorum} is not between 1 and the {} witnesses given",
            witnesses.len()
        ));
    }
    if witnesses.is_empty() && quorum > 0 {
        return Err("witness_quorum needs witnesses (--witness URL=KEY_FILE)".into());
    }
    let interval_ms = interval_ms.unwrap_or(1000);
    if !(10..=3_600_000).contains(&interval_ms) {
        return Err(format!(
            "witness_interval_ms: {interval_ms} is not between 10 and 3600000"
        ));
    }
    Ok(server::WitnessSettings {
        witnesses,
        quorum,
        interval: Duration::from_millis(interval_ms),
    })
}

/// A duration in whole milliseconds, for a default shown in the settings' unit.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Sets up the demo (keys and callers in the data folder, kept across runs), then loads the
/// service.
fn load(settings: &Settings) -> Result<Service, Failure> {
    let config = &settings.service;
    if settings.demo {
        // The demo's callers accept the terms of the rules in force.
        let policy = PolicyEngine::load(&config.policies)
            .map_err(|e| Failure::bad_input(format_args!("policies: {e}")))?;
        demo::provision(&config.data, &config.callers, &policy).map_err(Failure::io)?;
    }
    Service::load(config.clone()).map_err(|e| Failure::from(crate::Error::from(e)))
}

/// Binds a listener, saying which one could not be bound.
fn bind(what: &str, addr: &str) -> Result<TcpListener, Failure> {
    TcpListener::bind(addr)
        .map_err(|e| Failure::io(format_args!("cannot listen{what} on {addr}: {e}")))
}

pub(super) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Loads the caller registry again at every SIGHUP: new callers and keys take effect, removed
/// ones stop working; calls in flight finish as the registry was. A file that does not load is
/// logged and the registry in force stays.
#[cfg(unix)]
async fn reload_on_hangup(mut hangups: tokio::signal::unix::Signal, service: Arc<Service>) {
    while hangups.recv().await.is_some() {
        match service.reload_callers() {
            Ok(n) => tracing::info!(callers = n, "SIGHUP: caller registry reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "SIGHUP: the caller registry did not load; the one in force stays")
            }
        }
    }
}

pub fn run(args: Args) -> ExitCode {
    match serve(args) {
        Ok(()) => ExitCode::Ok,
        Err(failure) => failure.report("serve"),
    }
}

fn serve(args: Args) -> Result<(), Failure> {
    let settings = settings(args).map_err(Failure::bad_input)?;
    let service = Arc::new(load(&settings)?);
    let listener = bind("", &settings.bind)?;
    let grpc_listener = match settings.grpc_bind.as_deref() {
        None => None,
        Some(addr) => Some(bind(" for gRPC", addr)?),
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let grpc_addr = grpc_listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.to_string());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(Failure::io)?;
    // SIGHUP reloads the caller registry; it is caught from here on, before the service
    // announces itself, so it never ends the process.
    #[cfg(unix)]
    {
        let _entered = rt.enter();
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(hangups) => {
                rt.spawn(reload_on_hangup(hangups, Arc::clone(&service)));
            }
            Err(e) => tracing::warn!(error = %e, "cannot catch SIGHUP"),
        }
    }
    let data = &settings.service.data;
    if settings.demo {
        demo::announce(data, &addr, grpc_addr.as_deref());
    }
    tracing::info!(address = %addr, grpc = grpc_addr.as_deref().unwrap_or("-"), data = %data.display(), "serving");
    // The gRPC line first: whoever waits for the HTTP line has both addresses by then.
    if let Some(g) = &grpc_addr {
        println!("vouch serving gRPC on {g}");
    }
    let scheme = if service.is_tls() { "https" } else { "http" };
    println!("vouch serving on {scheme}://{addr}");
    let result = rt.block_on(service.serve(listener, grpc_listener, shutdown_signal()));
    service.close();
    result.map_err(Failure::io)?;
    tracing::info!("stopped; ledger closed");
    Ok(())
}
