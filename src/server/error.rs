//! The one place where failures become HTTP and gRPC statuses: every handler returns
//! [`ApiError`], which answers with the status below and the Open Inference Protocol's
//! `{"error": "…"}` body over HTTP, or with the gRPC code below and its message over gRPC.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::inference::{ErrorKind, InferenceError};
use crate::ledger::LedgerError;
use crate::policy::{PolicyError, PolicyErrorKind};

/// What went wrong with a request, as the caller sees it. Each variant carries what is wrong as
/// data (or the typed error of the layer that found it); the status is chosen below, from the
/// variant alone.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// 401: no credential, or not a valid one.
    #[error("missing or invalid credential: send `Authorization: Bearer <key>`")]
    Unauthenticated,
    /// 403: authenticated, but this route is for other roles.
    #[error("this route needs the role {}", .0.join(" or "))]
    NeedsRole(Vec<&'static str>),
    /// 403 (gRPC): the rules denied the call; each reason as `rule (why)`.
    #[error("denied by policy: {}", .0.join("; "))]
    Denied(Vec<String>),
    /// 404: no such route, receipt, entry or block.
    #[error(transparent)]
    NotFound(NotFound),
    /// 400: an infer request's body that cannot be read as one.
    #[error(transparent)]
    Body(#[from] super::body::BodyError),
    /// 400 (gRPC `INVALID_ARGUMENT`): a `ModelInferRequest` that cannot be read as a call.
    #[error(transparent)]
    Grpc(#[from] super::grpc::ConvertError),
    /// 400: a query string or range that asks for nothing meaningful.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// 400: the body broke off or was malformed on the wire.
    #[error("reading the body: {0}")]
    ReadBody(actix_web::error::PayloadError),
    /// 413: the body is larger than the service accepts.
    #[error("request body larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// 415: a body that is neither JSON nor the binary tensor extension (its content type).
    #[error("unsupported content type {0:?}: send application/json, or binary tensors with Inference-Header-Content-Length")]
    UnsupportedMediaType(String),
    /// 415: a compressed body (any `Content-Encoding` but `identity`; the encoding).
    #[error("Content-Encoding {0:?} is not accepted: send the body uncompressed (the input commitment covers the body as sent)")]
    UnsupportedEncoding(String),
    /// 405: the route exists, but not for this method.
    #[error("{method} is not allowed here; this route takes {allowed}")]
    MethodNotAllowed {
        method: String,
        allowed: &'static str,
    },
    /// 408: the client did not send its body in time.
    #[error("the request body did not arrive within {0} ms")]
    BodyTimeout(u64),
    /// 409: the entry is not yet under a checkpoint the witnesses cosigned; try again after
    /// `retry_after` seconds.
    #[error("entry {seq} is not yet under a cosigned checkpoint ({}); try again in {retry_after} s", match .cosigned { Some(n) => format!("the newest cosigned has {n} blocks"), None => "none is cosigned yet".to_string() })]
    NotYetCosigned {
        seq: u64,
        cosigned: Option<u64>,
        retry_after: u64,
    },
    /// 404: the log has no witnesses, so no receipt is cosigned.
    #[error("this log has no witnesses: no receipt is cosigned (ask without `cosigned`)")]
    NoWitnesses,
    /// 429: too many of these requests at once; try again after `retry_after` seconds.
    #[error("{what}: try again in {retry_after} s")]
    Busy {
        what: &'static str,
        retry_after: u64,
    },
    /// The model registry's answer: 404, 400, 503 or 500 by its [`ErrorKind`].
    #[error("{}", internal_if(matches!(.0.kind(), ErrorKind::ModelRefused | ErrorKind::Internal), .0))]
    Inference(Box<InferenceError>),
    /// The rules could not judge: 400 for a parameter the caller got wrong, else 500.
    #[error("{}", internal_if(.0.kind() != PolicyErrorKind::InvalidCall, .0))]
    Policy(PolicyError),
    /// An audit read of the ledger: 404 for what the log does not hold, 400 for a range that
    /// cannot be proven, else 500.
    #[error("{}", ledger_text(.0))]
    Ledger(LedgerError),
    /// 503: the ledger cannot record the call, so it is not served.
    #[error("the ledger cannot record the call: {0}")]
    Unrecorded(LedgerError),
    /// 504: the model did not answer within the per-call timeout.
    #[error("the model did not answer within {0} ms")]
    Timeout(u64),
    /// 500: a fault on our side.
    #[error("internal error: {0}")]
    Internal(#[from] Internal),
}

/// What a `404` did not find.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NotFound {
    #[error("no route {method} {path}")]
    Route { method: String, path: String },
    #[error("no receipt {0}")]
    Receipt(String),
    #[error("no entry {0}")]
    Entry(u64),
    #[error("no entry {seq}: the log holds {entries} entries")]
    EntryPastEnd { seq: u64, entries: u64 },
    #[error("no block {height}: the log holds {blocks} blocks")]
    Block { height: u64, blocks: u64 },
    #[error("the ledger is empty: no checkpoint yet")]
    NoCheckpoint,
    #[error("no tile {0}: not a tile path, or the log does not have it (yet)")]
    Tile(String),
}

/// Why an audit or export request's parameters are refused (`400`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    #[error("query string: {0}")]
    QueryString(actix_web::error::QueryPayloadError),
    #[error("{name}={value:?} is not an RFC 3339 time (e.g. 2026-03-01T00:00:00Z): {source}")]
    NotTime {
        name: &'static str,
        value: String,
        source: chrono::ParseError,
    },
    #[error("{what} {value:?} is not a non-negative integer")]
    NotInteger { what: &'static str, value: String },
    #[error("{0:?} is not a seq")]
    NotSeq(String),
    #[error("`version` needs `model` (a version belongs to a model)")]
    VersionWithoutModel,
    #[error("decision={0:?}: expected allow, deny or error")]
    Decision(String),
    #[error("by={0:?}: expected model, caller, decision or rule")]
    Dimension(String),
    #[error("limit={limit}: between 1 and {max}")]
    Limit { limit: usize, max: usize },
    #[error("give a range by seq or by height, not both")]
    SeqAndHeight,
    #[error(
        "from_seq={from} to_seq={to}: from_seq is inclusive and to_seq exclusive, so from_seq \
         must be below to_seq"
    )]
    SeqOrder { from: u64, to: u64 },
    #[error("from_height={from} to_height={to}: from_height must not be above to_height")]
    HeightOrder { from: u64, to: u64 },
    #[error("to_height={to}: the log holds {blocks} blocks")]
    PastEnd { to: u64, blocks: u64 },
    #[error("from={from} to={to}: need 1 ≤ from ≤ to")]
    Consistency { from: u64, to: u64 },
}

/// A fault on the service's side (`500`): what failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Internal {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Store(#[from] crate::ledger::StoreError),
    #[error("{0}")]
    Entry(#[from] crate::ledger::EntryError),
    #[error("{0}")]
    Hash(#[from] crate::ledger::HashParseError),
    #[error("{0}")]
    Commitment(#[from] super::grpc::CommitmentError),
    #[error("{0}")]
    Blocking(#[from] actix_web::error::BlockingError),
    #[error("{0}")]
    Utf8(#[from] std::string::FromUtf8Error),
    #[error("cannot start the export: {0}")]
    ExportStart(std::io::Error),
    #[error("block {0} is missing")]
    MissingBlock(u64),
    #[error("no block holds seq {0}")]
    NoBlockFor(u64),
    #[error("an answer is not a JSON object")]
    AnswerNotObject,
    #[error("output {0:?} holds no typed values")]
    OutputNotTyped(String),
}

/// `e`, prefixed as an internal error when `internal`.
fn internal_if(internal: bool, e: &dyn std::fmt::Display) -> String {
    if internal {
        format!("internal error: {e}")
    } else {
        e.to_string()
    }
}

/// How a ledger read's failure answers: what the log does not hold, and a range that cannot be
/// proven, are the caller's; anything else is ours.
fn ledger_status(e: &LedgerError) -> StatusCode {
    match e {
        LedgerError::NoEntry { .. } | LedgerError::NoBlock { .. } | LedgerError::NoSize { .. } => {
            StatusCode::NOT_FOUND
        }
        LedgerError::SizeZero | LedgerError::Proof(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn ledger_text(e: &LedgerError) -> String {
    match e {
        LedgerError::Proof(p) => p.to_string(),
        e => internal_if(ledger_status(e) == StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

impl ApiError {
    /// The HTTP status of the failure: the one place it is chosen.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::NeedsRole(_) | ApiError::Denied(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Body(_) | ApiError::Grpc(_) | ApiError::Query(_) | ApiError::ReadBody(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) | ApiError::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotYetCosigned { .. } => StatusCode::CONFLICT,
            ApiError::NoWitnesses => StatusCode::NOT_FOUND,
            ApiError::Inference(e) => match e.kind() {
                ErrorKind::NotFound => StatusCode::NOT_FOUND,
                ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
                ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                ErrorKind::ModelRefused | ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::Policy(e) if e.kind() == PolicyErrorKind::InvalidCall => {
                StatusCode::BAD_REQUEST
            }
            ApiError::Policy(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Ledger(e) => ledger_status(e),
            ApiError::Unrecorded(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC status code of the failure, from its HTTP status (the mapping of the Open
    /// Inference Protocol's two transports), with the gRPC-only cases first.
    pub fn grpc_code(&self) -> tonic::Code {
        match self {
            ApiError::TooLarge { .. } | ApiError::Busy { .. } => tonic::Code::ResourceExhausted,
            ApiError::NotYetCosigned { .. } => tonic::Code::Unavailable,
            ApiError::NoWitnesses => tonic::Code::NotFound,
            ApiError::BodyTimeout(_) | ApiError::Timeout(_) => tonic::Code::DeadlineExceeded,
            _ => match self.status() {
                StatusCode::UNAUTHORIZED => tonic::Code::Unauthenticated,
                StatusCode::FORBIDDEN => tonic::Code::PermissionDenied,
                StatusCode::NOT_FOUND => tonic::Code::NotFound,
                StatusCode::SERVICE_UNAVAILABLE => tonic::Code::Unavailable,
                s if s.is_client_error() => tonic::Code::InvalidArgument,
                _ => tonic::Code::Internal,
            },
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status()
    }

    fn error_response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unauthenticated => {
                r.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::MethodNotAllowed { allowed, .. } => {
                r.insert_header((header::ALLOW, *allowed));
            }
            ApiError::Busy { retry_after, .. } | ApiError::NotYetCosigned { retry_after, .. } => {
                r.insert_header((header::RETRY_AFTER, retry_after.to_string()));
            }
            ApiError::BodyTimeout(_) => {
                r.insert_header((header::CONNECTION, "close"));
            }
            _ => {}
        }
        r.json(serde_json::json!({ "error": self.to_string() }))
    }
}

impl From<ApiError> for tonic::Status {
    fn from(e: ApiError) -> Self {
        let message = match e {
            ApiError::Unauthenticated => {
                "missing or invalid credential: send the metadata `authorization: Bearer <key>`"
                    .to_string()
            }
            ref other => other.to_string(),
        };
        tonic::Status::new(e.grpc_code(), message)
    }
}

impl From<InferenceError> for ApiError {
    fn from(e: InferenceError) -> Self {
        ApiError::Inference(Box::new(e))
    }
}

impl From<PolicyError> for ApiError {
    fn from(e: PolicyError) -> Self {
        ApiError::Policy(e)
    }
}

impl From<NotFound> for ApiError {
    fn from(e: NotFound) -> Self {
        ApiError::NotFound(e)
    }
}
