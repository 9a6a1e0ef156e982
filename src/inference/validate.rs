//! Checking a v2 request against a model version before anything runs: input names, datatypes,
//! shapes, element counts, each element, and the size limits. Sizes are checked from the shape
//! before any element is read. Every failure is a precise [`InferenceError`].

use super::error::{ElementProblem, InferenceError};
use super::protocol::{InferInput, RequestedOutput, TensorData};
use super::tensor::{flatten, BinaryProblem, Datatype, TensorValues};

/// Caps on what one request may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputLimits {
    /// Elements per input tensor.
    pub max_elements: usize,
    /// Bytes per BYTES element.
    pub max_bytes_element: usize,
    /// Bytes over all inputs, counted in the binary form (BYTES: length plus a 4-byte prefix).
    pub max_input_bytes: usize,
}

impl Default for InputLimits {
    fn default() -> Self {
        InputLimits {
            max_elements: 1 << 20,
            max_bytes_element: 64 * 1024,
            max_input_bytes: 16 * 1024 * 1024,
        }
    }
}

/// A tensor of the model, with its datatype parsed: the manifest's declaration, checked against
/// the ONNX graph at load time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckedSpec {
    pub name: String,
    pub datatype: Datatype,
    /// `-1`: any size.
    pub shape: Vec<i64>,
}

/// An input that passed every check, ready to become an ONNX Runtime value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PreparedInput {
    pub name: String,
    pub shape: Vec<i64>,
    pub values: TensorValues,
}

/// Checks `inputs` against the model's `specs`; returns them in the model's input order.
pub(crate) fn check_inputs(
    specs: &[CheckedSpec],
    inputs: Vec<InferInput>,
    limits: &InputLimits,
) -> Result<Vec<PreparedInput>, InferenceError> {
    let mut slots: Vec<Option<PreparedInput>> = specs.iter().map(|_| None).collect();
    let mut total_bytes = 0usize;
    for input in inputs {
        let Some(index) = specs.iter().position(|s| s.name == input.name) else {
            return Err(InferenceError::UnknownInput {
                name: input.name,
                expected: specs.iter().map(|s| s.name.clone()).collect(),
            });
        };
        // `index` came from `specs` and `slots` has one entry per spec, so both lookups succeed;
        // `get` keeps that an argument rather than a possible panic.
        let (Some(spec), Some(slot)) = (specs.get(index), slots.get_mut(index)) else {
            continue;
        };
        if slot.is_some() {
            return Err(InferenceError::DuplicateInput { name: input.name });
        }
        let prepared = check_input(spec, input, limits)?;
        total_bytes = total_bytes.saturating_add(prepared.values.binary_len());
        if total_bytes > limits.max_input_bytes {
            return Err(InferenceError::InputTooLarge {
                bytes: total_bytes,
                limit: limits.max_input_bytes,
            });
        }
        *slot = Some(prepared);
    }
    specs
        .iter()
        .zip(slots)
        .map(|(spec, slot)| {
            slot.ok_or_else(|| InferenceError::MissingInput {
                name: spec.name.clone(),
            })
        })
        .collect()
}

fn check_input(
    spec: &CheckedSpec,
    input: InferInput,
    limits: &InputLimits,
) -> Result<PreparedInput, InferenceError> {
    let InferInput {
        name,
        shape,
        datatype,
        data,
        ..
    } = input;
    let got: Datatype = match datatype.parse() {
        Ok(d) => d,
        Err(_) => {
            return Err(InferenceError::UnsupportedDatatype {
                input: name,
                datatype,
            })
        }
    };
    if got != spec.datatype {
        return Err(InferenceError::WrongDatatype {
            input: name,
            expected: spec.datatype,
            got,
        });
    }
    let fits = shape.len() == spec.shape.len()
        && shape
            .iter()
            .zip(&spec.shape)
            .all(|(&g, &e)| g >= 0 && (e < 0 || g == e));
    if !fits {
        return Err(InferenceError::WrongShape {
            input: name,
            expected: spec.shape.clone(),
            got: shape,
        });
    }
    if shape.contains(&0) {
        return Err(InferenceError::EmptyTensor { input: name, shape });
    }
    // Every dimension is positive here, so the product is at least 1; u128 cannot overflow for
    // the ranks a model has before the limit is crossed.
    let count = shape.iter().try_fold(1u128, |acc, &d| {
        acc.checked_mul(u128::from(d.unsigned_abs()))
    });
    let count = match count.and_then(|c| usize::try_from(c).ok()) {
        Some(c) if c <= limits.max_elements => c,
        _ => {
            let count = count.unwrap_or(u128::MAX);
            return Err(InferenceError::TooManyElements {
                input: name,
                shape,
                count,
                limit: limits.max_elements,
            });
        }
    };
    let values = match data {
        TensorData::Json(serde_json::Value::Null) => {
            return Err(InferenceError::MissingData { input: name })
        }
        TensorData::Json(value) => {
            let leaves = flatten(&value);
            if leaves.len() != count {
                return Err(InferenceError::ElementCount {
                    input: name,
                    shape,
                    expected: count,
                    got: leaves.len(),
                });
            }
            TensorValues::from_json(got, &leaves).map_err(|(index, problem)| {
                InferenceError::BadElement {
                    input: name.clone(),
                    index,
                    datatype: got,
                    problem,
                }
            })?
        }
        TensorData::Binary(bytes) => {
            if let Some(size) = got.element_size() {
                let expected = count.saturating_mul(size);
                if bytes.len() != expected {
                    return Err(InferenceError::BinarySize {
                        input: name,
                        expected,
                        got: bytes.len(),
                    });
                }
            }
            TensorValues::from_binary(got, &bytes).map_err(|problem| match problem {
                BinaryProblem::Length {
                    got: len,
                    element_size,
                } => InferenceError::BinarySize {
                    input: name.clone(),
                    expected: count.saturating_mul(element_size),
                    got: len,
                },
                BinaryProblem::Truncated { offset } => InferenceError::MalformedBinaryBytes {
                    input: name.clone(),
                    offset,
                },
                BinaryProblem::Element { index, problem } => InferenceError::BadElement {
                    input: name.clone(),
                    index,
                    datatype: got,
                    problem,
                },
            })?
        }
        TensorData::Values(values) => {
            if values.datatype() != got {
                return Err(InferenceError::WrongDatatype {
                    input: name,
                    expected: got,
                    got: values.datatype(),
                });
            }
            if let TensorValues::Bytes(strings) = &values {
                if let Some(index) = strings.iter().position(|s| s.contains('\0')) {
                    let problem = ElementProblem::ContainsNul;
                    return Err(InferenceError::BadElement {
                        input: name,
                        index,
                        datatype: got,
                        problem,
                    });
                }
            }
            values
        }
    };
    if values.len() != count {
        return Err(InferenceError::ElementCount {
            input: name,
            shape,
            expected: count,
            got: values.len(),
        });
    }
    if let TensorValues::Bytes(strings) = &values {
        if let Some((index, s)) = strings
            .iter()
            .enumerate()
            .find(|(_, s)| s.len() > limits.max_bytes_element)
        {
            let (len, limit) = (s.len(), limits.max_bytes_element);
            return Err(InferenceError::BytesElementTooLong {
                input: name,
                index,
                len,
                limit,
            });
        }
    }
    Ok(PreparedInput {
        name,
        shape,
        values,
    })
}

/// Which outputs to return, as indices into `specs`: all, in order, when none are requested.
pub(crate) fn check_outputs(
    specs: &[CheckedSpec],
    requested: Option<Vec<RequestedOutput>>,
) -> Result<Vec<usize>, InferenceError> {
    let Some(requested) = requested else {
        return Ok((0..specs.len()).collect());
    };
    let mut chosen: Vec<usize> = Vec::with_capacity(requested.len());
    for output in requested {
        let Some(index) = specs.iter().position(|s| s.name == output.name) else {
            return Err(InferenceError::UnknownOutput {
                name: output.name,
                expected: specs.iter().map(|s| s.name.clone()).collect(),
            });
        };
        if chosen.contains(&index) {
            return Err(InferenceError::DuplicateOutput { name: output.name });
        }
        chosen.push(index);
    }
    Ok(chosen)
}
