//! The Open Inference Protocol v2 tensor datatypes vouch supports, their names, sizes, and
//! their ONNX Runtime counterparts.

use std::fmt;
use std::str::FromStr;

use ort::value::TensorElementType;
use serde::{Deserialize, Serialize};

/// A v2 tensor datatype that vouch can carry to ONNX Runtime (FP16 and BF16 are not supported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Datatype {
    #[serde(rename = "BOOL")]
    Bool,
    #[serde(rename = "UINT8")]
    Uint8,
    #[serde(rename = "UINT16")]
    Uint16,
    #[serde(rename = "UINT32")]
    Uint32,
    #[serde(rename = "UINT64")]
    Uint64,
    #[serde(rename = "INT8")]
    Int8,
    #[serde(rename = "INT16")]
    Int16,
    #[serde(rename = "INT32")]
    Int32,
    #[serde(rename = "INT64")]
    Int64,
    #[serde(rename = "FP32")]
    Fp32,
    #[serde(rename = "FP64")]
    Fp64,
    #[serde(rename = "BYTES")]
    Bytes,
}

/// Every v2 datatype.
pub const ALL: [Datatype; 12] = [
    Datatype::Bool,
    Datatype::Uint8,
    Datatype::Uint16,
    Datatype::Uint32,
    Datatype::Uint64,
    Datatype::Int8,
    Datatype::Int16,
    Datatype::Int32,
    Datatype::Int64,
    Datatype::Fp32,
    Datatype::Fp64,
    Datatype::Bytes,
];

impl Datatype {
    /// The v2 name, e.g. `FP32`.
    pub fn as_str(self) -> &'static str {
        match self {
            Datatype::Bool => "BOOL",
            Datatype::Uint8 => "UINT8",
            Datatype::Uint16 => "UINT16",
            Datatype::Uint32 => "UINT32",
            Datatype::Uint64 => "UINT64",
            Datatype::Int8 => "INT8",
            Datatype::Int16 => "INT16",
            Datatype::Int32 => "INT32",
            Datatype::Int64 => "INT64",
            Datatype::Fp32 => "FP32",
            Datatype::Fp64 => "FP64",
            Datatype::Bytes => "BYTES",
        }
    }

    /// Bytes per element in the binary form; `None` for BYTES, whose elements vary.
    pub fn element_size(self) -> Option<usize> {
        match self {
            Datatype::Bool | Datatype::Uint8 | Datatype::Int8 => Some(1),
            Datatype::Uint16 | Datatype::Int16 => Some(2),
            Datatype::Uint32 | Datatype::Int32 | Datatype::Fp32 => Some(4),
            Datatype::Uint64 | Datatype::Int64 | Datatype::Fp64 => Some(8),
            Datatype::Bytes => None,
        }
    }

    /// The datatype of an ONNX Runtime element type, if vouch supports it.
    pub fn from_ort(ty: TensorElementType) -> Option<Datatype> {
        Some(match ty {
            TensorElementType::Bool => Datatype::Bool,
            TensorElementType::Uint8 => Datatype::Uint8,
            TensorElementType::Uint16 => Datatype::Uint16,
            TensorElementType::Uint32 => Datatype::Uint32,
            TensorElementType::Uint64 => Datatype::Uint64,
            TensorElementType::Int8 => Datatype::Int8,
            TensorElementType::Int16 => Datatype::Int16,
            TensorElementType::Int32 => Datatype::Int32,
            TensorElementType::Int64 => Datatype::Int64,
            TensorElementType::Float32 => Datatype::Fp32,
            TensorElementType::Float64 => Datatype::Fp64,
            TensorElementType::String => Datatype::Bytes,
            _ => return None,
        })
    }
}

impl fmt::Display for Datatype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A datatype name vouch does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownDatatype;

impl FromStr for Datatype {
    type Err = UnknownDatatype;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ALL.into_iter()
            .find(|d| d.as_str() == s)
            .ok_or(UnknownDatatype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn datatype_names_round_trip() {
        for d in ALL {
            assert_eq!(d.as_str().parse::<Datatype>(), Ok(d));
            assert_eq!(serde_json::to_value(d).unwrap(), json!(d.as_str()));
        }
        assert_eq!("FP16".parse::<Datatype>(), Err(UnknownDatatype));
    }
}
