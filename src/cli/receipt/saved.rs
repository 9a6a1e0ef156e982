//! A request or response saved to a file, in one of the forms the server speaks, and what the
//! ledger's commitments are computed over in each: plain JSON, or the binary tensor data extension
//! (a JSON header of `Inference-Header-Content-Length` bytes followed by raw tensors). The request
//! side goes through the server's own decoder (`server::body`), so a saved request opens exactly
//! as the server committed to it. Another form is one more [`Form`] variant and a module beside
//! [`binary`](super::binary).

use std::io::Read as _;
use std::path::Path;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use super::binary;
use crate::ledger::{commit, commit_parts, Hash};
use crate::server::body::{self, HEADER_LENGTH};

/// Largest saved request or response read, in bytes (the server's own body limit is set with
/// `--max-body`, 8 MiB by default).
pub const MAX_SAVED_BYTES: u64 = 1 << 30;

/// How a saved body is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// One JSON document.
    Json,
    /// The binary tensor data extension: `header_length` bytes of JSON, then raw tensor bytes.
    Binary { header_length: usize },
}

/// A saved body and its form.
pub struct Saved {
    name: String,
    bytes: Vec<u8>,
    form: Form,
}

impl Saved {
    /// Reads `path` (`-`: standard input). With `header_length` (the value of the
    /// `Inference-Header-Content-Length` header) it is read as the binary extension; without, a
    /// file that is one JSON document is JSON, and one whose JSON document is followed by more
    /// bytes is the binary extension with the JSON document as its header.
    pub fn read(path: &Path, header_length: Option<usize>) -> Result<Saved, String> {
        let name = path.display().to_string();
        let bytes = read_capped(path).map_err(|e| format!("{name}: {e}"))?;
        let form = match header_length {
            Some(n) if n <= bytes.len() => Form::Binary { header_length: n },
            Some(n) => {
                return Err(format!(
                    "{name}: the header length {n} exceeds the file's {} bytes",
                    bytes.len()
                ))
            }
            None => detect(&bytes).map_err(|e| format!("{name}: {e}"))?,
        };
        Ok(Saved { name, bytes, form })
    }

    /// The JSON document (the header part of a binary body).
    pub fn json(&self) -> Result<Value, String> {
        serde_json::from_slice(self.json_bytes())
            .map_err(|e| format!("{}: not JSON: {e}", self.name))
    }

    fn json_bytes(&self) -> &[u8] {
        match self.form {
            Form::Json => &self.bytes,
            Form::Binary { header_length } => self.bytes.get(..header_length).unwrap_or_default(),
        }
    }

    fn binary_bytes(&self) -> &[u8] {
        match self.form {
            Form::Json => &[],
            Form::Binary { header_length } => self.bytes.get(header_length..).unwrap_or_default(),
        }
    }

    /// The input commitment of this request under `nonce`, as the server computes it:
    /// H(nonce ‖ JCS(`inputs` of the JSON part) ‖ the binary part).
    pub fn input_commitment(&self, nonce: &[u8; 32]) -> Result<Hash, String> {
        let mut headers = HeaderMap::new();
        if let Form::Binary { header_length } = self.form {
            headers.insert(
                HeaderName::from_static(HEADER_LENGTH),
                HeaderValue::from(header_length),
            );
        }
        let decoded = body::decode(&headers, &self.bytes, true)
            .map_err(|e| format!("{}: not an inference request: {e}", self.name))?;
        let inputs = decoded.inputs_jcs.unwrap_or_default();
        Ok(commit_parts(nonce, &[&inputs, &decoded.binary]))
    }

    /// The response's `outputs` in JSON form — binary outputs read back into JSON — which is
    /// what the output commitment covers; `None` when the response has none (a denied or failed
    /// call).
    pub fn outputs(&self) -> Result<Option<Value>, String> {
        let json = self.json()?;
        let outputs = match json.get("outputs") {
            None | Some(Value::Null) => return Ok(None),
            Some(o) => o.clone(),
        };
        match self.form {
            Form::Json => Ok(Some(outputs)),
            Form::Binary { .. } => binary::outputs_as_json(outputs, self.binary_bytes())
                .map(Some)
                .map_err(|e| format!("{}: {e}", self.name)),
        }
    }

    /// The output commitment of this response under `nonce`; `None` without outputs.
    pub fn output_commitment(&self, nonce: &[u8; 32]) -> Result<Option<Hash>, String> {
        match self.outputs()? {
            None => Ok(None),
            Some(outputs) => commit(nonce, &outputs)
                .map(Some)
                .map_err(|e| format!("{}: outputs: {e}", self.name)),
        }
    }
}

fn read_capped(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let reader: Box<dyn std::io::Read> = if path == Path::new("-") {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path)?)
    };
    reader.take(MAX_SAVED_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SAVED_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_SAVED_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

/// A whole JSON document, or a JSON object followed by binary bytes.
fn detect(bytes: &[u8]) -> Result<Form, String> {
    let whole = match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        Ok(_) => return Ok(Form::Json),
        Err(e) => e,
    };
    let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<Value>();
    match stream.next() {
        Some(Ok(Value::Object(_))) => Ok(Form::Binary {
            header_length: stream.byte_offset(),
        }),
        _ => Err(format!(
            "not JSON, nor a JSON header followed by binary tensor data: {whole}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_document_is_json_and_a_header_with_bytes_is_binary() {
        assert_eq!(detect(b"{\"a\": 1}\n"), Ok(Form::Json));
        assert_eq!(
            detect(b"{\"a\": 1}\x00\x01\x02"),
            Ok(Form::Binary { header_length: 8 })
        );
        assert!(detect(b"[1]\x00").is_err());
        assert!(detect(b"\x00{}").is_err());
    }
}
