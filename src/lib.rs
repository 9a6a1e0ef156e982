//! vouch serves machine-learning models (ONNX) over HTTP, judges intellectual-property, privacy
//! and liability rules before every call, and records every call — allowed, denied or failed — in
//! an append-only, Merkle-chained, signed ledger. Callers get a signed receipt with every answer;
//! anyone holding the log's verifier key can check a receipt, a checkpoint or the whole log offline.
//!
//! # Layout
//!
//! | module | owns | knows nothing of |
//! | --- | --- | --- |
//! | [`ledger`] | entries, blocks, the Merkle structures, checkpoints, proofs, receipts, storage on sled, group commit, the verifying walker | HTTP, models, policies |
//! | [`policy`] | the Cedar rule bundle in `policies/`, decisions with reasons and obligations, personal-data detectors, the caller registry | HTTP, storage |
//! | [`inference`] | the model registry in `models/`, manifests, ONNX Runtime sessions, tensor conversion | HTTP, policies, storage |
//! | [`server`] | actix-web routes, the v2 gRPC service (tonic), authentication, the path of one call shared by both, metrics | file formats |
//! | [`sources`] | the clock and the nonce source, passed in so tests can pin them | everything else |
//! | [`tls`] | TLS configurations (rustls) for the service's listeners and the CLI's clients | HTTP, the ledger |
//! | [`error`] | the crate's [`Error`], gathering each module's typed error | — |
//! | [`cli`] | the `vouch` subcommands: parse, call the library, print, choose the exit code | — |
//! | [`ids`] | the caller, credential and rule ids the policy issues and the ledger records | the modules that use them |
//! | [`fuzzing`] | the bodies of the fuzz targets, replayed over their corpora by the tests | — |
//!
//! `docs/ARCHITECTURE.md` walks through the path of one call; the ledger format is specified in
//! `docs/LEDGER.md`.

pub mod cli;
pub mod error;
pub mod fuzzing;
pub mod ids;
pub mod inference;
pub mod ledger;
pub mod policy;
pub mod server;
pub mod sources;
pub mod tls;
pub mod witness;

pub use error::{Error, Result};
