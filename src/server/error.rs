//! The one place where failures become HTTP and gRPC statuses: every handler returns
//! [`ApiError`], which answers with the status below and the Open Inference Protocol's
//! `{"error": "…"}` body over HTTP, or with the gRPC code below and its message over gRPC.

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::inference::{ErrorKind, InferenceError};
use crate::policy::{PolicyError, PolicyErrorKind};

/// What went wrong with a request, as the caller sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: no credential, or not a valid one.
    #[error("missing or invalid credential: send `Authorization: Bearer <key>`")]
    Unauthenticated,
    /// 403: authenticated, but this route is not for the caller's role.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such model, version, route or entry.
    #[error("{0}")]
    NotFound(String),
    /// 400: the request is malformed or does not fit the model.
    #[error("{0}")]
    BadRequest(String),
    /// 413: the body is larger than the service accepts.
    #[error("request body larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// 415: a body that is neither JSON nor the binary tensor extension.
    #[error("unsupported content type {0:?}: send application/json, or binary tensors with Inference-Header-Content-Length")]
    UnsupportedMediaType(String),
    /// 415: a compressed body (any `Content-Encoding` but `identity`).
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
    /// 429: too many of these requests at once; try again after `retry_after` seconds.
    #[error("{what}: try again in {retry_after} s")]
    Busy {
        what: &'static str,
        retry_after: u64,
    },
    /// 503: the service cannot answer now (ONNX Runtime missing, ledger stopped).
    #[error("{0}")]
    NotReady(String),
    /// 504: the model did not answer within the per-call timeout.
    #[error("the model did not answer within {0} ms")]
    Timeout(u64),
    /// 500: a fault on our side.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) | ApiError::UnsupportedEncoding(_) => {
                StatusCode::UNSUPPORTED_MEDIA_TYPE
            }
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BodyTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotReady(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
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
            ApiError::Busy { retry_after, .. } => {
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

impl ApiError {
    /// The gRPC status code of the failure.
    pub fn grpc_code(&self) -> tonic::Code {
        match self {
            ApiError::Unauthenticated => tonic::Code::Unauthenticated,
            ApiError::Forbidden(_) => tonic::Code::PermissionDenied,
            ApiError::NotFound(_) => tonic::Code::NotFound,
            ApiError::BadRequest(_)
            | ApiError::UnsupportedMediaType(_)
            | ApiError::UnsupportedEncoding(_)
            | ApiError::MethodNotAllowed { .. } => tonic::Code::InvalidArgument,
            ApiError::BodyTimeout(_) => tonic::Code::DeadlineExceeded,
            ApiError::Busy { .. } => tonic::Code::ResourceExhausted,
            ApiError::TooLarge { .. } => tonic::Code::ResourceExhausted,
            ApiError::NotReady(_) => tonic::Code::Unavailable,
            ApiError::Timeout(_) => tonic::Code::DeadlineExceeded,
            ApiError::Internal(_) => tonic::Code::Internal,
        }
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
        match e.kind() {
            ErrorKind::NotFound => ApiError::NotFound(e.to_string()),
            ErrorKind::BadRequest => ApiError::BadRequest(e.to_string()),
            ErrorKind::Unavailable => ApiError::NotReady(e.to_string()),
            ErrorKind::ModelRefused | ErrorKind::Internal => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<PolicyError> for ApiError {
    fn from(e: PolicyError) -> Self {
        match e.kind() {
            PolicyErrorKind::InvalidCall => ApiError::BadRequest(e.to_string()),
            PolicyErrorKind::InvalidConfig | PolicyErrorKind::Io | PolicyErrorKind::Internal => {
                ApiError::Internal(e.to_string())
            }
        }
    }
}
