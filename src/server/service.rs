//! The service as `vouch serve` runs it, assembled here in the library: load the rules, the
//! callers and the models, read the log's key, open the ledger, then serve REST (and gRPC when
//! given a second listener) until told to stop. The CLI only turns flags, environment and the
//! TOML file into a [`Config`], binds the listeners and catches signals; tests build a `Config`
//! themselves, pin the clock and the nonces, and drive [`Service::serve`] on `127.0.0.1:0`.

use std::future::Future;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{AppState, Limits, Metrics};
use crate::inference::{InferenceError, Registry, RegistryConfig};
use crate::ledger::{read_signer_key, KeyFileError, Ledger, LedgerConfig, LedgerError};
use crate::policy::{CallerRegistry, PolicyEngine, PolicyError};
use crate::sources::Nonces;
use crate::tls::TlsError;

/// What a service is made of: where its files are, its limits, and its sources of time
/// ([`LedgerConfig::clock`]) and nonces.
#[derive(Debug, Clone)]
pub struct Config {
    /// The ledger's folder.
    pub data: PathBuf,
    pub models: PathBuf,
    pub policies: PathBuf,
    /// The caller registry (TOML).
    pub callers: PathBuf,
    /// The log's private key (mode 0600).
    pub key: PathBuf,
    /// HTTP worker threads.
    pub workers: usize,
    pub limits: Limits,
    pub ledger: LedgerConfig,
    /// Calls lately faster than this run on the HTTP worker ([`RegistryConfig::inline_below`]).
    pub inline_below: Duration,
    /// The PEM certificate chain and private key to serve TLS with, on both listeners.
    pub tls: Option<(PathBuf, PathBuf)>,
    pub nonces: Nonces,
    /// The witnesses to ask for cosignatures (none by default).
    pub witnesses: super::WitnessSettings,
    /// Serve the tiles of block headers and `/checkpoint` without a key.
    pub public_tiles: bool,
}

impl Config {
    /// The defaults of `vouch serve` for a ledger in `data`: models and policies in the working
    /// folder, callers in `config/callers.toml`, the key in `data/log.key`.
    pub fn new(data: impl Into<PathBuf>) -> Config {
        let data = data.into();
        Config {
            key: data.join(crate::ledger::PRIVATE_KEY_FILE),
            data,
            models: PathBuf::from("models"),
            policies: PathBuf::from("policies"),
            callers: PathBuf::from("config/callers.toml"),
            workers: std::thread::available_parallelism().map_or(1, usize::from),
            limits: Limits::default(),
            ledger: LedgerConfig::default(),
            inline_below: crate::inference::INLINE_BELOW,
            tls: None,
            nonces: Nonces::system(),
            witnesses: super::WitnessSettings::default(),
            public_tiles: false,
        }
    }
}

/// Why a service did not start; each names the file or part at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("policies: {0}")]
    Policies(#[source] PolicyError),
    #[error("callers: {0}")]
    Callers(#[source] PolicyError),
    #[error("models: {0}")]
    Models(#[source] Box<InferenceError>),
    #[error("models: {0}")]
    ModelFacts(#[source] PolicyError),
    #[error(
        "no log key at {}: create one with `vouch keygen --name <origin> --out {}`, pass \
         --key, or try `vouch serve --demo`",
        key.display(),
        key.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| ".".into(), |p| p.display().to_string())
    )]
    NoKey { key: PathBuf },
    #[error(transparent)]
    Key(KeyFileError),
    #[error("TLS: {0}")]
    Tls(#[source] TlsError),
    #[error("TLS: {}: {source}", path.display())]
    TlsFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("metrics: {0}")]
    Metrics(#[source] prometheus::Error),
    #[error("ledger in {}: {source}", data.display())]
    Ledger { data: PathBuf, source: LedgerError },
}

impl LoadError {
    /// Whether the fault is in what was given (a file's content, a missing key) rather than in
    /// the machine (storage, the metrics registry).
    pub fn is_input(&self) -> bool {
        !matches!(self, LoadError::Metrics(_) | LoadError::Ledger { .. })
    }
}

/// A loaded service, ready to serve.
pub struct Service {
    state: Arc<AppState>,
    tls: Option<Arc<rustls::ServerConfig>>,
    grpc_tls: Option<tonic::transport::ServerTlsConfig>,
    callers: PathBuf,
    workers: usize,
}

impl Service {
    /// Loads rules, callers, models, key and ledger. Models that fail to load are refused and
    /// logged (readiness reports them); everything else that fails stops the start.
    pub fn load(config: Config) -> Result<Service, LoadError> {
        let policy = PolicyEngine::load(&config.policies).map_err(LoadError::Policies)?;
        let callers = CallerRegistry::load(&config.callers).map_err(LoadError::Callers)?;
        let registry = Registry::load(
            &config.models,
            RegistryConfig {
                inline_below: config.inline_below,
                ..RegistryConfig::default()
            },
        )
        .map_err(|e| LoadError::Models(Box::new(e)))?;
        for (what, why) in registry.refused() {
            tracing::error!(model = %what, error = %why, "model refused");
        }
        if let Some(e) = registry.unavailable() {
            tracing::error!("{e}");
        }
        let facts = super::model_facts(&registry).map_err(LoadError::ModelFacts)?;
        if !config.key.exists() {
            return Err(LoadError::NoKey { key: config.key });
        }
        let signer = read_signer_key(&config.key).map_err(LoadError::Key)?;
        let (tls, grpc_tls) = match &config.tls {
            None => (None, None),
            Some((cert, key)) => {
                let rest =
                    crate::tls::server_config(cert, key, &[b"http/1.1"]).map_err(LoadError::Tls)?;
                let read = |path: &PathBuf| {
                    std::fs::read(path).map_err(|source| LoadError::TlsFile {
                        path: path.clone(),
                        source,
                    })
                };
                // The gRPC listener serves the same certificate, through tonic's rustls.
                let grpc = tonic::transport::ServerTlsConfig::new().identity(
                    tonic::transport::Identity::from_pem(read(cert)?, read(key)?),
                );
                (Some(rest), Some(grpc))
            }
        };
        let metrics = Metrics::new().map_err(LoadError::Metrics)?;
        let m = metrics.clone();
        let ledger = Ledger::open_with(
            &config.data,
            signer,
            config.ledger.clone(),
            Some(Arc::new(move |s| m.on_commit(s))),
        )
        .map_err(|source| LoadError::Ledger {
            data: config.data.clone(),
            source,
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
            exports: Arc::new(tokio::sync::Semaphore::new(config.limits.max_exports)),
            limits: config.limits,
            nonces: config.nonces,
            witnessing: Arc::new(super::Witnessing::new(config.witnesses)),
            public_tiles: config.public_tiles,
        };
        Ok(Service {
            state: Arc::new(state),
            tls,
            grpc_tls,
            callers: config.callers,
            workers: config.workers,
        })
    }

    /// What every handler shares.
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Whether the listeners speak TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Loads the caller registry again: new callers and keys take effect, removed ones stop
    /// working; calls in flight finish as the registry was. A file that does not load leaves the
    /// registry in force. Returns how many callers are registered now.
    pub fn reload_callers(&self) -> Result<usize, PolicyError> {
        let callers = CallerRegistry::load(&self.callers)?;
        let n = callers.callers().count();
        self.state.callers.store(Arc::new(callers));
        Ok(n)
    }

    /// Serves REST on `http` (and the v2 gRPC protocol on `grpc`) until `shutdown` resolves or
    /// the gRPC listener fails; then both stop accepting and finish the calls in flight. Call
    /// [`Service::close`] afterwards.
    pub async fn serve(
        &self,
        http: TcpListener,
        grpc: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        // One signal stops both listeners; a gRPC listener that fails stops the HTTP one too.
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let stop = Arc::new(stop);
        let on_signal = Arc::clone(&stop);
        tokio::spawn(async move {
            shutdown.await;
            on_signal.send_replace(true);
        });
        if self.state.witnessing.is_enabled() {
            tokio::spawn(
                Arc::clone(&self.state.witnessing).run(self.state.ledger.clone(), stopped.clone()),
            );
        }
        let until_stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let grpc = match grpc {
            None => None,
            Some(l) => {
                l.set_nonblocking(true)?;
                let l = tokio::net::TcpListener::from_std(l)?;
                let (state, stop, rx) =
                    (Arc::clone(&self.state), Arc::clone(&stop), stopped.clone());
                let tls = self.grpc_tls.clone();
                Some(tokio::spawn(async move {
                    let r = super::grpc::serve(l, state, tls, until_stopped(rx)).await;
                    stop.send_replace(true);
                    r
                }))
            }
        };
        let state = Arc::clone(&self.state);
        let http = super::run(
            http,
            self.tls.clone(),
            state,
            self.workers,
            until_stopped(stopped),
        )
        .await;
        if let Some(g) = grpc {
            match g.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(std::io::Error::other(format!("gRPC: {e}"))),
                Err(e) => return Err(std::io::Error::other(format!("gRPC: {e}"))),
            }
        }
        http
    }

    /// Closes the ledger: what was appended is durable, the writer stops.
    pub fn close(&self) {
        self.state.ledger.close();
    }
}
