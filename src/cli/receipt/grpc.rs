//! `vouch receipt verify --grpc`: the receipt, and the input and output commitments, of a gRPC
//! call, from its `ModelInferRequest` and `ModelInferResponse` written in protobuf's JSON mapping
//! (as `google.protobuf.json_format.MessageToJson` writes them). The commitments themselves are
//! computed by the server's own code (`server::grpc::commitment`), so both hash the same bytes.

use serde_json::Value;

use crate::ledger::Hash;
use crate::server::grpc::commitment;

/// The receipt a gRPC response carries in its `receipt` parameter, if it has one.
pub fn receipt(doc: &Value) -> Option<Result<Value, String>> {
    commitment::receipt_in_response(doc).map(|text| {
        serde_json::from_str(text)
            .map_err(|e| format!("the response's receipt parameter is not JSON: {e}"))
    })
}

/// The input commitment of a `ModelInferRequest` in JSON.
pub fn input(nonce: &[u8; 32], request: Value) -> Result<Hash, String> {
    let request = commitment::request_from_json(request).map_err(|e| e.to_string())?;
    commitment::input_commitment(nonce, &request).map_err(|e| e.to_string())
}

/// The output commitment of a `ModelInferResponse` in JSON.
pub fn output(nonce: &[u8; 32], response: Value) -> Result<Hash, String> {
    let response = commitment::response_from_json(response).map_err(|e| e.to_string())?;
    commitment::output_commitment(nonce, &response).map_err(|e| e.to_string())
}
