//! The route table: Open Inference Protocol v2 health, metadata and inference; receipts; metrics.
//! Every route authenticates (see `docs/API.md` for which roles reach which route).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::auth::{authenticate, require};
use super::error::{ApiError, Internal, NotFound, QueryError};
use super::{infer, AppState};
use crate::inference::Manifest;
use crate::policy::Role;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // The router tries patterns in order, each dynamic one a regex match: inference, the hot
    // path, comes first rather than after four other `/v2/models/{name}…` patterns.
    cfg.service(post("/v2/models/{name}/infer").to(infer_default))
        .service(post("/v2/models/{name}/versions/{version}/infer").to(infer_version))
        .service(get("/v2/health/live").to(live))
        .service(get("/v2/health/ready").to(ready))
        .service(get("/v2").to(server_metadata))
        .service(get("/v2/models/{name}").to(model_metadata))
        .service(get("/v2/models/{name}/versions/{version}").to(model_metadata))
        .service(get("/v2/models/{name}/ready").to(model_ready))
        .service(get("/v2/models/{name}/versions/{version}/ready").to(model_ready))
        .service(get("/v1/receipts/{seq}").to(receipt))
        .service(get("/metrics").to(metrics))
        .configure(super::audit::configure)
        .configure(super::tiles::configure)
        .default_service(web::to(not_found));
}

/// A resource answering GET at `path`, and `405` (with `Allow`) to any other method.
pub(super) fn get(path: &str) -> Only {
    Only {
        path: path.to_string(),
        method: "GET",
    }
}

/// A resource answering POST at `path`, and `405` (with `Allow`) to any other method.
pub(super) fn post(path: &str) -> Only {
    Only {
        path: path.to_string(),
        method: "POST",
    }
}

/// A route that takes one method.
pub(super) struct Only {
    path: String,
    method: &'static str,
}

impl Only {
    pub(super) fn to<F, Args>(self, handler: F) -> actix_web::Resource
    where
        F: actix_web::Handler<Args>,
        Args: actix_web::FromRequest + 'static,
        F::Output: actix_web::Responder + 'static,
    {
        let route = if self.method == "POST" {
            web::post()
        } else {
            web::get()
        };
        let allowed = self.method;
        web::resource(self.path)
            .route(route.to(handler))
            .default_service(web::to(move |req, state| wrong_method(req, state, allowed)))
    }
}

/// A known route asked with another method: `405`, to authenticated clients (others learn
/// nothing of which routes exist), the health probes aside.
async fn wrong_method(
    req: HttpRequest,
    state: web::Data<AppState>,
    allowed: &'static str,
) -> Result<HttpResponse, ApiError> {
    if !req.path().starts_with("/v2/health/") {
        authenticate(&req, &state)?;
    }
    Err(ApiError::MethodNotAllowed {
        method: req.method().to_string(),
        allowed,
    })
}

async fn not_found(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authenticate(&req, &state)?;
    Err(NotFound::Route {
        method: req.method().to_string(),
        path: req.path().to_string(),
    }
    .into())
}

/// `GET /v2/health/live`: open to all (probes carry no key), and says nothing but its status.
async fn live() -> HttpResponse {
    HttpResponse::Ok().finish()
}

/// Ready when ONNX Runtime is loaded, every model on disk was loaded, and the ledger can append.
pub(super) fn is_ready(state: &AppState) -> bool {
    state.registry.unavailable().is_none()
        && state.registry.refused().is_empty()
        && state.ledger.health() == crate::ledger::Health::Appending
}

/// `GET /v2/health/ready`: open to all, status only (`200` or `503`); why it is not ready goes
/// to the log and to authenticated calls, not to anyone who asks.
async fn ready(state: web::Data<AppState>) -> HttpResponse {
    if is_ready(&state) {
        HttpResponse::Ok().finish()
    } else {
        HttpResponse::ServiceUnavailable().finish()
    }
}

async fn server_metadata(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authenticate(&req, &state)?;
    Ok(HttpResponse::Ok().json(json!({
        "name": "vouch",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data", "receipts"],
    })))
}

fn metadata(
    state: &AppState,
    name: &str,
    version: Option<&str>,
) -> Result<serde_json::Value, ApiError> {
    let (manifest, v): (&Manifest, _) = state.registry.resolve(name, version)?;
    let tensors = |specs: &[crate::inference::TensorSpec]| -> Vec<serde_json::Value> {
        specs
            .iter()
            .map(|t| json!({"name": t.name, "datatype": t.datatype, "shape": t.shape}))
            .collect()
    };
    let versions: Vec<&str> = match version {
        Some(v) => vec![v],
        None => manifest
            .versions
            .iter()
            .map(|v| v.version.as_str())
            .collect(),
    };
    Ok(json!({
        "name": manifest.name,
        "versions": versions,
        "platform": "onnxruntime_onnx",
        "inputs": tensors(&v.inputs),
        "outputs": tensors(&v.outputs),
        "parameters": {
            "owner": manifest.owner,
            "licence": manifest.licence.id,
            "risk_class": manifest.risk_class,
            "status": v.status,
            "sha256": v.sha256,
            "purposes": manifest.purposes,
        },
    }))
}

/// A model named in the path, with or without a version.
#[derive(serde::Deserialize)]
struct ModelPath {
    name: String,
    version: Option<String>,
}

async fn model_metadata(
    req: HttpRequest,
    path: web::Path<ModelPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authenticate(&req, &state)?;
    let ModelPath { name, version } = path.into_inner();
    Ok(HttpResponse::Ok().json(metadata(&state, &name, version.as_deref())?))
}

async fn model_ready(
    req: HttpRequest,
    path: web::Path<ModelPath>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authenticate(&req, &state)?;
    let ModelPath { name, version } = path.into_inner();
    state.registry.resolve(&name, version.as_deref())?;
    Ok(HttpResponse::Ok().json(match version {
        None => json!({"name": name, "ready": true}),
        Some(version) => json!({"name": name, "version": version, "ready": true}),
    }))
}

async fn infer_default(
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    infer::infer(
        req,
        web::Path::from((path.into_inner(), None)),
        payload,
        state,
    )
    .await
}

async fn infer_version(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let (name, version) = path.into_inner();
    infer::infer(req, web::Path::from((name, Some(version))), payload, state).await
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptParams {
    /// Prove the entry against the newest checkpoint the witnesses cosigned.
    #[serde(default)]
    cosigned: bool,
}

/// `GET /v1/receipts/{seq}`: a fresh receipt (against the latest checkpoint, without the nonce)
/// for one of the caller's own entries. Anyone else's entry is an audit read: judged by the
/// Cedar action `audit` and, when allowed, recorded like every audit read that reveals an entry.
/// Refused, it answers 404, as if the entry did not exist.
async fn receipt(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let auth = authenticate(&req, &state)?;
    let not_found = || ApiError::from(NotFound::Receipt(path.as_str().to_string()));
    let seq: u64 = path
        .parse()
        .map_err(|_| QueryError::NotSeq(path.as_str().to_string()))?;
    let params: ReceiptParams = super::audit::query(&req)?;
    let receipt = state
        .ledger
        .receipt(crate::ledger::Seq::new(seq))
        .map_err(|_| not_found())?;
    let entry = crate::ledger::Entry::from_bytes(&receipt.entry).map_err(Internal::from)?;

    // Whether it may be read is settled before anything else is said about it.
    let answer = |receipt| match params.cosigned {
        true => cosigned_receipt(&state, seq),
        false => Ok(receipt),
    };
    if entry.caller() == Some(auth.caller.id()) {
        return Ok(HttpResponse::Ok().json(answer(receipt)?));
    }
    let allowed = state
        .policy
        .authorize_audit(&auth.caller)
        .map_err(ApiError::Policy)?
        .is_allowed();
    if !allowed {
        return Err(not_found());
    }
    let receipt = answer(receipt)?;
    match super::audit::admit(&req, &state, super::audit::Recording::All).await {
        Ok(admitted) => Ok(admitted.response().json(receipt)),
        Err(answer) => answer,
    }
}

/// The receipt of `seq` against the newest checkpoint the witnesses cosigned: the same entry
/// and block, the block proven in that tree, the checkpoint with their cosignatures.
fn cosigned_receipt(state: &AppState, seq: u64) -> Result<crate::ledger::Receipt, ApiError> {
    let w = &state.witnessing;
    if !w.is_enabled() {
        return Err(ApiError::NoWitnesses);
    }
    let latest = w.latest();
    let not_yet = || ApiError::NotYetCosigned {
        seq,
        cosigned: latest.as_ref().map(|c| c.size),
        retry_after: w.interval().as_secs().max(1),
    };
    let cosigned = latest.as_ref().ok_or_else(not_yet)?;
    state
        .ledger
        .receipt_against(
            crate::ledger::Seq::new(seq),
            cosigned.size,
            cosigned.checkpoint.clone(),
        )
        .map_err(|_| not_yet())
}

async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require(&req, &state, &[Role::Admin, Role::Regulator])?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render()))
}
