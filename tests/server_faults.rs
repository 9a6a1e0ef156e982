//! Faults found by using the service as callers, regulators, operators and attackers would, each
//! with the behaviour that replaced it: regulator reads recorded and judged by the rules, range
//! errors said as such, SIGHUP reloading the callers instead of ending the process, start-up
//! errors that say what to do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod harness;

use std::process::Command;
use std::time::{Duration, Instant};

use harness::{start, start_with, text_request, Options, Server};
use serde_json::json;

fn entries(s: &Server) -> u64 {
    let (code, head) = s.get("/v1/checkpoint", Some(&s.regulator_key));
    assert_eq!(code, 200, "{head}");
    head["entries"].as_u64().unwrap()
}

fn support_call(s: &Server, key: &str) -> (u16, serde_json::Value) {
    s.post(
        "/v2/models/support-intent/infer",
        Some(key),
        &text_request("where is my parcel", json!({"purpose": "customer-support"})),
    )
}

fn get_with_headers(s: &Server, path: &str, key: &str) -> (u16, Option<String>) {
    let r = match ureq::get(&format!("{}{path}", s.url))
        .set("authorization", &format!("Bearer {key}"))
        .call()
    {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    (r.status(), r.header("vouch-audit-seq").map(str::to_string))
}

#[test]
fn regulator_reads_of_whole_entries_are_recorded() {
    let s = start();
    assert_eq!(support_call(&s, &s.caller_key).0, 200);
    let before = entries(&s);
    // An inclusion proof carries the whole entry: the read is recorded, and says where.
    let (code, seq) = get_with_headers(&s, "/v1/proofs/inclusion?seq=0", &s.regulator_key);
    assert_eq!(code, 200);
    assert_eq!(seq.as_deref(), Some(before.to_string().as_str()));
    assert_eq!(entries(&s), before + 1);
    // So does another caller's receipt.
    let (code, seq) = get_with_headers(&s, "/v1/receipts/0", &s.regulator_key);
    assert_eq!(code, 200);
    assert_eq!(seq.as_deref(), Some((before + 1).to_string().as_str()));
    assert_eq!(entries(&s), before + 2);
    // A caller's own receipt is not an audit read.
    let (code, seq) = get_with_headers(&s, "/v1/receipts/0", &s.caller_key);
    assert_eq!((code, seq), (200, None));
    assert_eq!(entries(&s), before + 2);
}

#[test]
fn receipts_of_others_follow_the_audit_rule_not_a_role() {
    let policies = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(harness::root().join("policies"))
        .unwrap()
        .flatten()
    {
        std::fs::copy(e.path(), policies.path().join(e.file_name())).unwrap();
    }
    // An operator narrows the audit action: this regulator may no longer read the ledger.
    std::fs::write(
        policies.path().join("narrow.cedar"),
        "@id(\"access.audit-suspended\")\n@category(\"access\")\n\
         @reason(\"ledger reads are suspended\")\n\
         forbid (principal, action == Action::\"audit\", resource);\n",
    )
    .unwrap();
    let s = start_with(Options {
        policies: Some(policies.path().to_path_buf()),
        ..Options::default()
    });
    assert_eq!(support_call(&s, &s.caller_key).0, 200);
    let (code, _) = s.get("/v1/receipts/0", Some(&s.regulator_key));
    assert_eq!(
        code, 404,
        "the audit rule forbids it; the role must not override it"
    );
    let (code, _) = s.get("/v1/receipts/0", Some(&s.caller_key));
    assert_eq!(code, 200, "a caller's own receipt");
    let (code, body) = s.get("/v1/proofs/inclusion?seq=0", Some(&s.regulator_key));
    assert_eq!(code, 403, "{body}");
}

#[test]
fn tree_sizes_and_ranges_out_of_bounds_are_said_as_such() {
    let s = start();
    assert_eq!(support_call(&s, &s.caller_key).0, 200);
    let key = Some(s.regulator_key.as_str());
    for path in [
        "/v1/entries?size=0",
        "/v1/checkpoints/0",
        "/v1/stats?by=model&size=0",
        "/v1/proofs/inclusion?seq=0&size=0",
    ] {
        let (code, body) = s.get(path, key);
        assert_eq!(code, 400, "{path}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains("at least 1"),
            "{path}: {body}"
        );
    }
    let (code, body) = s.get("/v1/checkpoints/999999", key);
    assert_eq!(code, 404);
    let msg = body["error"].as_str().unwrap();
    assert!(msg.contains("999999") && !msg.contains("999998"), "{msg}");
    let (code, body) = s.get("/v1/export?from_seq=5&to_seq=2", key);
    assert_eq!(code, 400);
    assert!(
        body["error"].as_str().unwrap().contains("from_seq"),
        "{body}"
    );
}

#[test]
fn sighup_reloads_the_callers_and_never_ends_the_server() {
    let s = start();
    let callers = s.data().join("callers.toml");
    let new_key = vouch::policy::CallerRegistry::add(
        &callers,
        harness::record("late-clinic", vouch::policy::Role::Caller, false, &[]),
    )
    .unwrap()
    .0
    .expose()
    .to_string();
    assert_eq!(support_call(&s, &new_key).0, 401, "not loaded yet");
    let pid = s.child.id().to_string();
    for _ in 0..3 {
        assert!(Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success());
    }
    let started = Instant::now();
    loop {
        let (code, body) = support_call(&s, &new_key);
        if code == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{code} {body}: {}",
            String::from_utf8_lossy(&s.logs())
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        support_call(&s, &s.caller_key).0,
        200,
        "old keys still work"
    );
    // A file that does not load leaves the registry in force.
    std::fs::write(&callers, "this is not toml [").unwrap();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(support_call(&s, &new_key).0, 200);
    assert_eq!(s.get("/v2/health/live", None).0, 200);
}

fn serve(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vouch"))
        .arg("serve")
        .args(["--bind", "127.0.0.1:0"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn serve_without_a_log_key_says_how_to_make_one() {
    let data = tempfile::tempdir().unwrap();
    let callers = data.path().join("callers.toml");
    std::fs::write(&callers, "").unwrap();
    let (code, err) = serve(&[
        "--data",
        data.path().to_str().unwrap(),
        "--callers",
        callers.to_str().unwrap(),
        "--models",
        harness::root().join("models").to_str().unwrap(),
        "--policies",
        harness::root().join("policies").to_str().unwrap(),
    ]);
    assert_eq!(code, 3, "{err}");
    assert!(
        err.contains("vouch keygen") && err.contains("--demo"),
        "{err}"
    );
}

#[test]
fn the_config_file_takes_demo_and_logs_have_no_colours_when_not_a_terminal() {
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("vouch.toml");
    std::fs::write(
        &config,
        format!(
            "demo = true\ndata = {:?}\nmodels = {:?}\npolicies = {:?}\nbind = \"127.0.0.1:0\"\n",
            data.path().join("d"),
            harness::root().join("models"),
            harness::root().join("policies"),
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !data.path().join("d/demo-credentials.json").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no demo set-up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("serving"), "{err}");
    assert!(
        !err.contains('\u{1b}'),
        "ANSI escapes in a log that is not a terminal: {err:?}"
    );
}

#[test]
fn a_call_whose_output_cannot_be_judged_is_recorded_as_an_error_with_a_receipt() {
    let s = start();
    assert_eq!(support_call(&s, &s.caller_key).0, 200);
    let before = entries(&s);
    let (code, body) = s.post(
        "/v2/models/seed-mlp/infer",
        Some(&s.caller_key),
        &json!({
            "id": "overflow-1",
            "inputs": [{"name": "input", "shape": [1, 100], "datatype": "FP32", "data": vec![3e38; 100]}],
            "parameters": {"purpose": "research"},
        }),
    );
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["id"], "overflow-1", "{body}");
    assert!(body["receipt"].is_object(), "no receipt: {body}");
    assert_eq!(
        entries(&s),
        before + 1,
        "the call reached the model: it is recorded"
    );
    let (_, e) = s.get(&format!("/v1/entries/{before}"), Some(&s.regulator_key));
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(e["entry"]["entry"].as_str().unwrap())
        .unwrap();
    let recorded: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(recorded["decision"], "error", "{recorded}");
    assert_eq!(recorded["output"], serde_json::Value::Null, "{recorded}");
}

#[test]
fn request_ids_and_purposes_that_hold_personal_data_are_refused_not_recorded() {
    let s = start();
    assert_eq!(support_call(&s, &s.caller_key).0, 200);
    let before = entries(&s);
    for (id, purpose, kind) in [
        (
            "patient jane.doe@example.com ssn 123-45-6789",
            "customer-support",
            "opaque token",
        ),
        ("jane.doe@example.com", "customer-support", "opaque token"),
        ("123-45-6789", "customer-support", "us-ssn"),
        ("req-7", "123-45-6789", "us-ssn"),
    ] {
        let mut body = text_request("where is my parcel", json!({"purpose": purpose}));
        body["id"] = json!(id);
        let (code, answer) = s.post(
            "/v2/models/support-intent/infer",
            Some(&s.caller_key),
            &body,
        );
        assert_eq!(code, 400, "{id} / {purpose}: {answer}");
        assert!(answer["error"].as_str().unwrap().contains(kind), "{answer}");
    }
    assert_eq!(
        entries(&s),
        before,
        "nothing of a refused id may reach the ledger"
    );
    // Opaque ids are kept as they are.
    let mut body = text_request("where is my parcel", json!({"purpose": "customer-support"}));
    body["id"] = json!("4b1e1c9e-2f1d-4a53-9b8e-5f0b8a3c1d2e");
    assert_eq!(
        s.post(
            "/v2/models/support-intent/infer",
            Some(&s.caller_key),
            &body
        )
        .0,
        200
    );
}

#[test]
fn json_is_read_to_127_levels_and_refused_from_128_as_documented() {
    let s = start();
    let nested = |depth: usize| -> Vec<u8> {
        // The object (1), `parameters` (2), then arrays down to `depth`.
        let arrays = depth - 2;
        format!(
            "{{\"inputs\":[{{\"name\":\"text\",\"shape\":[1,1],\"datatype\":\"BYTES\",\"data\":[[\"hi\"]]}}],\
             \"parameters\":{{\"purpose\":\"customer-support\",\"note\":{}{}}}}}",
            "[".repeat(arrays),
            "]".repeat(arrays)
        )
        .into_bytes()
    };
    let post = |body: Vec<u8>| {
        s.post_raw(
            "/v2/models/support-intent/infer",
            &s.caller_key,
            &[("content-type", "application/json")],
            &body,
        )
    };
    let (code, body, _) = post(nested(127));
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&body));
    let (code, body, _) = post(nested(128));
    assert_eq!(code, 400);
    assert!(String::from_utf8_lossy(&body).contains("recursion limit"));
    let api = std::fs::read_to_string(harness::root().join("docs/API.md")).unwrap();
    assert!(
        api.contains("JSON nested 128 deep or more"),
        "docs/API.md states another limit"
    );
}

#[test]
fn an_audit_read_keeps_its_x_request_id_only_when_it_holds_no_personal_data() {
    let s = start();
    assert_eq!(support_call(&s, &s.caller_key).0, 200);
    let recorded_id = |header: &str| -> serde_json::Value {
        let r = ureq::get(&format!("{}/v1/entries/0", s.url))
            .set("authorization", &format!("Bearer {}", s.regulator_key))
            .set("x-request-id", header)
            .call()
            .unwrap();
        let seq = r.header("vouch-audit-seq").map(str::to_string);
        let body: serde_json::Value = r.into_json().unwrap();
        let seq = seq
            .or_else(|| {
                body["audit_receipt"]["entry"].as_str().map(|e| {
                    use base64::Engine as _;
                    let bytes = base64::engine::general_purpose::STANDARD.decode(e).unwrap();
                    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                    v["seq"].to_string()
                })
            })
            .unwrap();
        let (_, e) = s.get(&format!("/v1/receipts/{seq}"), Some(&s.regulator_key));
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(e["entry"].as_str().unwrap())
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        v["request_id"].clone()
    };
    assert_eq!(recorded_id("audit-42"), json!("audit-42"));
    assert_eq!(recorded_id("jane.doe@example.com"), serde_json::Value::Null);
    assert_eq!(recorded_id("123-45-6789"), serde_json::Value::Null);
}
