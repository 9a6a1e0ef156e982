//! The inference module against the real ONNX Runtime and the shipped models: every model answers
//! as `models/build.py` recorded, every bad tensor is refused with its exact error, a tampered
//! model is refused while the others serve, and a missing runtime says what to run.
//!
//! Needs `make setup` (the library in `.ort/lib/` or `ORT_DYLIB_PATH`); without it these tests
//! fail with the one-line message saying so.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use vouch::inference::runtime::{self, LibrarySource, RuntimeError};
use vouch::inference::{
    top_probability, Datatype, ElementProblem, ErrorKind, InferRequest, InferResponse,
    InferenceError, InputLimits, Registry, RegistryConfig, TensorData, TensorValues,
};

const MODELS: [&str; 3] = ["breast-cancer", "seed-mlp", "support-intent"];

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

fn load(dir: &Path, config: RegistryConfig) -> Registry {
    let registry = Registry::load(dir, config).expect("models folder readable");
    if let Some(e) = registry.unavailable() {
        panic!("{e}");
    }
    registry
}

fn registry() -> Registry {
    load(
        &models_dir(),
        RegistryConfig {
            pool_size: 2,
            ..RegistryConfig::default()
        },
    )
}

fn request(value: Value) -> InferRequest {
    serde_json::from_value(value).expect("valid v2 request JSON")
}

fn features(rows: usize) -> Vec<f32> {
    (0..rows * 30).map(|i| (i % 7) as f32 * 0.5).collect()
}

fn breast_cancer(shape: Value, datatype: &str, data: Value) -> InferRequest {
    request(
        json!({"inputs": [{"name": "features", "shape": shape, "datatype": datatype, "data": data}]}),
    )
}

fn infer_err(registry: &Registry, model: &str, request: InferRequest) -> InferenceError {
    match registry.prepare(model, None, request) {
        Ok(_) => panic!("the request was accepted"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn every_shipped_model_matches_its_reference_outputs() {
    let registry = registry();
    assert!(registry.ready());
    assert!(
        registry.refused().is_empty(),
        "refused: {:?}",
        registry.refused()
    );
    assert_eq!(
        registry
            .models()
            .map(|m| m.manifest().name.as_str())
            .collect::<Vec<_>>(),
        MODELS
    );
    for name in MODELS {
        let path = models_dir().join(name).join("reference.json");
        let reference: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let tolerance = reference["tolerance"].as_f64().unwrap();
        let version = reference["version"].as_str().unwrap();
        let cases = reference["cases"].as_array().unwrap();
        assert!(!cases.is_empty());
        for case in cases {
            let response = registry
                .infer(name, Some(version), request(case["request"].clone()))
                .await
                .unwrap();
            assert_eq!(response.model_name, name);
            assert_eq!(response.model_version, version);
            assert_eq!(response.id.as_deref(), case["request"]["id"].as_str());
            let got = serde_json::to_value(&response.outputs).unwrap();
            let want = case["outputs"].as_array().unwrap();
            assert_eq!(
                got.as_array().unwrap().len(),
                want.len(),
                "{name}: {}",
                case["description"]
            );
            for (g, w) in got.as_array().unwrap().iter().zip(want) {
                let what = format!("{name} / {} / {}", case["description"], w["name"]);
                assert_eq!(g["name"], w["name"], "{what}");
                assert_eq!(g["datatype"], w["datatype"], "{what}");
                assert_eq!(g["shape"], w["shape"], "{what}");
                let (g, w) = (g["data"].as_array().unwrap(), w["data"].as_array().unwrap());
                assert_eq!(g.len(), w.len(), "{what}");
                for (a, b) in g.iter().zip(w) {
                    let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                    assert!((a - b).abs() <= tolerance, "{what}: {a} vs {b}");
                }
            }
        }
    }
}

#[tokio::test]
async fn requested_outputs_only_and_in_request_order() {
    let registry = registry();
    let mut req = breast_cancer(json!([1, 30]), "FP32", json!(features(1)));
    req.outputs = Some(vec![serde_json::from_value(
        json!({"name": "probabilities"}),
    )
    .unwrap()]);
    let response = registry.infer("breast-cancer", None, req).await.unwrap();
    assert_eq!(response.outputs.len(), 1);
    assert_eq!(response.outputs[0].name, "probabilities");
    assert_eq!(response.outputs[0].shape, vec![1, 2]);
}

#[tokio::test]
async fn binary_input_gives_the_same_answer_as_json() {
    let registry = registry();
    let json_answer = registry
        .infer(
            "breast-cancer",
            None,
            breast_cancer(json!([2, 30]), "FP32", json!(features(2))),
        )
        .await
        .unwrap();
    let mut req = breast_cancer(json!([2, 30]), "FP32", Value::Null);
    req.inputs[0].data = TensorData::Binary(TensorValues::Fp32(features(2)).to_binary());
    let binary_answer = registry.infer("breast-cancer", None, req).await.unwrap();
    assert_eq!(json_answer.outputs, binary_answer.outputs);
    let probabilities = binary_answer.outputs[1].to_binary().unwrap();
    assert_eq!(probabilities.len(), 2 * 2 * 4);

    let mut text =
        request(json!({"inputs": [{"name": "text", "shape": [1, 1], "datatype": "BYTES"}]}));
    text.inputs[0].data =
        TensorData::Binary(TensorValues::Bytes(vec!["where is my parcel".into()]).to_binary());
    let answer = registry.infer("support-intent", None, text).await.unwrap();
    assert_eq!(
        answer.outputs[0].data,
        TensorData::Values(TensorValues::Int64(vec![5]))
    ); // order_status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_share_the_session_pool() {
    let registry = std::sync::Arc::new(registry());
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let registry = std::sync::Arc::clone(&registry);
        tasks.push(tokio::spawn(async move {
            let req = breast_cancer(json!([3, 30]), "FP32", json!(features(3)));
            registry.infer("breast-cancer", None, req).await.unwrap()
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn run_blocking_answers_without_an_async_runtime() {
    let registry = registry();
    let case = |rows| breast_cancer(json!([rows, 30]), "FP32", json!(features(rows)));
    let answer = registry
        .prepare("breast-cancer", None, case(2))
        .unwrap()
        .run_blocking()
        .unwrap();
    assert_eq!(answer.outputs[1].shape, vec![2, 2]);
    // Outside tokio, the async path says so instead of panicking.
    let call = registry.prepare("breast-cancer", None, case(1)).unwrap();
    let err = futures_lite_block_on(call.run()).unwrap_err();
    assert!(matches!(err, InferenceError::NoAsyncRuntime));
}

/// Polls a future to completion on this thread, without a tokio runtime.
fn futures_lite_block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

#[test]
fn lookups_distinguish_unknown_models_and_versions() {
    let registry = registry();
    let (manifest, version) = registry.resolve("breast-cancer", None).unwrap();
    assert_eq!(
        (manifest.name.as_str(), version.version.as_str()),
        ("breast-cancer", "1")
    );
    assert!(matches!(
        registry.resolve("nope", None),
        Err(InferenceError::UnknownModel { model }) if model == "nope"
    ));
    let err = registry.resolve("breast-cancer", Some("9")).unwrap_err();
    assert!(
        matches!(&err, InferenceError::UnknownVersion { model, version } if model == "breast-cancer" && version == "9")
    );
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn unknown_input_name() {
    let err = infer_err(
        &registry(),
        "breast-cancer",
        request(json!({"inputs": [
        {"name": "feature", "shape": [1, 30], "datatype": "FP32", "data": features(1)}]})),
    );
    assert!(
        matches!(&err, InferenceError::UnknownInput { name, expected } if name == "feature" && expected == &["features"])
    );
    assert_eq!(err.kind(), ErrorKind::BadRequest);
}

#[test]
fn missing_duplicate_and_dataless_inputs() {
    let registry = registry();
    let err = infer_err(&registry, "breast-cancer", request(json!({"inputs": []})));
    assert!(matches!(&err, InferenceError::MissingInput { name } if name == "features"));
    let one =
        json!({"name": "features", "shape": [1, 30], "datatype": "FP32", "data": features(1)});
    let err = infer_err(
        &registry,
        "breast-cancer",
        request(json!({"inputs": [one.clone(), one]})),
    );
    assert!(matches!(&err, InferenceError::DuplicateInput { name } if name == "features"));
    let err = infer_err(
        &registry,
        "breast-cancer",
        breast_cancer(json!([1, 30]), "FP32", Value::Null),
    );
    assert!(matches!(&err, InferenceError::MissingData { input } if input == "features"));
}

#[test]
fn wrong_datatype() {
    let registry = registry();
    let err = infer_err(
        &registry,
        "breast-cancer",
        breast_cancer(json!([1, 30]), "FP64", json!(features(1))),
    );
    assert!(matches!(
        err,
        InferenceError::WrongDatatype {
            expected: Datatype::Fp32,
            got: Datatype::Fp64,
            ..
        }
    ));
    let err = infer_err(
        &registry,
        "breast-cancer",
        breast_cancer(json!([1, 30]), "FP16", json!(features(1))),
    );
    assert!(
        matches!(&err, InferenceError::UnsupportedDatatype { datatype, .. } if datatype == "FP16")
    );
}

#[test]
fn wrong_shape() {
    let registry = registry();
    let err = infer_err(
        &registry,
        "breast-cancer",
        breast_cancer(json!([1, 29]), "FP32", json!(features(1))),
    );
    assert!(
        matches!(&err, InferenceError::WrongShape { expected, got, .. } if expected == &[-1, 30] && got == &[1, 29])
    );
    let err = infer_err(
        &registry,
        "breast-cancer",
        breast_cancer(json!([30]), "FP32", json!(features(1))),
    );
    assert!(matches!(&err, InferenceError::WrongShape { got, .. } if got == &[30]));
    let err = infer_err(
        &registry,
        "breast-cancer",
        breast_cancer(json!([-1, 30]), "FP32", json!(features(1))),
    );
    assert!(matches!(&err, InferenceError::WrongShape { got, .. } if got == &[-1, 30]));
    let err = infer_err(
        &registry,
        "breast-cancer",
        breast_cancer(json!([0, 30]), "FP32", json!([])),
    );
    assert!(matches!(&err, InferenceError::EmptyTensor { shape, .. } if shape == &[0, 30]));
}

#[test]
fn element_count_not_matching_the_shape() {
    let err = infer_err(
        &registry(),
        "breast-cancer",
        breast_cancer(json!([2, 30]), "FP32", json!(features(1))),
    );
    assert!(matches!(
        err,
        InferenceError::ElementCount {
            expected: 60,
            got: 30,
            ..
        }
    ));
    let mut req = breast_cancer(json!([1, 30]), "FP32", Value::Null);
    req.inputs[0].data = TensorData::Binary(vec![0; 30 * 4 - 1]);
    let err = infer_err(&registry(), "breast-cancer", req);
    assert!(matches!(
        err,
        InferenceError::BinarySize {
            expected: 120,
            got: 119,
            ..
        }
    ));
}

#[test]
fn non_numeric_data() {
    let registry = registry();
    let mut data = json!(features(1));
    data[3] = json!("abc");
    let err = infer_err(
        &registry,
        "breast-cancer",
        breast_cancer(json!([1, 30]), "FP32", data),
    );
    assert!(matches!(
        &err,
        InferenceError::BadElement { input, index: 3, datatype: Datatype::Fp32, problem: ElementProblem::WrongType } if input == "features"
    ));
    assert_eq!(
        err.to_string(),
        r#"input "features": element 3 is not of the datatype's JSON kind (FP32)"#
    );
    let err = infer_err(
        &registry,
        "breast-cancer",
        breast_cancer(json!([1, 30]), "FP32", json!([features(1), [null]])),
    );
    assert!(matches!(
        err,
        InferenceError::ElementCount {
            expected: 30,
            got: 31,
            ..
        }
    ));
    let text = request(
        json!({"inputs": [{"name": "text", "shape": [2, 1], "datatype": "BYTES", "data": ["ok", 7]}]}),
    );
    let err = infer_err(&registry, "support-intent", text);
    assert!(matches!(
        err,
        InferenceError::BadElement {
            index: 1,
            datatype: Datatype::Bytes,
            problem: ElementProblem::WrongType,
            ..
        }
    ));
}

#[test]
fn oversize_inputs() {
    let limits = InputLimits {
        max_elements: 60,
        max_bytes_element: 16,
        max_input_bytes: 200,
    };
    let registry = load(
        &models_dir(),
        RegistryConfig {
            pool_size: 1,
            intra_threads: 1,
            limits,
            ..RegistryConfig::default()
        },
    );
    let err = infer_err(
        &registry,
        "breast-cancer",
        breast_cancer(json!([3, 30]), "FP32", json!(features(3))),
    );
    assert!(matches!(
        err,
        InferenceError::TooManyElements {
            count: 90,
            limit: 60,
            ..
        }
    ));
    let huge = breast_cancer(json!([i64::MAX, 30]), "FP32", json!([]));
    let err = infer_err(&registry, "breast-cancer", huge);
    assert!(
        matches!(err, InferenceError::TooManyElements { count, .. } if count == i64::MAX as u128 * 30)
    );
    let err = infer_err(
        &registry,
        "breast-cancer",
        breast_cancer(json!([2, 30]), "FP32", json!(features(2))),
    );
    assert!(matches!(
        err,
        InferenceError::InputTooLarge {
            bytes: 240,
            limit: 200
        }
    ));
    let text = request(
        json!({"inputs": [{"name": "text", "shape": [1, 1], "datatype": "BYTES", "data": ["seventeen letters"]}]}),
    );
    let err = infer_err(&registry, "support-intent", text);
    assert!(matches!(
        err,
        InferenceError::BytesElementTooLong {
            index: 0,
            len: 17,
            limit: 16,
            ..
        }
    ));
}

#[test]
fn unknown_or_repeated_outputs() {
    let registry = registry();
    let mut req = breast_cancer(json!([1, 30]), "FP32", json!(features(1)));
    req.outputs = Some(vec![
        serde_json::from_value(json!({"name": "score"})).unwrap()
    ]);
    let err = infer_err(&registry, "breast-cancer", req.clone());
    assert!(
        matches!(&err, InferenceError::UnknownOutput { name, expected } if name == "score" && expected == &["label", "probabilities"])
    );
    req.outputs = Some(vec![
        serde_json::from_value(json!({"name": "label"}))
            .unwrap();
        2
    ]);
    assert!(matches!(
        infer_err(&registry, "breast-cancer", req),
        InferenceError::DuplicateOutput { .. }
    ));
}

#[test]
fn prepared_calls_expose_text_and_the_model_hash() {
    let registry = registry();
    let req = request(
        json!({"inputs": [{"name": "text", "shape": [2, 1], "datatype": "BYTES",
        "data": [["mail me at a@example.com"], ["thanks"]]}]}),
    );
    assert_eq!(
        req.text_inputs(),
        vec!["mail me at a@example.com", "thanks"]
    );
    let call = registry.prepare("support-intent", None, req).unwrap();
    assert_eq!(
        call.text_inputs().collect::<Vec<_>>(),
        vec!["mail me at a@example.com", "thanks"]
    );
    let (_, version) = registry.resolve("support-intent", None).unwrap();
    assert_eq!(
        (call.model(), call.version(), call.sha256()),
        ("support-intent", "1", version.sha256.as_str())
    );
}

fn copy_models() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for name in MODELS {
        let (from, to) = (models_dir().join(name), tmp.path().join(name));
        std::fs::create_dir_all(to.join("1")).unwrap();
        std::fs::copy(from.join("manifest.toml"), to.join("manifest.toml")).unwrap();
        std::fs::copy(from.join("1/model.onnx"), to.join("1/model.onnx")).unwrap();
    }
    tmp
}

#[test]
fn a_tampered_model_is_refused_while_the_others_serve() {
    let tmp = copy_models();
    let onnx = tmp.path().join("seed-mlp/1/model.onnx");
    let mut bytes = std::fs::read(&onnx).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&onnx, bytes).unwrap();
    let registry = load(tmp.path(), RegistryConfig::default());
    assert_eq!(
        registry
            .models()
            .map(|m| m.manifest().name.as_str())
            .collect::<Vec<_>>(),
        ["breast-cancer", "support-intent"]
    );
    let [(name, err)] = registry.refused() else {
        panic!("refused: {:?}", registry.refused())
    };
    assert_eq!(name, "seed-mlp");
    assert!(
        matches!(&**err, InferenceError::HashMismatch { model, path, .. } if model == "seed-mlp" && path == &onnx)
    );
    assert_eq!(err.kind(), ErrorKind::ModelRefused);
    // Asked for, it says it was refused and why, not that it is unknown.
    assert!(matches!(
        registry.resolve("seed-mlp", None),
        Err(InferenceError::Refused { model, reason })
            if model == "seed-mlp" && matches!(&*reason, InferenceError::HashMismatch { .. })
    ));
}

#[test]
fn a_manifest_that_misdescribes_its_graph_is_refused() {
    let tmp = copy_models();
    let manifest = tmp.path().join("breast-cancer/manifest.toml");
    let text = std::fs::read_to_string(&manifest).unwrap().replace(
        "shape = [\n    -1,\n    30,\n]",
        "shape = [\n    -1,\n    31,\n]",
    );
    std::fs::write(&manifest, text).unwrap();
    std::fs::remove_file(tmp.path().join("support-intent/1/model.onnx")).unwrap();
    let registry = load(tmp.path(), RegistryConfig::default());
    assert_eq!(registry.models().count(), 1);
    let reasons: Vec<_> = registry
        .refused()
        .iter()
        .map(|(n, e)| (n.as_str(), &**e))
        .collect();
    assert!(
        matches!(reasons[0], ("breast-cancer", InferenceError::ManifestDisagrees { tensor, .. }) if tensor == "features")
    );
    assert!(matches!(
        reasons[1],
        ("support-intent", InferenceError::ReadModel { .. })
    ));
}

#[test]
fn a_model_in_the_wrong_folder_or_pointing_outside_it_is_refused() {
    let tmp = copy_models();
    let seed = std::fs::read_to_string(tmp.path().join("seed-mlp/manifest.toml")).unwrap();
    std::fs::create_dir_all(tmp.path().join("renamed")).unwrap();
    std::fs::write(tmp.path().join("renamed/manifest.toml"), &seed).unwrap();
    std::fs::create_dir_all(tmp.path().join("escape")).unwrap();
    let escape = seed
        .replace("name = \"seed-mlp\"", "name = \"escape\"")
        .replace(
            "file = \"1/model.onnx\"",
            "file = \"../seed-mlp/1/model.onnx\"",
        );
    std::fs::write(tmp.path().join("escape/manifest.toml"), escape).unwrap();
    let registry = load(tmp.path(), RegistryConfig::default());
    assert_eq!(registry.models().count(), 3);
    let reasons: Vec<_> = registry
        .refused()
        .iter()
        .map(|(n, e)| (n.as_str(), &**e))
        .collect();
    assert!(
        matches!(reasons[0], ("escape", InferenceError::FileOutsideModel { file, .. }) if file == "../seed-mlp/1/model.onnx")
    );
    assert!(
        matches!(reasons[1], ("renamed", InferenceError::NameMismatch { name, .. }) if name == "seed-mlp")
    );
}

#[test]
fn a_missing_runtime_library_says_what_to_run_in_one_line() {
    let empty = tempfile::tempdir().unwrap();
    let err = runtime::locate(Some("".into()), empty.path()).unwrap_err();
    assert!(matches!(
        &err,
        RuntimeError::NotFound {
            from: LibrarySource::SetupFolder,
            ..
        }
    ));
    let message = err.to_string();
    assert!(!message.contains('\n'));
    assert!(
        message.contains("run `make setup`, or set ORT_DYLIB_PATH"),
        "{message}"
    );
    let err = runtime::locate(Some("/no/such/libonnxruntime.so".into()), empty.path()).unwrap_err();
    assert!(err.to_string().starts_with(
        "ONNX Runtime library not found at /no/such/libonnxruntime.so (from ORT_DYLIB_PATH)"
    ));
    assert_eq!(InferenceError::from(err).kind(), ErrorKind::Unavailable);
}

fn response(name: &str, shape: Vec<i64>, values: Vec<f32>) -> InferResponse {
    serde_json::from_value(json!({"model_name": "m", "model_version": "1",
        "outputs": [{"name": name, "shape": shape, "datatype": "FP32", "data": values}]}))
    .unwrap()
}

#[tokio::test]
async fn top_probability_is_the_least_confident_rows_top_class() {
    let registry = registry();
    let (_, bc) = registry.resolve("breast-cancer", None).unwrap();
    assert_eq!(
        top_probability(
            bc,
            &response("probabilities", vec![2, 2], vec![0.2, 0.8, 0.6, 0.4])
        ),
        Some(0.6000000238418579)
    );
    let (_, mlp) = registry.resolve("seed-mlp", None).unwrap();
    let p = top_probability(mlp, &response("probability", vec![2, 1], vec![0.9, 0.25])).unwrap();
    assert!((p - 0.75).abs() < 1e-6);
    assert_eq!(
        top_probability(mlp, &response("other", vec![1, 1], vec![0.5])),
        None
    );
    let answer = registry
        .infer(
            "breast-cancer",
            None,
            breast_cancer(json!([3, 30]), "FP32", json!(features(3))),
        )
        .await
        .unwrap();
    let p = top_probability(bc, &answer).unwrap();
    assert!((0.5..=1.0).contains(&p));
}

#[test]
fn the_registry_can_be_shared_between_http_workers() {
    fn shared<T: Send + Sync + 'static>() {}
    fn moved<T: Send + 'static>() {}
    shared::<Registry>();
    moved::<vouch::inference::PreparedCall>();
    moved::<InferenceError>();
}

/// A fast model runs on the calling thread once its calls have shown it fast; large inputs and
/// slow models go to the blocking pool. Both ways give the same answer.
#[tokio::test(flavor = "current_thread")]
async fn fast_models_run_on_the_calling_thread_once_seen_fast() {
    // The bound is a second, not the default 100 µs, so that a busy machine cannot make the
    // model look slow: what is tested is the rule, not this machine's speed.
    let registry = load(
        &models_dir(),
        RegistryConfig {
            inline_below: std::time::Duration::from_secs(1),
            ..RegistryConfig::default()
        },
    );
    let small = || breast_cancer(json!([1, 30]), "FP32", json!(features(1)));
    let first = registry.prepare("breast-cancer", None, small()).unwrap();
    assert!(!first.runs_inline(), "no call seen yet: the pool");
    let pooled = first.run().await.unwrap();
    let mut inline = None;
    for _ in 0..20 {
        let call = registry.prepare("breast-cancer", None, small()).unwrap();
        let was_inline = call.runs_inline();
        let answer = call.run().await.unwrap();
        assert_eq!(answer, pooled);
        if was_inline {
            inline = Some(answer);
        }
    }
    assert!(
        inline.is_some(),
        "a 30-feature model never ran inline (it takes far less than a second)"
    );
    // Set to zero, the bound sends every call to the pool.
    let never = load(
        &models_dir(),
        RegistryConfig {
            inline_below: std::time::Duration::ZERO,
            ..RegistryConfig::default()
        },
    );
    for _ in 0..5 {
        let call = never.prepare("breast-cancer", None, small()).unwrap();
        assert!(!call.runs_inline());
        assert_eq!(call.run().await.unwrap(), pooled);
    }
    // 600 rows of 30 FP32 are 72,000 bytes: past the inline bound, to the pool.
    let rows = vouch::inference::INLINE_MAX_INPUT / (30 * 4) + 1;
    let big = breast_cancer(json!([rows, 30]), "FP32", json!(features(rows)));
    let call = registry.prepare("breast-cancer", None, big).unwrap();
    assert!(!call.runs_inline());
    assert_eq!(
        call.run().await.unwrap().outputs.len(),
        pooled.outputs.len()
    );
}
