//! A load generator for vouch's gRPC listener: N connections, each with one call in flight at a
//! time, calling ModelInfer on `breast-cancer` with one row in `raw_input_contents` (as
//! tritonclient.grpc sends it) for a fixed time; prints calls/s, p50 and p99 and counts the calls
//! that did not answer OK (`scripts/load/grpc.sh`, `docs/BENCHMARKS.md`).
//!
//! Run: `cargo run --release --example grpc_load -- HOST:PORT API_KEY [CONNECTIONS] [SECONDS]`
//! (defaults 32 and 10). Prints one line:
//! `RESULT rps=… p50_ms=… p99_ms=… non_ok=… total=…`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a measurement: a failed assumption stops it, loudly

use std::collections::HashMap;
use std::time::{Duration, Instant};

use vouch::server::grpc::proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use vouch::server::grpc::proto::infer_parameter::ParameterChoice;
use vouch::server::grpc::proto::model_infer_request::InferInputTensor;
use vouch::server::grpc::proto::{InferParameter, ModelInferRequest};

const ROW: [f32; 30] = [
    17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871, 1.095, 0.9053,
    8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193, 25.38, 17.33, 184.6,
    2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189,
];

fn param(choice: ParameterChoice) -> InferParameter {
    InferParameter {
        parameter_choice: Some(choice),
    }
}

fn request() -> ModelInferRequest {
    let parameters: HashMap<String, InferParameter> = [
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
    .collect();
    ModelInferRequest {
        model_name: "breast-cancer".into(),
        parameters,
        inputs: vec![InferInputTensor {
            name: "features".into(),
            datatype: "FP32".into(),
            shape: vec![1, 30],
            ..Default::default()
        }],
        raw_input_contents: vec![ROW.iter().flat_map(|x| x.to_le_bytes()).collect()],
        ..Default::default()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: grpc_load HOST:PORT API_KEY [CONNECTIONS] [SECONDS]";
    let addr = args.next().ok_or(usage)?;
    let key = args.next().ok_or(usage)?;
    let connections: usize = args.next().map_or(Ok(32), |s| s.parse())?;
    let seconds: u64 = args.next().map_or(Ok(10), |s| s.parse())?;
    let auth: tonic::metadata::MetadataValue<_> = format!("Bearer {key}").parse()?;
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        // One HTTP/2 connection per client.
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))?
            .tcp_nodelay(true)
            .connect()
            .await?;
        clients.push(GrpcInferenceServiceClient::new(channel));
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::with_capacity(connections);
    for mut client in clients {
        let auth = auth.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(100_000);
            let mut non_ok = 0u64;
            while Instant::now() < deadline {
                let mut req = tonic::Request::new(request());
                req.metadata_mut().insert("authorization", auth.clone());
                let started = Instant::now();
                match client.model_infer(req).await {
                    Ok(_) => latencies.push(started.elapsed()),
                    Err(_) => non_ok += 1,
                }
            }
            (latencies, non_ok)
        }));
    }
    let mut all = Vec::new();
    let mut non_ok = 0;
    for t in tasks {
        let (l, n) = t.await?;
        all.extend(l);
        non_ok += n;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct = |p: f64| -> f64 {
        let i = ((all.len() as f64 - 1.0) * p).round() as usize;
        all.get(i).map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
    };
    println!(
        "RESULT rps={:.1} p50_ms={:.3} p99_ms={:.3} non_ok={non_ok} total={}",
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        all.len() as u64 + non_ok
    );
    Ok(())
}
