#!/usr/bin/env python3
"""Builds the models vouch ships, reproducibly: trains each one with fixed seeds, writes
`models/<name>/<version>/model.onnx`, its `manifest.toml` (with the file's SHA-256 and the metrics
measured here on held-out data) and `reference.json` (sample v2 requests with the outputs ONNX
Runtime gives for them, which the Rust tests compare against).

Run it through `make models`, which creates `.venv-models/` from `models/requirements.txt` (every
package pinned) and runs it with one BLAS thread, so that the same machine rebuilds the same bytes.

    python models/build.py [breast-cancer|support-intent|seed-mlp ...]
"""

import csv
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import tomli_w
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, StringTensorType
from sklearn.datasets import load_breast_cancer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

MODELS = Path(__file__).resolve().parent
SCRIPT = "models/build.py"
OWNER = "vouch project"
VERSION = "1"
# Operator sets every model is built against; ONNX Runtime 1.32 implements all of them.
OPSET = {"": 17, "ai.onnx.ml": 3}
TOLERANCE = 1e-5


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_model(name: str, model: onnx.ModelProto) -> Path:
    # Drop the producer's free-text doc strings: they are not part of the model's behaviour.
    model.doc_string = ""
    path = MODELS / name / VERSION / "model.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString(deterministic=True))
    return path


def write_manifest(name: str, manifest: dict) -> None:
    text = "# Written by models/build.py; edit the script, not this file, then run `make models`.\n"
    text += tomli_w.dumps(manifest)
    (MODELS / name / "manifest.toml").write_text(text)


def session(path: Path) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def v2_datatype(array: np.ndarray) -> str:
    return {
        np.dtype(np.float32): "FP32",
        np.dtype(np.float64): "FP64",
        np.dtype(np.int64): "INT64",
        np.dtype(np.object_): "BYTES",
    }[array.dtype]


def v2_tensor(name: str, array: np.ndarray, nested: bool = False) -> dict:
    data = array.tolist() if nested else array.reshape(-1).tolist()
    return {"name": name, "shape": list(array.shape), "datatype": v2_datatype(array), "data": data}


def write_reference(name: str, path: Path, cases: list) -> None:
    """Runs each case's inputs through ONNX Runtime and records the outputs next to them."""
    sess = session(path)
    output_names = [o.name for o in sess.get_outputs()]
    recorded = []
    for description, inputs, nested in cases:
        results = sess.run(output_names, inputs)
        recorded.append({
            "description": description,
            "request": {
                "id": f"{name}-{len(recorded)}",
                "inputs": [v2_tensor(k, v, nested) for k, v in inputs.items()],
            },
            "outputs": [v2_tensor(n, np.asarray(r)) for n, r in zip(output_names, results)],
        })
    reference = {
        "model": name,
        "version": VERSION,
        "onnxruntime": ort.__version__,
        "tolerance": TOLERANCE,
        "cases": recorded,
    }
    (MODELS / name / "reference.json").write_text(json.dumps(reference, indent=1) + "\n")


def check_agreement(path: Path, inputs: dict, want_label: np.ndarray, want_proba: np.ndarray) -> None:
    """Fails the build if the ONNX graph does not answer as the trained scikit-learn model does."""
    label, proba = session(path).run(None, inputs)
    if not np.array_equal(label, want_label):
        sys.exit(f"{path}: ONNX labels differ from scikit-learn's on {np.sum(label != want_label)} rows")
    worst = float(np.max(np.abs(proba - want_proba)))
    if worst > 1e-4:
        sys.exit(f"{path}: ONNX probabilities differ from scikit-learn's by up to {worst}")


def tensor_spec(name, datatype, shape, description, labels=None) -> dict:
    spec = {"name": name, "datatype": datatype, "shape": shape, "description": description}
    if labels:
        spec["labels"] = labels
    return spec


def breast_cancer() -> None:
    name = "breast-cancer"
    data = load_breast_cancer()
    x = data.data.astype(np.float32)
    y = data.target
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    clf = Pipeline([("scale", StandardScaler()), ("logreg", LogisticRegression(max_iter=1000, random_state=0))])
    clf.fit(x_train, y_train)
    proba = clf.predict_proba(x_test)
    pred = clf.predict(x_test)
    metrics = {
        "test_accuracy": round(float(accuracy_score(y_test, pred)), 4),
        "test_roc_auc": round(float(roc_auc_score(y_test, proba[:, 1])), 4),
        "test_rows": float(len(y_test)),
        "train_rows": float(len(y_train)),
    }
    onx = convert_sklearn(
        clf,
        name="breast_cancer",
        initial_types=[("features", FloatTensorType([None, x.shape[1]]))],
        options={id(clf): {"zipmap": False}},
        target_opset=OPSET,
    )
    path = write_model(name, onx)
    check_agreement(path, {"features": x_test}, pred, proba)
    labels = [str(t) for t in data.target_names]  # 0 = malignant, 1 = benign
    write_reference(name, path, [
        ("four held-out rows, flat data", {"features": x_test[:4]}, False),
        ("one held-out row, nested data", {"features": x_test[4:5]}, True),
    ])
    write_manifest(name, {
        "name": name,
        "owner": OWNER,
        "description": "Logistic regression on the 30 cell-nucleus features of a breast mass "
        "(Wisconsin Diagnostic Breast Cancer data); says whether the mass is malignant or benign.",
        "default_version": VERSION,
        "licence": {
            "id": "CC-BY-4.0",
            "commercial_use": True,
            "attribution": True,
            "required_licences": ["medical-practice"],
            "terms_url": "https://creativecommons.org/licenses/by/4.0/",
        },
        "purposes": ["medical-triage", "research"],
        "risk_class": "high",
        "data_categories": ["health"],
        # Measurements of a patient's tumour: health data whatever the caller declares.
        "input_categories": ["health"],
        "jurisdictions": ["EU", "GB", "US"],
        "confidence_threshold": 0.9,
        "versions": [{
            "version": VERSION,
            "file": f"{VERSION}/model.onnx",
            "sha256": sha256(path),
            "status": "active",
            "inputs": [tensor_spec("features", "FP32", [-1, 30],
                                   "The 30 features, in the order of scikit-learn's "
                                   "load_breast_cancer().feature_names: "
                                   + ", ".join(data.feature_names))],
            "outputs": [
                tensor_spec("label", "INT64", [-1], "Class index per row.", labels),
                tensor_spec("probabilities", "FP32", [-1, 2], "Class probabilities per row.", labels),
            ],
            "training": {
                "dataset": "Breast Cancer Wisconsin (Diagnostic), UCI Machine Learning Repository "
                "(https://doi.org/10.24432/C5DW2B), 569 rows, as shipped inside scikit-learn "
                f"(sklearn.datasets.load_breast_cancer); 75/25 stratified split, random_state 0",
                "dataset_licence": "CC-BY-4.0",
                "script": SCRIPT,
                "metrics": metrics,
            },
        }],
    })
    print(f"{name}: {metrics}")


def support_intent() -> None:
    name = "support-intent"
    corpus = MODELS / name / "data" / "corpus.csv"
    with corpus.open(newline="") as f:
        rows = list(csv.DictReader(f))
    texts = np.array([r["text"] for r in rows], dtype=object)
    intents = np.array([r["intent"] for r in rows])
    labels = sorted(set(intents))
    y = np.array([labels.index(i) for i in intents], dtype=np.int64)
    t_train, t_test, y_train, y_test = train_test_split(texts, y, test_size=0.25, random_state=0, stratify=y)
    clf = Pipeline([
        # ONNX Runtime's Tokenizer matches this pattern exactly (scikit-learn's default, \\b\\w\\w+\\b,
        # has no ONNX equivalent): ASCII words, one character or more.
        ("tfidf", TfidfVectorizer(lowercase=True, token_pattern=r"[a-zA-Z0-9_]+")),
        ("logreg", LogisticRegression(C=10.0, max_iter=2000, random_state=0)),
    ])
    clf.fit(t_train, y_train)
    pred = clf.predict(t_test)
    proba = clf.predict_proba(t_test)
    metrics = {
        "test_accuracy": round(float(accuracy_score(y_test, pred)), 4),
        "test_macro_f1": round(float(f1_score(y_test, pred, average="macro")), 4),
        "test_rows": float(len(y_test)),
        "train_rows": float(len(y_train)),
    }
    onx = convert_sklearn(
        clf,
        name="support_intent",
        initial_types=[("text", StringTensorType([None, 1]))],
        # Lower-casing in the "C" locale: ONNX Runtime's StringNormalizer defaults to en_US, which
        # machines without locale packages lack (the session then fails to load). The corpus is ASCII.
        options={id(clf): {"zipmap": False}, id(clf.named_steps["tfidf"]): {"locale": "C"}},
        target_opset=OPSET,
    )
    path = write_model(name, onx)
    check_agreement(path, {"text": t_test.reshape(-1, 1)}, pred, proba)
    samples = np.array([
        ["I forgot my password and cannot log in"],
        ["Please book me an appointment with my doctor next week"],
        ["Why was my card charged twice this month"],
        ["My parcel has not arrived yet"],
        ["My email is sam@example.com, please update my delivery address"],
    ], dtype=object)
    write_reference(name, path, [
        ("five messages, flat data", {"text": samples}, False),
        ("one message, nested data", {"text": samples[1:2]}, True),
    ])
    write_manifest(name, {
        "name": name,
        "owner": OWNER,
        "description": "Routes a short customer-support message to one of eight intents "
        "(TF-IDF over words, then logistic regression).",
        "default_version": VERSION,
        "licence": {"id": "Apache-2.0", "commercial_use": True, "attribution": False},
        "purposes": ["customer-support"],
        "risk_class": "limited",
        "data_categories": [],
        "jurisdictions": ["EU", "GB", "US", "CN"],
        "confidence_threshold": 0.5,
        "versions": [{
            "version": VERSION,
            "file": f"{VERSION}/model.onnx",
            "sha256": sha256(path),
            "status": "active",
            "inputs": [tensor_spec("text", "BYTES", [-1, 1], "One UTF-8 message per row.")],
            "outputs": [
                tensor_spec("label", "INT64", [-1], "Intent index per row.", labels),
                tensor_spec("probabilities", "FP32", [-1, len(labels)], "Intent probabilities per row.", labels),
            ],
            "training": {
                "dataset": f"models/{name}/data/corpus.csv: {len(rows)} support messages written for "
                "this project, 40 per intent; 75/25 stratified split, random_state 0",
                "dataset_licence": "Apache-2.0",
                "script": SCRIPT,
                "metrics": metrics,
            },
        }],
    })
    print(f"{name}: {metrics}")


def seed_mlp() -> None:
    """The network of the source document (100 inputs, two hidden layers of 64 ReLU units, one
    sigmoid unit), trained in numpy with Adam on a synthetic task with a known answer."""
    name = "seed-mlp"
    rng = np.random.default_rng(20240601)
    n_train, n_test, n_in, n_hidden = 4000, 1000, 100, 64
    teacher = rng.normal(size=n_in)
    x = rng.random((n_train + n_test, n_in))
    y = ((x - 0.5) @ teacher > 0).astype(np.float64).reshape(-1, 1)
    x_train, x_test, y_train, y_test = x[:n_train], x[n_train:], y[:n_train], y[n_train:]

    def init(fan_in, fan_out):
        return rng.normal(scale=np.sqrt(2.0 / fan_in), size=(fan_in, fan_out)), np.zeros(fan_out)

    params = [*init(n_in, n_hidden), *init(n_hidden, n_hidden), *init(n_hidden, 1)]

    def forward(p, xb):
        h1 = np.maximum(xb @ p[0] + p[1], 0.0)
        h2 = np.maximum(h1 @ p[2] + p[3], 0.0)
        out = 1.0 / (1.0 + np.exp(-(h2 @ p[4] + p[5])))
        return h1, h2, out

    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    lr, b1, b2, eps, step = 1e-3, 0.9, 0.999, 1e-8, 0
    for _epoch in range(30):
        order = rng.permutation(n_train)
        for start in range(0, n_train, 32):
            idx = order[start:start + 32]
            xb, yb = x_train[idx], y_train[idx]
            h1, h2, out = forward(params, xb)
            d3 = (out - yb) / len(idx)  # binary cross-entropy through the sigmoid
            d2 = (d3 @ params[4].T) * (h2 > 0)
            d1 = (d2 @ params[2].T) * (h1 > 0)
            grads = [xb.T @ d1, d1.sum(0), h1.T @ d2, d2.sum(0), h2.T @ d3, d3.sum(0)]
            step += 1
            for i, g in enumerate(grads):
                m[i] = b1 * m[i] + (1 - b1) * g
                v[i] = b2 * v[i] + (1 - b2) * g * g
                mhat, vhat = m[i] / (1 - b1 ** step), v[i] / (1 - b2 ** step)
                params[i] = params[i] - lr * mhat / (np.sqrt(vhat) + eps)
    params = [p.astype(np.float32) for p in params]
    prob = forward(params, x_test.astype(np.float32))[2]
    metrics = {
        "test_accuracy": round(float(accuracy_score(y_test, prob > 0.5)), 4),
        "test_roc_auc": round(float(roc_auc_score(y_test, prob)), 4),
        "test_rows": float(n_test),
        "train_rows": float(n_train),
    }

    names = ["w1", "b1", "w2", "b2", "w3", "b3"]
    nodes = [
        helper.make_node("Gemm", ["input", "w1", "b1"], ["z1"]),
        helper.make_node("Relu", ["z1"], ["h1"]),
        helper.make_node("Gemm", ["h1", "w2", "b2"], ["z2"]),
        helper.make_node("Relu", ["z2"], ["h2"]),
        helper.make_node("Gemm", ["h2", "w3", "b3"], ["z3"]),
        helper.make_node("Sigmoid", ["z3"], ["probability"]),
    ]
    graph = helper.make_graph(
        nodes,
        "seed_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", n_in])],
        [helper.make_tensor_value_info("probability", TensorProto.FLOAT, ["N", 1])],
        [numpy_helper.from_array(p, n) for p, n in zip(params, names)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET[""])], producer_name="vouch models/build.py")
    model.ir_version = 8
    path = write_model(name, model)
    got = session(path).run(None, {"input": x_test.astype(np.float32)})[0]
    worst = float(np.max(np.abs(got - prob)))
    if worst > 1e-5:
        sys.exit(f"{path}: ONNX output differs from the numpy network by up to {worst}")
    write_reference(name, path, [
        ("three held-out rows, flat data", {"input": x_test[:3].astype(np.float32)}, False),
        ("one held-out row, nested data", {"input": x_test[3:4].astype(np.float32)}, True),
    ])
    write_manifest(name, {
        "name": name,
        "owner": OWNER,
        "description": "The small network of the source document: 100 inputs, two hidden layers "
        "of 64 ReLU units and one sigmoid unit, trained on a synthetic task.",
        "default_version": VERSION,
        "licence": {"id": "Apache-2.0", "commercial_use": True, "attribution": False},
        "purposes": ["research", "testing"],
        "risk_class": "minimal",
        "data_categories": [],
        "jurisdictions": ["EU", "GB", "US", "CN"],
        "versions": [{
            "version": VERSION,
            "file": f"{VERSION}/model.onnx",
            "sha256": sha256(path),
            "status": "active",
            "inputs": [tensor_spec("input", "FP32", [-1, n_in], "100 features in [0, 1).")],
            "outputs": [tensor_spec("probability", "FP32", [-1, 1],
                                    "Probability of the positive class per row.",
                                    ["negative", "positive"])],
            "training": {
                "dataset": "synthetic: x uniform in [0, 1)^100, y = [(x - 0.5) . w > 0] for a fixed "
                "random teacher w; numpy seed 20240601, 4000 training and 1000 test rows",
                "dataset_licence": "Apache-2.0",
                "script": SCRIPT,
                "metrics": metrics,
            },
        }],
    })
    print(f"{name}: {metrics}")


BUILDERS = {"breast-cancer": breast_cancer, "support-intent": support_intent, "seed-mlp": seed_mlp}

if __name__ == "__main__":
    # skl2onnx walks Python sets and dicts of strings while converting the text model, so the
    # bytes of its ONNX file depend on string hashing: pin it, re-running this script if needed.
    if os.environ.get("PYTHONHASHSEED") != "0":
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "PYTHONHASHSEED": "0"})
    if ort.__version__ != "1.32.0":
        sys.exit(f"onnxruntime {ort.__version__} found; the references must come from 1.32.0")
    if os.environ.get("OPENBLAS_NUM_THREADS") != "1":
        print("note: set OPENBLAS_NUM_THREADS=1 (make models does) for byte-identical rebuilds", file=sys.stderr)
    for wanted in sys.argv[1:] or BUILDERS:
        if wanted not in BUILDERS:
            sys.exit(f"unknown model {wanted!r}; known: {', '.join(BUILDERS)}")
        BUILDERS[wanted]()
