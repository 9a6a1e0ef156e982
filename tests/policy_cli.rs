//! The real `vouch` binary: `policy check`, `policy eval` and `caller add` (a key printed once,
//! only its hash in the file, the key authenticates and a wrong one does not).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use vouch::policy::CallerRegistry;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn vouch(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn policy_check_prints_the_hash() {
    let o = vouch(&["policy", "check"], &root());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let hash = vouch::policy::PolicyEngine::load(&root().join("policies"))
        .unwrap()
        .bundle_hash()
        .to_hex();
    assert!(stdout(&o).contains(&hash), "{}", stdout(&o));

    let o = vouch(&["policy", "check", "--json"], &root());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["policy"], hash.as_str());
    assert!(v["rules"].as_array().unwrap().len() >= 20);
}

#[test]
fn policy_check_names_the_broken_file() {
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(root().join("policies")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    let ip = tmp.path().join("ip.cedar");
    let text = std::fs::read_to_string(&ip).unwrap();
    std::fs::write(&ip, text.replacen("resource.status", "resource.stat", 1)).unwrap();
    let o = vouch(
        &[
            "policy",
            "check",
            "--policies",
            tmp.path().to_str().unwrap(),
        ],
        &root(),
    );
    assert_eq!(o.status.code(), Some(3));
    assert!(stderr(&o).contains("ip.cedar:"), "{}", stderr(&o));
    assert!(stderr(&o).contains("stat"), "{}", stderr(&o));
}

/// A caller file made with `caller add`, in a scratch folder that also links the fixture models
/// and the shipped policies.
fn setup() -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(root().join("policies"), tmp.path().join("policies")).unwrap();
    std::os::unix::fs::symlink(
        root().join("tests/fixtures/models"),
        tmp.path().join("models"),
    )
    .unwrap();
    let o = vouch(
        &[
            "caller",
            "add",
            "--id",
            "clinic",
            "--org",
            "Clinic",
            "--role",
            "caller",
            "--jurisdiction",
            "DE",
            "--terms-version",
            "2026-01",
            "--human-oversight",
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let key = stdout(&o).trim().to_owned();
    (tmp, key)
}

#[test]
fn caller_add_prints_the_key_once_and_stores_its_hash() {
    let (tmp, key) = setup();
    assert!(key.starts_with("vk_"), "{key}");
    assert_eq!(key.lines().count(), 1);
    let file = tmp.path().join("config/callers.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let secret = key.rsplit('_').next().unwrap();
    assert!(!text.contains(secret), "the file holds the key:\n{text}");
    assert!(text.contains("sha256 = "), "{text}");

    let registry = CallerRegistry::load(&file).unwrap();
    let (caller, credential) = registry.authenticate(&key).unwrap();
    assert_eq!(caller.id().as_str(), "clinic");
    assert!(key.contains(credential.as_str()));
    let mut wrong = key.clone();
    let last = wrong.pop().unwrap();
    wrong.push(if last == 'a' { 'b' } else { 'a' });
    assert!(registry.authenticate(&wrong).is_none());

    // A second key for the same caller; both work.
    let o = vouch(&["caller", "add", "--id", "clinic"], tmp.path());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let key2 = stdout(&o).trim().to_owned();
    let registry = CallerRegistry::load(&file).unwrap();
    assert!(registry.authenticate(&key).is_some() && registry.authenticate(&key2).is_some());

    // A new caller without its attributes is a usage error.
    let o = vouch(&["caller", "add", "--id", "nobody"], tmp.path());
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--org"), "{}", stderr(&o));
}

#[test]
fn policy_eval_allows_denies_and_explains() {
    let (tmp, _) = setup();
    let o = vouch(
        &[
            "policy",
            "eval",
            "--caller",
            "clinic",
            "--model",
            "open-minimal",
            "--context",
            r#"{"purpose":"research"}"#,
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains("decision: allow"), "{}", stdout(&o));

    let o = vouch(
        &[
            "policy",
            "eval",
            "--caller",
            "clinic",
            "--model",
            "open-minimal:0.8",
            "--context",
            r#"{"purpose":"research"}"#,
            "--json",
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["decision"], "deny");
    assert_eq!(v["rules"], serde_json::json!(["ip.model-recalled"]));
    assert_eq!(v["reasons"][0]["category"], "ip");

    let o = vouch(
        &[
            "policy",
            "eval",
            "--caller",
            "clinic",
            "--model",
            "clinic-high",
            "--context",
            r#"{"purpose":"medical-triage","data_categories":["health"],"consent":true,"separate_consent":true}"#,
            "--confidence",
            "0.55",
            "--text",
            "patient jane@example.com",
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("liability.human-review"), "{out}");
    assert!(
        out.contains("obligations: ai-disclosure, human-review"),
        "{out}"
    );
    assert!(out.contains("email ×1") && !out.contains("jane@"), "{out}");

    let o = vouch(
        &[
            "policy",
            "eval",
            "--caller",
            "clinic",
            "--model",
            "open-minimal",
            "--context",
            r#"{"consent":"yes"}"#,
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("\"consent\" must be a boolean"),
        "{}",
        stderr(&o)
    );

    let o = vouch(
        &[
            "policy",
            "eval",
            "--caller",
            "ghost",
            "--model",
            "open-minimal",
        ],
        tmp.path(),
    );
    assert_eq!(o.status.code(), Some(3));
}

/// `policy eval` with the common arguments and `extra`, in the scratch folder.
fn eval(tmp: &Path, model: &str, context: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "policy",
        "eval",
        "--caller",
        "clinic",
        "--model",
        model,
        "--context",
        context,
    ];
    args.extend_from_slice(extra);
    vouch(&args, tmp)
}

#[test]
fn policy_eval_says_what_it_did_not_scan_and_what_the_rules_saw() {
    let (tmp, _) = setup();
    // Eleven texts of 100 000 bytes (one argument may hold at most 128 KiB): past the 1 MiB cap.
    let chunk = "a".repeat(100_000);
    let mut huge: Vec<&str> = Vec::new();
    for _ in 0..11 {
        huge.extend(["--text", &chunk]);
    }
    let consent = r#"{"purpose":"research","consent":true}"#;
    let o = eval(tmp.path(), "open-minimal", consent, &huge);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("personal data detected: none"), "{out}");
    assert!(
        out.contains("scan incomplete: only the first 1048576 bytes"),
        "{out}"
    );

    let o = eval(
        tmp.path(),
        "open-minimal",
        consent,
        &[huge.as_slice(), &["--json"]].concat(),
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["pii_scan_complete"], false);
    let o = eval(
        tmp.path(),
        "open-minimal",
        consent,
        &["--text", "hello", "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["pii_scan_complete"], true);
    assert_eq!(v["data_categories"], serde_json::json!([]));

    // A detected card counts as financial data; the model's own inputs as health data.
    let o = eval(
        tmp.path(),
        "open-minimal",
        consent,
        &["--text", "card 4111 1111 1111 1111", "--json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["data_categories"], serde_json::json!(["financial"]));
    assert_eq!(v["decision"], "deny");
    let o = eval(
        tmp.path(),
        "tumour-features",
        r#"{"purpose":"research"}"#,
        &[],
    );
    assert_eq!(o.status.code(), Some(5), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("data categories the rules saw: health"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn policy_eval_refuses_what_it_cannot_mean() {
    let (tmp, _) = setup();
    let ctx = r#"{"purpose":"research"}"#;
    // A probability and "no probability" at once.
    let o = eval(
        tmp.path(),
        "clinic-high",
        ctx,
        &["--confidence", "0.5", "--post"],
    );
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--post"), "{}", stderr(&o));
    // A path where a model name belongs.
    for model in [
        "../models/open-minimal",
        "open-minimal/../nc-research",
        "..",
        "/etc",
    ] {
        let o = eval(tmp.path(), model, ctx, &[]);
        assert_eq!(o.status.code(), Some(2), "{model}: {}", stderr(&o));
        assert!(stderr(&o).contains("is not a model name"), "{}", stderr(&o));
    }
    // With --json, failures are JSON on standard output too.
    let o = eval(
        tmp.path(),
        "open-minimal",
        r#"{"consent":"yes"}"#,
        &["--json"],
    );
    assert_eq!(o.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("\"consent\" must be a boolean"),
        "{v}"
    );
    assert_eq!(v["exit"], 3);
    let o = eval(tmp.path(), "no-such-model", ctx, &["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("manifest.toml"),
        "{v}"
    );
}
