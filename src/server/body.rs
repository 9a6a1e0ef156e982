//! Decoding an inference request body: plain JSON, or the binary tensor data extension (a JSON
//! header of `Inference-Header-Content-Length` bytes followed by the raw tensors of the inputs that
//! carry `parameters.binary_data_size`, in order). The most used v2 client sends binary tensors by
//! default, so both are first-class. Also encodes a response with binary outputs.

use actix_web::http::header::HeaderMap;
use serde_json::{Map, Value};

use super::error::ApiError;
use crate::inference::{InferRequest, InferResponse, TensorData};

/// The header naming the length of the JSON part of a binary-extension body.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// Longest request `id` accepted, in bytes. The id is recorded in the call's ledger entry (which
/// holds at most 16 KiB): a longer one is refused here, before the call is judged, rather than
/// failing to be recorded after it.
pub const MAX_REQUEST_ID: usize = 256;

/// A decoded request, with what the input commitment is computed over.
pub struct Decoded {
    pub request: InferRequest,
    /// RFC 8785 bytes of the request's `inputs` array as the caller sent it (in binary mode:
    /// without the data) — what the input commitment covers; `None` unless asked for.
    pub inputs_jcs: Option<Vec<u8>>,
    /// The binary section of a binary-extension body (empty for JSON).
    pub binary: Vec<u8>,
    /// Whether the caller asked for binary outputs (and which).
    pub binary_outputs: BinaryOutputs,
}

/// Which outputs go back as binary data.
#[derive(Debug, Clone, Default)]
pub struct BinaryOutputs {
    pub all: bool,
    pub names: Vec<String>,
}

impl BinaryOutputs {
    pub fn wants(&self, name: &str) -> bool {
        self.all || self.names.iter().any(|n| n == name)
    }
    pub fn any(&self) -> bool {
        self.all || !self.names.is_empty()
    }
}

/// Why an infer request's body, or what the ledger would keep of it, is refused (`400`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BodyError {
    #[error(
        "the request id holds {0:?}: an id is recorded in the ledger as it is, so it must be an \
         opaque token (letters, digits and . _ : / -), such as a UUID"
    )]
    IdNotToken(char),
    #[error(
        "the {what} looks like personal data ({}): it is recorded in the ledger as it is; use an \
         opaque id",
        kinds.join(", ")
    )]
    PersonalData {
        what: &'static str,
        kinds: Vec<&'static str>,
    },
    #[error("the request id is {0} bytes, more than the {MAX_REQUEST_ID} allowed")]
    IdTooLong(usize),
    #[error("Inference-Header-Content-Length is not a number")]
    HeaderLengthNotNumber,
    #[error("Inference-Header-Content-Length {header} exceeds the body's {body} bytes")]
    HeaderLengthPastBody { header: usize, body: usize },
    #[error("malformed JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error(
        "the JSON part, the first {header} bytes as Inference-Header-Content-Length says, is \
         malformed ({source}): does the header give the JSON part's length?"
    )]
    JsonPart {
        header: usize,
        source: serde_json::Error,
    },
    #[error("the request must be a JSON object")]
    NotObject,
    #[error("inputs: {0}")]
    Inputs(#[source] crate::ledger::EntryError),
    #[error("not an inference request: {0}")]
    NotInferRequest(#[source] serde_json::Error),
    #[error("input {0:?} has binary_data_size but the body has no binary part")]
    NoBinaryPart(String),
    #[error("input {0:?}: binary_data_size must be a non-negative integer")]
    BadBinarySize(String),
    #[error("input {input:?}: binary_data_size {size} exceeds the {left} bytes left")]
    BinaryPastEnd {
        input: String,
        size: usize,
        left: usize,
    },
    #[error("input {0:?} has both data and binary_data_size")]
    DataAndBinary(String),
    #[error("{0} bytes of binary data belong to no input")]
    BinaryLeftOver(usize),
    #[error("parameters.binary_data_output must be a boolean")]
    BinaryDataOutputNotBool,
    #[error("outputs[].parameters.binary_data must be a boolean")]
    BinaryDataNotBool,
}

fn bad(e: BodyError) -> ApiError {
    ApiError::Body(e)
}

/// Checks the content type: JSON, none, or anything with the binary header.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    // The input commitment covers the body as sent; a compressed body would make the caller
    // open it from bytes it never kept. Refused rather than silently inflated.
    if let Some(enc) = headers.get(actix_web::http::header::CONTENT_ENCODING) {
        let enc = enc.to_str().unwrap_or("?").trim().to_ascii_lowercase();
        if enc != "identity" {
            return Err(ApiError::UnsupportedEncoding(enc));
        }
    }
    if headers.contains_key(HEADER_LENGTH) {
        return Ok(());
    }
    match headers.get(actix_web::http::header::CONTENT_TYPE) {
        None => Ok(()),
        Some(v) => {
            let v = v.to_str().unwrap_or("").to_ascii_lowercase();
            let essence = v.split(';').next().unwrap_or("").trim();
            if essence == "application/json" || essence.ends_with("+json") {
                Ok(())
            } else {
                Err(ApiError::UnsupportedMediaType(essence.to_string()))
            }
        }
    }
}

/// Checks what the ledger keeps verbatim of a call — its request `id` and declared `purpose` —
/// for personal data: the ledger is append-only and holds no data, only commitments, so a call
/// whose id or purpose spells an address, a number or a name is refused (`400`) before anything
/// runs, rather than kept forever. An id is an opaque token: letters, digits and `. _ : / -`.
pub fn check_recorded_texts(id: Option<&str>, purpose: Option<&str>) -> Result<(), ApiError> {
    if let Some(id) = id {
        if let Some(c) = id
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '/' | '-')))
        {
            return Err(bad(BodyError::IdNotToken(c)));
        }
    }
    for (what, text) in [("request id", id), ("purpose", purpose)] {
        let Some(text) = text else { continue };
        let found = crate::policy::detect::scan([text]);
        if !found.is_empty() {
            return Err(bad(BodyError::PersonalData {
                what,
                kinds: found.kind_names(),
            }));
        }
    }
    Ok(())
}

/// Decodes the body of an infer request; with `commit`, also the canonical bytes of `inputs`.
pub fn decode(headers: &HeaderMap, body: &[u8], commit: bool) -> Result<Decoded, ApiError> {
    let json_len = match headers.get(HEADER_LENGTH) {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or(bad(BodyError::HeaderLengthNotNumber))?,
        ),
    };
    let (json, binary) = match json_len {
        None => (body, &[][..]),
        Some(n) if n <= body.len() => body.split_at(n),
        Some(n) => {
            return Err(bad(BodyError::HeaderLengthPastBody {
                header: n,
                body: body.len(),
            }))
        }
    };
    let mut value: Value = serde_json::from_slice(json).map_err(|e| match json_len {
        None => bad(BodyError::Json(e)),
        Some(header) => bad(BodyError::JsonPart { header, source: e }),
    })?;
    let obj = value.as_object_mut().ok_or(bad(BodyError::NotObject))?;
    let inputs_jcs = match commit {
        false => None,
        true => Some(
            crate::ledger::canonical_json(obj.get("inputs").unwrap_or(&Value::Null))
                .map_err(|e| bad(BodyError::Inputs(e)))?,
        ),
    };
    let binary_outputs = binary_outputs(obj)?;
    let mut request: InferRequest =
        serde_json::from_value(value).map_err(|e| bad(BodyError::NotInferRequest(e)))?;
    if let Some(id) = request.id.as_deref().filter(|id| id.len() > MAX_REQUEST_ID) {
        return Err(bad(BodyError::IdTooLong(id.len())));
    }
    // Hand each binary input its bytes.
    let mut rest = binary;
    for input in &mut request.inputs {
        let size = input
            .parameters
            .as_ref()
            .and_then(|p| p.get("binary_data_size"));
        let Some(size) = size else { continue };
        if json_len.is_none() {
            return Err(bad(BodyError::NoBinaryPart(input.name.clone())));
        }
        let size = size
            .as_u64()
            .and_then(|s| usize::try_from(s).ok())
            .ok_or_else(|| bad(BodyError::BadBinarySize(input.name.clone())))?;
        if size > rest.len() {
            return Err(bad(BodyError::BinaryPastEnd {
                input: input.name.clone(),
                size,
                left: rest.len(),
            }));
        }
        if !matches!(input.data, TensorData::Json(Value::Null)) {
            return Err(bad(BodyError::DataAndBinary(input.name.clone())));
        }
        let (mine, after) = rest.split_at(size);
        input.data = TensorData::Binary(mine.to_vec());
        rest = after;
    }
    if !rest.is_empty() {
        return Err(bad(BodyError::BinaryLeftOver(rest.len())));
    }
    Ok(Decoded {
        request,
        inputs_jcs,
        binary: binary.to_vec(),
        binary_outputs,
    })
}

fn binary_outputs(obj: &Map<String, Value>) -> Result<BinaryOutputs, ApiError> {
    let mut out = BinaryOutputs::default();
    if let Some(p) = obj.get("parameters").and_then(Value::as_object) {
        match p.get("binary_data_output") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => out.all = *b,
            Some(_) => return Err(bad(BodyError::BinaryDataOutputNotBool)),
        }
    }
    if let Some(Value::Array(outputs)) = obj.get("outputs") {
        for o in outputs {
            let binary = o.get("parameters").and_then(|p| p.get("binary_data"));
            match binary {
                None | Some(Value::Null) | Some(Value::Bool(false)) => {}
                Some(Value::Bool(true)) => {
                    if let Some(name) = o.get("name").and_then(Value::as_str) {
                        out.names.push(name.to_string());
                    }
                }
                Some(_) => return Err(bad(BodyError::BinaryDataNotBool)),
            }
        }
    }
    Ok(out)
}

/// Moves the chosen outputs' data into a binary section; returns it (empty if none).
pub fn encode_binary_outputs(response: &mut InferResponse, which: &BinaryOutputs) -> Vec<u8> {
    let mut binary = Vec::new();
    if !which.any() {
        return binary;
    }
    for o in &mut response.outputs {
        if !which.wants(&o.name) {
            continue;
        }
        if let Some(bytes) = o.to_binary() {
            o.parameters
                .get_or_insert_with(Map::new)
                .insert("binary_data_size".into(), Value::from(bytes.len()));
            o.data = TensorData::Binary(Vec::new());
            binary.extend_from_slice(&bytes);
        }
    }
    binary
}
