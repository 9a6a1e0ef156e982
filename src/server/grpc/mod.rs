//! The Open Inference Protocol v2 over gRPC: `inference.GRPCInferenceService` (KServe's and
//! Triton's service, `proto/grpc_service.proto`) with tonic, on its own listener beside the HTTP
//! one. ModelInfer goes through the same pipeline as REST (`call.rs`): key, rules, model, ledger,
//! receipt. Statuses come from [`ApiError`](super::ApiError)'s one mapping.
//!
//! - `service.rs`: the RPCs; `infer.rs`: ModelInfer; `convert.rs`: messages ⇄ the v2 request and
//!   response; `commitment.rs`: the gRPC input and output commitments (shared with
//!   `vouch receipt verify`); `proto.rs`: the generated code.
//! - Every RPC but ServerLive and ServerReady needs a key, checked by `Gate` from the request's
//!   headers before its message is read, so a client without a key cannot make the server buffer
//!   a message. RPCs of the upstream service that vouch does not serve answer UNIMPLEMENTED.
//!
//! [`serve`] takes the bound listener, the state, an optional TLS configuration and the shutdown
//! signal, so tests bind `127.0.0.1:0` and TLS is a configuration, not another server.

pub mod commitment;
mod convert;

pub use commitment::CommitmentError;
pub use convert::ConvertError;
mod infer;
pub mod proto;
mod service;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tonic::body::Body;
use tonic::codegen::{http, Service};
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::ServerTlsConfig;

use super::auth::authenticate_bearer;
use super::AppState;
use proto::grpc_inference_service_server::GrpcInferenceServiceServer;

/// The RPCs answered without a key: the health probes.
const OPEN: [&str; 2] = [
    "/inference.GRPCInferenceService/ServerLive",
    "/inference.GRPCInferenceService/ServerReady",
];

/// Longest header block a client may send, in bytes.
const MAX_HEADER_LIST: u32 = 16 * 1024;

/// Most calls in flight on one connection.
const MAX_STREAMS: u32 = 256;

/// Serves gRPC on `listener` until `shutdown` resolves, then lets the calls in flight finish.
/// With `tls`, the listener speaks TLS. Messages are capped at the service's `max_body`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    tls: Option<ServerTlsConfig>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), tonic::transport::Error> {
    let max_body = state.limits.max_body;
    let service = GrpcInferenceServiceServer::new(service::Service::new(Arc::clone(&state)))
        .max_decoding_message_size(max_body)
        .max_encoding_message_size(usize::MAX);
    let mut builder = tonic::transport::Server::builder()
        .http2_max_header_list_size(MAX_HEADER_LIST)
        .max_concurrent_streams(MAX_STREAMS)
        .http2_keepalive_interval(Some(Duration::from_secs(60)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)));
    if let Some(tls) = tls {
        builder = builder.tls_config(tls)?;
    }
    builder
        .add_service(Gate {
            inner: service,
            state,
        })
        .serve_with_incoming_shutdown(
            TcpIncoming::from(listener).with_nodelay(Some(true)),
            shutdown,
        )
        .await
}

/// Checks the key of every RPC but the open ones from the request's headers, before the message
/// is read; a request without a valid key is answered UNAUTHENTICATED at once.
#[derive(Clone)]
struct Gate<S> {
    inner: S,
    state: Arc<AppState>,
}

impl<S: NamedService> NamedService for Gate<S> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S> Service<http::Request<Body>> for Gate<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        if !OPEN.contains(&req.uri().path()) {
            let key = req
                .headers()
                .get(http::header::AUTHORIZATION)
                .map(|v| v.as_bytes());
            if let Err(e) = authenticate_bearer(key, &self.state) {
                let status = tonic::Status::from(e);
                return Box::pin(async move { Ok(status.into_http()) });
            }
        }
        Box::pin(self.inner.call(req))
    }
}
