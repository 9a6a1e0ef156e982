//! The Open Inference Protocol v2 over gRPC, against the real server started with
//! `--grpc-bind 127.0.0.1:0`: the v2 gRPC Python client (`tritonclient[grpc]` from PyPI, installed
//! by `make test` into `.venv-test`; the interpreter in `VOUCH_TEST_PYTHON`, else `python3`) makes
//! every kind of call, and the real `vouch receipt verify --grpc` opens the commitments from the
//! requests and responses it wrote as JSON. Then hostile messages from a Rust client.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod harness;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use vouch::ledger::{Decision, Receipt};
use vouch::server::grpc::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use vouch::server::grpc::proto::model_infer_request::InferInputTensor;
use vouch::server::grpc::proto::{
    infer_parameter::ParameterChoice, InferParameter, InferTensorContents, ModelInferRequest,
    ServerLiveRequest,
};

fn grpc_server(extra: &[&str]) -> harness::Server {
    let mut args = vec!["--grpc-bind".to_string(), "127.0.0.1:0".to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let s = harness::start_with(harness::Options {
        extra_args: args,
        ..harness::Options::default()
    });
    assert!(
        s.grpc.is_some(),
        "the server did not print its gRPC address"
    );
    s
}

/// `vouch receipt verify RECEIPT --grpc --json ARGS…` in `dir`: exit code and the JSON report.
fn verify(s: &harness::Server, dir: &Path, receipt: &str, args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_vouch"))
        .current_dir(dir)
        .args(["receipt", "verify", receipt, "--grpc", "--json", "--key"])
        .arg(s.data().join("log.pub"))
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "not a JSON report: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), report)
}

#[test]
fn the_v2_grpc_client_calls_and_its_receipts_open() {
    let python = std::env::var("VOUCH_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import tritonclient.grpc"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        _ => panic!("{python} cannot import tritonclient.grpc: run `make test`, which installs tests/python/requirements.txt into .venv-test"),
    }
    let s = grpc_server(&[]);
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(&python)
        .arg(harness::root().join("tests/python/v2_grpc_client.py"))
        .arg(s.grpc.as_deref().unwrap())
        .arg(&s.caller_key)
        .arg(work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: HashMap<String, Value> = stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| (v["check"].as_str().unwrap().to_string(), v))
        .collect();
    for check in ["health", "metadata", "raw", "contents", "denied", "codes"] {
        assert!(lines.contains_key(check), "{check} missing: {stdout}");
    }
    // The same row gives the same answer either way.
    let (raw_p, contents_p) = (
        lines["raw"]["p_malignant"].as_f64().unwrap(),
        lines["contents"]["p_malignant"].as_f64().unwrap(),
    );
    assert!((raw_p - contents_p).abs() < 1e-6, "{raw_p} {contents_p}");
    assert!(lines["denied"]["details"]
        .as_str()
        .unwrap()
        .contains("denied by policy"));
    let codes = &lines["codes"];
    for (call, code) in [
        ("infer_no_key", "UNAUTHENTICATED"),
        ("infer_wrong_key", "UNAUTHENTICATED"),
        ("metadata_no_key", "UNAUTHENTICATED"),
        ("ready_wrong_key", "UNAUTHENTICATED"),
        ("server_metadata_no_key", "UNAUTHENTICATED"),
        ("unknown_model", "NOT_FOUND"),
        ("unknown_model_ready", "NOT_FOUND"),
        ("unserved_rpc", "UNIMPLEMENTED"),
        ("unserved_rpc_no_key", "UNAUTHENTICATED"),
        ("short_contents", "INVALID_ARGUMENT"),
        ("negative_dim", "INVALID_ARGUMENT"),
    ] {
        assert_eq!(codes[call], code, "{call}: {codes}");
    }

    let dir = work.path();
    // Raw tensors: the receipt in the response parameter verifies, and the request and response
    // as written by MessageToJson open both commitments.
    let (code, report) = verify(
        &s,
        dir,
        "raw_response.json",
        &[
            "--request",
            "raw_request.json",
            "--response",
            "raw_response.json",
        ],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["input"], true);
    assert_eq!(report["output"], true);
    assert_eq!(report["decision"], "allow");
    assert_eq!(report["caller"], "clinic");
    // Typed contents, likewise.
    let (code, report) = verify(
        &s,
        dir,
        "contents_response.json",
        &[
            "--request",
            "contents_request.json",
            "--response",
            "contents_response.json",
        ],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        (&report["input"], &report["output"]),
        (&Value::Bool(true), &Value::Bool(true))
    );
    // One call's request does not open another's commitment.
    let (code, report) = verify(
        &s,
        dir,
        "raw_response.json",
        &["--request", "contents_request.json"],
    );
    assert_eq!(code, 1, "{report}");
    // A request altered by one value does not open it either.
    let mut altered: Value =
        serde_json::from_slice(&std::fs::read(dir.join("contents_request.json")).unwrap()).unwrap();
    altered["inputs"][0]["contents"]["fp32Contents"][0] = Value::from(18.0);
    std::fs::write(dir.join("altered.json"), altered.to_string()).unwrap();
    let (code, report) = verify(
        &s,
        dir,
        "contents_response.json",
        &["--request", "altered.json"],
    );
    assert_eq!(code, 1, "{report}");
    assert!(report["error"]
        .as_str()
        .unwrap()
        .contains("input commitment"));

    // The denied call's receipt, from the trailing metadata, verifies and opens its input.
    let denied: Receipt =
        serde_json::from_slice(&std::fs::read(dir.join("denied_receipt.json")).unwrap()).unwrap();
    let v = denied.verify(&s.verifier).unwrap();
    assert_eq!(v.entry.decision(), Decision::Deny);
    assert!(v
        .entry
        .rules()
        .iter()
        .any(|r| r.as_str() == "privacy.consent-required"));
    assert_eq!(v.entry.output(), None);
    assert_eq!(
        v.entry.context().data_categories,
        vec!["health".to_string()]
    );
    let (code, report) = verify(
        &s,
        dir,
        "denied_receipt.json",
        &["--request", "denied_request.json"],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["decision"], "deny");
    assert_eq!(report["input"], true);
}

fn param(choice: ParameterChoice) -> InferParameter {
    InferParameter {
        parameter_choice: Some(choice),
    }
}

fn allowed(inputs: Vec<InferInputTensor>, raw: Vec<Vec<u8>>) -> ModelInferRequest {
    ModelInferRequest {
        model_name: "breast-cancer".into(),
        parameters: [
            (
                "purpose",
                param(ParameterChoice::StringParam("medical-triage".into())),
            ),
            ("consent", param(ParameterChoice::BoolParam(true))),
            ("separate_consent", param(ParameterChoice::BoolParam(true))),
            (
                "data_categories",
                param(ParameterChoice::StringParam("health".into())),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
        inputs,
        raw_input_contents: raw,
        ..Default::default()
    }
}

fn features(shape: Vec<i64>) -> InferInputTensor {
    InferInputTensor {
        name: "features".into(),
        datatype: "FP32".into(),
        shape,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_grpc_messages_are_refused_without_harm() {
    let s = grpc_server(&["--max-body", "65536"]);
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", s.grpc.as_deref().unwrap()))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut client = GrpcInferenceServiceClient::new(channel).max_encoding_message_size(usize::MAX);
    let key: tonic::metadata::MetadataValue<_> =
        format!("Bearer {}", s.caller_key).parse().unwrap();
    let row: Vec<u8> = (0..30).flat_map(|i| (i as f32).to_le_bytes()).collect();
    let with_key = |m: ModelInferRequest| {
        let mut r = tonic::Request::new(m);
        r.metadata_mut().insert("authorization", key.clone());
        r
    };

    let mut cases: Vec<(&str, ModelInferRequest, Vec<tonic::Code>)> = vec![
        (
            "more than --max-body",
            allowed(vec![features(vec![1, 30])], vec![vec![0u8; 100_000]]),
            vec![tonic::Code::OutOfRange, tonic::Code::ResourceExhausted],
        ),
        (
            "fewer bytes than the shape needs",
            allowed(vec![features(vec![1, 30])], vec![row[..116].to_vec()]),
            vec![tonic::Code::InvalidArgument],
        ),
        (
            "a negative dimension",
            allowed(vec![features(vec![-3, 30])], vec![row.clone()]),
            vec![tonic::Code::InvalidArgument],
        ),
        (
            "dimensions whose product overflows",
            allowed(
                vec![features(vec![i64::MAX, i64::MAX, 30])],
                vec![row.clone()],
            ),
            vec![tonic::Code::InvalidArgument],
        ),
        (
            "a thousand dimensions",
            allowed(vec![features(vec![1; 1000])], vec![row.clone()]),
            vec![tonic::Code::InvalidArgument],
        ),
        (
            "more raw entries than inputs",
            allowed(vec![features(vec![1, 30])], vec![row.clone(), row.clone()]),
            vec![tonic::Code::InvalidArgument],
        ),
        (
            "raw entries and contents at once",
            allowed(
                vec![InferInputTensor {
                    contents: Some(InferTensorContents {
                        fp32_contents: vec![0.0; 30],
                        ..Default::default()
                    }),
                    ..features(vec![1, 30])
                }],
                vec![row.clone()],
            ),
            vec![tonic::Code::InvalidArgument],
        ),
        (
            "contents in another datatype's field",
            allowed(
                vec![InferInputTensor {
                    contents: Some(InferTensorContents {
                        int64_contents: vec![1; 30],
                        ..Default::default()
                    }),
                    ..features(vec![1, 30])
                }],
                vec![],
            ),
            vec![tonic::Code::InvalidArgument],
        ),
        (
            "a thousand inputs",
            allowed((0..1_000).map(|_| features(vec![1, 30])).collect(), vec![]),
            vec![tonic::Code::InvalidArgument],
        ),
        (
            "a datatype vouch does not know",
            allowed(
                vec![InferInputTensor {
                    datatype: "FP8".into(),
                    ..features(vec![1, 30])
                }],
                vec![row.clone()],
            ),
            vec![tonic::Code::InvalidArgument],
        ),
    ];
    for (what, msg, codes) in cases.drain(..) {
        let err = client.model_infer(with_key(msg)).await.unwrap_err();
        assert!(codes.contains(&err.code()), "{what}: {err:?}");
    }
    // Without a key, even an oversized message is refused for the key, before it is read.
    let err = client
        .model_infer(tonic::Request::new(allowed(
            vec![features(vec![1, 30])],
            vec![vec![0u8; 100_000]],
        )))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::Unauthenticated, "{err:?}");

    // The server is still there, and a good call still works.
    client
        .server_live(tonic::Request::new(ServerLiveRequest {}))
        .await
        .unwrap();
    let ok = client
        .model_infer(with_key(allowed(vec![features(vec![1, 30])], vec![row])))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ok.raw_output_contents.len(), 2);
    let receipt = match &ok.parameters["receipt"].parameter_choice {
        Some(ParameterChoice::StringParam(s)) => s.clone(),
        other => panic!("no receipt: {other:?}"),
    };
    let receipt: Receipt = serde_json::from_str(&receipt).unwrap();
    assert_eq!(
        receipt.verify(&s.verifier).unwrap().entry.decision(),
        Decision::Allow
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_overruns_its_time_is_recorded_and_its_receipt_trails_the_status() {
    let s = grpc_server(&["--timeout-ms", "0"]);
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", s.grpc.as_deref().unwrap()))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut client = GrpcInferenceServiceClient::new(channel);
    let rows = 2000;
    let raw: Vec<u8> = (0..rows * 30)
        .flat_map(|i| ((i % 97) as f32).to_le_bytes())
        .collect();
    // Past a 0 ms deadline whenever the model answers: the first call overruns.
    let mut req = tonic::Request::new(allowed(vec![features(vec![rows, 30])], vec![raw]));
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", s.caller_key).parse().unwrap(),
    );
    let status = client
        .model_infer(req)
        .await
        .expect_err("a 0 ms timeout answers DEADLINE_EXCEEDED");
    assert_eq!(status.code(), tonic::Code::DeadlineExceeded, "{status:?}");
    assert!(status.message().contains("0 ms"), "{status:?}");
    let receipt = status
        .metadata()
        .get("vouch-receipt")
        .expect("the receipt trails the status")
        .to_str()
        .unwrap();
    let receipt: Receipt = serde_json::from_str(receipt).unwrap();
    let v = receipt.verify(&s.verifier).unwrap();
    assert_eq!(v.entry.decision(), Decision::Error);
    assert_eq!(v.entry.output(), None);
    assert_eq!(v.entry.caller().map(|c| c.as_str()), Some("clinic"));
}
