//! The REST path of one inference call (DESIGN.md): authenticate → resolve the model → read and
//! check the request → the shared pipeline of `call.rs` (facts, policy, model, post-inference
//! rules, one ledger entry for allowed, denied or failed alike) → answer with the outputs or the
//! denial and the signed receipt.
//!
//! What is not recorded: requests that never become a call — no valid credential (401), a body
//! that is too large (413), of the wrong type (415) or malformed (400), an unknown model (404).
//! Everything the policy judged is recorded.

use std::time::Instant;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt as _;
use serde_json::{json, Map, Value};

use super::auth::authenticate;
use super::body::{self, Decoded};
use super::call::{self, CallRequest, Outcome, RecordedCall};
use super::error::{ApiError, Internal};
use super::AppState;
use crate::inference::{InferResponse, Manifest, VersionManifest};
use crate::ledger::{commit, Appended};
use crate::policy::Decision;

/// `POST /v2/models/{name}[/versions/{version}]/infer`.
pub async fn infer(
    req: HttpRequest,
    path: web::Path<(String, Option<String>)>,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let (name, version) = path.into_inner();
    let result = call(&req, &name, version.as_deref(), payload, &state).await;
    let (status, decision) = match &result {
        Ok((status, decision, _)) => (*status, *decision),
        Err(e) => (actix_web::ResponseError::status_code(e), "none"),
    };
    // Labels from bounded sets only: a name in the URL that the registry does not serve is
    // `unknown`, so no client can grow the metrics by inventing models.
    let (model, resolved) = match state.registry.resolve(&name, version.as_deref()) {
        Ok((m, v)) => (m.name.as_str(), v.version.as_str()),
        Err(_) => ("unknown", "unknown"),
    };
    state.metrics.on_call(
        model,
        resolved,
        decision,
        status.as_u16(),
        started.elapsed(),
    );
    // One structured line per call: who, which model, what was decided — never the data.
    tracing::info!(
        request_id = req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-"),
        model,
        version = resolved,
        status = status.as_u16(),
        decision,
        micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "call"
    );
    result.map(|(_, _, r)| r)
}

/// Reads the body, refusing more than `limit` bytes (by `Content-Length` before reading), and a
/// body that has not arrived whole within `timeout` (a client holding a connection open with a
/// body it never finishes).
async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<web::BytesMut, ApiError> {
    if let Some(len) = req.headers().get(actix_web::http::header::CONTENT_LENGTH) {
        if len
            .to_str()
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
            .is_some_and(|n| n > limit)
        {
            return Err(ApiError::TooLarge { limit });
        }
    }
    let read = async {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(ApiError::ReadBody)?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::TooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    };
    match tokio::time::timeout(timeout, read).await {
        Ok(body) => body,
        Err(_) => Err(ApiError::BodyTimeout(
            u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        )),
    }
}

pub(super) use super::call::record;

/// A recorded call's entry and nonce, from which its receipt is written into the answer.
type Receipted<'a> = (&'a Appended, &'a [u8; 32]);

pub(super) fn reasons(decision: &Decision) -> Value {
    Value::Array(
        decision
            .reasons
            .iter()
            .map(|r| json!({"id": r.id.as_str(), "category": r.category.as_str(), "reason": r.reason}))
            .collect(),
    )
}

type Answer = (StatusCode, &'static str, HttpResponse);

/// The REST side of one call: authenticate, resolve the model, read and decode the body, hand it
/// to the shared pipeline ([`call::run`]), and answer in v2 JSON (or binary tensors).
async fn call(
    req: &HttpRequest,
    name: &str,
    version: Option<&str>,
    payload: web::Payload,
    state: &AppState,
) -> Result<Answer, ApiError> {
    let auth = authenticate(req, state)?;
    body::check_content_type(req.headers())?;
    let model: (&Manifest, &VersionManifest) = state.registry.resolve(name, version)?;
    let raw = read_body(
        req,
        payload,
        state.limits.max_body,
        state.limits.body_timeout,
    )
    .await?;
    let Decoded {
        mut request,
        inputs_jcs,
        binary,
        binary_outputs,
    } = body::decode(req.headers(), &raw, !state.limits.bare())?;
    let parameters = request.parameters.take().unwrap_or_default();
    // H(nonce ‖ JCS(inputs) ‖ binary part): the caller opens it from exactly what it sent.
    let input_parts: [&[u8]; 2] = [inputs_jcs.as_deref().unwrap_or_default(), &binary];
    let request = CallRequest {
        request,
        parameters,
        input_parts: &input_parts,
        input_bytes: raw.len() as u64,
    };
    // The response serialised once: its outputs in JSON form are what the output commitment
    // covers, and unless binary outputs were asked for it is also what goes out.
    let encode = |response: InferResponse, nonce: &[u8; 32]| {
        let encoded = to_json(&response)?;
        let output = commit(nonce, encoded.get("outputs").unwrap_or(&Value::Null))
            .map_err(Internal::from)?;
        Ok((output, (response, encoded)))
    };
    match call::run(state, &auth, model, request, encode).await? {
        Outcome::Bare(response) => Ok((
            StatusCode::OK,
            "bare",
            respond(response, &binary_outputs, None, &[])?,
        )),
        Outcome::Allowed {
            answer: (response, encoded),
            recorded,
            obligations,
        } => {
            let receipt = Some((&recorded.appended, &recorded.nonce));
            let http = if binary_outputs.any() {
                respond(response, &binary_outputs, receipt, &obligations)?
            } else {
                respond_json(StatusCode::OK, encoded, receipt, &obligations)?
            };
            Ok((StatusCode::OK, "allow", http))
        }
        Outcome::Denied {
            request_id,
            decision,
            recorded,
        } => {
            let why: Vec<String> = decision
                .reasons
                .iter()
                .map(|r| format!("{} ({})", r.id, r.reason))
                .collect();
            let mut body = json!({
                "error": format!("denied by policy: {}", why.join("; ")),
                "rules": decision.rules.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
                "reasons": reasons(&decision),
            });
            if let (Some(id), Some(o)) = (&request_id, body.as_object_mut()) {
                o.insert("id".into(), Value::String(id.clone()));
            }
            answer(StatusCode::FORBIDDEN, "deny", body, &recorded)
        }
        // A call the policy allowed but the model failed (or overran its time): recorded as an
        // error, answered with the error's status and the receipt.
        Outcome::Failed {
            request_id,
            error,
            recorded,
        } => {
            let status = actix_web::ResponseError::status_code(&error);
            let mut body = json!({"error": error.to_string()});
            if let (Some(id), Some(o)) = (&request_id, body.as_object_mut()) {
                o.insert("id".into(), Value::String(id.clone()));
            }
            answer(status, "error", body, &recorded)
        }
    }
}

/// Answers a recorded call that ends without outputs (denied, or failed) with `body`, `status`
/// and the call's receipt.
fn answer(
    status: StatusCode,
    decision: &'static str,
    body: Value,
    recorded: &RecordedCall,
) -> Result<Answer, ApiError> {
    let receipt = Some((&recorded.appended, &recorded.nonce));
    let http = respond_json(status, body, receipt, &[])?;
    Ok((status, decision, http))
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<Value, ApiError> {
    Ok(serde_json::to_value(v).map_err(Internal::from)?)
}

/// A JSON answer (a v2 response, a denial, an error) with the obligations (in `parameters`) and
/// the receipt (at the top level) added, as JSON bytes.
fn finish_json(
    mut value: Value,
    receipt: Option<Receipted<'_>>,
    obligations: &[String],
) -> Result<Vec<u8>, ApiError> {
    if let Some(obj) = value.as_object_mut() {
        if !obligations.is_empty() {
            let params = obj
                .entry("parameters")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(p) = params.as_object_mut() {
                p.insert("obligations".into(), Value::from(obligations.to_vec()));
            }
        }
    }
    let internal = |e: serde_json::Error| ApiError::from(Internal::from(e));
    let mut out = serde_json::to_vec(&value).map_err(internal)?;
    // The receipt goes last, written straight from the sealed block rather than through a JSON
    // tree (the members its block shares are serialised once for all the block's receipts).
    if let Some((appended, nonce)) = receipt {
        if out.pop() != Some(b'}') {
            return Err(Internal::AnswerNotObject.into());
        }
        out.extend_from_slice(if out.len() > 1 {
            b",\"receipt\":"
        } else {
            b"\"receipt\":"
        });
        appended
            .write_receipt_json(Some(nonce), &mut out)
            .map_err(internal)?;
        out.push(b'}');
    }
    Ok(out)
}

fn respond_json(
    status: StatusCode,
    value: Value,
    receipt: Option<Receipted<'_>>,
    obligations: &[String],
) -> Result<HttpResponse, ApiError> {
    let json = finish_json(value, receipt, obligations)?;
    Ok(HttpResponse::build(status)
        .content_type("application/json")
        .body(json))
}

/// The v2 response with binary outputs where the caller asked for them (JSON otherwise), the
/// obligations and the receipt.
fn respond(
    mut response: InferResponse,
    binary_outputs: &body::BinaryOutputs,
    receipt: Option<Receipted<'_>>,
    obligations: &[String],
) -> Result<HttpResponse, ApiError> {
    let binary = body::encode_binary_outputs(&mut response, binary_outputs);
    let mut out = finish_json(to_json(&response)?, receipt, obligations)?;
    if binary.is_empty() {
        return Ok(HttpResponse::Ok()
            .content_type("application/json")
            .body(out));
    }
    let header_len = out.len();
    out.extend_from_slice(&binary);
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((body::HEADER_LENGTH, header_len.to_string()))
        .body(out))
}
