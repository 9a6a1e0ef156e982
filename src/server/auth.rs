//! Authentication: `Authorization: Bearer <key>` → the caller and the id of its credential. The
//! key is hashed and compared in constant time by the caller registry; the key itself is never
//! logged or stored.

use std::sync::Arc;

use actix_web::http::header;
use actix_web::HttpRequest;

use super::error::ApiError;
use super::AppState;
use crate::policy::{Caller, CredentialId, Role};

/// The authenticated caller of one request (as the registry had it when the request came: a
/// reload does not change a call in flight).
pub struct Authenticated {
    pub caller: Arc<Caller>,
    pub credential: CredentialId,
}

/// Longest `Authorization` header read.
const MAX_AUTH_HEADER: usize = 512;

/// Authenticates the request against the caller registry.
pub fn authenticate(req: &HttpRequest, state: &AppState) -> Result<Authenticated, ApiError> {
    let value = req.headers().get(header::AUTHORIZATION);
    authenticate_bearer(value.map(|v| v.as_bytes()), state)
}

/// Authenticates the value of an `authorization` header or gRPC metadata entry (`Bearer <key>`),
/// whichever transport carried it.
pub fn authenticate_bearer(
    value: Option<&[u8]>,
    state: &AppState,
) -> Result<Authenticated, ApiError> {
    let value = value.ok_or(ApiError::Unauthenticated)?;
    if value.len() > MAX_AUTH_HEADER {
        return Err(ApiError::Unauthenticated);
    }
    let value = std::str::from_utf8(value).map_err(|_| ApiError::Unauthenticated)?;
    let (scheme, key) = value.split_once(' ').ok_or(ApiError::Unauthenticated)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(ApiError::Unauthenticated);
    }
    let (caller, credential) = state
        .callers
        .load()
        .authenticate(key.trim())
        .ok_or(ApiError::Unauthenticated)?;
    Ok(Authenticated { caller, credential })
}

/// Authenticates and requires one of `roles`.
pub fn require(
    req: &HttpRequest,
    state: &AppState,
    roles: &[Role],
) -> Result<Authenticated, ApiError> {
    let auth = authenticate(req, state)?;
    if roles.iter().any(|r| auth.caller.has_role(*r)) {
        Ok(auth)
    } else {
        Err(ApiError::NeedsRole(
            roles.iter().map(|r| r.as_str()).collect(),
        ))
    }
}
