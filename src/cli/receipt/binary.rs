//! Reading the outputs of a binary-extension response back into their JSON form: the inverse of
//! the server's `body::encode_binary_outputs`. The output commitment covers the outputs in JSON
//! form even when they travel as binary, so each output carrying `parameters.binary_data_size`
//! gets its bytes (in order, after the JSON header) decoded by its datatype, as `data`, and loses
//! the parameter the server added.

use serde_json::Value;

use crate::inference::{Datatype, TensorValues};

/// The parameter that says how many bytes of the binary part an output holds.
const BINARY_DATA_SIZE: &str = "binary_data_size";

/// `outputs` (the JSON header's array) with every binary output's data read from `binary`.
pub fn outputs_as_json(mut outputs: Value, binary: &[u8]) -> Result<Value, String> {
    let list = outputs
        .as_array_mut()
        .ok_or("the response's `outputs` is not an array")?;
    let mut rest = binary;
    for (i, output) in list.iter_mut().enumerate() {
        let Some(fields) = output.as_object_mut() else {
            return Err(format!("output {i} is not an object"));
        };
        let name = fields
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let size = match fields
            .get("parameters")
            .and_then(|p| p.get(BINARY_DATA_SIZE))
        {
            None => continue,
            Some(size) => size
                .as_u64()
                .and_then(|s| usize::try_from(s).ok())
                .ok_or_else(|| {
                    format!("output {name}: {BINARY_DATA_SIZE} is not a non-negative integer")
                })?,
        };
        if size > rest.len() {
            return Err(format!(
                "output {name}: {BINARY_DATA_SIZE} {size} exceeds the {} bytes left",
                rest.len()
            ));
        }
        let (mine, after) = rest.split_at(size);
        rest = after;
        let datatype: Datatype = fields
            .get("datatype")
            .and_then(Value::as_str)
            .unwrap_or("")
            .parse()
            .map_err(|_| format!("output {name}: unknown datatype"))?;
        let values = TensorValues::from_binary(datatype, mine)
            .map_err(|e| format!("output {name}: malformed binary data: {e}"))?;
        let data = serde_json::to_value(&values).map_err(|e| format!("output {name}: {e}"))?;
        fields.insert("data".into(), data);
        // The server added the parameter when it moved the data out; without it the output has
        // the parameters it had in JSON form (none, unless others were set).
        let emptied = match fields.get_mut("parameters") {
            Some(Value::Object(p)) => {
                p.remove(BINARY_DATA_SIZE);
                p.is_empty()
            }
            _ => false,
        };
        if emptied {
            fields.remove("parameters");
        }
    }
    if !rest.is_empty() {
        return Err(format!(
            "{} bytes of binary data belong to no output",
            rest.len()
        ));
    }
    Ok(outputs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn binary_outputs_read_back_into_the_json_they_left() {
        let probs = TensorValues::Fp32(vec![0.1, 0.9]);
        let labels = TensorValues::Int64(vec![1]);
        let json_form = json!([
            {"name": "label", "shape": [1], "datatype": "INT64", "data": labels},
            {"name": "probabilities", "shape": [1, 2], "datatype": "FP32", "data": probs},
        ]);
        let mut binary = labels.to_binary();
        binary.extend(probs.to_binary());
        let sent = json!([
            {"name": "label", "shape": [1], "datatype": "INT64", "parameters": {"binary_data_size": 8}},
            {"name": "probabilities", "shape": [1, 2], "datatype": "FP32", "parameters": {"binary_data_size": 8}},
        ]);
        assert_eq!(outputs_as_json(sent.clone(), &binary), Ok(json_form));
        assert!(outputs_as_json(sent.clone(), &binary[..15]).is_err());
        let mut longer = binary.clone();
        longer.push(0);
        assert!(outputs_as_json(sent, &longer).is_err());
    }
}
