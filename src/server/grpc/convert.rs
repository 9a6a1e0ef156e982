//! Between the gRPC messages and the v2 request and response the pipeline works on: a
//! `ModelInferRequest` becomes an [`InferRequest`] whose inputs carry binary tensor data (from
//! `raw_input_contents`, or packed from the typed `contents`), and an [`InferResponse`] becomes a
//! `ModelInferResponse` in raw or typed form, as the request was.
//!
//! What a client sends is checked here only as far as the conversion needs; shapes, element counts
//! and values are checked against the model by the registry. Nothing here panics on input, and
//! nothing grows beyond a small multiple of the message, which tonic has already capped.

use serde_json::{Map, Value};

use super::commitment::{self, parameters_json};
use super::proto::{
    infer_parameter::ParameterChoice, model_infer_response::InferOutputTensor, InferParameter,
    InferTensorContents, ModelInferRequest, ModelInferResponse,
};
use crate::inference::{
    Datatype, InferInput, InferRequest, InferResponse, RequestedOutput, TensorData, TensorValues,
};
use crate::server::body::MAX_REQUEST_ID;
use crate::server::{ApiError, Internal};

/// Why a `ModelInferRequest` is refused (`INVALID_ARGUMENT`), or an answer cannot be sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    #[error("the request id is {0} bytes, more than the {MAX_REQUEST_ID} allowed")]
    IdTooLong(usize),
    #[error("raw_input_contents has {raw} entries for {inputs} inputs: it needs one per input")]
    RawCount { raw: usize, inputs: usize },
    #[error(
        "input {0:?} has contents, but the request carries raw_input_contents: use one or the other"
    )]
    ContentsAndRaw(String),
    #[error(transparent)]
    Commitment(#[from] super::commitment::CommitmentError),
    #[error(
        "input {name:?}: datatype {datatype:?} cannot travel in contents (send raw_input_contents)"
    )]
    NoContentsFor { name: String, datatype: String },
    #[error("input {name:?}: a {datatype} tensor's contents go in its own typed field only")]
    ContentsElsewhere { name: String, datatype: String },
    #[error("input {name:?}: element {index} does not fit {datatype}")]
    DoesNotFit {
        name: String,
        index: usize,
        datatype: String,
    },
}

fn bad(e: ConvertError) -> ApiError {
    ApiError::Grpc(e)
}

/// A decoded `ModelInferRequest`, with what its input commitment covers.
pub(super) struct Decoded {
    /// The request, its `parameters` taken out.
    pub request: InferRequest,
    /// The request parameters in their v2 JSON form.
    pub parameters: Map<String, Value>,
    /// RFC 8785 bytes of the inputs header (empty unless asked for).
    pub header: Vec<u8>,
    /// `raw_input_contents` as sent.
    pub raw: Vec<Vec<u8>>,
    /// Whether the inputs came raw: the outputs then go back raw too.
    pub raw_mode: bool,
}

/// The request parameters as the rules read them: as v2 JSON, with `data_categories` (which the
/// gRPC parameter types cannot hold as a list) given as a comma-separated string.
fn request_parameters(
    parameters: &std::collections::HashMap<String, InferParameter>,
) -> Map<String, Value> {
    let mut map = parameters_json(parameters);
    if let Some(Value::String(s)) = map.get("data_categories") {
        let list: Vec<Value> = s
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .map(Value::from)
            .collect();
        map.insert("data_categories".into(), Value::Array(list));
    }
    map
}

/// Decodes a request; with `commit`, also the canonical bytes of its inputs header.
pub(super) fn decode(msg: ModelInferRequest, commit: bool) -> Result<Decoded, ApiError> {
    if msg.id.len() > MAX_REQUEST_ID {
        return Err(bad(ConvertError::IdTooLong(msg.id.len())));
    }
    let raw_mode = !msg.raw_input_contents.is_empty();
    if raw_mode {
        if msg.raw_input_contents.len() != msg.inputs.len() {
            return Err(bad(ConvertError::RawCount {
                raw: msg.raw_input_contents.len(),
                inputs: msg.inputs.len(),
            }));
        }
        if let Some(t) = msg.inputs.iter().find(|t| t.contents.is_some()) {
            return Err(bad(ConvertError::ContentsAndRaw(t.name.clone())));
        }
    }
    let header = if commit {
        commitment::inputs_header(&msg).map_err(|e| bad(e.into()))?
    } else {
        Vec::new()
    };
    let parameters = request_parameters(&msg.parameters);
    let mut inputs = Vec::with_capacity(msg.inputs.len());
    for (i, t) in msg.inputs.into_iter().enumerate() {
        let data = if raw_mode {
            msg.raw_input_contents.get(i).cloned().unwrap_or_default()
        } else {
            pack(&t.name, &t.datatype, &t.contents.unwrap_or_default())?
        };
        inputs.push(InferInput {
            name: t.name,
            shape: t.shape,
            datatype: t.datatype,
            parameters: (!t.parameters.is_empty()).then(|| parameters_json(&t.parameters)),
            data: TensorData::Binary(data),
        });
    }
    let outputs = (!msg.outputs.is_empty()).then(|| {
        msg.outputs
            .into_iter()
            .map(|o| RequestedOutput {
                name: o.name,
                parameters: (!o.parameters.is_empty()).then(|| parameters_json(&o.parameters)),
            })
            .collect()
    });
    Ok(Decoded {
        request: InferRequest {
            id: (!msg.id.is_empty()).then_some(msg.id),
            parameters: None,
            inputs,
            outputs,
        },
        parameters,
        header,
        raw: msg.raw_input_contents,
        raw_mode,
    })
}

/// Packs typed contents into the binary tensor form (little-endian; BYTES length-prefixed).
/// Only the field of the tensor's datatype may hold elements; narrow integers must fit.
fn pack(name: &str, datatype: &str, c: &InferTensorContents) -> Result<Vec<u8>, ApiError> {
    let dt: Datatype = datatype.parse().map_err(|_| {
        bad(ConvertError::NoContentsFor {
            name: name.to_string(),
            datatype: datatype.to_string(),
        })
    })?;
    let total = c.bool_contents.len()
        + c.int_contents.len()
        + c.int64_contents.len()
        + c.uint_contents.len()
        + c.uint64_contents.len()
        + c.fp32_contents.len()
        + c.fp64_contents.len()
        + c.bytes_contents.len();
    let mine = match dt {
        Datatype::Bool => c.bool_contents.len(),
        Datatype::Uint8 | Datatype::Uint16 | Datatype::Uint32 => c.uint_contents.len(),
        Datatype::Uint64 => c.uint64_contents.len(),
        Datatype::Int8 | Datatype::Int16 | Datatype::Int32 => c.int_contents.len(),
        Datatype::Int64 => c.int64_contents.len(),
        Datatype::Fp32 => c.fp32_contents.len(),
        Datatype::Fp64 => c.fp64_contents.len(),
        Datatype::Bytes => c.bytes_contents.len(),
    };
    if mine != total {
        return Err(bad(ConvertError::ContentsElsewhere {
            name: name.to_string(),
            datatype: datatype.to_string(),
        }));
    }
    let range = |index: usize| {
        bad(ConvertError::DoesNotFit {
            name: name.to_string(),
            index,
            datatype: datatype.to_string(),
        })
    };
    let mut out = Vec::with_capacity(total.saturating_mul(dt.element_size().unwrap_or(8)));
    match dt {
        Datatype::Bool => out.extend(c.bool_contents.iter().map(|b| u8::from(*b))),
        Datatype::Uint8 => {
            for (i, v) in c.uint_contents.iter().enumerate() {
                out.push(u8::try_from(*v).map_err(|_| range(i))?);
            }
        }
        Datatype::Uint16 => {
            for (i, v) in c.uint_contents.iter().enumerate() {
                out.extend(u16::try_from(*v).map_err(|_| range(i))?.to_le_bytes());
            }
        }
        Datatype::Uint32 => c
            .uint_contents
            .iter()
            .for_each(|v| out.extend(v.to_le_bytes())),
        Datatype::Uint64 => c
            .uint64_contents
            .iter()
            .for_each(|v| out.extend(v.to_le_bytes())),
        Datatype::Int8 => {
            for (i, v) in c.int_contents.iter().enumerate() {
                out.extend(i8::try_from(*v).map_err(|_| range(i))?.to_le_bytes());
            }
        }
        Datatype::Int16 => {
            for (i, v) in c.int_contents.iter().enumerate() {
                out.extend(i16::try_from(*v).map_err(|_| range(i))?.to_le_bytes());
            }
        }
        Datatype::Int32 => c
            .int_contents
            .iter()
            .for_each(|v| out.extend(v.to_le_bytes())),
        Datatype::Int64 => c
            .int64_contents
            .iter()
            .for_each(|v| out.extend(v.to_le_bytes())),
        Datatype::Fp32 => c
            .fp32_contents
            .iter()
            .for_each(|v| out.extend(v.to_le_bytes())),
        Datatype::Fp64 => c
            .fp64_contents
            .iter()
            .for_each(|v| out.extend(v.to_le_bytes())),
        Datatype::Bytes => {
            for (i, b) in c.bytes_contents.iter().enumerate() {
                let len = u32::try_from(b.len()).map_err(|_| range(i))?;
                out.extend(len.to_le_bytes());
                out.extend_from_slice(b);
            }
        }
    }
    Ok(out)
}

/// A response parameter as gRPC carries it (`None` for JSON values it has no type for).
fn parameter(value: &Value) -> Option<InferParameter> {
    let choice = match value {
        Value::Bool(b) => ParameterChoice::BoolParam(*b),
        Value::String(s) => ParameterChoice::StringParam(s.clone()),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => ParameterChoice::Int64Param(i),
            (None, Some(u), _) => ParameterChoice::Uint64Param(u),
            (None, None, Some(d)) => ParameterChoice::DoubleParam(d),
            _ => return None,
        },
        _ => return None,
    };
    Some(InferParameter {
        parameter_choice: Some(choice),
    })
}

/// A string parameter.
pub(super) fn string_parameter(s: impl Into<String>) -> InferParameter {
    InferParameter {
        parameter_choice: Some(ParameterChoice::StringParam(s.into())),
    }
}

fn contents(values: TensorValues) -> InferTensorContents {
    let mut c = InferTensorContents::default();
    match values {
        TensorValues::Bool(v) => c.bool_contents = v,
        TensorValues::Uint8(v) => c.uint_contents = v.into_iter().map(u32::from).collect(),
        TensorValues::Uint16(v) => c.uint_contents = v.into_iter().map(u32::from).collect(),
        TensorValues::Uint32(v) => c.uint_contents = v,
        TensorValues::Uint64(v) => c.uint64_contents = v,
        TensorValues::Int8(v) => c.int_contents = v.into_iter().map(i32::from).collect(),
        TensorValues::Int16(v) => c.int_contents = v.into_iter().map(i32::from).collect(),
        TensorValues::Int32(v) => c.int_contents = v,
        TensorValues::Int64(v) => c.int64_contents = v,
        TensorValues::Fp32(v) => c.fp32_contents = v,
        TensorValues::Fp64(v) => c.fp64_contents = v,
        TensorValues::Bytes(v) => {
            c.bytes_contents = v.into_iter().map(String::into_bytes).collect()
        }
    }
    c
}

/// The gRPC form of a response: outputs raw (`raw_output_contents`) or typed (`contents`).
pub(super) fn encode(response: InferResponse, raw: bool) -> Result<ModelInferResponse, ApiError> {
    let mut out = ModelInferResponse {
        model_name: response.model_name,
        model_version: response.model_version,
        id: response.id.unwrap_or_default(),
        parameters: Default::default(),
        outputs: Vec::with_capacity(response.outputs.len()),
        raw_output_contents: Vec::new(),
    };
    for o in response.outputs {
        let parameters = o
            .parameters
            .iter()
            .flatten()
            .filter_map(|(k, v)| parameter(v).map(|p| (k.clone(), p)))
            .collect();
        let values = match o.data {
            TensorData::Values(v) => v,
            TensorData::Binary(_) | TensorData::Json(_) => {
                return Err(Internal::OutputNotTyped(o.name).into())
            }
        };
        let contents = if raw {
            out.raw_output_contents.push(values.to_binary());
            None
        } else {
            Some(contents(values))
        };
        out.outputs.push(InferOutputTensor {
            name: o.name,
            datatype: o.datatype.as_str().to_string(),
            shape: o.shape,
            parameters,
            contents,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::proto::model_infer_request::InferInputTensor;
    use super::*;

    fn contents(f: impl FnOnce(&mut InferTensorContents)) -> InferTensorContents {
        let mut c = InferTensorContents::default();
        f(&mut c);
        c
    }

    #[test]
    fn typed_contents_pack_into_the_binary_form() {
        let c = contents(|c| c.uint_contents = vec![1, 0x0203]);
        assert_eq!(pack("x", "UINT16", &c).unwrap(), vec![1, 0, 3, 2]);
        let c = contents(|c| c.int_contents = vec![-1, 5]);
        assert_eq!(pack("x", "INT8", &c).unwrap(), vec![0xff, 5]);
        let c = contents(|c| c.bytes_contents = vec![b"ab".to_vec()]);
        assert_eq!(
            pack("x", "BYTES", &c).unwrap(),
            vec![2, 0, 0, 0, b'a', b'b']
        );
        let c = contents(|c| c.bool_contents = vec![true, false]);
        assert_eq!(pack("x", "BOOL", &c).unwrap(), vec![1, 0]);
    }

    #[test]
    fn contents_that_do_not_fit_are_refused() {
        let too_big = contents(|c| c.int_contents = vec![1, 128]);
        let err = pack("x", "INT8", &too_big).unwrap_err().to_string();
        assert!(err.contains("element 1 does not fit INT8"), "{err}");
        let wrong_field = contents(|c| {
            c.fp32_contents = vec![1.0];
            c.int64_contents = vec![1];
        });
        assert!(pack("x", "FP32", &wrong_field).is_err());
        assert!(pack("x", "FP16", &InferTensorContents::default()).is_err());
    }

    #[test]
    fn data_categories_arrive_comma_separated() {
        let msg = ModelInferRequest {
            model_name: "m".into(),
            parameters: [(
                "data_categories".to_string(),
                string_parameter("health, personal,"),
            )]
            .into(),
            inputs: vec![InferInputTensor {
                name: "x".into(),
                datatype: "FP32".into(),
                shape: vec![1],
                contents: Some(contents(|c| c.fp32_contents = vec![1.0])),
                ..Default::default()
            }],
            ..Default::default()
        };
        let d = decode(msg, true).unwrap();
        assert_eq!(
            d.parameters["data_categories"],
            serde_json::json!(["health", "personal"])
        );
        assert!(!d.raw_mode);
        assert_eq!(
            d.request.inputs[0].data,
            TensorData::Binary(1.0f32.to_le_bytes().to_vec())
        );
        assert!(!d.header.is_empty());
    }
}
