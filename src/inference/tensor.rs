//! Typed tensor data, in Open Inference Protocol v2 terms, and its
//! conversion from v2 JSON `data` (flat or nested), from and to the binary tensor data extension
//! (fixed-size elements packed little-endian; each BYTES element a 4-byte little-endian length then
//! its bytes), and to and from ONNX Runtime values.
//!
//! Nothing here panics on what a client sends: every element is checked and a problem names its
//! index.

use ort::value::{DynValue, Tensor, TensorElementType, ValueType};
use serde::Serialize;
use serde_json::Value;

pub use super::datatype::Datatype;
use super::error::ElementProblem;

/// The elements of one tensor, typed, in row-major order.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum TensorValues {
    Bool(Vec<bool>),
    Uint8(Vec<u8>),
    Uint16(Vec<u16>),
    Uint32(Vec<u32>),
    Uint64(Vec<u64>),
    Int8(Vec<i8>),
    Int16(Vec<i16>),
    Int32(Vec<i32>),
    Int64(Vec<i64>),
    Fp32(Vec<f32>),
    Fp64(Vec<f64>),
    Bytes(Vec<String>),
}

/// Runs `$body` with `$v` bound to the inner `Vec` of any variant.
macro_rules! each {
    ($values:expr, $v:ident => $body:expr) => {
        match $values {
            TensorValues::Bool($v) => $body,
            TensorValues::Uint8($v) => $body,
            TensorValues::Uint16($v) => $body,
            TensorValues::Uint32($v) => $body,
            TensorValues::Uint64($v) => $body,
            TensorValues::Int8($v) => $body,
            TensorValues::Int16($v) => $body,
            TensorValues::Int32($v) => $body,
            TensorValues::Int64($v) => $body,
            TensorValues::Fp32($v) => $body,
            TensorValues::Fp64($v) => $body,
            TensorValues::Bytes($v) => $body,
        }
    };
}

impl Serialize for TensorValues {
    /// A flat JSON array, as v2 `data`.
    ///
    /// FP32 elements are written as the `f64` of their shortest decimal form (`0.1_f32` as `0.1`,
    /// not `0.10000000149011612`), so that every path gives the same JSON number: `serde_json`
    /// text, `serde_json::Value`, and canonical JSON (RFC 8785) for the ledger's output
    /// commitment, which a caller recomputes from the text it received.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            TensorValues::Fp32(v) => serializer.collect_seq(v.iter().map(|x| shortest_f64(*x))),
            other => each!(other, v => v.serialize(serializer)),
        }
    }
}

/// The `f64` nearest to the shortest decimal that reads back as `x`. Rust prints floats in that
/// shortest round-trip form, so parsing it back cannot fail for a finite value.
fn shortest_f64(x: f32) -> f64 {
    if !x.is_finite() {
        return f64::from(x); // NaN and infinities: JSON has no form for them; serde_json writes null
    }
    x.to_string().parse().unwrap_or_else(|_| f64::from(x))
}

/// Where a binary tensor is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryProblem {
    /// Fixed-size elements: the byte length is not a whole number of elements.
    Length { got: usize, element_size: usize },
    /// BYTES: a length prefix or an element runs past the end, at this offset.
    Truncated { offset: usize },
    /// An element that cannot be read.
    Element {
        index: usize,
        problem: ElementProblem,
    },
}

impl std::fmt::Display for BinaryProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BinaryProblem::Length { got, element_size } => write!(
                f,
                "{got} bytes are not a whole number of {element_size}-byte elements"
            ),
            BinaryProblem::Truncated { offset } => {
                write!(f, "a BYTES element runs past the end at byte {offset}")
            }
            BinaryProblem::Element { index, problem } => write!(f, "element {index} {problem}"),
        }
    }
}

impl TensorValues {
    pub fn datatype(&self) -> Datatype {
        match self {
            TensorValues::Bool(_) => Datatype::Bool,
            TensorValues::Uint8(_) => Datatype::Uint8,
            TensorValues::Uint16(_) => Datatype::Uint16,
            TensorValues::Uint32(_) => Datatype::Uint32,
            TensorValues::Uint64(_) => Datatype::Uint64,
            TensorValues::Int8(_) => Datatype::Int8,
            TensorValues::Int16(_) => Datatype::Int16,
            TensorValues::Int32(_) => Datatype::Int32,
            TensorValues::Int64(_) => Datatype::Int64,
            TensorValues::Fp32(_) => Datatype::Fp32,
            TensorValues::Fp64(_) => Datatype::Fp64,
            TensorValues::Bytes(_) => Datatype::Bytes,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        each!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size in the binary form: element size times count, or for BYTES each element's length plus
    /// its 4-byte prefix.
    pub fn binary_len(&self) -> usize {
        match (self, self.datatype().element_size()) {
            (TensorValues::Bytes(v), _) => v
                .iter()
                .map(|s| s.len().saturating_add(4))
                .fold(0, usize::saturating_add),
            (_, Some(size)) => self.len().saturating_mul(size),
            (_, None) => 0,
        }
    }

    /// The values as `f64`, for numeric tensors (used to read probabilities).
    pub fn to_f64(&self) -> Option<Vec<f64>> {
        match self {
            TensorValues::Fp32(v) => Some(v.iter().map(|x| f64::from(*x)).collect()),
            TensorValues::Fp64(v) => Some(v.clone()),
            _ => None,
        }
    }

    /// The binary tensor data form (v2 binary extension).
    pub fn to_binary(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.binary_len());
        match self {
            TensorValues::Bool(v) => out.extend(v.iter().map(|b| u8::from(*b))),
            TensorValues::Uint8(v) => out.extend_from_slice(v),
            TensorValues::Uint16(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            TensorValues::Uint32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            TensorValues::Uint64(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            TensorValues::Int8(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            TensorValues::Int16(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            TensorValues::Int32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            TensorValues::Int64(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            TensorValues::Fp32(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            TensorValues::Fp64(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            TensorValues::Bytes(v) => v.iter().for_each(|s| {
                // Elements longer than 4 GiB cannot be framed; the input limits keep them far smaller.
                let len = u32::try_from(s.len()).unwrap_or(u32::MAX);
                out.extend_from_slice(&len.to_le_bytes());
                out.extend_from_slice(s.as_bytes());
            }),
        }
        out
    }

    /// Reads the binary tensor data form. BYTES elements must be UTF-8 without NUL bytes, since
    /// they become ONNX Runtime strings.
    pub fn from_binary(datatype: Datatype, bytes: &[u8]) -> Result<Self, BinaryProblem> {
        fn fixed<const N: usize, T>(
            bytes: &[u8],
            read: fn([u8; N]) -> T,
        ) -> Result<Vec<T>, BinaryProblem> {
            let chunks = bytes.chunks_exact(N);
            if !chunks.remainder().is_empty() {
                return Err(BinaryProblem::Length {
                    got: bytes.len(),
                    element_size: N,
                });
            }
            // `chunks_exact(N)` yields slices of exactly N bytes, so the conversion cannot fail.
            Ok(chunks
                .map(|c| read(<[u8; N]>::try_from(c).unwrap_or([0; N])))
                .collect())
        }
        Ok(match datatype {
            Datatype::Bool => TensorValues::Bool(
                bytes
                    .iter()
                    .enumerate()
                    .map(|(index, b)| match b {
                        0 => Ok(false),
                        1 => Ok(true),
                        _ => Err(BinaryProblem::Element {
                            index,
                            problem: ElementProblem::OutOfRange,
                        }),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            Datatype::Uint8 => TensorValues::Uint8(bytes.to_vec()),
            Datatype::Int8 => TensorValues::Int8(fixed(bytes, i8::from_le_bytes)?),
            Datatype::Uint16 => TensorValues::Uint16(fixed(bytes, u16::from_le_bytes)?),
            Datatype::Int16 => TensorValues::Int16(fixed(bytes, i16::from_le_bytes)?),
            Datatype::Uint32 => TensorValues::Uint32(fixed(bytes, u32::from_le_bytes)?),
            Datatype::Int32 => TensorValues::Int32(fixed(bytes, i32::from_le_bytes)?),
            Datatype::Fp32 => TensorValues::Fp32(fixed(bytes, f32::from_le_bytes)?),
            Datatype::Uint64 => TensorValues::Uint64(fixed(bytes, u64::from_le_bytes)?),
            Datatype::Int64 => TensorValues::Int64(fixed(bytes, i64::from_le_bytes)?),
            Datatype::Fp64 => TensorValues::Fp64(fixed(bytes, f64::from_le_bytes)?),
            Datatype::Bytes => {
                let mut strings = Vec::new();
                for (index, element) in bytes_elements(bytes).enumerate() {
                    strings.push(
                        utf8(element?)
                            .map_err(|problem| BinaryProblem::Element { index, problem })?,
                    );
                }
                TensorValues::Bytes(strings)
            }
        })
    }

    /// Reads v2 JSON elements (already flattened) as `datatype`. On failure, gives the index of
    /// the first bad element and what is wrong with it.
    pub fn from_json(
        datatype: Datatype,
        elements: &[&Value],
    ) -> Result<Self, (usize, ElementProblem)> {
        fn all<T>(
            elements: &[&Value],
            read: fn(&Value) -> Result<T, ElementProblem>,
        ) -> Result<Vec<T>, (usize, ElementProblem)> {
            elements
                .iter()
                .enumerate()
                .map(|(i, v)| read(v).map_err(|p| (i, p)))
                .collect()
        }
        Ok(match datatype {
            Datatype::Bool => TensorValues::Bool(all(elements, |v| {
                v.as_bool().ok_or(ElementProblem::WrongType)
            })?),
            Datatype::Uint8 => TensorValues::Uint8(all(elements, unsigned)?),
            Datatype::Uint16 => TensorValues::Uint16(all(elements, unsigned)?),
            Datatype::Uint32 => TensorValues::Uint32(all(elements, unsigned)?),
            Datatype::Uint64 => TensorValues::Uint64(all(elements, unsigned)?),
            Datatype::Int8 => TensorValues::Int8(all(elements, signed)?),
            Datatype::Int16 => TensorValues::Int16(all(elements, signed)?),
            Datatype::Int32 => TensorValues::Int32(all(elements, signed)?),
            Datatype::Int64 => TensorValues::Int64(all(elements, signed)?),
            Datatype::Fp32 => TensorValues::Fp32(all(elements, |v| {
                let x = v.as_f64().ok_or(ElementProblem::WrongType)?;
                if x.abs() > f64::from(f32::MAX) {
                    return Err(ElementProblem::OutOfRange);
                }
                // In range, so the conversion rounds to the nearest f32 and never overflows.
                #[allow(clippy::cast_possible_truncation)]
                Ok(x as f32)
            })?),
            Datatype::Fp64 => TensorValues::Fp64(all(elements, |v| {
                v.as_f64().ok_or(ElementProblem::WrongType)
            })?),
            Datatype::Bytes => TensorValues::Bytes(all(elements, |v| {
                let s = v.as_str().ok_or(ElementProblem::WrongType)?;
                if s.contains('\0') {
                    return Err(ElementProblem::ContainsNul);
                }
                Ok(s.to_owned())
            })?),
        })
    }

    /// An ONNX Runtime tensor of this data with `shape`. The caller has checked that the shape's
    /// element count equals [`TensorValues::len`].
    pub(crate) fn into_ort(self, shape: Vec<i64>) -> ort::Result<DynValue> {
        Ok(match self {
            TensorValues::Bytes(v) => Tensor::from_string_array((shape, v.as_slice()))?.into_dyn(),
            TensorValues::Bool(v) => Tensor::from_array((shape, v))?.into_dyn(),
            TensorValues::Uint8(v) => Tensor::from_array((shape, v))?.into_dyn(),
            TensorValues::Uint16(v) => Tensor::from_array((shape, v))?.into_dyn(),
            TensorValues::Uint32(v) => Tensor::from_array((shape, v))?.into_dyn(),
            TensorValues::Uint64(v) => Tensor::from_array((shape, v))?.into_dyn(),
            TensorValues::Int8(v) => Tensor::from_array((shape, v))?.into_dyn(),
            TensorValues::Int16(v) => Tensor::from_array((shape, v))?.into_dyn(),
            TensorValues::Int32(v) => Tensor::from_array((shape, v))?.into_dyn(),
            TensorValues::Int64(v) => Tensor::from_array((shape, v))?.into_dyn(),
            TensorValues::Fp32(v) => Tensor::from_array((shape, v))?.into_dyn(),
            TensorValues::Fp64(v) => Tensor::from_array((shape, v))?.into_dyn(),
        })
    }

    /// Reads an ONNX Runtime output. `Err` carries a description of what came back instead of a
    /// supported tensor.
    pub(crate) fn from_ort(value: &DynValue) -> Result<(Vec<i64>, TensorValues), String> {
        let ty = match value.dtype() {
            ValueType::Tensor { ty, .. } => *ty,
            other => return Err(format!("{other:?}")),
        };
        let failed = |e: ort::Error| format!("a {ty:?} tensor that cannot be read: {e}");
        macro_rules! take {
            ($variant:ident, $t:ty) => {{
                let (shape, data) = value.try_extract_tensor::<$t>().map_err(failed)?;
                (shape.to_vec(), TensorValues::$variant(data.to_vec()))
            }};
        }
        Ok(match ty {
            TensorElementType::String => {
                let (shape, data) = value.try_extract_strings().map_err(failed)?;
                (shape.to_vec(), TensorValues::Bytes(data))
            }
            TensorElementType::Bool => take!(Bool, bool),
            TensorElementType::Uint8 => take!(Uint8, u8),
            TensorElementType::Uint16 => take!(Uint16, u16),
            TensorElementType::Uint32 => take!(Uint32, u32),
            TensorElementType::Uint64 => take!(Uint64, u64),
            TensorElementType::Int8 => take!(Int8, i8),
            TensorElementType::Int16 => take!(Int16, i16),
            TensorElementType::Int32 => take!(Int32, i32),
            TensorElementType::Int64 => take!(Int64, i64),
            TensorElementType::Float32 => take!(Fp32, f32),
            TensorElementType::Float64 => take!(Fp64, f64),
            other => return Err(format!("a {other:?} tensor")),
        })
    }
}

fn unsigned<T: TryFrom<u64>>(v: &Value) -> Result<T, ElementProblem> {
    let Value::Number(n) = v else {
        return Err(ElementProblem::WrongType);
    };
    match n.as_u64() {
        Some(x) => T::try_from(x).map_err(|_| ElementProblem::OutOfRange),
        None if n.is_i64() => Err(ElementProblem::OutOfRange),
        None => Err(ElementProblem::NotAnInteger),
    }
}

fn signed<T: TryFrom<i64>>(v: &Value) -> Result<T, ElementProblem> {
    let Value::Number(n) = v else {
        return Err(ElementProblem::WrongType);
    };
    match n.as_i64() {
        Some(x) => T::try_from(x).map_err(|_| ElementProblem::OutOfRange),
        None if n.is_u64() => Err(ElementProblem::OutOfRange),
        None => Err(ElementProblem::NotAnInteger),
    }
}

fn utf8(bytes: &[u8]) -> Result<String, ElementProblem> {
    let s = std::str::from_utf8(bytes).map_err(|_| ElementProblem::NotUtf8)?;
    if s.contains('\0') {
        return Err(ElementProblem::ContainsNul);
    }
    Ok(s.to_owned())
}

/// The elements of binary BYTES data: each a 4-byte little-endian length, then that many bytes.
pub fn bytes_elements(bytes: &[u8]) -> impl Iterator<Item = Result<&[u8], BinaryProblem>> + '_ {
    let mut offset = 0usize;
    std::iter::from_fn(move || {
        let rest = bytes.get(offset..)?;
        if rest.is_empty() {
            return None;
        }
        let Some((len, body)) = rest.split_first_chunk::<4>() else {
            offset = bytes.len();
            return Some(Err(BinaryProblem::Truncated {
                offset: bytes.len() - rest.len(),
            }));
        };
        let len = usize::try_from(u32::from_le_bytes(*len)).unwrap_or(usize::MAX);
        match body.get(..len) {
            Some(element) => {
                offset = offset.saturating_add(4).saturating_add(len);
                Some(Ok(element))
            }
            None => {
                let at = offset;
                offset = bytes.len();
                Some(Err(BinaryProblem::Truncated { offset: at }))
            }
        }
    })
}

/// The leaves of v2 JSON `data`, flat or nested, in row-major order. Walks with an explicit
/// stack, so nesting depth cannot exhaust the thread's stack.
pub fn flatten(data: &Value) -> Vec<&Value> {
    let mut leaves = Vec::new();
    let mut stack = vec![data];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items.iter().rev()),
            leaf => leaves.push(leaf),
        }
    }
    leaves
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_data_flattens_row_major() {
        let data = json!([[1, 2, 3], [4, [5, 6]]]);
        let flat: Vec<_> = flatten(&data).into_iter().cloned().collect();
        assert_eq!(
            flat,
            vec![json!(1), json!(2), json!(3), json!(4), json!(5), json!(6)]
        );
    }

    #[test]
    fn json_elements_are_checked() {
        let v = [json!(1), json!(300)];
        let refs: Vec<_> = v.iter().collect();
        assert_eq!(
            TensorValues::from_json(Datatype::Uint8, &refs),
            Err((1, ElementProblem::OutOfRange))
        );
        assert_eq!(
            TensorValues::from_json(Datatype::Int16, &[&json!(-1.5)]),
            Err((0, ElementProblem::NotAnInteger))
        );
        assert_eq!(
            TensorValues::from_json(Datatype::Uint32, &[&json!(-1)]),
            Err((0, ElementProblem::OutOfRange))
        );
        assert_eq!(
            TensorValues::from_json(Datatype::Fp32, &[&json!("1")]),
            Err((0, ElementProblem::WrongType))
        );
        assert_eq!(
            TensorValues::from_json(Datatype::Fp32, &[&json!(1e39)]),
            Err((0, ElementProblem::OutOfRange))
        );
        assert_eq!(
            TensorValues::from_json(Datatype::Bool, &[&json!(1)]),
            Err((0, ElementProblem::WrongType))
        );
        assert_eq!(
            TensorValues::from_json(Datatype::Bytes, &[&json!("a\u{0}b")]),
            Err((0, ElementProblem::ContainsNul))
        );
        assert_eq!(
            TensorValues::from_json(Datatype::Int64, &[&json!(-7)]),
            Ok(TensorValues::Int64(vec![-7]))
        );
    }

    #[test]
    fn binary_round_trips_for_every_datatype() {
        let cases = [
            TensorValues::Bool(vec![true, false]),
            TensorValues::Uint8(vec![0, 255]),
            TensorValues::Uint16(vec![1, 65535]),
            TensorValues::Uint32(vec![7, u32::MAX]),
            TensorValues::Uint64(vec![9, u64::MAX]),
            TensorValues::Int8(vec![-128, 127]),
            TensorValues::Int16(vec![-2, 3]),
            TensorValues::Int32(vec![i32::MIN, 5]),
            TensorValues::Int64(vec![i64::MIN, 6]),
            TensorValues::Fp32(vec![0.5, -1.25]),
            TensorValues::Fp64(vec![1e300, -0.0]),
            TensorValues::Bytes(vec!["héllo".into(), String::new(), "x".into()]),
        ];
        for values in cases {
            let bytes = values.to_binary();
            assert_eq!(bytes.len(), values.binary_len());
            assert_eq!(
                TensorValues::from_binary(values.datatype(), &bytes),
                Ok(values)
            );
        }
    }

    #[test]
    fn fp32_serialises_as_its_shortest_decimal_on_every_path() {
        let values = TensorValues::Fp32(vec![0.1, 0.8946742, -3.0, 1e-7]);
        assert_eq!(
            serde_json::to_string(&values).unwrap(),
            "[0.1,0.8946742,-3.0,1e-7]"
        );
        assert_eq!(
            serde_json::to_value(&values).unwrap(),
            json!([0.1, 0.8946742, -3.0, 1e-7])
        );
    }

    #[test]
    fn binary_layout_is_little_endian_with_length_prefixes() {
        assert_eq!(
            TensorValues::Int32(vec![1, -2]).to_binary(),
            vec![1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff]
        );
        assert_eq!(
            TensorValues::Bytes(vec!["ab".into()]).to_binary(),
            vec![2, 0, 0, 0, b'a', b'b']
        );
    }

    #[test]
    fn malformed_binary_is_reported() {
        assert_eq!(
            TensorValues::from_binary(Datatype::Fp32, &[0; 6]),
            Err(BinaryProblem::Length {
                got: 6,
                element_size: 4
            })
        );
        assert_eq!(
            TensorValues::from_binary(Datatype::Bytes, &[5, 0, 0, 0, b'a']),
            Err(BinaryProblem::Truncated { offset: 0 })
        );
        assert_eq!(
            TensorValues::from_binary(Datatype::Bytes, &[1, 0, 0, 0, b'a', 1, 0]),
            Err(BinaryProblem::Truncated { offset: 5 })
        );
        assert_eq!(
            TensorValues::from_binary(Datatype::Bytes, &[1, 0, 0, 0, 0xff]),
            Err(BinaryProblem::Element {
                index: 0,
                problem: ElementProblem::NotUtf8
            })
        );
    }
}
