//! The Open Inference Protocol v2 (KServe) inference request and response, as serde types that
//! read and write exactly the protocol's JSON. Tensor `data` stays as the client sent it until the
//! registry checks it against the model; binary tensor data (the protocol's binary extension) is
//! plugged in by the service as [`TensorData::Binary`].

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::tensor::{bytes_elements, flatten, Datatype, TensorValues};

/// `POST /v2/models/{name}[/versions/{version}]/infer` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Map<String, Value>>,
    pub inputs: Vec<InferInput>,
    /// Outputs to return; all of them, in the manifest's order, when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<RequestedOutput>>,
}

/// One input tensor of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferInput {
    pub name: String,
    pub shape: Vec<i64>,
    /// v2 datatype name, e.g. `FP32`; checked against the model, so an unknown name is a precise
    /// error rather than a JSON parse failure.
    pub datatype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Map<String, Value>>,
    /// Absent in JSON when the tensor travels as binary data.
    #[serde(default, skip_serializing_if = "TensorData::is_binary")]
    pub data: TensorData,
}

/// One entry of a request's `outputs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestedOutput {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Map<String, Value>>,
}

/// The answer to an inference request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferResponse {
    pub model_name: String,
    pub model_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Map<String, Value>>,
    pub outputs: Vec<InferOutput>,
}

/// One output tensor of a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferOutput {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: Datatype,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "TensorData::is_binary")]
    pub data: TensorData,
}

/// A tensor's elements.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// v2 JSON `data` as received, flat or nested; read against the model's datatype when the
    /// request is checked. `Null` means no data was given.
    Json(Value),
    /// Binary tensor data: fixed-size elements packed little-endian, BYTES elements each a 4-byte
    /// little-endian length followed by the bytes.
    Binary(Vec<u8>),
    /// Typed elements in row-major order; what the registry puts in responses. Serialises as a
    /// flat JSON array.
    Values(TensorValues),
}

impl Default for TensorData {
    fn default() -> Self {
        TensorData::Json(Value::Null)
    }
}

impl TensorData {
    pub fn is_binary(&self) -> bool {
        matches!(self, TensorData::Binary(_))
    }
}

impl Serialize for TensorData {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            TensorData::Json(v) => v.serialize(serializer),
            TensorData::Values(v) => v.serialize(serializer),
            TensorData::Binary(_) => Err(serde::ser::Error::custom(
                "binary tensor data has no JSON form; send it in the binary section",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for TensorData {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(TensorData::Json)
    }
}

impl InferRequest {
    /// The strings of every BYTES input, for the personal-data detectors, in input order. Reads
    /// leniently (it runs before the request is checked against the model): elements that are not
    /// strings, or binary elements that are not UTF-8, are skipped — such a request is refused
    /// when it is checked.
    pub fn text_inputs(&self) -> Vec<&str> {
        let mut texts = Vec::new();
        for input in self
            .inputs
            .iter()
            .filter(|i| i.datatype == Datatype::Bytes.as_str())
        {
            match &input.data {
                TensorData::Json(v) => {
                    texts.extend(flatten(v).into_iter().filter_map(Value::as_str))
                }
                TensorData::Binary(b) => texts.extend(
                    bytes_elements(b)
                        .map_while(Result::ok)
                        .filter_map(|e| std::str::from_utf8(e).ok()),
                ),
                TensorData::Values(TensorValues::Bytes(v)) => {
                    texts.extend(v.iter().map(String::as_str))
                }
                TensorData::Values(_) => {}
            }
        }
        texts
    }
}

impl InferOutput {
    /// The output's elements in the binary tensor data form, for a response that asked for
    /// `binary_data`; `None` if the output does not hold typed values.
    pub fn to_binary(&self) -> Option<Vec<u8>> {
        match &self.data {
            TensorData::Values(v) => Some(v.to_binary()),
            TensorData::Binary(b) => Some(b.clone()),
            TensorData::Json(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_reads_the_v2_json() {
        let request: InferRequest = serde_json::from_value(json!({
            "id": "42",
            "inputs": [{"name": "text", "shape": [2, 1], "datatype": "BYTES", "data": [["hi"], ["a@b.c"]]}],
            "outputs": [{"name": "label"}]
        }))
        .unwrap();
        assert_eq!(request.id.as_deref(), Some("42"));
        assert_eq!(request.text_inputs(), vec!["hi", "a@b.c"]);
        assert_eq!(request.outputs.unwrap()[0].name, "label");
    }

    #[test]
    fn binary_text_inputs_are_read_too() {
        let request = InferRequest {
            id: None,
            parameters: None,
            inputs: vec![InferInput {
                name: "text".into(),
                shape: vec![1],
                datatype: "BYTES".into(),
                parameters: None,
                data: TensorData::Binary(
                    TensorValues::Bytes(vec!["call 555 0142".into()]).to_binary(),
                ),
            }],
            outputs: None,
        };
        assert_eq!(request.text_inputs(), vec!["call 555 0142"]);
        let json = serde_json::to_value(&request).unwrap();
        assert!(json["inputs"][0].get("data").is_none());
    }

    #[test]
    fn response_writes_the_v2_json() {
        let response = InferResponse {
            model_name: "m".into(),
            model_version: "1".into(),
            id: None,
            parameters: None,
            outputs: vec![InferOutput {
                name: "p".into(),
                shape: vec![1, 2],
                datatype: Datatype::Fp32,
                parameters: None,
                data: TensorData::Values(TensorValues::Fp32(vec![0.1, 0.9])),
            }],
        };
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            r#"{"model_name":"m","model_version":"1","outputs":[{"name":"p","shape":[1,2],"datatype":"FP32","data":[0.1,0.9]}]}"#
        );
    }
}
