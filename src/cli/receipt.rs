//! `vouch receipt verify`: check a receipt offline with the log's verifier key and, given the
//! request and the response, open its input and output commitments.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ExitCode;
use crate::ledger::{commit, read_verifier_key, Receipt};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Verify a receipt: its entry, block and checkpoint; optionally its commitments.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// A receipt, or a whole response whose top-level `receipt` holds it (JSON file, `-` for
    /// standard input).
    pub receipt: PathBuf,
    /// The log's verifier key file.
    #[arg(long)]
    pub key: PathBuf,
    /// The JSON request that was sent: its `inputs` must open the input commitment.
    #[arg(long)]
    pub request: Option<PathBuf>,
    /// The JSON response that came back: its `outputs` must open the output commitment.
    #[arg(long)]
    pub response: Option<PathBuf>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// The call went over gRPC: the receipt may be a response's `receipt` parameter, and the
    /// request and response are `ModelInferRequest` and `ModelInferResponse` in protobuf's JSON
    /// mapping (`docs/LEDGER.md`, "Commitments").
    #[arg(long)]
    pub grpc: bool,
}

fn read_json(path: &Path) -> Result<Value, String> {
    let bytes = if path == Path::new("-") {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut b)
            .map_err(|e| format!("stdin: {e}"))?;
        b
    } else {
        std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?
    };
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: not JSON: {e}", path.display()))
}

pub fn run(cmd: Command) -> ExitCode {
    let Command::Verify(args) = cmd;
    match verify(&args) {
        Ok(report) => {
            if args.json {
                println!("{report}");
            } else {
                let text = |k: &str| match report.get(k).unwrap_or(&Value::Null) {
                    Value::String(s) => s.clone(),
                    Value::Null => "-".into(),
                    other => other.to_string(),
                };
                println!(
                    "receipt verified: seq {} in block {} under checkpoint of {} blocks; decision {}, model {}, caller {}",
                    text("seq"),
                    text("height"),
                    text("checkpoint_size"),
                    text("decision"),
                    text("model"),
                    text("caller")
                );
                for c in ["input", "output"] {
                    if let Some(v) = report.get(c) {
                        println!("{c} commitment opens: {v}");
                    }
                }
            }
            ExitCode::Ok
        }
        Err((code, msg)) => {
            if args.json {
                println!("{}", serde_json::json!({"verified": false, "error": msg}));
            }
            eprintln!("vouch receipt verify: {msg}");
            code
        }
    }
}

fn verify(args: &VerifyArgs) -> Result<Value, (ExitCode, String)> {
    let bad = |e: String| (ExitCode::BadInput, e);
    let key = read_verifier_key(&args.key).map_err(|e| bad(e.to_string()))?;
    let mut doc = read_json(&args.receipt).map_err(bad)?;
    if let Some(inner) = doc.get_mut("receipt") {
        doc = inner.take();
    } else if let Some(inner) = args
        .grpc
        .then(|| super::receipt_grpc::receipt(&doc))
        .flatten()
    {
        doc = inner.map_err(bad)?;
    }
    let receipt: Receipt =
        serde_json::from_value(doc).map_err(|e| bad(format!("not a receipt: {e}")))?;
    let v = receipt
        .verify(&key)
        .map_err(|e| (ExitCode::VerificationFailed, format!("FAILED: {e}")))?;
    let mut report = serde_json::json!({
        "verified": true,
        "seq": v.entry.seq,
        "height": v.header.height,
        "checkpoint_size": v.checkpoint.size,
        "time": v.entry.time,
        "decision": v.entry.decision.as_str(),
        "model": v.entry.model.as_ref().map(|m| format!("{}:{}", m.name, m.version)),
        "caller": v.entry.caller,
        "rules": v.entry.rules,
        "obligations": v.entry.obligations,
    });
    let needs_nonce = args.request.is_some() || args.response.is_some();
    let nonce = match (needs_nonce, receipt.nonce) {
        (false, _) => return Ok(report),
        (true, Some(n)) => n,
        (true, None) => {
            return Err(bad(
                "the receipt carries no nonce (only the one returned with the answer does)".into(),
            ))
        }
    };
    if let Some(path) = &args.request {
        let req = read_json(path).map_err(bad)?;
        let computed = if args.grpc {
            super::receipt_grpc::input(&nonce, req).map_err(bad)?
        } else {
            let inputs = req.get("inputs").unwrap_or(&Value::Null);
            commit(&nonce, inputs).map_err(|e| bad(e.to_string()))?
        };
        if v.entry.input != Some(computed) {
            return Err((ExitCode::VerificationFailed, format!("FAILED: the request's inputs do not open the input commitment (recorded {:?}, computed {computed})", v.entry.input)));
        }
        if let Some(o) = report.as_object_mut() {
            o.insert("input".into(), Value::Bool(true));
        }
    }
    if let Some(path) = &args.response {
        let resp = read_json(path).map_err(bad)?;
        let computed = if args.grpc {
            super::receipt_grpc::output(&nonce, resp).map_err(bad)?
        } else {
            let outputs = resp.get("outputs").cloned().unwrap_or(Value::Null);
            commit(&nonce, &outputs).map_err(|e| bad(e.to_string()))?
        };
        if v.entry.output != Some(computed) {
            return Err((ExitCode::VerificationFailed, format!("FAILED: the response's outputs do not open the output commitment (recorded {:?}, computed {computed})", v.entry.output)));
        }
        if let Some(o) = report.as_object_mut() {
            o.insert("output".into(), Value::Bool(true));
        }
    }
    Ok(report)
}
