//! Compiles `proto/grpc_service.proto` (the Open Inference Protocol v2 gRPC service) with protox,
//! a protobuf compiler in Rust, so no system `protoc` is needed; tonic generates the server and
//! client from the descriptors, and the descriptors themselves are kept for protobuf's JSON
//! mapping (`vouch receipt verify` reads gRPC requests and responses written as JSON).

use std::path::PathBuf;

use prost::Message as _;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/grpc_service.proto");
    let descriptors = protox::compile(["grpc_service.proto"], ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("grpc_service.descriptors.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
