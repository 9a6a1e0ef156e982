//! Black-box tests of `vouch serve`: the real binary on 127.0.0.1:0, real ONNX Runtime, real
//! ledger in a temporary folder, driven over HTTP.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod harness;

use serde_json::{json, Value};
use vouch::ledger::{Decision, Declared, Receipt};

use harness::*;

fn triage() -> Value {
    json!({"purpose": "medical-triage", "consent": true, "separate_consent": true, "data_categories": ["health"]})
}

/// Runs `vouch receipt verify resp.json --key log.pub.test ARGS…` in `dir` (file names relative).
fn receipt_verify(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_vouch"))
        .current_dir(dir)
        .args(["receipt", "verify", "resp.json", "--key", "log.pub.test"])
        .args(args)
        .output()
        .unwrap()
}

fn receipt_of(body: &Value) -> Receipt {
    serde_json::from_value(body["receipt"].clone()).expect("a receipt in the body")
}

#[test]
fn an_allowed_call_answers_with_outputs_and_a_receipt_that_verifies() {
    let s = start();
    let req = breast_cancer_request(triage());
    let (status, body) = s.post("/v2/models/breast-cancer/infer", Some(&s.caller_key), &req);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model_name"], "breast-cancer");
    assert_eq!(body["id"], "req-bc");
    assert_eq!(body["outputs"][0]["name"], "label");
    assert_eq!(
        body["outputs"][0]["data"][0], 0,
        "the first row of the data set is malignant"
    );
    assert!(body["parameters"]["obligations"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o == "attribution"));

    let receipt = receipt_of(&body);
    let v = receipt.verify(&s.verifier).unwrap();
    assert_eq!(v.entry.decision(), Decision::Allow);
    assert_eq!(v.entry.caller().map(|c| c.as_str()), Some("clinic"));
    assert_eq!(v.entry.request_id(), Some("req-bc"));
    assert_eq!(v.entry.model().as_ref().unwrap().name, "breast-cancer");
    assert_eq!(
        v.entry.context().data_categories,
        vec!["health".to_string()]
    );
    // What the decision relied on is recorded with it (entry version 2): the caller's
    // declarations as the rules read them (`commercial` defaults to true), the input's size and
    // a complete scan.
    assert_eq!(v.entry.version(), 2);
    assert_eq!(
        v.entry.context().declared,
        Some(Declared {
            categories: vec!["health".into()],
            commercial: true,
            consent: true,
            separate_consent: true,
            terms_version: None,
        })
    );
    assert!(v.entry.context().input_bytes.is_some_and(|n| n > 0));
    assert_eq!(v.entry.context().pii_scan_complete, Some(true));

    // The CLI verifies it offline and opens both commitments.
    let dir = s.data();
    std::fs::write(dir.join("req.json"), serde_json::to_vec(&req).unwrap()).unwrap();
    std::fs::write(dir.join("resp.json"), serde_json::to_vec(&body).unwrap()).unwrap();
    std::fs::write(dir.join("log.pub.test"), format!("{}\n", s.verifier)).unwrap();
    let out = receipt_verify(dir, &["--request", "req.json", "--response", "resp.json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("input commitment opens: true"), "{stdout}");
    assert!(stdout.contains("output commitment opens: true"), "{stdout}");

    // A different request does not open the input commitment.
    let mut other = req.clone();
    other["inputs"][0]["data"][0] = json!(18.0);
    std::fs::write(dir.join("req2.json"), serde_json::to_vec(&other).unwrap()).unwrap();
    let out = receipt_verify(dir, &["--request", "req2.json"]);
    assert_eq!(out.status.code(), Some(1));
}

/// A call the policy allows whose model overruns the per-call timeout is recorded as an error and
/// answered 504 with a receipt. The timeout is 0 ms: whenever the model answers, it is past the
/// deadline, so the very first call overruns, however busy the machine.
#[test]
fn a_call_that_overruns_its_timeout_is_recorded_as_an_error_with_a_receipt() {
    let s = start_with(Options {
        extra_args: ["--timeout-ms", "0", "--inline-below-us", "0"]
            .map(String::from)
            .to_vec(),
        ..Options::default()
    });
    let (status, body) = s.post(
        "/v2/models/breast-cancer/infer",
        Some(&s.caller_key),
        &breast_cancer_request(triage()),
    );
    assert_eq!(status, 504, "{}", body["error"]);
    assert!(body["error"].as_str().unwrap().contains("0 ms"), "{body}");
    let v = receipt_of(&body).verify(&s.verifier).unwrap();
    assert_eq!(v.entry.decision(), Decision::Error);
    assert_eq!(v.entry.output(), None);
    assert_eq!(v.entry.caller().map(|c| c.as_str()), Some("clinic"));
}

#[test]
fn a_denied_call_names_the_rule_and_still_gets_a_receipt() {
    let s = start();
    // No consent for health data.
    let (status, body) = s.post(
        "/v2/models/breast-cancer/infer",
        Some(&s.caller_key),
        &breast_cancer_request(json!({"purpose": "medical-triage", "data_categories": ["health"]})),
    );
    assert_eq!(status, 403, "{body}");
    let rules: Vec<&str> = body["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(rules.contains(&"privacy.consent-required"), "{rules:?}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("privacy.consent-required"));
    assert!(body.get("outputs").is_none());
    let v = receipt_of(&body).verify(&s.verifier).unwrap();
    assert_eq!(v.entry.decision(), Decision::Deny);
    assert!(v.entry.output().is_none());
    assert!(v
        .entry
        .rules()
        .iter()
        .any(|r| r.as_str() == "privacy.consent-required"));

    // A caller without human oversight may not use a high-risk model.
    let (status, body) = s.post(
        "/v2/models/breast-cancer/infer",
        Some(&s.other_caller_key),
        &breast_cancer_request(triage()),
    );
    assert_eq!(status, 403);
    let rules = body["rules"].to_string();
    assert!(rules.contains("liability.high-risk-oversight"), "{rules}");

    // Personal data detected in text, without consent.
    let (status, body) = s.post(
        "/v2/models/support-intent/infer",
        Some(&s.caller_key),
        &text_request(
            "please call me back on +44 20 7946 0958",
            json!({"purpose": "customer-support"}),
        ),
    );
    assert_eq!(status, 403, "{body}");
    let v = receipt_of(&body).verify(&s.verifier).unwrap();
    assert_eq!(v.entry.context().pii, vec!["phone".to_string()]);
}

#[test]
fn every_error_status_is_produced() {
    let s = start();
    let path = "/v2/models/breast-cancer/infer";
    let ok = breast_cancer_request(triage());
    // 401: no key, a wrong key, a malformed header.
    assert_eq!(s.post(path, None, &ok).0, 401);
    assert_eq!(s.post(path, Some("vk_nope_nope"), &ok).0, 401);
    assert_eq!(s.get("/v2", None).0, 401);
    // 404: unknown model, unknown version.
    assert_eq!(
        s.post("/v2/models/nope/infer", Some(&s.caller_key), &ok).0,
        404
    );
    assert_eq!(
        s.post(
            "/v2/models/breast-cancer/versions/9/infer",
            Some(&s.caller_key),
            &ok
        )
        .0,
        404
    );
    let (status, body) = s.get("/v2/models/nope", Some(&s.caller_key));
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
    // 400: wrong shape, wrong datatype, unknown input, malformed JSON, bad parameter type.
    let mut bad = ok.clone();
    bad["inputs"][0]["shape"] = json!([1, 29]);
    let (status, body) = s.post(path, Some(&s.caller_key), &bad);
    assert_eq!(status, 400, "{body}");
    let mut bad = ok.clone();
    bad["inputs"][0]["datatype"] = json!("INT32");
    assert_eq!(s.post(path, Some(&s.caller_key), &bad).0, 400);
    let mut bad = ok.clone();
    bad["inputs"][0]["name"] = json!("nope");
    assert_eq!(s.post(path, Some(&s.caller_key), &bad).0, 400);
    let mut bad = ok.clone();
    bad["parameters"]["consent"] = json!("yes");
    assert_eq!(s.post(path, Some(&s.caller_key), &bad).0, 400);
    let (status, _, _) = s.post_raw(
        path,
        &s.caller_key,
        &[("content-type", "application/json")],
        b"{\"inputs\": [",
    );
    assert_eq!(status, 400);
    // 415: a form body.
    let (status, _, _) = s.post_raw(
        path,
        &s.caller_key,
        &[("content-type", "application/x-www-form-urlencoded")],
        b"a=b",
    );
    assert_eq!(status, 415);
    // 413: more than the 8 MiB default.
    let big = vec![b' '; 9 * 1024 * 1024];
    let (status, _, _) = s.post_raw(
        path,
        &s.caller_key,
        &[("content-type", "application/json")],
        &big,
    );
    assert_eq!(status, 413);
    // 403 for a route of another role.
    assert_eq!(s.get("/metrics", Some(&s.caller_key)).0, 403);
    assert_eq!(s.get("/metrics", Some(&s.admin_key)).0, 200);
    // None of the malformed requests reached the ledger; the server still serves.
    assert_eq!(s.post(path, Some(&s.caller_key), &ok).0, 200);
    let (_, r) = s.get("/v1/receipts/0", Some(&s.caller_key));
    assert_eq!(
        receipt_of(&json!({"receipt": r}))
            .verify(&s.verifier)
            .unwrap()
            .entry
            .seq()
            .get(),
        0
    );
    assert_eq!(
        s.get("/v1/receipts/1", Some(&s.caller_key)).0,
        404,
        "only one call was recorded"
    );
}

#[test]
fn without_onnx_runtime_the_service_is_not_ready() {
    let s = start_with(Options {
        env: vec![(
            "ORT_DYLIB_PATH".into(),
            "/nonexistent/libonnxruntime.so".into(),
        )],
        ..Options::default()
    });
    let (status, body) = s.get("/v2/health/ready", Some(&s.caller_key));
    assert_eq!(status, 503, "{body}");
    assert_eq!(s.get("/v2/health/live", Some(&s.caller_key)).0, 200);
    let (status, _) = s.post(
        "/v2/models/breast-cancer/infer",
        Some(&s.caller_key),
        &breast_cancer_request(triage()),
    );
    assert_eq!(status, 503);
}

#[test]
fn receipts_can_be_fetched_later_by_their_caller_only() {
    let s = start();
    let (_, body) = s.post(
        "/v2/models/breast-cancer/infer",
        Some(&s.caller_key),
        &breast_cancer_request(triage()),
    );
    let seq = receipt_of(&body).verify(&s.verifier).unwrap().entry.seq();
    s.post(
        "/v2/models/support-intent/infer",
        Some(&s.caller_key),
        &text_request("where is my parcel", json!({"purpose": "customer-support"})),
    );
    let (status, fresh) = s.get(&format!("/v1/receipts/{seq}"), Some(&s.caller_key));
    assert_eq!(status, 200);
    let fresh: Receipt = serde_json::from_value(fresh).unwrap();
    assert!(fresh.nonce.is_none(), "the nonce is never stored");
    let v = fresh.verify(&s.verifier).unwrap();
    assert_eq!(v.entry.seq(), seq);
    assert!(
        v.checkpoint.size >= 2,
        "proved against the latest checkpoint"
    );
    assert_eq!(
        s.get(&format!("/v1/receipts/{seq}"), Some(&s.other_caller_key))
            .0,
        404
    );
    assert_eq!(
        s.get(&format!("/v1/receipts/{seq}"), Some(&s.regulator_key))
            .0,
        200
    );
}

#[test]
fn after_mixed_calls_the_log_verifies_and_holds_exactly_those_calls() {
    let mut s = start();
    let mut recorded = 0;
    for i in 0..12 {
        let (status, _) = match i % 4 {
            0 => s.post(
                "/v2/models/breast-cancer/infer",
                Some(&s.caller_key),
                &breast_cancer_request(triage()),
            ),
            1 => s.post(
                "/v2/models/breast-cancer/infer",
                Some(&s.other_caller_key),
                &breast_cancer_request(triage()),
            ),
            2 => s.post(
                "/v2/models/support-intent/infer",
                Some(&s.caller_key),
                &text_request(
                    "my card was declined",
                    json!({"purpose": "customer-support"}),
                ),
            ),
            _ => s.post(
                "/v2/models/support-intent/infer",
                Some(&s.caller_key),
                &text_request("x", json!({"purpose": "marketing"})),
            ),
        };
        assert!(status == 200 || status == 403, "{status}");
        recorded += 1;
    }
    // Malformed requests are not recorded.
    s.post("/v2/models/nope/infer", Some(&s.caller_key), &json!({}));
    s.post("/v2/models/breast-cancer/infer", None, &json!({}));
    // The metrics count every call, and every block the ledger wrote and synced.
    let (status, text) = s.get("/metrics", Some(&s.admin_key));
    assert_eq!(status, 200);
    let metrics = prometheus_samples(text.as_str().unwrap());
    let sum = |prefix: &str| -> f64 {
        metrics
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v)
            .sum()
    };
    assert_eq!(sum("vouch_calls_total{"), 14.0, "{metrics:?}");
    assert_eq!(sum("vouch_calls_total{decision=\"none\""), 2.0);
    assert_eq!(sum("vouch_call_seconds_count{"), 14.0);
    assert_eq!(metrics["vouch_ledger_entries"], recorded as f64);
    assert_eq!(metrics["vouch_ledger_block_entries_sum"], recorded as f64);
    let blocks = metrics["vouch_ledger_blocks"];
    assert!(blocks >= 1.0);
    for count in [
        "vouch_ledger_block_entries_count",
        "vouch_ledger_write_seconds_count",
        "vouch_ledger_sync_seconds_count",
    ] {
        assert_eq!(metrics[count], blocks, "{count}");
    }
    assert!(metrics["vouch_ledger_sync_seconds_sum"] > 0.0);
    assert!(metrics["vouch_ledger_write_seconds_sum"] >= metrics["vouch_ledger_sync_seconds_sum"]);
    let status = s.stop();
    assert!(status.success(), "SIGTERM is a clean shutdown: {status:?}");
    std::fs::write(s.data().join("v.pub"), format!("{}\n", s.verifier)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(["verify", "--json", "--data"])
        .arg(s.data())
        .arg("--key")
        .arg(s.data().join("v.pub"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["entries"], recorded);
}

/// The samples of a Prometheus text exposition: `name{labels}` → value.
fn prometheus_samples(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            Some((name.to_string(), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn binary_tensors_in_and_out() {
    let s = start();
    let row: Vec<u8> = breast_cancer_row()
        .iter()
        .flat_map(|f| f.to_le_bytes())
        .collect();
    let header = json!({
        "inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "parameters": {"binary_data_size": row.len()}}],
        "outputs": [{"name": "probabilities", "parameters": {"binary_data": true}}, {"name": "label"}],
        "parameters": triage(),
    });
    let header = serde_json::to_vec(&header).unwrap();
    let mut body = header.clone();
    body.extend_from_slice(&row);
    let len = header.len().to_string();
    let (status, out, json_len) = s.post_raw(
        "/v2/models/breast-cancer/infer",
        &s.caller_key,
        &[
            ("inference-header-content-length", &len),
            ("content-type", "application/octet-stream"),
        ],
        &body,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&out));
    let json_len: usize = json_len
        .expect("a binary response names its JSON length")
        .parse()
        .unwrap();
    let (head, binary) = out.split_at(json_len);
    let head: Value = serde_json::from_slice(head).unwrap();
    assert_eq!(head["outputs"][0]["name"], "probabilities");
    assert_eq!(head["outputs"][0]["parameters"]["binary_data_size"], 8);
    assert_eq!(binary.len(), 8);
    let p0 = f32::from_le_bytes(binary[..4].try_into().unwrap());
    let p1 = f32::from_le_bytes(binary[4..].try_into().unwrap());
    assert!((p0 + p1 - 1.0).abs() < 1e-4 && p0 > 0.5, "{p0} {p1}");
    assert_eq!(head["outputs"][1]["data"][0], 0);
    receipt_of(&head).verify(&s.verifier).unwrap();
}

#[test]
fn a_commit_wait_or_inline_bound_past_its_limit_stops_start_up() {
    for (flag, value, setting) in [
        ("--commit-wait-us", "100001", "commit_wait_us: 100001"),
        ("--inline-below-us", "10001", "inline_below_us: 10001"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_vouch"))
            .args([
                "serve",
                "--demo",
                "--bind",
                "127.0.0.1:0",
                flag,
                value,
                "--data",
            ])
            .arg(dir.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "bad input: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(setting), "{stderr}");
    }
}

#[test]
fn model_metadata_and_readiness_name_the_version_asked_for() {
    let s = start();
    let key = Some(s.caller_key.as_str());
    let (st, all) = s.get("/v2/models/breast-cancer", key);
    assert_eq!(st, 200, "{all}");
    assert_eq!(all["name"], "breast-cancer");
    assert!(
        all["versions"].as_array().is_some_and(|v| !v.is_empty()),
        "{all}"
    );
    let (st, one) = s.get("/v2/models/breast-cancer/versions/1", key);
    assert_eq!(st, 200, "{one}");
    assert_eq!(one["versions"], json!(["1"]));
    assert_eq!(one["inputs"], all["inputs"]);
    let (st, ready) = s.get("/v2/models/breast-cancer/ready", key);
    assert_eq!(
        (st, ready),
        (200, json!({"name": "breast-cancer", "ready": true}))
    );
    let (st, ready) = s.get("/v2/models/breast-cancer/versions/1/ready", key);
    assert_eq!(
        (st, ready),
        (
            200,
            json!({"name": "breast-cancer", "version": "1", "ready": true})
        )
    );
    for path in [
        "/v2/models/breast-cancer/versions/9",
        "/v2/models/breast-cancer/versions/9/ready",
        "/v2/models/nope/ready",
    ] {
        assert_eq!(s.get(path, key).0, 404, "{path}");
    }
}
