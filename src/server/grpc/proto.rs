//! The messages, server and client of `proto/grpc_service.proto` (package `inference`), generated
//! at build time by tonic from the descriptors protox compiles; and those descriptors, for
//! protobuf's JSON mapping.
#![allow(
    missing_docs,
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

tonic::include_proto!("inference");

/// The encoded `FileDescriptorSet` of `proto/grpc_service.proto`.
pub const DESCRIPTORS: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/grpc_service.descriptors.bin"));
