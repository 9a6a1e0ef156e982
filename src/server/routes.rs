//! The route table: Open Inference Protocol v2 health, metadata and inference; receipts; metrics.
//! Every route authenticates (see `docs/API.md` for which roles reach which route).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::auth::{authenticate, require};
use super::error::ApiError;
use super::{infer, AppState};
use crate::inference::Manifest;
use crate::policy::Role;

pub fn configure(cfg: &mut web::ServiceConfig) {
    // The router tries patterns in order, each dynamic one a regex match: inference, the hot
    // path, comes first rather than after four other `/v2/models/{name}…` patterns.
    cfg.route("/v2/models/{name}/infer", web::post().to(infer_default))
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            web::post().to(infer_version),
        )
        .route("/v2/health/live", web::get().to(live))
        .route("/v2/health/ready", web::get().to(ready))
        .route("/v2", web::get().to(server_metadata))
        .route("/v2/models/{name}", web::get().to(model_metadata))
        .route(
            "/v2/models/{name}/versions/{version}",
            web::get().to(version_metadata),
        )
        .route("/v2/models/{name}/ready", web::get().to(model_ready))
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            web::get().to(version_ready),
        )
        .route("/v1/receipts/{seq}", web::get().to(receipt))
        .route("/metrics", web::get().to(metrics))
        .configure(super::audit::configure)
        .default_service(web::to(not_found));
}

async fn not_found(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authenticate(&req, &state)?;
    Err(ApiError::NotFound(format!(
        "no route {} {}",
        req.method(),
        req.path()
    )))
}

async fn live(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authenticate(&req, &state)?;
    Ok(HttpResponse::Ok().json(json!({"live": true})))
}

/// Ready when ONNX Runtime is loaded and the ledger accepts appends.
fn is_ready(state: &AppState) -> Result<(), String> {
    if let Some(e) = state.registry.unavailable() {
        return Err(e.to_string());
    }
    Ok(())
}

async fn ready(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    authenticate(&req, &state)?;
    match is_ready(&state) {
        Ok(()) => Ok(HttpResponse::Ok().json(json!({"ready": true}))),
        Err(why) => Err(ApiError::NotReady(why)),
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

async fn model_metadata(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authenticate(&req, &state)?;
    Ok(HttpResponse::Ok().json(metadata(&state, &path, None)?))
}

async fn version_metadata(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authenticate(&req, &state)?;
    let (name, version) = path.into_inner();
    Ok(HttpResponse::Ok().json(metadata(&state, &name, Some(&version))?))
}

async fn model_ready(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authenticate(&req, &state)?;
    state.registry.resolve(&path, None)?;
    Ok(HttpResponse::Ok().json(json!({"name": path.as_str(), "ready": true})))
}

async fn version_ready(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    authenticate(&req, &state)?;
    let (name, version) = path.into_inner();
    state.registry.resolve(&name, Some(&version))?;
    Ok(HttpResponse::Ok().json(json!({"name": name, "version": version, "ready": true})))
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

/// `GET /v1/receipts/{seq}`: a fresh receipt (against the latest checkpoint, without the nonce)
/// for one of the caller's own entries; regulators may fetch any. Someone else's entry answers
/// 404, as if it did not exist.
async fn receipt(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let auth = authenticate(&req, &state)?;
    let not_found = || ApiError::NotFound(format!("no receipt {}", path.as_str()));
    let seq: u64 = path
        .parse()
        .map_err(|_| ApiError::BadRequest(format!("{:?} is not a seq", path.as_str())))?;
    let receipt = state.ledger.receipt(seq).map_err(|_| not_found())?;
    if !auth.caller.has_role(Role::Regulator) {
        let entry = crate::ledger::Entry::from_bytes(&receipt.entry)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        if entry.caller.as_deref() != Some(auth.caller.id().as_str()) {
            return Err(not_found());
        }
    }
    Ok(HttpResponse::Ok().json(receipt))
}

async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require(&req, &state, &[Role::Admin, Role::Regulator])?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render()))
}
