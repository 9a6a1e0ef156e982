"""Calls a running vouch over gRPC with the v2 gRPC client (tritonclient[grpc]) and its generated
stub: health and metadata, an allowed call with raw tensors (as tritonclient sends them), an
allowed call with typed contents, a denied call, calls without and with a wrong key, an unknown
model, a malformed request and an RPC vouch does not serve.

Usage: v2_grpc_client.py HOST:PORT API_KEY OUT_DIR. Writes each call's request and response in
protobuf's JSON mapping (MessageToJson) and the denied call's trailing receipt to OUT_DIR; prints
one JSON line per check; exits non-zero on failure.
"""
import json
import os
import sys

import grpc
import numpy as np
import tritonclient.grpc as grpcclient
from google.protobuf.json_format import MessageToJson
from tritonclient.grpc import _utils, service_pb2, service_pb2_grpc
from tritonclient.utils import InferenceServerException

url, key, out = sys.argv[1], sys.argv[2], sys.argv[3]
auth = {"authorization": f"Bearer {key}"}
metadata = list(auth.items())


def report(**kv):
    print(json.dumps(kv), flush=True)


def write(name, message):
    with open(os.path.join(out, name), "w") as f:
        f.write(MessageToJson(message))


client = grpcclient.InferenceServerClient(url=url)
channel = grpc.insecure_channel(url)
stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)

# Health probes answer without a key.
assert client.is_server_live()
assert client.is_server_ready()
assert stub.ServerLive(service_pb2.ServerLiveRequest()).live
report(check="health")

assert client.is_model_ready("breast-cancer", headers=auth)
server_meta = client.get_server_metadata(headers=auth)
assert server_meta.name == "vouch", server_meta
meta = client.get_model_metadata("breast-cancer", headers=auth)
assert meta.inputs[0].name == "features" and meta.inputs[0].datatype == "FP32", meta
assert list(meta.inputs[0].shape)[-1] == 30, meta
assert meta.platform == "onnxruntime_onnx", meta
report(check="metadata", versions=list(meta.versions))

row = np.array([[17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871,
                 1.095, 0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193,
                 25.38, 17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189]],
               dtype=np.float32)
# data_categories is a list in REST; gRPC parameters hold none, so it goes comma-separated.
params = {"purpose": "medical-triage", "consent": True, "separate_consent": True,
          "data_categories": "health"}

# 1. Raw tensors, as tritonclient sends them; the request it builds is written out as JSON.
inp = grpcclient.InferInput("features", list(row.shape), "FP32")
inp.set_data_from_numpy(row)
outs = [grpcclient.InferRequestedOutput("probabilities"), grpcclient.InferRequestedOutput("label")]
request = _utils._get_inference_request(
    model_name="breast-cancer", inputs=[inp], model_version="", request_id="raw-1",
    outputs=outs, sequence_id=0, sequence_start=False, sequence_end=False, priority=0,
    timeout=None, parameters=params)
assert len(request.raw_input_contents) == 1
write("raw_request.json", request)
result = client.infer("breast-cancer", [inp], outputs=outs, request_id="raw-1", headers=auth,
                      parameters=params)
probs, label = result.as_numpy("probabilities"), result.as_numpy("label")
assert probs.shape == (1, 2), probs.shape
assert int(label[0]) == 0, label
assert abs(float(probs.sum()) - 1.0) < 1e-4, probs
response = result.get_response()
assert len(response.raw_output_contents) == 2, response
assert response.id == "raw-1", response.id
receipt = json.loads(response.parameters["receipt"].string_param)
assert "checkpoint" in receipt and receipt["nonce"], receipt.keys()
write("raw_response.json", response)
report(check="raw", label=int(label[0]), p_malignant=float(probs[0][0]))

# 2. Typed contents, through the generated stub.
request = service_pb2.ModelInferRequest(model_name="breast-cancer", id="contents-1")
tensor = request.inputs.add(name="features", datatype="FP32", shape=[1, 30])
tensor.contents.fp32_contents.extend(row.flatten().tolist())
for k, v in params.items():
    if isinstance(v, bool):
        request.parameters[k].bool_param = v
    else:
        request.parameters[k].string_param = v
write("contents_request.json", request)
response = stub.ModelInfer(request, metadata=metadata)
assert not response.raw_output_contents, "typed inputs get typed outputs"
by_name = {o.name: o for o in response.outputs}
p = list(by_name["probabilities"].contents.fp32_contents)
assert len(p) == 2 and abs(sum(p) - 1.0) < 1e-4, p
assert list(by_name["label"].contents.int64_contents) == [0], by_name["label"]
write("contents_response.json", response)
report(check="contents", p_malignant=p[0])

# 3. Denied: health data without consent. PERMISSION_DENIED names the rule; the receipt is in
# the trailing metadata.
denied = {"purpose": "medical-triage", "data_categories": "health"}
request = _utils._get_inference_request(
    model_name="breast-cancer", inputs=[inp], model_version="", request_id="", outputs=None,
    sequence_id=0, sequence_start=False, sequence_end=False, priority=0, timeout=None,
    parameters=denied)
write("denied_request.json", request)
try:
    stub.ModelInfer(request, metadata=metadata)
    raise AssertionError("a call without consent for health data was allowed")
except grpc.RpcError as e:
    assert e.code() == grpc.StatusCode.PERMISSION_DENIED, (e.code(), e.details())
    assert "privacy.consent-required" in e.details(), e.details()
    trailers = dict(e.trailing_metadata() or ())
    assert "vouch-receipt" in trailers, trailers
    with open(os.path.join(out, "denied_receipt.json"), "w") as f:
        f.write(trailers["vouch-receipt"])
    report(check="denied", code=e.code().name, details=e.details())


def code_of(call):
    try:
        call()
    except grpc.RpcError as e:
        return e.code().name
    except InferenceServerException as e:
        return e.status()
    return "OK"


# 4. Keys: none, wrong. Every RPC but the health probes needs one.
wrong = [("authorization", "Bearer not-a-key")]
good = _utils._get_inference_request(
    model_name="breast-cancer", inputs=[inp], model_version="", request_id="", outputs=None,
    sequence_id=0, sequence_start=False, sequence_end=False, priority=0, timeout=None,
    parameters=params)
codes = {
    "infer_no_key": code_of(lambda: stub.ModelInfer(good)),
    "infer_wrong_key": code_of(lambda: stub.ModelInfer(good, metadata=wrong)),
    "metadata_no_key": code_of(
        lambda: stub.ModelMetadata(service_pb2.ModelMetadataRequest(name="breast-cancer"))),
    "ready_wrong_key": code_of(lambda: stub.ModelReady(
        service_pb2.ModelReadyRequest(name="breast-cancer"), metadata=wrong)),
    "server_metadata_no_key": code_of(
        lambda: stub.ServerMetadata(service_pb2.ServerMetadataRequest())),
    "unknown_model": code_of(lambda: stub.ModelInfer(
        service_pb2.ModelInferRequest(model_name="no-such-model"), metadata=metadata)),
    "unknown_model_ready": code_of(lambda: stub.ModelReady(
        service_pb2.ModelReadyRequest(name="no-such-model"), metadata=metadata)),
    "unserved_rpc": code_of(lambda: stub.RepositoryIndex(
        service_pb2.RepositoryIndexRequest(), metadata=metadata)),
    "unserved_rpc_no_key": code_of(lambda: stub.RepositoryIndex(
        service_pb2.RepositoryIndexRequest())),
}
# 5. Malformed: 29 values for a [1, 30] tensor; a shape with a negative dimension.
short = service_pb2.ModelInferRequest(model_name="breast-cancer")
short.inputs.add(name="features", datatype="FP32", shape=[1, 30]).contents.fp32_contents.extend(
    row.flatten().tolist()[:29])
codes["short_contents"] = code_of(lambda: stub.ModelInfer(short, metadata=metadata))
negative = service_pb2.ModelInferRequest(model_name="breast-cancer")
negative.inputs.add(name="features", datatype="FP32", shape=[-1, 30])
negative.raw_input_contents.append(row.tobytes())
codes["negative_dim"] = code_of(lambda: stub.ModelInfer(negative, metadata=metadata))
report(check="codes", **codes)
