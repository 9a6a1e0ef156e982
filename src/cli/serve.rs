//! `vouch serve`: load the rules, the callers and the models, open the ledger, and serve until
//! SIGINT or SIGTERM; then stop accepting, finish the calls in flight, and close the ledger.
//!
//! Settings come from flags, then `VOUCH_*` environment variables, then the `--config` TOML file,
//! then the defaults below.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use super::{demo, ExitCode};
use crate::inference::{Registry, RegistryConfig};
use crate::ledger::{read_signer_key, Ledger, LedgerConfig, PRIVATE_KEY_FILE};
use crate::policy::{CallerRegistry, PolicyEngine};
use crate::server::{self, AppState, Limits, Metrics};

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
    /// Set up a demo: a log key, demo callers and their keys in the data folder (kept across
    /// runs), printed with a working example call.
    #[arg(long)]
    pub demo: bool,
    /// Benchmarks only: serve without policy and ledger, to measure what auditing costs.
    #[arg(long, hide = true)]
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
    demo: Option<bool>,
}

/// The settings after flags, environment, file and defaults.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bind: String,
    /// The gRPC listener's address; `None`: no gRPC.
    pub grpc_bind: Option<String>,
    pub data: PathBuf,
    pub models: PathBuf,
    pub policies: PathBuf,
    pub callers: PathBuf,
    pub key: PathBuf,
    pub workers: usize,
    pub limits: Limits,
    pub ledger: LedgerConfig,
    pub inline_below: Duration,
    /// The certificate chain and private key to serve HTTPS with.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub demo: bool,
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
    let body_timeout_ms = args
        .body_timeout_ms
        .or(file.body_timeout_ms)
        .unwrap_or(10_000);
    if !(1..=600_000).contains(&body_timeout_ms) {
        return Err(format!(
            "body_timeout_ms: {body_timeout_ms} is not between 1 and 600000"
        ));
    }
    let max_connections = args
        .max_connections
        .or(file.max_connections)
        .unwrap_or(4096);
    let max_exports = args.max_exports.or(file.max_exports).unwrap_or(2);
    if max_connections == 0 || max_exports == 0 {
        return Err("max_connections and max_exports must be at least 1".into());
    }
    let default_callers = if demo {
        data.join("callers.toml")
    } else {
        PathBuf::from("config/callers.toml")
    };
    let workers = args
        .workers
        .or(file.workers)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, usize::from));
    let commit_wait = micros(
        "commit_wait_us",
        args.commit_wait_us.or(file.commit_wait_us),
        500,
        MAX_COMMIT_WAIT_US,
    )?;
    let inline_below = micros(
        "inline_below_us",
        args.inline_below_us.or(file.inline_below_us),
        100,
        MAX_INLINE_BELOW_US,
    )?;
    Ok(Settings {
        inline_below,
        bind: args
            .bind
            .or(file.bind)
            .unwrap_or_else(|| "127.0.0.1:8080".into()),
        grpc_bind: args.grpc_bind.or(file.grpc_bind),
        models: args
            .models
            .or(file.models)
            .unwrap_or_else(|| PathBuf::from("models")),
        policies: args
            .policies
            .or(file.policies)
            .unwrap_or_else(|| PathBuf::from("policies")),
        callers: args.callers.or(file.callers).unwrap_or(default_callers),
        key: args
            .key
            .or(file.key)
            .unwrap_or_else(|| data.join(PRIVATE_KEY_FILE)),
        workers,
        limits: Limits {
            max_body: args.max_body.or(file.max_body).unwrap_or(8 * 1024 * 1024),
            call_timeout: Duration::from_millis(
                args.timeout_ms.or(file.timeout_ms).unwrap_or(10_000),
            ),
            body_timeout: Duration::from_millis(body_timeout_ms),
            max_connections,
            max_exports,
            bare: args.bench_bare,
        },
        ledger: LedgerConfig {
            max_wait: commit_wait,
            ..LedgerConfig::default()
        },
        tls,
        demo,
        data,
    })
}

/// Everything a running service needs, loaded and checked.
pub struct Loaded {
    pub state: Arc<AppState>,
    /// The HTTPS configuration, when the service serves TLS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// The same certificate for the gRPC listener.
    pub grpc_tls: Option<tonic::transport::ServerTlsConfig>,
    pub settings: Settings,
}

/// Loads rules, callers, models, key and ledger; errors name the file at fault.
pub fn load(settings: Settings) -> Result<Loaded, (ExitCode, String)> {
    let bad = |e: String| (ExitCode::BadInput, e);
    let policy =
        PolicyEngine::load(&settings.policies).map_err(|e| bad(format!("policies: {e}")))?;
    if settings.demo {
        demo::provision(&settings.data, &settings.callers, &policy)
            .map_err(|e| (ExitCode::Io, e))?;
    }
    let callers =
        CallerRegistry::load(&settings.callers).map_err(|e| bad(format!("callers: {e}")))?;
    let registry = Registry::load(
        &settings.models,
        RegistryConfig {
            inline_below: settings.inline_below,
            ..RegistryConfig::default()
        },
    )
    .map_err(|e| bad(format!("models: {e}")))?;
    for (what, why) in registry.refused() {
        tracing::error!(model = %what, error = %why, "model refused");
    }
    if let Some(e) = registry.unavailable() {
        tracing::error!("{e}");
    }
    let facts = server::model_facts(&registry).map_err(|e| bad(format!("models: {e}")))?;
    if !settings.key.exists() {
        return Err(bad(format!(
            "no log key at {}: create one with `vouch keygen --name <origin> --out {}`, pass \
             --key, or try `vouch serve --demo`",
            settings.key.display(),
            settings
                .key
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| ".".into(), |p| p.display().to_string()),
        )));
    }
    let signer = read_signer_key(&settings.key).map_err(|e| bad(e.to_string()))?;
    let tls = match &settings.tls {
        None => None,
        Some((cert, key)) => Some(
            crate::tls::server_config(cert, key, &[b"http/1.1"])
                .map_err(|e| bad(format!("TLS: {e}")))?,
        ),
    };
    // The gRPC listener serves the same certificate (checked above), through tonic's rustls.
    let grpc_tls = match &settings.tls {
        Some((cert, key)) if settings.grpc_bind.is_some() => {
            let read = |p: &PathBuf| {
                std::fs::read(p).map_err(|e| bad(format!("TLS: {}: {e}", p.display())))
            };
            Some(tonic::transport::ServerTlsConfig::new().identity(
                tonic::transport::Identity::from_pem(read(cert)?, read(key)?),
            ))
        }
        _ => None,
    };
    let metrics = Metrics::new().map_err(|e| (ExitCode::Io, e.to_string()))?;
    let m = metrics.clone();
    let ledger = Ledger::open_with(
        &settings.data,
        signer,
        settings.ledger.clone(),
        Some(Arc::new(move |s| m.on_commit(s))),
    )
    .map_err(|e| {
        (
            ExitCode::Io,
            format!("ledger in {}: {e}", settings.data.display()),
        )
    })?;
    let head = ledger.head();
    metrics
        .ledger_entries
        .set(i64::try_from(head.entries).unwrap_or(i64::MAX));
    metrics
        .ledger_blocks
        .set(i64::try_from(head.blocks).unwrap_or(i64::MAX));
    let state = AppState {
        registry: Arc::new(registry),
        policy: Arc::new(policy),
        callers: arc_swap::ArcSwap::from_pointee(callers),
        facts,
        ledger,
        metrics,
        exports: Arc::new(tokio::sync::Semaphore::new(settings.limits.max_exports)),
        limits: settings.limits.clone(),
    };
    Ok(Loaded {
        state: Arc::new(state),
        tls,
        grpc_tls,
        settings,
    })
}

/// Binds the gRPC listener (non-blocking, for tokio).
fn bind_grpc(addr: &str) -> Result<TcpListener, String> {
    let l =
        TcpListener::bind(addr).map_err(|e| format!("cannot listen for gRPC on {addr}: {e}"))?;
    l.set_nonblocking(true)
        .map_err(|e| format!("gRPC listener on {addr}: {e}"))?;
    Ok(l)
}

async fn shutdown_signal() {
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
async fn reload_on_hangup(
    mut hangups: tokio::signal::unix::Signal,
    state: Arc<AppState>,
    path: PathBuf,
) {
    while hangups.recv().await.is_some() {
        match CallerRegistry::load(&path) {
            Ok(callers) => {
                let n = callers.callers().count();
                state.callers.store(Arc::new(callers));
                tracing::info!(callers = n, file = %path.display(), "SIGHUP: caller registry reloaded");
            }
            Err(e) => {
                tracing::error!(error = %e, file = %path.display(), "SIGHUP: the caller registry did not load; the one in force stays")
            }
        }
    }
}

pub fn run(args: Args) -> ExitCode {
    let settings = match settings(args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("vouch serve: {e}");
            return ExitCode::BadInput;
        }
    };
    let loaded = match load(settings) {
        Ok(l) => l,
        Err((code, e)) => {
            eprintln!("vouch serve: {e}");
            return code;
        }
    };
    let listener = match TcpListener::bind(&loaded.settings.bind) {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "vouch serve: cannot listen on {}: {e}",
                loaded.settings.bind
            );
            return ExitCode::Io;
        }
    };
    let grpc_listener = match loaded.settings.grpc_bind.as_deref().map(bind_grpc) {
        None => None,
        Some(Ok(l)) => Some(l),
        Some(Err(e)) => {
            eprintln!("vouch serve: {e}");
            return ExitCode::Io;
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let grpc_addr = grpc_listener
        .as_ref()
        .and_then(|l| l.local_addr().ok())
        .map(|a| a.to_string());
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("vouch serve: {e}");
            return ExitCode::Io;
        }
    };
    // SIGHUP reloads the caller registry; it is caught from here on, before the service
    // announces itself, so it never ends the process.
    #[cfg(unix)]
    {
        let _entered = rt.enter();
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(hangups) => {
                rt.spawn(reload_on_hangup(
                    hangups,
                    Arc::clone(&loaded.state),
                    loaded.settings.callers.clone(),
                ));
            }
            Err(e) => tracing::warn!(error = %e, "cannot catch SIGHUP"),
        }
    }
    if loaded.settings.demo {
        demo::announce(&loaded.settings.data, &addr, grpc_addr.as_deref());
    }
    tracing::info!(address = %addr, grpc = grpc_addr.as_deref().unwrap_or("-"), data = %loaded.settings.data.display(), "serving");
    // The gRPC line first: whoever waits for the HTTP line has both addresses by then.
    if let Some(g) = &grpc_addr {
        println!("vouch serving gRPC on {g}");
    }
    let scheme = if loaded.tls.is_some() {
        "https"
    } else {
        "http"
    };
    println!("vouch serving on {scheme}://{addr}");
    let state = Arc::clone(&loaded.state);
    let workers = loaded.settings.workers;
    let tls = loaded.tls.clone();
    let grpc_tls = loaded.grpc_tls.clone();
    let result = rt.block_on(async move {
        // One signal stops both listeners; a gRPC listener that fails stops the HTTP one too.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let stop = Arc::new(stop);
        let on_signal = Arc::clone(&stop);
        tokio::spawn(async move {
            shutdown_signal().await;
            on_signal.send_replace(true);
        });
        let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let grpc = match grpc_listener {
            None => None,
            Some(l) => {
                let l = tokio::net::TcpListener::from_std(l)?;
                let (state, stop, rx) = (Arc::clone(&state), Arc::clone(&stop), stopped.clone());
                Some(tokio::spawn(async move {
                    let r = server::grpc::serve(l, state, grpc_tls, until_stopped(rx)).await;
                    stop.send_replace(true);
                    r
                }))
            }
        };
        let http = server::run(listener, tls, state, workers, until_stopped(stopped)).await;
        if let Some(g) = grpc {
            match g.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(std::io::Error::other(format!("gRPC: {e}"))),
                Err(e) => return Err(std::io::Error::other(format!("gRPC: {e}"))),
            }
        }
        http
    });
    loaded.state.ledger.close();
    match result {
        Ok(()) => {
            tracing::info!("stopped; ledger closed");
            ExitCode::Ok
        }
        Err(e) => {
            eprintln!("vouch serve: {e}");
            ExitCode::Io
        }
    }
}
