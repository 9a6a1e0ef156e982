//! Loading one model folder: reading its manifest, hashing each version's ONNX file against the
//! manifest's SHA-256, opening it in ONNX Runtime, and checking the manifest's tensors against
//! the graph. Any failure refuses the whole model with a precise [`InferenceError`].

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use ort::value::{Outlet, ValueType};
use sha2::{Digest, Sha256};

use super::error::InferenceError;
use super::manifest::{Manifest, TensorSpec, VersionManifest};
use super::pool::SessionPool;
use super::registry::RegistryConfig;
use super::runtime::{one_line, Runtime};
use super::tensor::Datatype;
use super::validate::CheckedSpec;

/// A model whose every version passed its checks.
pub struct LoadedModel {
    pub(crate) manifest: Manifest,
    dir: PathBuf,
    pub(crate) versions: BTreeMap<String, Arc<LoadedVersion>>,
}

/// One version, checked and ready to serve.
pub(crate) struct LoadedVersion {
    pub(crate) model: String,
    pub(crate) version: String,
    pub(crate) sha256: String,
    pub(crate) inputs: Vec<CheckedSpec>,
    pub(crate) outputs: Vec<CheckedSpec>,
    pub(crate) pool: Arc<SessionPool>,
    /// How long a call has taken of late, in nanoseconds (a moving average; `u64::MAX` before
    /// the first call): decides whether a call runs on the calling thread.
    pub(crate) recent_ns: std::sync::atomic::AtomicU64,
}

impl LoadedModel {
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The model's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

pub(crate) fn load_model(
    rt: &Runtime,
    dir: &Path,
    config: &RegistryConfig,
) -> Result<LoadedModel, InferenceError> {
    let manifest = Manifest::from_file(&dir.join("manifest.toml"))?;
    if dir.file_name().and_then(|n| n.to_str()) != Some(manifest.name.as_str()) {
        return Err(InferenceError::NameMismatch {
            dir: dir.to_path_buf(),
            name: manifest.name.clone(),
        });
    }
    let mut versions = BTreeMap::new();
    for v in &manifest.versions {
        let loaded = load_version(rt, dir, &manifest.name, v, config)?;
        versions.insert(v.version.clone(), Arc::new(loaded));
    }
    Ok(LoadedModel {
        manifest,
        dir: dir.to_path_buf(),
        versions,
    })
}

fn load_version(
    rt: &Runtime,
    dir: &Path,
    model: &str,
    v: &VersionManifest,
    config: &RegistryConfig,
) -> Result<LoadedVersion, InferenceError> {
    let (model, version) = (model.to_owned(), v.version.clone());
    let inside = Path::new(&v.file)
        .components()
        .all(|c| matches!(c, Component::Normal(_)));
    if !inside || v.file.is_empty() {
        return Err(InferenceError::FileOutsideModel {
            model,
            version,
            file: v.file.clone(),
        });
    }
    let path = dir.join(&v.file);
    let bytes: Arc<[u8]> = match std::fs::read(&path) {
        Ok(b) => b.into(),
        Err(source) => {
            return Err(InferenceError::ReadModel {
                model,
                version,
                path,
                source,
            })
        }
    };
    let actual = hex::encode(Sha256::digest(&bytes));
    if actual != v.sha256 {
        return Err(InferenceError::HashMismatch {
            model,
            version,
            path,
            expected: v.sha256.clone(),
            actual,
        });
    }
    let session = match SessionPool::build(rt.environment(), &bytes, config.intra_threads) {
        Ok(s) => s,
        Err(e) => {
            return Err(InferenceError::Session {
                model,
                version,
                path,
                detail: one_line(&e.to_string()),
            })
        }
    };
    let inputs = check_graph(&model, &version, &v.inputs, session.inputs())?;
    let outputs = check_graph(&model, &version, &v.outputs, session.outputs())?;
    let pool = SessionPool::new(
        rt.environment().clone(),
        bytes,
        config.pool_size,
        config.intra_threads,
        session,
    );
    Ok(LoadedVersion {
        model,
        version,
        sha256: actual,
        inputs,
        outputs,
        pool: Arc::new(pool),
        recent_ns: std::sync::atomic::AtomicU64::new(u64::MAX),
    })
}

/// Checks the manifest's tensors against the graph's: same names, datatypes and ranks; a fixed
/// dimension in the graph must be the same fixed dimension in the manifest.
fn check_graph(
    model: &str,
    version: &str,
    declared: &[TensorSpec],
    graph: &[Outlet],
) -> Result<Vec<CheckedSpec>, InferenceError> {
    let disagree =
        |tensor: &str, declared: String, actual: String| InferenceError::ManifestDisagrees {
            model: model.to_owned(),
            version: version.to_owned(),
            tensor: tensor.to_owned(),
            declared,
            actual,
        };
    if let Some(extra) = graph
        .iter()
        .find(|o| !declared.iter().any(|d| d.name == o.name()))
    {
        return Err(disagree(
            extra.name(),
            "nothing".into(),
            describe(extra.dtype()),
        ));
    }
    let mut checked = Vec::with_capacity(declared.len());
    for spec in declared {
        let datatype: Datatype =
            spec.datatype
                .parse()
                .map_err(|_| InferenceError::BadTensorSpec {
                    model: model.to_owned(),
                    version: version.to_owned(),
                    tensor: spec.name.clone(),
                    datatype: spec.datatype.clone(),
                })?;
        let shown = format!("{} {:?}", spec.datatype, spec.shape);
        let Some(outlet) = graph.iter().find(|o| o.name() == spec.name) else {
            return Err(disagree(&spec.name, shown, "no such tensor".into()));
        };
        let fits = match outlet.dtype() {
            ValueType::Tensor { ty, shape, .. } => {
                Datatype::from_ort(*ty) == Some(datatype)
                    && shape.len() == spec.shape.len()
                    && shape
                        .iter()
                        .zip(&spec.shape)
                        .all(|(&g, &m)| g < 0 || g == m)
            }
            _ => false,
        };
        if !fits {
            return Err(disagree(&spec.name, shown, describe(outlet.dtype())));
        }
        checked.push(CheckedSpec {
            name: spec.name.clone(),
            datatype,
            shape: spec.shape.clone(),
        });
    }
    Ok(checked)
}

fn describe(ty: &ValueType) -> String {
    match ty {
        ValueType::Tensor { ty, shape, .. } => match Datatype::from_ort(*ty) {
            Some(d) => format!("{d} {:?}", shape.iter().collect::<Vec<_>>()),
            None => format!("{ty:?} {:?}", shape.iter().collect::<Vec<_>>()),
        },
        other => format!("{other:?}"),
    }
}
