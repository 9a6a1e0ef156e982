//! The input and output commitments of a gRPC call (`docs/LEDGER.md`, "Commitments"), computed
//! here for the server and for `vouch receipt verify` alike, so both hash the same bytes:
//!
//! - input = H(nonce ‖ JCS(inputs header) ‖ `raw_input_contents[0]` ‖ `raw_input_contents[1]` ‖ …)
//! - output = H(nonce ‖ JCS(outputs header) ‖ `raw_output_contents[0]` ‖ …)
//!
//! where a header is the array of the message's tensors in their v2 JSON form — `name`,
//! `datatype`, `shape`, `parameters` (when the tensor has any), and `data` (the elements of its
//! typed `contents`, when it has them) — mirroring the REST binary extension (JSON header, then the
//! raw bytes). Also reads a request or response written in protobuf's JSON mapping, to open them.
//!
//! Nothing here panics on what it reads.

use std::collections::HashMap;

use prost_reflect::{DescriptorPool, DynamicMessage};
use serde_json::{Map, Value};

use super::proto::{
    infer_parameter::ParameterChoice, InferParameter, InferTensorContents, ModelInferRequest,
    ModelInferResponse,
};
use crate::inference::{Datatype, TensorValues};
use crate::ledger::{canonical_json, commit_parts, EntryError, Hash};

/// Why a commitment cannot be computed, or a message not read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommitmentError {
    /// Typed contents in a datatype that has no typed field (or that vouch does not know).
    #[error("tensor {tensor:?}: datatype {datatype:?} cannot travel in typed contents")]
    NoContentsField { tensor: String, datatype: String },
    /// A BYTES element of typed contents that is not UTF-8 (v2 BYTES in JSON are strings).
    #[error("tensor {tensor:?}: BYTES element {index} is not UTF-8")]
    NotUtf8 { tensor: String, index: usize },
    /// A number the canonical form cannot write.
    #[error("{0}")]
    Canonical(#[from] EntryError),
    /// The descriptors built into vouch do not decode (a build fault).
    #[error("the built-in protobuf descriptors: {0}")]
    Descriptors(#[from] prost_reflect::DescriptorError),
    /// The built-in descriptors lack a message (a build fault).
    #[error("the built-in protobuf descriptors have no inference.{0}")]
    MissingMessage(&'static str),
    /// Not the message in protobuf's JSON mapping.
    #[error("not an inference.{message} in protobuf's JSON mapping: {source}")]
    Json {
        message: &'static str,
        source: serde_json::Error,
    },
    /// Read as JSON, but not re-encoded as the message.
    #[error("inference.{message}: {source}")]
    Transcode {
        message: &'static str,
        source: prost::DecodeError,
    },
}

/// One tensor of a request or response, as the header sees it.
struct TensorView<'a> {
    name: &'a str,
    datatype: &'a str,
    shape: &'a [i64],
    parameters: &'a HashMap<String, InferParameter>,
    contents: Option<&'a InferTensorContents>,
}

/// A parameter value in its v2 JSON form (`null` for an unset value).
pub fn parameter_json(p: &InferParameter) -> Value {
    match &p.parameter_choice {
        None => Value::Null,
        Some(ParameterChoice::BoolParam(b)) => Value::Bool(*b),
        Some(ParameterChoice::Int64Param(i)) => Value::from(*i),
        Some(ParameterChoice::StringParam(s)) => Value::String(s.clone()),
        Some(ParameterChoice::DoubleParam(d)) => Value::from(*d),
        Some(ParameterChoice::Uint64Param(u)) => Value::from(*u),
    }
}

/// A parameter map in its v2 JSON form.
pub fn parameters_json(parameters: &HashMap<String, InferParameter>) -> Map<String, Value> {
    parameters
        .iter()
        .map(|(k, v)| (k.clone(), parameter_json(v)))
        .collect()
}

/// The elements of the typed field that `datatype` uses, as v2 JSON `data` (a flat array, numbers
/// as the REST responses write them).
fn contents_json(
    tensor: &str,
    datatype: &str,
    c: &InferTensorContents,
) -> Result<Value, CommitmentError> {
    let no_field = || CommitmentError::NoContentsField {
        tensor: tensor.to_string(),
        datatype: datatype.to_string(),
    };
    let values = match datatype.parse::<Datatype>().map_err(|_| no_field())? {
        Datatype::Bool => TensorValues::Bool(c.bool_contents.clone()),
        Datatype::Uint8 | Datatype::Uint16 | Datatype::Uint32 => {
            TensorValues::Uint32(c.uint_contents.clone())
        }
        Datatype::Uint64 => TensorValues::Uint64(c.uint64_contents.clone()),
        Datatype::Int8 | Datatype::Int16 | Datatype::Int32 => {
            TensorValues::Int32(c.int_contents.clone())
        }
        Datatype::Int64 => TensorValues::Int64(c.int64_contents.clone()),
        Datatype::Fp32 => TensorValues::Fp32(c.fp32_contents.clone()),
        Datatype::Fp64 => TensorValues::Fp64(c.fp64_contents.clone()),
        Datatype::Bytes => TensorValues::Bytes(
            c.bytes_contents
                .iter()
                .enumerate()
                .map(|(index, b)| {
                    String::from_utf8(b.clone()).map_err(|_| CommitmentError::NotUtf8 {
                        tensor: tensor.to_string(),
                        index,
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    serde_json::to_value(values).map_err(|source| CommitmentError::Json {
        message: "InferTensorContents",
        source,
    })
}

fn tensor_json(t: &TensorView<'_>) -> Result<Value, CommitmentError> {
    let mut o = Map::new();
    o.insert("name".into(), Value::from(t.name));
    o.insert("datatype".into(), Value::from(t.datatype));
    o.insert("shape".into(), Value::from(t.shape.to_vec()));
    if !t.parameters.is_empty() {
        o.insert(
            "parameters".into(),
            Value::Object(parameters_json(t.parameters)),
        );
    }
    if let Some(c) = t.contents {
        o.insert("data".into(), contents_json(t.name, t.datatype, c)?);
    }
    Ok(Value::Object(o))
}

fn header<'a>(tensors: impl Iterator<Item = TensorView<'a>>) -> Result<Vec<u8>, CommitmentError> {
    let array = tensors
        .map(|t| tensor_json(&t))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(canonical_json(&Value::Array(array))?)
}

/// RFC 8785 bytes of a request's inputs header.
pub fn inputs_header(request: &ModelInferRequest) -> Result<Vec<u8>, CommitmentError> {
    header(request.inputs.iter().map(|t| TensorView {
        name: &t.name,
        datatype: &t.datatype,
        shape: &t.shape,
        parameters: &t.parameters,
        contents: t.contents.as_ref(),
    }))
}

/// RFC 8785 bytes of a response's outputs header.
pub fn outputs_header(response: &ModelInferResponse) -> Result<Vec<u8>, CommitmentError> {
    header(response.outputs.iter().map(|t| TensorView {
        name: &t.name,
        datatype: &t.datatype,
        shape: &t.shape,
        parameters: &t.parameters,
        contents: t.contents.as_ref(),
    }))
}

fn commit_with_raw(nonce: &[u8; 32], header: &[u8], raw: &[Vec<u8>]) -> Hash {
    let mut parts: Vec<&[u8]> = Vec::with_capacity(raw.len() + 1);
    parts.push(header);
    parts.extend(raw.iter().map(Vec::as_slice));
    commit_parts(nonce, &parts)
}

/// The input commitment of a gRPC request.
pub fn input_commitment(
    nonce: &[u8; 32],
    request: &ModelInferRequest,
) -> Result<Hash, CommitmentError> {
    Ok(commit_with_raw(
        nonce,
        &inputs_header(request)?,
        &request.raw_input_contents,
    ))
}

/// The output commitment of a gRPC response (its `parameters`, where the receipt travels, are not
/// covered: only its outputs).
pub fn output_commitment(
    nonce: &[u8; 32],
    response: &ModelInferResponse,
) -> Result<Hash, CommitmentError> {
    Ok(commit_with_raw(
        nonce,
        &outputs_header(response)?,
        &response.raw_output_contents,
    ))
}

fn from_json<T: prost::Message + Default>(
    message: &'static str,
    json: Value,
) -> Result<T, CommitmentError> {
    let pool = DescriptorPool::decode(super::proto::DESCRIPTORS)?;
    let descriptor = pool
        .get_message_by_name(&format!("inference.{message}"))
        .ok_or(CommitmentError::MissingMessage(message))?;
    let dynamic = DynamicMessage::deserialize(descriptor, json)
        .map_err(|source| CommitmentError::Json { message, source })?;
    dynamic
        .transcode_to::<T>()
        .map_err(|source| CommitmentError::Transcode { message, source })
}

/// A `ModelInferRequest` written in protobuf's JSON mapping (e.g. by Python's
/// `google.protobuf.json_format.MessageToJson`: camelCase or original field names, bytes in
/// base64, 64-bit integers as strings or numbers).
pub fn request_from_json(json: Value) -> Result<ModelInferRequest, CommitmentError> {
    from_json("ModelInferRequest", json)
}

/// A `ModelInferResponse` written in protobuf's JSON mapping.
pub fn response_from_json(json: Value) -> Result<ModelInferResponse, CommitmentError> {
    from_json("ModelInferResponse", json)
}

/// The receipt a gRPC response written as JSON carries, in its `receipt` parameter.
pub fn receipt_in_response(json: &Value) -> Option<&str> {
    let p = json.get("parameters")?.get("receipt")?;
    p.get("stringParam")
        .or_else(|| p.get("string_param"))?
        .as_str()
}

#[cfg(test)]
mod tests {
    use super::super::proto::model_infer_request::InferInputTensor;
    use super::*;

    fn param(choice: ParameterChoice) -> InferParameter {
        InferParameter {
            parameter_choice: Some(choice),
        }
    }

    fn request() -> ModelInferRequest {
        ModelInferRequest {
            model_name: "m".into(),
            inputs: vec![
                InferInputTensor {
                    name: "x".into(),
                    datatype: "FP32".into(),
                    shape: vec![1, 2],
                    parameters: [("p".to_string(), param(ParameterChoice::BoolParam(true)))].into(),
                    contents: Some(InferTensorContents {
                        fp32_contents: vec![0.1, 2.5],
                        ..Default::default()
                    }),
                },
                InferInputTensor {
                    name: "t".into(),
                    datatype: "BYTES".into(),
                    shape: vec![1],
                    contents: Some(InferTensorContents {
                        bytes_contents: vec![b"h\xc3\xa9".to_vec()],
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn the_header_is_the_v2_json_form_in_rfc_8785() {
        let header = inputs_header(&request()).unwrap();
        assert_eq!(
            String::from_utf8(header).unwrap(),
            r#"[{"data":[0.1,2.5],"datatype":"FP32","name":"x","parameters":{"p":true},"shape":[1,2]},{"data":["hé"],"datatype":"BYTES","name":"t","shape":[1]}]"#
        );
        // Raw inputs: no data, and the bytes follow the header.
        let raw = ModelInferRequest {
            inputs: vec![InferInputTensor {
                name: "x".into(),
                datatype: "FP32".into(),
                shape: vec![1],
                ..Default::default()
            }],
            raw_input_contents: vec![1.5f32.to_le_bytes().to_vec()],
            ..Default::default()
        };
        let nonce = [7u8; 32];
        let header = br#"[{"datatype":"FP32","name":"x","shape":[1]}]"#;
        assert_eq!(
            input_commitment(&nonce, &raw).unwrap(),
            commit_parts(&nonce, &[header, &1.5f32.to_le_bytes()])
        );
    }

    /// The message as protobuf's JSON mapping writes it (camelCase, int64 as strings, bytes in
    /// base64), through the descriptors built into vouch.
    fn to_proto_json<T: prost::Message>(message: &str, m: &T) -> Value {
        let pool = DescriptorPool::decode(super::super::proto::DESCRIPTORS).unwrap();
        let desc = pool
            .get_message_by_name(&format!("inference.{message}"))
            .unwrap();
        let dynamic = DynamicMessage::decode(desc, m.encode_to_vec().as_slice()).unwrap();
        serde_json::to_value(&dynamic).unwrap()
    }

    #[test]
    fn a_request_written_as_json_opens_the_same_commitment() {
        let nonce = [3u8; 32];
        let mut req = request();
        req.raw_input_contents.clear();
        let json = to_proto_json("ModelInferRequest", &req);
        assert!(
            json["inputs"][0]["contents"]["fp32Contents"].is_array(),
            "{json}"
        );
        assert_eq!(
            json["inputs"][0]["shape"][0], "1",
            "int64 as a string: {json}"
        );
        let back = request_from_json(json.clone()).unwrap();
        assert_eq!(
            input_commitment(&nonce, &back).unwrap(),
            input_commitment(&nonce, &req).unwrap()
        );
        // One element changed: another commitment.
        let mut altered = json;
        altered["inputs"][0]["contents"]["fp32Contents"][1] = Value::from(2.25);
        let altered = request_from_json(altered).unwrap();
        assert_ne!(
            input_commitment(&nonce, &altered).unwrap(),
            input_commitment(&nonce, &req).unwrap()
        );
    }

    #[test]
    fn a_response_written_as_json_opens_the_same_commitment_and_carries_its_receipt() {
        use super::super::proto::model_infer_response::InferOutputTensor;
        let nonce = [9u8; 32];
        let resp = ModelInferResponse {
            model_name: "m".into(),
            outputs: vec![InferOutputTensor {
                name: "p".into(),
                datatype: "FP32".into(),
                shape: vec![1, 2],
                ..Default::default()
            }],
            raw_output_contents: vec![[0.25f32, 0.75]
                .iter()
                .flat_map(|x| x.to_le_bytes())
                .collect()],
            parameters: [(
                "receipt".to_string(),
                param(ParameterChoice::StringParam("{\"v\":1}".into())),
            )]
            .into(),
            ..Default::default()
        };
        let json = to_proto_json("ModelInferResponse", &resp);
        assert_eq!(receipt_in_response(&json), Some("{\"v\":1}"));
        let back = response_from_json(json).unwrap();
        assert_eq!(
            output_commitment(&nonce, &back).unwrap(),
            output_commitment(&nonce, &resp).unwrap()
        );
    }

    #[test]
    fn what_cannot_be_read_is_an_error_not_a_panic() {
        assert!(matches!(
            request_from_json(serde_json::json!({"inputs": "nope"})),
            Err(CommitmentError::Json { .. })
        ));
        let mut req = request();
        req.inputs[1].contents = Some(InferTensorContents {
            bytes_contents: vec![vec![0xff]],
            ..Default::default()
        });
        assert!(matches!(
            inputs_header(&req),
            Err(CommitmentError::NotUtf8 { index: 0, .. })
        ));
        req.inputs[1].datatype = "FP16".into();
        assert!(matches!(
            inputs_header(&req),
            Err(CommitmentError::NoContentsField { .. })
        ));
    }
}
