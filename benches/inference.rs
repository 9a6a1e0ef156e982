//! Time per call for each shipped model, side by side in one run:
//!
//! - `registry`: [`Registry::infer`] on a one-row v2 JSON request (checking, conversion to ORT
//!   values, a pooled session on tokio's blocking pool, conversion back);
//! - `run_blocking`: the same on the calling thread (`prepare`, then `PreparedCall::run_blocking`),
//!   i.e. without the hand-off to the blocking pool;
//! - `prepare`: only the checking and parsing part ([`Registry::prepare`]);
//! - `ort-direct`: `Session::run` on a session built with the same options and a prebuilt tensor.
//!
//! and, once, `tokio/spawn_blocking`: an empty round trip through tokio's blocking pool, the
//! hand-off every registry call pays so that async workers never block.
//!
//! Both sides use one intra-op thread. Run with
//! `cargo bench --bench inference` (needs `make setup`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a measurement: a failed assumption stops it, loudly

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ort::session::Session;
use ort::value::{DynValue, Tensor};
use serde_json::Value;
use vouch::inference::{runtime, InferRequest, Registry, RegistryConfig};

const MODELS: [&str; 3] = ["breast-cancer", "support-intent", "seed-mlp"];

fn models_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("models")
}

/// The one-row request recorded in the model's `reference.json` (its second case).
fn one_row_request(model: &str) -> InferRequest {
    let path = models_dir().join(model).join("reference.json");
    let text = std::fs::read_to_string(&path).expect("reference.json readable");
    let reference: Value = serde_json::from_str(&text).expect("reference.json is JSON");
    serde_json::from_value(reference["cases"][1]["request"].clone()).expect("a v2 request")
}

/// The same input as an ORT tensor, built once.
fn prebuilt_tensor(request: &InferRequest) -> (String, DynValue) {
    let input = &request.inputs[0];
    let leaves = flat(&serde_json::to_value(&input.data).expect("JSON data"));
    let shape = input.shape.clone();
    let value = match input.datatype.as_str() {
        "BYTES" => {
            let strings: Vec<String> = leaves
                .iter()
                .map(|v| v.as_str().expect("string").to_owned())
                .collect();
            Tensor::from_string_array((shape, strings.as_slice()))
                .expect("string tensor")
                .into_dyn()
        }
        _ => {
            let floats: Vec<f32> = leaves
                .iter()
                .map(|v| v.as_f64().expect("number") as f32)
                .collect();
            Tensor::from_array((shape, floats))
                .expect("f32 tensor")
                .into_dyn()
        }
    };
    (input.name.clone(), value)
}

/// A session with the options the registry uses.
fn session(environment: &ort::environment::Environment, file: &Path) -> ort::Result<Session> {
    Session::builder(environment)?
        .with_intra_threads(1)?
        .with_inter_threads(1)?
        .commit_from_file(file)
}

fn flat(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items.iter().flat_map(flat).collect(),
        leaf => vec![leaf.clone()],
    }
}

fn bench(c: &mut Criterion) {
    let rt = match runtime::init() {
        Ok(rt) => rt,
        Err(e) => panic!("{e}"),
    };
    let registry = Registry::load(
        &models_dir(),
        RegistryConfig {
            pool_size: 1,
            intra_threads: 1,
            ..Default::default()
        },
    )
    .expect("models folder readable");
    assert!(
        registry.refused().is_empty(),
        "refused: {:?}",
        registry.refused()
    );
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio");

    c.bench_function("tokio/spawn_blocking", |b| {
        b.to_async(&tokio).iter(|| async {
            tokio::task::spawn_blocking(|| ())
                .await
                .expect("blocking task")
        })
    });

    for model in MODELS {
        let request = one_row_request(model);
        let mut group = c.benchmark_group(model);

        group.bench_function("registry", |b| {
            b.to_async(&tokio).iter_batched(
                || request.clone(),
                |r| async { registry.infer(model, None, r).await.expect("inference") },
                BatchSize::SmallInput,
            )
        });

        group.bench_function("run_blocking", |b| {
            b.iter_batched(
                || request.clone(),
                |r| {
                    let call = registry.prepare(model, None, r).expect("valid request");
                    call.run_blocking().expect("inference")
                },
                BatchSize::SmallInput,
            )
        });

        group.bench_function("prepare", |b| {
            b.iter_batched(
                || request.clone(),
                |r| registry.prepare(model, None, r).expect("valid request"),
                BatchSize::SmallInput,
            )
        });

        let file = models_dir().join(model).join("1/model.onnx");
        let mut session = session(rt.environment(), &file).expect("session");
        let (name, tensor) = prebuilt_tensor(&request);
        group.bench_function("ort-direct", |b| {
            b.iter(|| {
                let outputs = session
                    .run(ort::inputs![name.as_str() => &tensor])
                    .expect("run");
                outputs.len()
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
