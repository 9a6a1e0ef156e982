//! Property tests of tensor conversion (no ONNX Runtime needed): nothing a client sends as tensor
//! data can panic the reader, and what the binary form writes it reads back exactly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

use proptest::prelude::*;
use serde_json::Value;
use vouch::inference::tensor::{bytes_elements, flatten};
use vouch::inference::{Datatype, TensorValues};

const DATATYPES: [Datatype; 12] = vouch::inference::datatype::ALL;

fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from), // NaN and infinities become null
        ".{0,8}".prop_map(Value::from),
    ]
}

fn json_data() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(4, 64, 8, |inner| {
        prop::collection::vec(inner, 0..8).prop_map(Value::Array)
    })
}

proptest! {
    #[test]
    fn binary_data_never_panics_and_round_trips(bytes in prop::collection::vec(any::<u8>(), 0..64), which in 0usize..12) {
        let datatype = DATATYPES[which];
        if let Ok(values) = TensorValues::from_binary(datatype, &bytes) {
            prop_assert_eq!(values.datatype(), datatype);
            prop_assert_eq!(values.to_binary(), bytes);
        }
    }

    #[test]
    fn bytes_elements_round_trip(strings in prop::collection::vec("[^\u{0}]{0,12}", 0..8)) {
        let values = TensorValues::Bytes(strings.clone());
        let binary = values.to_binary();
        prop_assert_eq!(binary.len(), values.binary_len());
        let elements: Vec<&[u8]> = bytes_elements(&binary).collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(elements.len(), strings.len());
        prop_assert_eq!(TensorValues::from_binary(Datatype::Bytes, &binary), Ok(values));
    }

    #[test]
    fn json_data_never_panics(data in json_data(), which in 0usize..12) {
        let datatype = DATATYPES[which];
        let leaves = flatten(&data);
        match TensorValues::from_json(datatype, &leaves) {
            Ok(values) => {
                prop_assert_eq!(values.len(), leaves.len());
                prop_assert_eq!(values.datatype(), datatype);
            }
            Err((index, _)) => prop_assert!(index < leaves.len()),
        }
    }
}
