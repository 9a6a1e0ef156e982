//! `vouch receipt verify`: check a receipt offline with the log's verifier key and, given the
//! request and the response, open its input and output commitments. The forms a saved request or
//! response can take (JSON, the binary tensor data extension) are read in `saved`.

mod binary;
mod grpc;
mod saved;

use std::path::PathBuf;

use serde_json::Value;

use super::failure::Failure;
use super::ExitCode;
use crate::ledger::{read_verifier_key, Receipt};
use saved::Saved;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Verify a receipt: its entry, block and checkpoint; optionally its commitments.
    Verify(VerifyArgs),
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// A receipt, or a whole response whose top-level `receipt` holds it (JSON file, `-` for
    /// standard input; a binary-extension response is read by its JSON header).
    pub receipt: PathBuf,
    /// The log's verifier key file.
    #[arg(long)]
    pub key: PathBuf,
    /// The request that was sent, as JSON or in the binary tensor data extension (a JSON header
    /// followed by raw tensors): it must open the input commitment.
    #[arg(long)]
    pub request: Option<PathBuf>,
    /// The `Inference-Header-Content-Length` of a binary-extension `--request` (without it, the
    /// header is the file's leading JSON document).
    #[arg(long, value_name = "BYTES", requires = "request")]
    pub request_header_length: Option<usize>,
    /// The response that came back (the body as received, JSON or binary extension): its
    /// outputs must open the output commitment. A denied or failed call has no output
    /// commitment: then the response must carry no outputs.
    #[arg(long)]
    pub response: Option<PathBuf>,
    /// The `Inference-Header-Content-Length` of a binary-extension `--response` (without it, the
    /// header is the file's leading JSON document).
    #[arg(long, value_name = "BYTES", requires = "response")]
    pub response_header_length: Option<usize>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// The call went over gRPC: the receipt may be a response's `receipt` parameter, and the
    /// request and response are `ModelInferRequest` and `ModelInferResponse` in protobuf's JSON
    /// mapping (`docs/LEDGER.md`, "Commitments").
    #[arg(long, conflicts_with_all = ["request_header_length", "response_header_length"])]
    pub grpc: bool,
    /// Accept only a checkpoint cosigned by witnesses: the key file of one (`vouch keygen`'s
    /// form or the cosigner key `vouch witness serve` prints); repeatable.
    #[arg(long = "witness-key", value_name = "FILE")]
    pub witness_keys: Vec<PathBuf>,
    /// How many of the --witness-key witnesses must have cosigned [default: all].
    #[arg(long, requires = "witness_keys")]
    pub witness_quorum: Option<usize>,
    /// A receipt of the same entry against a cosigned checkpoint (`GET
    /// /v1/receipts/{seq}?cosigned=true`), for a receipt whose own checkpoint is not cosigned
    /// (the one returned with the answer, which carries the nonce).
    #[arg(long, requires = "witness_keys")]
    pub cosigned: Option<PathBuf>,
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
                let size = report
                    .get("checkpoint_size")
                    .and_then(Value::as_u64)
                    .unwrap_or(0);
                println!(
                    "receipt verified: seq {} in block {} under checkpoint of {}; decision {}, model {}, caller {}",
                    text("seq"),
                    text("height"),
                    super::counted(size, "block", "blocks"),
                    text("decision"),
                    text("model"),
                    text("caller")
                );
                if let Some(Value::Array(names)) = report.get("cosigned_by") {
                    let names: Vec<String> = names
                        .iter()
                        .filter_map(|n| n.as_str().map(str::to_string))
                        .collect();
                    println!(
                        "cosigned by {} under a checkpoint of {}",
                        names.join(", "),
                        super::counted(
                            report
                                .get("cosigned_size")
                                .and_then(Value::as_u64)
                                .unwrap_or(0),
                            "block",
                            "blocks"
                        )
                    );
                }
                if report.get("input") == Some(&Value::Bool(true)) {
                    println!("input commitment opens: true");
                }
                match report.get("output") {
                    Some(Value::Bool(true)) => println!("output commitment opens: true"),
                    Some(Value::Null) => println!(
                        "no output to open: the call's decision is {}; a denied or failed call \
                         records no output commitment, and the response carries no outputs",
                        text("decision")
                    ),
                    _ => {}
                }
            }
            ExitCode::Ok
        }
        Err(failure) => {
            if args.json {
                println!("{}", failure.unverified_json());
            }
            failure.report("receipt verify")
        }
    }
}

/// With `--witness-key`: the witnesses that cosigned the checkpoint the entry is proven under —
/// the receipt's own, or that of the `--cosigned` receipt of the same entry and block — and that
/// checkpoint's size; a failure when fewer than the quorum did.
fn witnessed(
    args: &VerifyArgs,
    key: &crate::ledger::VerifierKey,
    receipt: &Receipt,
) -> Result<Option<(Vec<String>, u64)>, Failure> {
    let Some((witnesses, quorum)) =
        super::witness::demanded(&args.witness_keys, args.witness_quorum)?
    else {
        return Ok(None);
    };
    let other;
    let proven = match &args.cosigned {
        None => receipt,
        Some(path) => {
            let mut doc = Saved::read(path, None)
                .and_then(|saved| saved.json())
                .map_err(Failure::bad_input)?;
            if let Some(inner) = doc.get_mut("receipt") {
                doc = inner.take();
            }
            other = serde_json::from_value::<Receipt>(doc)
                .map_err(|e| Failure::bad_input(format!("--cosigned is not a receipt: {e}")))?;
            other.verify(key).map_err(|e| {
                Failure::verification(format!("the --cosigned receipt does not verify: {e}"))
            })?;
            if other.entry != receipt.entry || other.block != receipt.block {
                return Err(Failure::verification(
                    "the --cosigned receipt is of another entry or block than the receipt",
                ));
            }
            &other
        }
    };
    let size = crate::ledger::Checkpoint::open(&proven.checkpoint, key)
        .map_err(|e| Failure::verification(e.to_string()))?
        .size;
    let names =
        crate::ledger::cosigned_by(&proven.checkpoint, &witnesses, quorum).map_err(|e| {
            Failure::verification(format!(
                "{e}; a receipt against the newest cosigned checkpoint comes from \
             GET /v1/receipts/{{seq}}?cosigned=true (pass it with --cosigned)"
            ))
        })?;
    Ok(Some((names, size)))
}

fn verify(args: &VerifyArgs) -> Result<Value, Failure> {
    let key = read_verifier_key(&args.key).map_err(Failure::bad_input)?;
    let mut doc = Saved::read(&args.receipt, None)
        .and_then(|saved| saved.json())
        .map_err(Failure::bad_input)?;
    if let Some(inner) = doc.get_mut("receipt") {
        doc = inner.take();
    } else if let Some(inner) = args.grpc.then(|| grpc::receipt(&doc)).flatten() {
        doc = inner.map_err(Failure::bad_input)?;
    }
    let receipt: Receipt = serde_json::from_value(doc)
        .map_err(|e| Failure::bad_input(format!("not a receipt: {e}")))?;
    let v = receipt
        .verify(&key)
        .map_err(|e| Failure::verification(e.to_string()))?;
    let witnessed = witnessed(args, &key, &receipt)?;
    let decision = v.entry.decision().as_str();
    let mut report = serde_json::json!({
        "verified": true,
        "seq": v.entry.seq(),
        "height": v.header.height,
        "checkpoint_size": v.checkpoint.size,
        "time": v.entry.time(),
        "decision": decision,
        "model": v.entry.model().map(|m| format!("{}:{}", m.name, m.version)),
        "caller": v.entry.caller(),
        "rules": v.entry.rules(),
        "obligations": v.entry.obligations(),
    });
    if let (Some((names, size)), Some(o)) = (witnessed, report.as_object_mut()) {
        o.insert("cosigned_by".into(), names.into());
        o.insert("cosigned_size".into(), size.into());
    }
    let needs_nonce = args.request.is_some() || args.response.is_some();
    let nonce = match (needs_nonce, receipt.nonce) {
        (false, _) => return Ok(report),
        (true, Some(n)) => n,
        (true, None) => {
            return Err(Failure::bad_input(
                "the receipt carries no nonce (only the one returned with the answer does)",
            ))
        }
    };
    if let Some(path) = &args.request {
        let saved = Saved::read(path, args.request_header_length).map_err(Failure::bad_input)?;
        let computed = if args.grpc {
            grpc::input(&nonce, saved.json().map_err(Failure::bad_input)?)
                .map_err(Failure::bad_input)?
        } else {
            saved.input_commitment(&nonce).map_err(Failure::bad_input)?
        };
        match v.entry.input() {
            Some(recorded) if recorded == computed => {}
            Some(recorded) => {
                return Err(Failure::verification(format!(
                    "the request's inputs do not open the input commitment (recorded {recorded}, \
                     computed {computed})"
                )))
            }
            None => {
                return Err(Failure::verification(
                    "the entry records no input commitment, so no request opens it",
                ))
            }
        }
        if let Some(o) = report.as_object_mut() {
            o.insert("input".into(), Value::Bool(true));
        }
    }
    if let Some(path) = &args.response {
        let saved = Saved::read(path, args.response_header_length).map_err(Failure::bad_input)?;
        let computed = if args.grpc {
            Some(
                grpc::output(&nonce, saved.json().map_err(Failure::bad_input)?)
                    .map_err(Failure::bad_input)?,
            )
        } else {
            saved
                .output_commitment(&nonce)
                .map_err(Failure::bad_input)?
        };
        let opened = match (v.entry.output(), computed) {
            (Some(recorded), Some(computed)) if recorded == computed => Value::Bool(true),
            (Some(recorded), Some(computed)) => {
                return Err(Failure::verification(format!(
                    "the response's outputs do not open the output commitment (recorded \
                     {recorded}, computed {computed})"
                )))
            }
            (Some(recorded), None) => {
                return Err(Failure::verification(format!(
                    "the entry records an output commitment ({recorded}), but the response \
                     carries no outputs"
                )))
            }
            (None, Some(_)) => {
                return Err(Failure::verification(format!(
                    "the response carries outputs, but the entry (decision {decision}) records \
                     no output commitment: the ledger does not vouch for them"
                )))
            }
            // A denied or failed call: no outputs, nothing recorded to open.
            (None, None) => Value::Null,
        };
        if let Some(o) = report.as_object_mut() {
            o.insert("output".into(), opened);
        }
    }
    Ok(report)
}
