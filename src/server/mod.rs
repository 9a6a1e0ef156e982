//! The HTTP service: actix-web routes for the Open Inference Protocol v2, receipts, and metrics;
//! the v2 gRPC service ([`grpc`]); authentication; the path of one call, shared by both
//! transports (`call.rs`: facts → policy → inference → post-inference rules → ledger). It knows
//! nothing of file formats: it calls `ledger`, `policy` and `inference`. HTTP statuses and gRPC
//! codes are chosen in one place, [`error::ApiError`].
//!
//! [`Service`] loads everything `vouch serve` needs and serves it; [`run`] takes the listener, the
//! state and the shutdown signal, so tests bind `127.0.0.1:0` and drive the real server in-process.

mod audit;
mod auth;
pub(crate) mod body;
mod call;
mod error;
mod export;
pub mod grpc;
mod infer;
mod metrics;
mod model_description;
mod routes;
mod service;
mod tiles;
mod witnessing;

use std::collections::HashMap;
use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::{web, App, HttpServer};

pub use audit::entries_page;
pub use error::{ApiError, Internal, NotFound, QueryError};
pub use metrics::Metrics;
pub use model_description::model_description;
pub use service::{Config, LoadError, Service};
pub use witnessing::{Cosigned, WitnessEndpoint, WitnessSettings, Witnessing};

use crate::inference::Registry;
use crate::ledger::Ledger;
use crate::policy::{CallerRegistry, ModelFacts, PolicyEngine};

/// Limits and switches of the service.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body: usize,
    /// Longest a model may take to answer one call.
    pub call_timeout: Duration,
    /// Longest a client may take to send a request's body once its headers are in.
    pub body_timeout: Duration,
    /// Most connections open at once, over all workers; more wait in the listen backlog.
    pub max_connections: usize,
    /// Most exports streaming at once; more are answered `429`.
    pub max_exports: usize,
    /// Load tests only, and only in a build with the `bench-bare` feature: serve without policy
    /// and ledger, to measure what auditing costs. The product's build has no such switch.
    #[cfg(feature = "bench-bare")]
    pub bare: bool,
}

impl Limits {
    /// Whether calls skip policy and ledger (never, without the `bench-bare` feature).
    #[inline]
    pub fn bare(&self) -> bool {
        #[cfg(feature = "bench-bare")]
        return self.bare;
        #[cfg(not(feature = "bench-bare"))]
        false
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body: 8 * 1024 * 1024,
            call_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 4096,
            max_exports: 2,
            #[cfg(feature = "bench-bare")]
            bare: false,
        }
    }
}

/// Everything a handler needs, shared by all workers.
pub struct AppState {
    pub registry: Arc<Registry>,
    pub policy: Arc<PolicyEngine>,
    /// The caller registry; `vouch serve` loads it again on SIGHUP.
    pub callers: arc_swap::ArcSwap<CallerRegistry>,
    /// What the rules see of each served model version, built once at start-up.
    pub facts: ModelFactsByName,
    pub ledger: Ledger,
    pub metrics: Metrics,
    pub limits: Limits,
    /// One permit per export allowed to stream at once ([`Limits::max_exports`]).
    pub exports: Arc<tokio::sync::Semaphore>,
    /// Where the nonces of commitments and audit reads come from.
    pub nonces: crate::sources::Nonces,
    /// The log's witnesses and the newest checkpoint they cosigned.
    pub witnessing: Arc<Witnessing>,
    /// Whether the tiles of block headers (and `/checkpoint`) are readable without a key.
    pub public_tiles: bool,
}

/// The rules' view of each served model version, by model name, then version (looked up by
/// `&str` on every call, without building a key).
pub type ModelFactsByName = HashMap<String, HashMap<String, ModelFacts>>;

/// Builds the rules' view of every model version the registry serves.
pub fn model_facts(registry: &Registry) -> Result<ModelFactsByName, crate::policy::PolicyError> {
    let mut facts = ModelFactsByName::new();
    for model in registry.models() {
        let m = model.manifest();
        let versions = facts.entry(m.name.clone()).or_default();
        for v in &m.versions {
            versions.insert(
                v.version.clone(),
                ModelFacts::new(&model_description(m, v))?,
            );
        }
    }
    Ok(facts)
}

/// Serves on `listener` until `shutdown` resolves, then stops accepting, lets calls in flight
/// finish (up to 30 s), and returns. The caller closes the ledger afterwards. With `tls`, the
/// listener speaks HTTPS only.
pub async fn run(
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: Arc<AppState>,
    workers: usize,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let workers = workers.max(1);
    let data = web::Data::from(state);
    let max_body = data.limits.max_body;
    let per_worker = data.limits.max_connections.div_ceil(workers).max(1);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(max_body))
            .configure(routes::configure)
    })
    .workers(workers)
    .max_connections(per_worker)
    .client_request_timeout(Duration::from_secs(5))
    .disable_signals()
    .shutdown_timeout(30);
    let server = match tls {
        None => server.listen(listener)?,
        Some(config) => server.listen_rustls_0_23(listener, (*config).clone())?,
    }
    .run();
    let handle = server.handle();
    tokio::spawn(async move {
        shutdown.await;
        handle.stop(true).await;
    });
    server.await
}
