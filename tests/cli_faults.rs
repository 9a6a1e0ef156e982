//! Black-box tests of the command-line tools where they used to go wrong: a log rolled back
//! under a saved checkpoint, receipts of denied, failed and binary calls, log key names too long
//! for a block header, caller records the rules cannot use, and the audit table and counts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod common;
mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use vouch::ledger::{write_verifier_key, Checkpoint};

use harness::*;

fn vouch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vouch"))
}

fn triage() -> Value {
    json!({"purpose": "medical-triage", "consent": true, "separate_consent": true, "data_categories": ["health"]})
}

fn text(out: &Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The regulator's API key file and the log's verifier key file, in `dir`.
fn keys(s: &Server, dir: &Path) -> (PathBuf, PathBuf) {
    let api = dir.join("regulator.key");
    std::fs::write(&api, &s.regulator_key).unwrap();
    let public = dir.join("log.pub");
    write_verifier_key(&s.verifier, &public).unwrap();
    (api, public)
}

fn allowed_calls(s: &Server, n: usize) {
    for _ in 0..n {
        let req = breast_cancer_request(triage());
        let (status, body) = s.post("/v2/models/breast-cancer/infer", Some(&s.caller_key), &req);
        assert_eq!(status, 200, "{body}");
    }
}

fn latest_size(s: &Server) -> u64 {
    let (status, body) = s.get("/v1/checkpoint", Some(&s.regulator_key));
    assert_eq!(status, 200, "{body}");
    body["size"].as_u64().unwrap()
}

fn audit(s: &Server, api: &Path, public: &Path, state: &Path, extra: &[&str]) -> Output {
    vouch()
        .args(["audit", "--url", &s.url])
        .arg("--key-file")
        .arg(api)
        .arg("--key")
        .arg(public)
        .arg("--state")
        .arg(state)
        .args(extra)
        .output()
        .unwrap()
}

/// A server that signed a checkpoint of N blocks and later holds fewer (the same log key, a new
/// ledger) was rolled back: `vouch verify --url`/`--data` and `vouch audit` say so and exit 1,
/// naming both sizes; an export file that ends before the checkpoint is only stale (exit 3).
#[test]
fn a_rolled_back_log_fails_verification_naming_both_sizes() {
    let mut s = start();
    let work = tempfile::tempdir().unwrap();
    let (api, public) = keys(&s, work.path());
    allowed_calls(&s, 8);
    let saved = work.path().join("trusted.note");
    let out = vouch()
        .args(["verify", "--url", &s.url])
        .arg("--key-file")
        .arg(&api)
        .arg("--key")
        .arg(&public)
        .arg("--save-checkpoint")
        .arg(&saved)
        .output()
        .unwrap();
    let (code, _, err) = text(&out);
    assert_eq!(code, 0, "{err}");
    let state = work.path().join("audit.state");
    let (code, _, err) = text(&audit(&s, &api, &public, &state, &["--limit", "1"]));
    assert_eq!(code, 0, "{err}");
    let trusted = Checkpoint::open(&std::fs::read_to_string(&saved).unwrap(), &s.verifier)
        .unwrap()
        .size;
    let seen = Checkpoint::open(&std::fs::read_to_string(&state).unwrap(), &s.verifier)
        .unwrap()
        .size;

    // The same log key and callers, a ledger started anew, a few calls.
    s.stop();
    std::fs::remove_dir_all(s.data().join("ledger")).unwrap();
    let mut b = start_with(Options {
        reuse: Some(s.reuse()),
        ..Options::default()
    });
    allowed_calls(&b, 2);
    let now = latest_size(&b);
    assert!(now < trusted, "{now} < {trusted}");
    let blocks = if now == 1 { "block" } else { "blocks" };

    let verify_url = vouch()
        .args(["verify", "--url", &b.url])
        .arg("--key-file")
        .arg(&api)
        .arg("--key")
        .arg(&public)
        .arg("--from-checkpoint")
        .arg(&saved)
        .output()
        .unwrap();
    let (code, _, err) = text(&verify_url);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("VERIFICATION FAILED"), "{err}");
    assert!(err.contains("rolled back"), "{err}");
    assert!(
        err.contains(&format!("holds {now} {blocks}")) && err.contains(&format!("the {trusted} ")),
        "both sizes named: {err}"
    );

    let (code, out, err) = text(&audit(&b, &api, &public, &state, &[]));
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "nothing printed: {out}");
    assert!(err.contains("VERIFICATION FAILED"), "{err}");
    assert!(err.contains("rolled back"), "{err}");
    assert!(err.contains(&format!("fewer than the {seen} ")), "{err}");
    let state_after = Checkpoint::open(&std::fs::read_to_string(&state).unwrap(), &s.verifier)
        .unwrap()
        .size;
    assert_eq!(state_after, seen, "the state file is left alone");

    // An export of the shorter log, saved to a file: stale, not a forgery.
    let export = ureq::get(&format!("{}/v1/export", b.url))
        .set("authorization", &format!("Bearer {}", b.regulator_key))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let export_file = work.path().join("export.jsonl");
    std::fs::write(&export_file, export).unwrap();
    let out = vouch()
        .arg("verify")
        .arg("--export")
        .arg(&export_file)
        .arg("--key")
        .arg(&public)
        .arg("--from-checkpoint")
        .arg(&saved)
        .output()
        .unwrap();
    let (code, _, err) = text(&out);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("stale export"), "{err}");
    assert!(err.contains(&format!("tree size {trusted}")), "{err}");

    // The store itself, read from its data folder.
    b.stop();
    let out = vouch()
        .arg("verify")
        .arg("--data")
        .arg(b.data())
        .arg("--key")
        .arg(&public)
        .arg("--from-checkpoint")
        .arg(&saved)
        .arg("--json")
        .output()
        .unwrap();
    let (code, stdout, err) = text(&out);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("VERIFICATION FAILED") && err.contains("rolled back"),
        "{err}"
    );
    assert!(err.contains(&format!("the {trusted} ")), "{err}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["verified"], false);
    assert_eq!(report["rolled_back"], true);
}

/// Saves `body` (and the request) and runs `vouch receipt verify` on them.
fn receipt_verify(dir: &Path, request: &[u8], response: &[u8], extra: &[&str]) -> Output {
    std::fs::write(dir.join("req"), request).unwrap();
    std::fs::write(dir.join("resp"), response).unwrap();
    vouch()
        .current_dir(dir)
        .args(["receipt", "verify", "resp", "--key", "log.pub"])
        .args(["--request", "req", "--response", "resp", "--json"])
        .args(extra)
        .output()
        .unwrap()
}

fn report(out: &Output) -> Value {
    let (code, stdout, err) = text(out);
    assert_eq!(code, 0, "{stdout}{err}");
    serde_json::from_str(&stdout).unwrap()
}

/// A denied call (403) and a failed one (504) have an input commitment and no output one: the
/// command `docs/API.md` gives verifies them, opens the input and says there is no output.
#[test]
fn receipts_of_denied_and_timed_out_calls_verify_with_request_and_response() {
    let s = start_with(Options {
        extra_args: ["--timeout-ms", "0", "--inline-below-us", "0"]
            .map(String::from)
            .to_vec(),
        ..Options::default()
    });
    let work = tempfile::tempdir().unwrap();
    keys(&s, work.path());

    // The startup lacks the licence and the oversight the model needs: denied.
    let req = breast_cancer_request(triage());
    let (status, body) = s.post(
        "/v2/models/breast-cancer/infer",
        Some(&s.other_caller_key),
        &req,
    );
    assert_eq!(status, 403, "{body}");
    let req_bytes = serde_json::to_vec(&req).unwrap();
    let out = receipt_verify(
        work.path(),
        &req_bytes,
        &serde_json::to_vec(&body).unwrap(),
        &[],
    );
    let r = report(&out);
    assert_eq!(r["decision"], "deny");
    assert_eq!(r["input"], true);
    assert_eq!(r["output"], Value::Null);
    // The text form says so in words.
    let out = vouch()
        .current_dir(work.path())
        .args(["receipt", "verify", "resp", "--key", "log.pub"])
        .args(["--request", "req", "--response", "resp"])
        .output()
        .unwrap();
    let (code, stdout, err) = text(&out);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("input commitment opens: true"), "{stdout}");
    assert!(stdout.contains("no output to open"), "{stdout}");
    assert!(
        !stdout.contains("None") && !stdout.contains("Some("),
        "{stdout}"
    );

    // A response that claims outputs for a denied call is not vouched for.
    let mut forged = body.clone();
    forged["outputs"] = json!([{"name": "label", "shape": [1], "datatype": "INT64", "data": [1]}]);
    let out = receipt_verify(
        work.path(),
        &req_bytes,
        &serde_json::to_vec(&forged).unwrap(),
        &[],
    );
    let (code, _, err) = text(&out);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("records no output commitment"), "{err}");
    assert!(!err.contains("None"), "{err}");

    // A call over the 0 ms timeout: 504, recorded as an error.
    let rows = 10_000;
    let mut big = breast_cancer_request(triage());
    big["inputs"][0]["shape"] = json!([rows, 30]);
    big["inputs"][0]["data"] = json!(breast_cancer_row().repeat(rows));
    let (status, body) = s.post("/v2/models/breast-cancer/infer", Some(&s.caller_key), &big);
    assert_eq!(status, 504, "{body}");
    let big_bytes = serde_json::to_vec(&big).unwrap();
    let out = receipt_verify(
        work.path(),
        &big_bytes,
        &serde_json::to_vec(&body).unwrap(),
        &[],
    );
    let r = report(&out);
    assert_eq!(r["decision"], "error");
    assert_eq!(r["input"], true);
    assert_eq!(r["output"], Value::Null);

    // Another request does not open it.
    let out = receipt_verify(
        work.path(),
        &req_bytes,
        &serde_json::to_vec(&body).unwrap(),
        &[],
    );
    let (code, _, err) = text(&out);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("do not open the input commitment"), "{err}");
}

/// A request and a response in the binary tensor data extension, saved as sent and received,
/// open the commitments: with the header lengths given, and read from the files alone.
#[test]
fn a_binary_request_and_response_open_their_commitments() {
    let s = start();
    let work = tempfile::tempdir().unwrap();
    keys(&s, work.path());
    let mut parameters = triage();
    parameters["binary_data_output"] = json!(true);
    let header = json!({
        "id": "bin-1",
        "inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32",
                    "parameters": {"binary_data_size": 120}}],
        "parameters": parameters,
    });
    let header = serde_json::to_vec(&header).unwrap();
    let mut request = header.clone();
    for x in breast_cancer_row() {
        request.extend_from_slice(&x.to_le_bytes());
    }
    let length = header.len().to_string();
    let (status, response, response_length) = s.post_raw(
        "/v2/models/breast-cancer/infer",
        &s.caller_key,
        &[
            ("inference-header-content-length", &length),
            ("content-type", "application/octet-stream"),
        ],
        &request,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&response));
    let response_length = response_length.expect("a binary response");
    let json_part: usize = response_length.parse().unwrap();
    assert!(json_part < response.len(), "the outputs are binary");

    let r = report(&receipt_verify(work.path(), &request, &response, &[]));
    assert_eq!(r["decision"], "allow");
    assert_eq!(r["input"], true);
    assert_eq!(r["output"], true);
    let r = report(&receipt_verify(
        work.path(),
        &request,
        &response,
        &[
            "--request-header-length",
            &length,
            "--response-header-length",
            &response_length,
        ],
    ));
    assert_eq!(
        (r["input"].clone(), r["output"].clone()),
        (json!(true), json!(true))
    );

    // One byte of an input or of an output changed: that commitment does not open.
    let mut other_request = request.clone();
    *other_request.last_mut().unwrap() ^= 1;
    let (code, _, err) = text(&receipt_verify(work.path(), &other_request, &response, &[]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("input commitment"), "{err}");
    let mut other_response = response.clone();
    *other_response.last_mut().unwrap() ^= 0x40;
    let (code, _, err) = text(&receipt_verify(work.path(), &request, &other_response, &[]));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("output commitment"), "{err}");
}

/// Waits for `child` at most `limit`; kills it if it is still running.
fn wait_or_kill(child: &mut std::process::Child, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A log key name longer than 255 bytes would make every block header too long to read back:
/// `vouch keygen` refuses it, and `vouch serve` refuses a key file that carries one.
#[test]
fn key_names_longer_than_255_bytes_are_refused_by_keygen_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    let long = "a".repeat(5000);
    let out = vouch()
        .args(["keygen", "--name", &long, "--out"])
        .arg(dir.path().join("long"))
        .output()
        .unwrap();
    let (code, _, err) = text(&out);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("5000 bytes") && err.contains("255"), "{err}");
    assert!(!dir.path().join("long").join("log.key").exists());
    let out = vouch()
        .args(["keygen", "--name", &"b".repeat(256), "--out"])
        .arg(dir.path().join("256"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let out = vouch()
        .args(["keygen", "--name", &"c".repeat(255), "--out"])
        .arg(dir.path().join("255"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "255 bytes is within the limit");

    // A key file with a long name, made by hand (with the right key id for that name).
    let seed = [7u8; 32];
    let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key();
    let id = vouch::ledger::key_id(&long, &public);
    let mut material = vec![1u8];
    material.extend_from_slice(&seed);
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&material);
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let key_file = data.join("log.key");
    std::fs::write(&key_file, format!("PRIVATE+KEY+{long}+{id:08x}+{b64}\n")).unwrap();
    std::fs::set_permissions(
        &key_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let callers = data.join("callers.toml");
    std::fs::write(&callers, "").unwrap();
    let mut child = vouch()
        .args(["serve", "--bind", "127.0.0.1:0"])
        .arg("--data")
        .arg(&data)
        .arg("--key")
        .arg(&key_file)
        .arg("--models")
        .arg(root().join("models"))
        .arg("--policies")
        .arg(root().join("policies"))
        .arg("--callers")
        .arg(&callers)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let code = wait_or_kill(&mut child, Duration::from_secs(60));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(code.is_some_and(|c| c != 0), "serve refused the key: {err}");
    assert!(err.contains("255"), "{err}");
}

fn caller_add(file: &Path, args: &[&str]) -> (i32, String, String) {
    text(
        &vouch()
            .args(["caller", "add", "--file"])
            .arg(file)
            .args(args)
            .output()
            .unwrap(),
    )
}

/// `vouch caller add` refuses what the rules cannot use, records repeated roles once, and will
/// not silently ignore attributes given for a caller already in the file.
#[test]
fn caller_add_validates_its_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("callers.toml");
    let base = |id: &'static str| {
        vec![
            "--id",
            id,
            "--org",
            "Org",
            "--role",
            "caller",
            "--jurisdiction",
            "DE",
            "--terms-version",
            "2026-01",
        ]
    };
    let with = |id: &'static str, flag: &'static str, value: &'static str| {
        let mut a = base(id);
        match a.iter().position(|x| *x == flag) {
            Some(i) => a[i + 1] = value,
            None => a.extend([flag, value]),
        }
        a
    };
    for (flag, value, says) in [
        ("--jurisdiction", "XX", "ISO 3166-1"),
        ("--jurisdiction", "de", "ISO 3166-1"),
        ("--terms-version", "2099 !!", "terms version"),
        ("--org", "", "organisation must not be empty"),
        ("--tier", " ", "tier must not be empty"),
    ] {
        let (code, out, err) = caller_add(&file, &with("bad", flag, value));
        assert_eq!(code, 3, "{flag} {value:?}: {err}");
        assert!(err.contains(says), "{flag} {value:?}: {err}");
        assert!(out.is_empty(), "no key printed: {out}");
    }
    assert!(!file.exists() || !std::fs::read_to_string(&file).unwrap().contains("\"bad\""));

    let mut twice = base("lab");
    twice.extend(["--role", "caller", "--role", "admin"]);
    let (code, out, err) = caller_add(&file, &twice);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("vk_"), "{out}");
    assert!(
        err.contains("--role caller was given more than once"),
        "{err}"
    );
    let registry = vouch::policy::CallerRegistry::load(&file).unwrap();
    let roles: Vec<&str> = registry
        .get("lab")
        .unwrap()
        .roles()
        .iter()
        .map(|r| r.as_str())
        .collect();
    assert_eq!(roles, ["caller", "admin"]);
    let toml = std::fs::read_to_string(&file).unwrap();
    assert!(toml.contains(r#"roles = ["caller", "admin"]"#), "{toml}");

    // An existing caller: attributes given are refused, not dropped; a key alone is added.
    let (code, out, err) = caller_add(&file, &["--id", "lab", "--jurisdiction", "FR"]);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains("already in") && err.contains("--jurisdiction"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        toml,
        "file unchanged"
    );
    let (code, out, err) = caller_add(&file, &["--id", "lab"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("vk_"));
    assert!(err.contains("added a key for existing caller lab"), "{err}");
}

/// The audit table keeps its columns under a long caller id, counts read "1 entry", and a page
/// size of 0 is a usage error.
#[test]
fn the_audit_table_aligns_long_caller_ids_and_counts_in_words() {
    let mut s = start();
    let long_id = "a-caller-with-a-rather-long-identifier.example";
    let callers = s.data().join("callers.toml");
    let (code, key, err) = caller_add(
        &callers,
        &[
            "--id",
            long_id,
            "--org",
            "Long Org",
            "--role",
            "caller",
            "--jurisdiction",
            "GB",
            "--terms-version",
            &terms_version(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    s.stop();
    let s = start_with(Options {
        reuse: Some(s.reuse()),
        ..Options::default()
    });
    let req = breast_cancer_request(triage());
    let (status, _) = s.post("/v2/models/breast-cancer/infer", Some(key.trim()), &req);
    assert_eq!(status, 403, "no licence: denied, and recorded");
    allowed_calls(&s, 1);

    let work = tempfile::tempdir().unwrap();
    let (api, public) = keys(&s, work.path());
    let state = work.path().join("state");
    let (code, out, deny_err) = text(&audit(&s, &api, &public, &state, &["--decision", "deny"]));
    assert_eq!(code, 0, "{deny_err}");
    let (code, out_all, err) = text(&audit(&s, &api, &public, &state, &[]));
    assert_eq!(code, 0, "{err}");
    for table in [&out, &out_all] {
        assert!(table.contains(long_id), "{table}");
        let mut lines = table.lines();
        let header = lines.next().unwrap();
        let columns: Vec<usize> = ["TIME", "CALLER", "MODEL", "DECISION", "RULES"]
            .iter()
            .map(|c| header.find(c).unwrap())
            .collect();
        let rules = columns[4];
        for line in lines {
            if line.len() == rules - 2 {
                // No rules: the line ends after the decision.
                continue;
            }
            for &at in &columns {
                let before = line.get(at - 2..at);
                let here = line.get(at..at + 1);
                assert!(
                    before == Some("  ") && here.is_some_and(|c| c != " "),
                    "column at {at} misaligned:\n{header}\n{line}"
                );
            }
        }
    }

    assert!(deny_err.contains("1 entry, each verified"), "{deny_err}");

    let (code, _, err) = text(&audit(&s, &api, &public, &state, &["--page-size", "0"]));
    assert_eq!(code, 2, "{err}");
}

/// A log of one entry is summed up as "1 entry in 1 block, 1 checkpoint".
#[test]
fn verify_counts_in_words() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = common::open(dir.path());
    ledger.append_blocking(common::draft(0)).unwrap();
    let public = dir.path().join("log.pub");
    write_verifier_key(&common::signer().verifier(), &public).unwrap();
    let out = vouch()
        .args(["verify", "--data"])
        .arg(dir.path())
        .arg("--key")
        .arg(&public)
        .output()
        .unwrap();
    let (code, stdout, err) = text(&out);
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.starts_with("verified: 1 entry in 1 block, 1 checkpoint ("),
        "{stdout}"
    );

    ledger.append_blocking(common::draft(1)).unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let old = write("old.note", ledger.checkpoint(1).unwrap());
    let new = write("new.note", ledger.checkpoint(2).unwrap());
    let proof = ledger.consistency_proof(1, 2).unwrap();
    let proof = write("proof.json", serde_json::to_string(&proof).unwrap());
    let out = vouch()
        .args(["verify", "checkpoint"])
        .arg(&old)
        .arg(&new)
        .arg("--proof")
        .arg(&proof)
        .arg("--key")
        .arg(&public)
        .output()
        .unwrap();
    let (code, stdout, err) = text(&out);
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("the checkpoint of 2 blocks extends the one of 1 block\n"),
        "{stdout}"
    );
}

/// Splits a documented shell command line: words, single-quoted strings, `\` line continuations.
fn shell_words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut started = false;
    for c in command.replace("\\\n", " ").chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                started = true;
            }
            c if c.is_whitespace() && !quoted => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            c => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// The example call of `docs/POLICIES.md`, run as written from the project folder (the shipped
/// rules, models and demo callers), is allowed.
#[test]
fn the_documented_policy_example_is_allowed() {
    let doc = std::fs::read_to_string(root().join("docs/POLICIES.md")).unwrap();
    let example = doc
        .split("```console\n$ ")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("a console example in docs/POLICIES.md");
    let words = shell_words(example);
    assert_eq!(
        words.first().map(String::as_str),
        Some("vouch"),
        "{example}"
    );
    let out = vouch()
        .current_dir(root())
        .args(&words[1..])
        .output()
        .unwrap();
    let (code, stdout, err) = text(&out);
    assert_eq!(code, 0, "the documented call is allowed:\n{stdout}{err}");
    assert!(stdout.lines().any(|l| l == "decision: allow"), "{stdout}");
}

/// A fault in an export's first line names what was found in words, not in Rust's debug form.
#[test]
fn an_export_of_another_format_version_is_named_plainly() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = common::open(dir.path());
    ledger.append_blocking(common::draft(0)).unwrap();
    let mut export = Vec::new();
    vouch::ledger::write_export(ledger.store(), 0, 1, &mut export).unwrap();
    let export = String::from_utf8(export).unwrap();
    let (head, rest) = export.split_once('\n').unwrap();
    assert!(head.contains("\"v\":1"), "{head}");
    let file = dir.path().join("v2.jsonl");
    std::fs::write(
        &file,
        format!("{}\n{rest}", head.replace("\"v\":1", "\"v\":2")),
    )
    .unwrap();
    let public = dir.path().join("log.pub");
    write_verifier_key(&common::signer().verifier(), &public).unwrap();
    let out = vouch()
        .args(["verify", "--json", "--export"])
        .arg(&file)
        .arg("--key")
        .arg(&public)
        .output()
        .unwrap();
    let (code, stdout, err) = text(&out);
    assert_eq!(code, 1, "{err}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["found"], "v 2", "{report}");
    assert!(!err.contains("Some("), "{err}");
}
