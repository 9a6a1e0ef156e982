//! The inference module's one error type. Every variant says precisely what was wrong, with the
//! names and numbers involved, so the service can hand the message to the caller as it is;
//! [`InferenceError::kind`] tells the service which class of failure it is (404, 400, 503, 500).

use std::path::PathBuf;

use super::manifest::ManifestError;
use super::runtime::RuntimeError;
use super::tensor::Datatype;

/// What kind of failure an [`InferenceError`] is; the service maps each to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No such model or version (404).
    NotFound,
    /// The request does not fit the model (400).
    BadRequest,
    /// ONNX Runtime is not available (503).
    Unavailable,
    /// A model on disk could not be served; only seen in [`crate::inference::Registry::refused`].
    ModelRefused,
    /// The model or the runtime failed while answering a valid request (500).
    Internal,
}

/// Why one element of a tensor could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementProblem {
    /// Not the JSON kind the datatype needs (a number, `true`/`false`, or a string).
    WrongType,
    /// A number with a fraction or exponent where an integer was expected.
    NotAnInteger,
    /// A number outside the datatype's range.
    OutOfRange,
    /// BYTES that are not valid UTF-8 (ONNX Runtime's strings are UTF-8).
    NotUtf8,
    /// BYTES holding a NUL byte, which ONNX Runtime's strings cannot carry.
    ContainsNul,
}

impl std::fmt::Display for ElementProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ElementProblem::WrongType => "is not of the datatype's JSON kind",
            ElementProblem::NotAnInteger => "is not an integer",
            ElementProblem::OutOfRange => "is out of the datatype's range",
            ElementProblem::NotUtf8 => "is not valid UTF-8",
            ElementProblem::ContainsNul => "contains a NUL byte",
        })
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InferenceError {
    // --- availability ---
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("inference must be awaited inside a tokio runtime")]
    NoAsyncRuntime,

    // --- loading the registry ---
    #[error("cannot read the models folder {}: {source}", path.display())]
    ModelsDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{}: the folder's name differs from the model's name {name:?} in its manifest", dir.display())]
    NameMismatch { dir: PathBuf, name: String },
    #[error("model {model} version {version}: file {file:?} must be a relative path inside the model's folder")]
    FileOutsideModel {
        model: String,
        version: String,
        file: String,
    },
    #[error("model {model} version {version}: cannot read {}: {source}", path.display())]
    ReadModel {
        model: String,
        version: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("model {model} version {version}: {} has SHA-256 {actual}, but the manifest says {expected}", path.display())]
    HashMismatch {
        model: String,
        version: String,
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("model {model} version {version}: ONNX Runtime cannot load {}: {detail}", path.display())]
    Session {
        model: String,
        version: String,
        path: PathBuf,
        detail: String,
    },
    #[error("model {model} version {version}: tensor {tensor:?} has datatype {datatype:?}, which vouch does not support")]
    BadTensorSpec {
        model: String,
        version: String,
        tensor: String,
        datatype: String,
    },
    #[error("model {model} version {version}: the manifest declares tensor {tensor:?} as {declared}, but the ONNX graph has {actual}")]
    ManifestDisagrees {
        model: String,
        version: String,
        tensor: String,
        declared: String,
        actual: String,
    },

    // --- lookup ---
    #[error("unknown model {model:?}")]
    UnknownModel { model: String },
    #[error("model {model:?} was refused when the service started: {reason}")]
    Refused {
        model: String,
        reason: std::sync::Arc<InferenceError>,
    },
    #[error("model {model:?} has no version {version:?}")]
    UnknownVersion { model: String, version: String },

    // --- the request ---
    #[error("unknown input {name:?}; the model takes {}", expected.join(", "))]
    UnknownInput { name: String, expected: Vec<String> },
    #[error("input {name:?} is given twice")]
    DuplicateInput { name: String },
    #[error("input {name:?} is missing")]
    MissingInput { name: String },
    #[error("input {input:?}: unsupported datatype {datatype:?}")]
    UnsupportedDatatype { input: String, datatype: String },
    #[error("input {input:?}: datatype {got} given, the model takes {expected}")]
    WrongDatatype {
        input: String,
        expected: Datatype,
        got: Datatype,
    },
    #[error("input {input:?}: shape {got:?} given, the model takes {expected:?} (-1: any size)")]
    WrongShape {
        input: String,
        expected: Vec<i64>,
        got: Vec<i64>,
    },
    #[error("input {input:?}: shape {shape:?} has no elements")]
    EmptyTensor { input: String, shape: Vec<i64> },
    #[error(
        "input {input:?}: shape {shape:?} holds {count} elements, more than the limit of {limit}"
    )]
    TooManyElements {
        input: String,
        shape: Vec<i64>,
        count: u128,
        limit: usize,
    },
    #[error("input {input:?} has no data")]
    MissingData { input: String },
    #[error("input {input:?}: shape {shape:?} needs {expected} elements, the data has {got}")]
    ElementCount {
        input: String,
        shape: Vec<i64>,
        expected: usize,
        got: usize,
    },
    #[error("input {input:?}: element {index} {problem} ({datatype})")]
    BadElement {
        input: String,
        index: usize,
        datatype: Datatype,
        problem: ElementProblem,
    },
    #[error(
        "input {input:?}: element {index} is {len} bytes long, more than the limit of {limit}"
    )]
    BytesElementTooLong {
        input: String,
        index: usize,
        len: usize,
        limit: usize,
    },
    #[error("input {input:?}: binary data is {got} bytes, shape and datatype need {expected}")]
    BinarySize {
        input: String,
        expected: usize,
        got: usize,
    },
    #[error("input {input:?}: binary BYTES data is cut short at byte {offset}")]
    MalformedBinaryBytes { input: String, offset: usize },
    #[error("the inputs hold {bytes} bytes, more than the limit of {limit}")]
    InputTooLarge { bytes: usize, limit: usize },
    #[error("unknown output {name:?}; the model gives {}", expected.join(", "))]
    UnknownOutput { name: String, expected: Vec<String> },
    #[error("output {name:?} is requested twice")]
    DuplicateOutput { name: String },

    // --- running ---
    #[error("model {model} version {version}: ONNX Runtime failed: {detail}")]
    Run {
        model: String,
        version: String,
        detail: String,
    },
    #[error("model {model} version {version}: output {output:?} came back as {actual}, the manifest declares {declared}")]
    OutputMismatch {
        model: String,
        version: String,
        output: String,
        declared: Datatype,
        actual: String,
    },
    #[error("the inference worker stopped before answering")]
    WorkerLost,
}

impl InferenceError {
    /// The class of failure, for choosing the HTTP status in one place.
    pub fn kind(&self) -> ErrorKind {
        use InferenceError::*;
        match self {
            Runtime(_) | Refused { .. } => ErrorKind::Unavailable,
            UnknownModel { .. } | UnknownVersion { .. } => ErrorKind::NotFound,
            ModelsDir { .. }
            | Manifest(_)
            | NameMismatch { .. }
            | FileOutsideModel { .. }
            | ReadModel { .. }
            | HashMismatch { .. }
            | Session { .. }
            | BadTensorSpec { .. }
            | ManifestDisagrees { .. } => ErrorKind::ModelRefused,
            UnknownInput { .. }
            | DuplicateInput { .. }
            | MissingInput { .. }
            | UnsupportedDatatype { .. }
            | WrongDatatype { .. }
            | WrongShape { .. }
            | EmptyTensor { .. }
            | TooManyElements { .. }
            | MissingData { .. }
            | ElementCount { .. }
            | BadElement { .. }
            | BytesElementTooLong { .. }
            | BinarySize { .. }
            | MalformedBinaryBytes { .. }
            | InputTooLarge { .. }
            | UnknownOutput { .. }
            | DuplicateOutput { .. } => ErrorKind::BadRequest,
            NoAsyncRuntime | Run { .. } | OutputMismatch { .. } | WorkerLost => ErrorKind::Internal,
        }
    }
}
