//! A model's manifest (`models/<name>/manifest.toml`): who owns the model, under which licence it
//! may be used, for which purposes, data categories and jurisdictions it is cleared, its risk
//! class, and per version the ONNX file with its SHA-256, its status, its tensors and its training
//! provenance. The policy engine reads these attributes; the ledger records name, version and hash.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Errors while reading or checking a manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Parse {
        path: String,
        source: toml::de::Error,
    },
    #[error("{path}: {problem}")]
    Invalid { path: String, problem: String },
}

/// The model's manifest.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The model's name, as used in `/v2/models/{name}`: `[a-z0-9][a-z0-9._-]*`.
    pub name: String,
    /// Who owns the model and answers for it.
    pub owner: String,
    /// One sentence on what the model does.
    pub description: String,
    /// The version served when a request names none.
    pub default_version: String,
    pub licence: Licence,
    /// Purposes the model may be used for (purpose limitation), e.g. `medical-triage`.
    pub purposes: Vec<String>,
    pub risk_class: RiskClass,
    /// Special data categories the model is approved to process (`health`, `biometric`,
    /// `children`, `financial`, `government-id`); empty when none.
    #[serde(default)]
    pub data_categories: Vec<String>,
    /// The data categories every input of the model is by its nature (the tumour measurements of
    /// a diagnostic model are health data): counted as declared on every call, whatever the
    /// caller says. Empty when the inputs are whatever the caller sends.
    #[serde(default)]
    pub input_categories: Vec<String>,
    /// Jurisdictions (ISO 3166-1 alpha-2 codes, or `EU`) whose callers the model is cleared for.
    pub jurisdictions: Vec<String>,
    /// For classifiers whose answers matter: a top-class probability below this asks for human
    /// review.
    #[serde(default)]
    pub confidence_threshold: Option<f64>,
    pub versions: Vec<VersionManifest>,
}

/// The terms under which a model may be used.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Licence {
    /// An SPDX licence id (`Apache-2.0`) or the name of the model's own terms.
    pub id: String,
    /// Whether the licence allows commercial use.
    pub commercial_use: bool,
    /// Whether answers must credit the owner.
    #[serde(default)]
    pub attribution: bool,
    /// Licences a caller must hold to use the model (ids as in the caller registry).
    #[serde(default)]
    pub required_licences: Vec<String>,
    /// Where the full terms are, if not an SPDX id.
    #[serde(default)]
    pub terms_url: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RiskClass {
    Minimal,
    Limited,
    High,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Active,
    Deprecated,
    Recalled,
}

/// One version of the model.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VersionManifest {
    pub version: String,
    /// The ONNX file, relative to the model's folder.
    pub file: String,
    /// SHA-256 of the ONNX file, lowercase hex.
    pub sha256: String,
    pub status: Status,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    #[serde(default)]
    pub training: Option<Training>,
}

/// A tensor the model takes or gives, in Open Inference Protocol v2 terms.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TensorSpec {
    pub name: String,
    /// v2 datatype: `BOOL`, `INT8`…`INT64`, `UINT8`…`UINT64`, `FP32`, `FP64`, `BYTES`.
    pub datatype: String,
    /// Dimensions; `-1` for a dimension of any size (the batch).
    pub shape: Vec<i64>,
    /// Class labels, for outputs that are class indices or probabilities.
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
}

/// Where the model came from, so its outputs can be traced to data and code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Training {
    pub dataset: String,
    pub dataset_licence: String,
    /// The script that built the ONNX file, relative to the repository root.
    pub script: String,
    /// Metrics the script measured on held-out data, e.g. `accuracy = 0.96`.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

/// Whether `name` is a model name as manifests must give it: `[a-z0-9][a-z0-9._-]*`. Never a
/// path: no `/`, and no `.` or `..` on its own.
pub fn is_model_name(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_lowercase()
                || b.is_ascii_digit()
                || (i > 0 && matches!(b, b'.' | b'_' | b'-'))
        })
}

impl Manifest {
    /// Reads and checks `manifest.toml` (not the ONNX files: the registry hashes those).
    pub fn from_file(path: &Path) -> Result<Self, ManifestError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: shown.clone(),
            source,
        })?;
        let manifest: Manifest = toml::from_str(&text).map_err(|source| ManifestError::Parse {
            path: shown.clone(),
            source,
        })?;
        manifest.check().map_err(|problem| ManifestError::Invalid {
            path: shown,
            problem,
        })?;
        Ok(manifest)
    }

    fn check(&self) -> Result<(), String> {
        if !is_model_name(&self.name) {
            return Err(format!(
                "model name {:?} must match [a-z0-9][a-z0-9._-]*",
                self.name
            ));
        }
        if self.versions.is_empty() {
            return Err("a model needs at least one version".into());
        }
        if self.version(&self.default_version).is_none() {
            return Err(format!(
                "default_version {:?} is not among the versions",
                self.default_version
            ));
        }
        for (i, v) in self.versions.iter().enumerate() {
            if self
                .versions
                .iter()
                .skip(i + 1)
                .any(|w| w.version == v.version)
            {
                return Err(format!("version {:?} is listed twice", v.version));
            }
            if v.sha256.len() != 64
                || !v
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(format!(
                    "version {:?}: sha256 must be 64 lowercase hex digits",
                    v.version
                ));
            }
        }
        if let Some(t) = self.confidence_threshold {
            if !(0.0..=1.0).contains(&t) {
                return Err(format!("confidence_threshold {t} must lie in [0, 1]"));
            }
            // The rules judge at four places; a finer threshold would be rounded, and could
            // move below a value that is under it.
            if format!("{t:.4}").parse::<f64>() != Ok(t) {
                return Err(format!(
                    "confidence_threshold {t} has more than four decimal places"
                ));
            }
        }
        Ok(())
    }

    /// The version named `version`, if the manifest has it.
    pub fn version(&self, version: &str) -> Option<&VersionManifest> {
        self.versions.iter().find(|v| v.version == version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clinic fixture's manifest with `line` in place of its threshold, read back.
    fn with_threshold(line: &str) -> Result<Manifest, ManifestError> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let text =
            std::fs::read_to_string(root.join("tests/fixtures/models/clinic-high/manifest.toml"))
                .unwrap();
        assert!(text.contains("confidence_threshold = 0.8"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest.toml");
        std::fs::write(&path, text.replace("confidence_threshold = 0.8", line)).unwrap();
        Manifest::from_file(&path)
    }

    #[test]
    fn a_threshold_finer_than_the_rules_judge_is_refused() {
        for ok in ["0.8", "0.9999", "0", "1", "0.0001"] {
            let m = with_threshold(&format!("confidence_threshold = {ok}"));
            assert!(m.is_ok(), "{ok}: {:?}", m.err().map(|e| e.to_string()));
        }
        for bad in ["0.89995", "0.12345", "1e-5"] {
            let err = with_threshold(&format!("confidence_threshold = {bad}"))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                err.contains("more than four decimal places"),
                "{bad}: {err:?}"
            );
        }
        let err = with_threshold("confidence_threshold = 1.5")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("must lie in [0, 1]"), "{err:?}");
    }
}
