//! The model registry: `models/<name>/manifest.toml` plus ONNX files, checked against their
//! SHA-256 on load, served through ONNX Runtime sessions, with Open Inference Protocol v2 tensors
//! converted to and from ORT values. Knows nothing of HTTP, policies or storage.
//!
//! # Layout
//!
//! | file | holds |
//! | --- | --- |
//! | `manifest.rs` | the manifest format ([`Manifest`]) the policy engine reads |
//! | `runtime.rs` | finding and starting ONNX Runtime once ([`runtime::init`], [`RuntimeError`]) |
//! | `registry.rs` | the registry: loading `models/`, lookups, [`Registry::infer`] |
//! | `loading.rs` | loading one model: hash and graph checks, refusals |
//! | `pool.rs` | the session pool per model version |
//! | `protocol.rs` | v2 request and response types ([`InferRequest`], [`InferResponse`]) |
//! | `validate.rs` | checking a request against a model, [`InputLimits`] |
//! | `datatype.rs` | the v2 datatypes ([`Datatype`]) |
//! | `tensor.rs` | typed tensor data ([`TensorValues`]): JSON, binary and ORT conversions |
//! | `confidence.rs` | [`top_probability`] for the human-review rule |
//! | `error.rs` | [`InferenceError`], the module's one error type |
//!
//! A call: [`Registry::prepare`] checks the request (a precise error for every mismatch), the
//! service may inspect [`PreparedCall::text_inputs`], then [`PreparedCall::run`] runs it on a
//! blocking thread with a pooled session. [`Registry::infer`] does both.

pub mod confidence;
pub mod datatype;
pub mod error;
mod loading;
pub mod manifest;
mod pool;
pub mod protocol;
pub mod registry;
pub mod runtime;
pub mod tensor;
pub mod validate;

pub use confidence::top_probability;
pub use error::{ElementProblem, ErrorKind, InferenceError};
pub use manifest::{
    is_model_name, Licence, Manifest, ManifestError, RiskClass, Status, TensorSpec, Training,
    VersionManifest,
};
pub use protocol::{
    InferInput, InferOutput, InferRequest, InferResponse, RequestedOutput, TensorData,
};
pub use registry::{
    LoadedModel, PreparedCall, Registry, RegistryConfig, INLINE_BELOW, INLINE_MAX_INPUT,
};
pub use runtime::{Runtime, RuntimeError};
pub use tensor::{Datatype, TensorValues};
pub use validate::InputLimits;
