"""Calls a running vouch with the most used v2 HTTP client, in JSON and in binary-tensor mode.

Usage: v2_client.py HOST:PORT API_KEY. Prints one JSON line per mode; exits non-zero on failure.
"""
import json
import sys

import numpy as np
import tritonclient.http as httpclient

url, key = sys.argv[1], sys.argv[2]
headers = {"Authorization": f"Bearer {key}"}
client = httpclient.InferenceServerClient(url=url)
assert client.is_server_live(headers=headers)
assert client.is_model_ready("breast-cancer", headers=headers)
meta = client.get_model_metadata("breast-cancer", headers=headers)
assert meta["inputs"][0]["name"] == "features", meta

row = np.array([[17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871,
                 1.095, 0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193,
                 25.38, 17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189]],
               dtype=np.float32)
params = {"purpose": "medical-triage", "consent": True, "separate_consent": True,
          "data_categories": ["health"]}

for binary in (False, True):
    inp = httpclient.InferInput("features", list(row.shape), "FP32")
    inp.set_data_from_numpy(row, binary_data=binary)
    outs = [httpclient.InferRequestedOutput("probabilities", binary_data=binary),
            httpclient.InferRequestedOutput("label", binary_data=binary)]
    # The client has no keyword for request parameters other than `parameters`.
    result = client.infer("breast-cancer", [inp], outputs=outs, headers=headers, parameters=params)
    probs = result.as_numpy("probabilities")
    label = result.as_numpy("label")
    response = result.get_response()
    assert probs.shape == (1, 2), probs.shape
    assert int(label[0]) == 0, label
    assert abs(float(probs.sum()) - 1.0) < 1e-4, probs
    assert "receipt" in response and "checkpoint" in response["receipt"], response.keys()
    print(json.dumps({"binary": binary, "label": int(label[0]), "p_malignant": float(probs[0][0]),
                      "receipt": response["receipt"]}))
