//! The RPCs of `inference.GRPCInferenceService` that vouch serves: the health probes (open), the
//! server's and models' metadata and readiness, and ModelInfer (`infer.rs`). The same answers as
//! the REST routes of `routes.rs`, in the gRPC messages.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::proto::grpc_inference_service_server::GrpcInferenceService;
use super::proto::model_metadata_response::TensorMetadata;
use super::proto::{
    ModelInferRequest, ModelInferResponse, ModelMetadataRequest, ModelMetadataResponse,
    ModelReadyRequest, ModelReadyResponse, ServerLiveRequest, ServerLiveResponse,
    ServerMetadataRequest, ServerMetadataResponse, ServerReadyRequest, ServerReadyResponse,
};
use crate::inference::TensorSpec;
use crate::server::auth::authenticate_bearer;
use crate::server::{ApiError, AppState};

pub(super) struct Service {
    state: Arc<AppState>,
}

impl Service {
    pub fn new(state: Arc<AppState>) -> Self {
        Service { state }
    }

    /// Authenticates the RPC (the gate has already; this names the caller for the handler).
    fn authenticate<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let key = req.metadata().get("authorization").map(|v| v.as_bytes());
        authenticate_bearer(key, &self.state)?;
        Ok(())
    }
}

/// A version field: empty means the model's default version.
pub(super) fn version(v: &str) -> Option<&str> {
    (!v.is_empty()).then_some(v)
}

fn tensors(specs: &[TensorSpec]) -> Vec<TensorMetadata> {
    specs
        .iter()
        .map(|t| TensorMetadata {
            name: t.name.clone(),
            datatype: t.datatype.clone(),
            shape: t.shape.clone(),
        })
        .collect()
}

#[tonic::async_trait]
impl GrpcInferenceService for Service {
    async fn server_live(
        &self,
        _req: Request<ServerLiveRequest>,
    ) -> Result<Response<ServerLiveResponse>, Status> {
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    /// Ready when ONNX Runtime is loaded.
    async fn server_ready(
        &self,
        _req: Request<ServerReadyRequest>,
    ) -> Result<Response<ServerReadyResponse>, Status> {
        Ok(Response::new(ServerReadyResponse {
            ready: crate::server::routes::is_ready(&self.state),
        }))
    }

    async fn model_ready(
        &self,
        req: Request<ModelReadyRequest>,
    ) -> Result<Response<ModelReadyResponse>, Status> {
        self.authenticate(&req)?;
        let m = req.get_ref();
        self.state
            .registry
            .resolve(&m.name, version(&m.version))
            .map_err(ApiError::from)?;
        Ok(Response::new(ModelReadyResponse { ready: true }))
    }

    async fn server_metadata(
        &self,
        req: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        self.authenticate(&req)?;
        Ok(Response::new(ServerMetadataResponse {
            name: "vouch".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            extensions: vec!["receipts".into()],
        }))
    }

    async fn model_metadata(
        &self,
        req: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        self.authenticate(&req)?;
        let m = req.get_ref();
        let (manifest, v) = self
            .state
            .registry
            .resolve(&m.name, version(&m.version))
            .map_err(ApiError::from)?;
        let versions = match version(&m.version) {
            Some(v) => vec![v.to_string()],
            None => manifest
                .versions
                .iter()
                .map(|v| v.version.clone())
                .collect(),
        };
        Ok(Response::new(ModelMetadataResponse {
            name: manifest.name.clone(),
            versions,
            platform: "onnxruntime_onnx".into(),
            inputs: tensors(&v.inputs),
            outputs: tensors(&v.outputs),
        }))
    }

    async fn model_infer(
        &self,
        req: Request<ModelInferRequest>,
    ) -> Result<Response<ModelInferResponse>, Status> {
        super::infer::model_infer(&self.state, req).await
    }
}
