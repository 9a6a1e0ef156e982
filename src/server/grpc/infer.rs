//! ModelInfer: authenticate (`authorization: Bearer <key>` metadata) → resolve the model → decode
//! the message → the shared pipeline of `call.rs` → answer. An allowed call's receipt travels as
//! the response parameter `receipt` (its JSON as a `string_param`), its obligations as the
//! parameter `obligations` (comma-separated). A denied or failed call is recorded too and answers
//! a status (PERMISSION_DENIED naming the rules, or the failure's) with the receipt in the trailing
//! metadata `vouch-receipt`.

use std::time::Instant;

use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Request, Response, Status};

use super::commitment;
use super::convert::{self, string_parameter, Decoded};
use super::proto::{ModelInferRequest, ModelInferResponse};
use super::service::version;
use crate::server::auth::authenticate_bearer;
use crate::server::call::{self, CallRequest, Outcome, RecordedCall};
use crate::server::{ApiError, AppState, Internal};

/// The trailing metadata key of a denied or failed call's receipt.
pub const RECEIPT_METADATA: &str = "vouch-receipt";

pub(super) async fn model_infer(
    state: &AppState,
    req: Request<ModelInferRequest>,
) -> Result<Response<ModelInferResponse>, Status> {
    let started = Instant::now();
    let name = req.get_ref().model_name.clone();
    let model_version = req.get_ref().model_version.clone();
    let result = call(state, req).await;
    let (code, decision) = match &result {
        Ok((decision, _)) => (tonic::Code::Ok, *decision),
        Err((status, decision)) => (status.code(), *decision),
    };
    // One structured line per call: who, which model, what was decided — never the data.
    tracing::info!(
        transport = "grpc",
        model = %name,
        version = version(&model_version).unwrap_or("default"),
        status = ?code,
        decision,
        micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
        "call"
    );
    result.map(|(_, r)| r).map_err(|(s, _)| s)
}

type Answer = Result<(&'static str, Response<ModelInferResponse>), (Status, &'static str)>;

fn unrecorded(e: ApiError) -> (Status, &'static str) {
    (Status::from(e), "none")
}

async fn call(state: &AppState, req: Request<ModelInferRequest>) -> Answer {
    let key = req.metadata().get("authorization").map(|v| v.as_bytes());
    let auth = authenticate_bearer(key, state).map_err(unrecorded)?;
    let msg = req.into_inner();
    let input_bytes = prost::Message::encoded_len(&msg) as u64;
    let name = msg.model_name.clone();
    let requested_version = msg.model_version.clone();
    let model = state
        .registry
        .resolve(&name, version(&requested_version))
        .map_err(|e| unrecorded(e.into()))?;
    let Decoded {
        request,
        parameters,
        header,
        raw,
        raw_mode,
    } = convert::decode(msg, !state.limits.bare()).map_err(unrecorded)?;
    // H(nonce ‖ JCS(inputs header) ‖ raw_input_contents…): see commitment.rs.
    let mut input_parts: Vec<&[u8]> = Vec::with_capacity(raw.len() + 1);
    input_parts.push(&header);
    input_parts.extend(raw.iter().map(Vec::as_slice));
    let request = CallRequest {
        request,
        parameters,
        input_parts: &input_parts,
        input_bytes,
    };
    let encode = |response, nonce: &[u8; 32]| {
        let answer = convert::encode(response, raw_mode)?;
        let output = commitment::output_commitment(nonce, &answer).map_err(Internal::from)?;
        Ok((output, answer))
    };
    let outcome = call::run(state, &auth, model, request, encode)
        .await
        .map_err(unrecorded)?;
    let decision = outcome.decision();
    match outcome {
        Outcome::Bare(response) => {
            let answer = convert::encode(response, raw_mode).map_err(unrecorded)?;
            Ok((decision, Response::new(answer)))
        }
        Outcome::Allowed {
            mut answer,
            recorded,
            obligations,
        } => {
            let receipt = recorded.receipt_json().map_err(unrecorded)?;
            let receipt =
                String::from_utf8(receipt).map_err(|e| unrecorded(Internal::from(e).into()))?;
            answer
                .parameters
                .insert("receipt".into(), string_parameter(receipt));
            if !obligations.is_empty() {
                answer.parameters.insert(
                    "obligations".into(),
                    string_parameter(obligations.join(",")),
                );
            }
            Ok((decision, Response::new(answer)))
        }
        Outcome::Denied {
            decision: judged,
            recorded,
            ..
        } => {
            let why: Vec<String> = judged
                .reasons
                .iter()
                .map(|r| format!("{} ({})", r.id, r.reason))
                .collect();
            let error = ApiError::Denied(why);
            Err((with_receipt(error, &recorded), decision))
        }
        Outcome::Failed {
            error, recorded, ..
        } => Err((with_receipt(error, &recorded), decision)),
    }
}

/// The status of a recorded call that ends without outputs, with its receipt in the trailing
/// metadata.
fn with_receipt(error: ApiError, recorded: &RecordedCall) -> Status {
    let mut metadata = MetadataMap::new();
    match recorded.receipt_json() {
        Ok(json) => match MetadataValue::try_from(ascii_json(&json)) {
            Ok(v) => {
                metadata.insert(RECEIPT_METADATA, v);
            }
            Err(e) => tracing::error!(error = %e, "a receipt is not valid metadata"),
        },
        Err(e) => tracing::error!(error = %e, "a receipt could not be written"),
    }
    let status = Status::from(error);
    Status::with_metadata(status.code(), status.message(), metadata)
}

/// The same JSON with every non-ASCII character escaped (`\uXXXX`, UTF-16), so that it is a valid
/// ASCII metadata value. Non-ASCII characters occur only inside JSON strings, where the escape
/// means the same character.
fn ascii_json(json: &[u8]) -> String {
    let text = String::from_utf8_lossy(json);
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::ascii_json;

    #[test]
    fn non_ascii_is_escaped_to_the_same_json() {
        let json = r#"{"checkpoint":"origin\n— vouch 𝄞"}"#;
        let ascii = ascii_json(json.as_bytes());
        assert!(ascii.is_ascii());
        let a: serde_json::Value = serde_json::from_str(json).unwrap();
        let b: serde_json::Value = serde_json::from_str(&ascii).unwrap();
        assert_eq!(a, b);
    }
}
