//! The model registry: loads every `models/<name>/manifest.toml`, checks each ONNX file against
//! its SHA-256 and each declared tensor against the ONNX graph, and serves inference through a
//! pool of sessions per model version.
//!
//! Loading never fails because of one model: a model with a bad manifest, a missing or altered
//! file, or a graph that disagrees with its manifest is refused with its reason
//! ([`Registry::refused`]) while the others serve. When ONNX Runtime itself is missing, the
//! registry loads empty and says so ([`Registry::unavailable`]); the service reports not-ready.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::error::InferenceError;
pub use super::loading::LoadedModel;
use super::loading::{load_model, LoadedVersion};
use super::manifest::{Manifest, VersionManifest};
use super::pool::Lease;
use super::protocol::{InferOutput, InferRequest, InferResponse, TensorData};
use super::runtime::{self, one_line, Runtime, RuntimeError};
use super::tensor::TensorValues;
use super::validate::{check_inputs, check_outputs, InputLimits, PreparedInput};

/// How the registry runs models.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryConfig {
    /// Sessions per model version, i.e. calls of one version that run at once. Default: the
    /// number of CPUs.
    pub pool_size: usize,
    /// Threads ONNX Runtime uses inside one call. Default: 1 (parallelism comes from the pool).
    pub intra_threads: usize,
    pub limits: InputLimits,
    /// A call to a model version whose calls have lately taken less than this runs on the
    /// calling async worker instead of the blocking pool (see [`PreparedCall::run`]); zero
    /// sends every call to the pool. Default: [`INLINE_BELOW`].
    pub inline_below: Duration,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            pool_size: std::thread::available_parallelism().map_or(1, usize::from),
            intra_threads: 1,
            limits: InputLimits::default(),
            inline_below: INLINE_BELOW,
        }
    }
}

/// The models that are served, and those that were refused.
pub struct Registry {
    runtime: Result<Runtime, RuntimeError>,
    models: BTreeMap<String, LoadedModel>,
    refused: Vec<(String, Arc<InferenceError>)>,
    limits: InputLimits,
    inline_below: Duration,
}

impl Registry {
    /// Loads every model folder (a folder of `models_dir` holding `manifest.toml`). Fails only if
    /// `models_dir` cannot be read.
    pub fn load(models_dir: &Path, config: RegistryConfig) -> Result<Registry, InferenceError> {
        let entries =
            std::fs::read_dir(models_dir).map_err(|source| InferenceError::ModelsDir {
                path: models_dir.to_path_buf(),
                source,
            })?;
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join("manifest.toml").is_file())
            .collect();
        dirs.sort();
        let mut registry = Registry {
            runtime: runtime::init(),
            models: BTreeMap::new(),
            refused: Vec::new(),
            limits: config.limits,
            inline_below: config.inline_below,
        };
        let Ok(rt) = registry.runtime.clone() else {
            return Ok(registry);
        };
        for dir in dirs {
            let label = dir.file_name().map_or_else(
                || dir.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            );
            match load_model(&rt, &dir, &config) {
                Ok(model) => {
                    tracing::info!(model = %model.manifest.name, versions = model.versions.len(), "model loaded");
                    registry.models.insert(model.manifest.name.clone(), model);
                }
                Err(e) => {
                    tracing::warn!(model = %label, error = %e, "model refused");
                    registry.refused.push((label, Arc::new(e)));
                }
            }
        }
        Ok(registry)
    }

    /// Whether ONNX Runtime is loaded, i.e. the registry can serve.
    pub fn ready(&self) -> bool {
        self.runtime.is_ok()
    }

    /// Why ONNX Runtime is not available, if it is not.
    pub fn unavailable(&self) -> Option<&RuntimeError> {
        self.runtime.as_ref().err()
    }

    /// Models that were not loaded: folder name and reason.
    pub fn refused(&self) -> &[(String, Arc<InferenceError>)] {
        &self.refused
    }

    /// The served models, by name.
    pub fn models(&self) -> impl Iterator<Item = &LoadedModel> {
        self.models.values()
    }

    pub fn model(&self, name: &str) -> Option<&LoadedModel> {
        self.models.get(name)
    }

    /// A model's manifest and the version `version` names (the default version when `None`).
    pub fn resolve(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<(&Manifest, &VersionManifest), InferenceError> {
        let (model, loaded) = self.lookup(name, version)?;
        let manifest = &model.manifest;
        match manifest.version(&loaded.version) {
            Some(v) => Ok((manifest, v)),
            None => Err(InferenceError::UnknownVersion {
                model: name.to_owned(),
                version: loaded.version.clone(),
            }),
        }
    }

    fn lookup(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<(&LoadedModel, &Arc<LoadedVersion>), InferenceError> {
        if let Err(e) = &self.runtime {
            return Err(InferenceError::Runtime(e.clone()));
        }
        let model = self.models.get(name).ok_or_else(|| {
            // A model whose folder is on disk but could not be served says why, not "unknown".
            match self.refused.iter().find(|(label, _)| label == name) {
                Some((_, reason)) => InferenceError::Refused {
                    model: name.to_owned(),
                    reason: Arc::clone(reason),
                },
                None => InferenceError::UnknownModel {
                    model: name.to_owned(),
                },
            }
        })?;
        let version = version.unwrap_or(&model.manifest.default_version);
        let loaded = model
            .versions
            .get(version)
            .ok_or_else(|| InferenceError::UnknownVersion {
                model: name.to_owned(),
                version: version.to_owned(),
            })?;
        Ok((model, loaded))
    }

    /// Checks `request` against the model version: every input's name, datatype, shape, element
    /// count and elements, the limits, and the requested outputs. Nothing runs yet.
    pub fn prepare(
        &self,
        name: &str,
        version: Option<&str>,
        request: InferRequest,
    ) -> Result<PreparedCall, InferenceError> {
        let (_, loaded) = self.lookup(name, version)?;
        let InferRequest {
            id,
            inputs,
            outputs,
            ..
        } = request;
        let outputs = check_outputs(&loaded.outputs, outputs)?;
        let inputs = check_inputs(&loaded.inputs, inputs, &self.limits)?;
        Ok(PreparedCall {
            version: Arc::clone(loaded),
            id,
            inputs,
            outputs,
            inline_below: self.inline_below,
        })
    }

    /// Checks the request, then runs it on a blocking thread with a pooled session.
    pub async fn infer(
        &self,
        name: &str,
        version: Option<&str>,
        request: InferRequest,
    ) -> Result<InferResponse, InferenceError> {
        self.prepare(name, version, request)?.run().await
    }
}

/// A request that passed every check against one model version, ready to run.
pub struct PreparedCall {
    version: Arc<LoadedVersion>,
    id: Option<String>,
    inputs: Vec<PreparedInput>,
    outputs: Vec<usize>,
    inline_below: Duration,
}

/// The default of [`RegistryConfig::inline_below`].
pub const INLINE_BELOW: Duration = Duration::from_micros(100);

/// Calls with more input than this always go to the blocking pool, however fast the model.
pub const INLINE_MAX_INPUT: usize = 64 * 1024;

impl PreparedCall {
    pub fn model(&self) -> &str {
        &self.version.model
    }

    pub fn version(&self) -> &str {
        &self.version.version
    }

    /// SHA-256 of the ONNX file that will answer (lowercase hex), for the ledger.
    pub fn sha256(&self) -> &str {
        &self.version.sha256
    }

    /// The strings of every BYTES input, checked, for the personal-data detectors.
    pub fn text_inputs(&self) -> impl Iterator<Item = &str> {
        self.inputs
            .iter()
            .flat_map(|i| match &i.values {
                TensorValues::Bytes(v) => v.as_slice(),
                _ => &[],
            })
            .map(String::as_str)
    }

    /// Runs the call: awaits a free session without holding a thread, then runs ONNX Runtime on
    /// tokio's blocking pool, so async workers never block on a model. A call to a model whose
    /// calls have lately taken under [`RegistryConfig::inline_below`], with at most
    /// [`INLINE_MAX_INPUT`] bytes of input, runs on the calling thread instead: handing it to the
    /// pool and back would cost more than running it. Must be awaited inside tokio.
    pub async fn run(self) -> Result<InferResponse, InferenceError> {
        let handle =
            tokio::runtime::Handle::try_current().map_err(|_| InferenceError::NoAsyncRuntime)?;
        let lease = self
            .version
            .pool
            .acquire()
            .await
            .ok_or(InferenceError::WorkerLost)?;
        if self.runs_inline() {
            return self.run_with(lease);
        }
        let task = handle.spawn_blocking(move || self.run_with(lease));
        task.await.map_err(|_| InferenceError::WorkerLost)?
    }

    /// Whether [`Self::run`] runs this call on the calling thread.
    pub fn runs_inline(&self) -> bool {
        let recent = self.version.recent_ns.load(Ordering::Relaxed);
        let input: usize = self
            .inputs
            .iter()
            .map(|i| i.values.binary_len())
            .fold(0, usize::saturating_add);
        u128::from(recent) < self.inline_below.as_nanos() && input <= INLINE_MAX_INPUT
    }

    /// Runs the call on this thread, for callers that are not async (the command line, batch
    /// jobs): with an idle pooled session if one is free, else with a session of its own, built
    /// for this call. Blocks for the whole inference; never call it on an async worker.
    pub fn run_blocking(self) -> Result<InferResponse, InferenceError> {
        let lease = self.version.pool.lease_now();
        self.run_with(lease)
    }

    fn run_with(self, mut lease: Lease) -> Result<InferResponse, InferenceError> {
        let PreparedCall {
            version,
            id,
            inputs,
            outputs,
            ..
        } = self;
        let started = Instant::now();
        let outputs = run_session(&version, &mut lease, inputs, &outputs);
        let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        // A moving average over about the last eight calls; failed calls count too.
        let _ = version
            .recent_ns
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(match old {
                    u64::MAX => took,
                    old => old - old / 8 + took / 8,
                })
            });
        let outputs = outputs?;
        Ok(InferResponse {
            model_name: version.model.clone(),
            model_version: version.version.clone(),
            id,
            parameters: None,
            outputs,
        })
    }
}

fn run_session(
    version: &LoadedVersion,
    lease: &mut Lease,
    inputs: Vec<PreparedInput>,
    wanted: &[usize],
) -> Result<Vec<InferOutput>, InferenceError> {
    let failed = |e: ort::Error| InferenceError::Run {
        model: version.model.clone(),
        version: version.version.clone(),
        detail: one_line(&e.to_string()),
    };
    let values = inputs
        .into_iter()
        .map(|i| i.values.into_ort(i.shape).map(|v| (i.name, v)))
        .collect::<ort::Result<Vec<_>>>()
        .map_err(failed)?;
    let session = lease.session().map_err(failed)?;
    let results = session.run(values).map_err(failed)?;
    let mut outputs = Vec::with_capacity(wanted.len());
    for spec in wanted.iter().filter_map(|&i| version.outputs.get(i)) {
        let mismatch = |actual: String| InferenceError::OutputMismatch {
            model: version.model.clone(),
            version: version.version.clone(),
            output: spec.name.clone(),
            declared: spec.datatype,
            actual,
        };
        let value = results
            .get(&spec.name)
            .ok_or_else(|| mismatch("no such output".into()))?;
        let (shape, values) = TensorValues::from_ort(value).map_err(mismatch)?;
        if values.datatype() != spec.datatype {
            return Err(mismatch(values.datatype().to_string()));
        }
        outputs.push(InferOutput {
            name: spec.name.clone(),
            shape,
            datatype: spec.datatype,
            parameters: None,
            data: TensorData::Values(values),
        });
    }
    Ok(outputs)
}
