//! The model registry: `models/<name>/manifest.toml` plus ONNX files, checked against their
//! SHA-256 on load, served through ONNX Runtime sessions, with Open Inference Protocol v2 tensors
//! converted to and from ORT values. Knows nothing of HTTP, policies or storage.

pub mod manifest;

pub use manifest::{
    Licence, Manifest, ManifestError, RiskClass, Status, TensorSpec, Training, VersionManifest,
};
