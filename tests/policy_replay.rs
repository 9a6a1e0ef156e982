//! `vouch policy replay`, black-box: a real server records allowed, denied and failed calls (and
//! an audit read); the real binary judges them again from the ledger folder and from an export,
//! first with the bundle and registries they were recorded under (nothing changes, `--check`
//! passes), then after a rule change and a registry change (the decisions that change are named,
//! by rule, caller and model, with their seqs), and `--check` catches a recorded decision that its
//! own bundle no longer gives.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};
use vouch::ledger::{
    read_signer_key, write_export, write_verifier_key, Ledger, LedgerConfig, Receipt,
};
use vouch::policy::{CallerRegistry, Role};

use harness::*;

fn triage() -> Value {
    json!({"purpose": "medical-triage", "consent": true, "separate_consent": true, "data_categories": ["health"]})
}

fn seq_of(s: &Server, body: &Value) -> u64 {
    let r: Receipt = serde_json::from_value(body["receipt"].clone()).unwrap();
    r.verify(&s.verifier).unwrap().entry.seq().get()
}

fn replay(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(["policy", "replay"])
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The shipped bundle with one more rule: no call that declares separate consent.
fn changed_bundle(dir: &Path) -> PathBuf {
    let policies = dir.join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    for e in std::fs::read_dir(root().join("policies")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), policies.join(e.file_name())).unwrap();
    }
    let privacy = policies.join("privacy.cedar");
    let mut text = std::fs::read_to_string(&privacy).unwrap();
    text.push_str(
        "\n@id(\"privacy.replay-probe\")\n@category(\"privacy\")\n\
         @reason(\"a rule under test: no call that declares separate consent\")\n\
         forbid (principal, action == Action::\"infer\", resource)\n\
         when { context.separate_consent };\n",
    );
    std::fs::write(&privacy, text).unwrap();
    policies
}

/// The test's callers, with the startup given the oversight and the licence it lacked.
fn changed_callers(dir: &Path) -> PathBuf {
    let callers = dir.join("callers.toml");
    CallerRegistry::add(
        &callers,
        record("clinic", Role::Caller, true, &["medical-practice"]),
    )
    .unwrap();
    CallerRegistry::add(
        &callers,
        record("startup", Role::Caller, true, &["medical-practice"]),
    )
    .unwrap();
    callers
}

#[test]
fn replay_reports_the_decisions_a_change_would_alter() {
    let mut s = start();
    let mut allowed = Vec::new();
    for _ in 0..3 {
        let (status, body) = s.post(
            "/v2/models/breast-cancer/infer",
            Some(&s.caller_key),
            &breast_cancer_request(triage()),
        );
        assert_eq!(status, 200, "{body}");
        allowed.push(seq_of(&s, &body));
    }
    // The startup lacks the licence and the oversight the model needs.
    let mut startup = Vec::new();
    for _ in 0..2 {
        let (status, body) = s.post(
            "/v2/models/breast-cancer/infer",
            Some(&s.other_caller_key),
            &breast_cancer_request(triage()),
        );
        assert_eq!(status, 403, "{body}");
        startup.push(seq_of(&s, &body));
    }
    // No consent declared for health data.
    let (status, body) = s.post(
        "/v2/models/breast-cancer/infer",
        Some(&s.caller_key),
        &breast_cancer_request(json!({"purpose": "medical-triage", "data_categories": ["health"]})),
    );
    assert_eq!(status, 403, "{body}");
    let no_consent = seq_of(&s, &body);
    // An audit read is recorded too.
    let (status, _) = s.get("/v1/checkpoint", Some(&s.regulator_key));
    assert_eq!(status, 200);
    let (status, body) = s.get("/v1/entries?limit=5", Some(&s.regulator_key));
    assert_eq!(status, 200, "{body}");
    s.stop();

    // A call past its time (0 ms), on the same ledger: recorded as an error.
    let mut s = start_with(Options {
        reuse: Some(s.reuse()),
        extra_args: ["--timeout-ms", "0", "--inline-below-us", "0"]
            .map(String::from)
            .to_vec(),
        ..Options::default()
    });
    let rows = 10_000;
    let mut big = breast_cancer_request(triage());
    big["inputs"][0]["shape"] = json!([rows, 30]);
    big["inputs"][0]["data"] = json!(breast_cancer_row().repeat(rows));
    let (status, body) = s.post("/v2/models/breast-cancer/infer", Some(&s.caller_key), &big);
    assert_eq!(status, 504, "{body}");
    let failed = seq_of(&s, &body);
    s.stop();

    let data = s.data().to_path_buf();
    let callers = data.join("callers.toml");
    let key = data.join("log.pub.replay");
    write_verifier_key(&s.verifier, &key).unwrap();
    let work = tempfile::tempdir().unwrap();
    let export = work.path().join("log.jsonl");
    {
        let ledger = Ledger::open(
            &data,
            read_signer_key(&data.join("log.key")).unwrap(),
            LedgerConfig::default(),
        )
        .unwrap();
        let mut bytes = Vec::new();
        write_export(ledger.store(), 0, ledger.head().blocks, &mut bytes).unwrap();
        std::fs::write(&export, bytes).unwrap();
        ledger.close();
    }
    let (data, export, key, callers) = (
        data.to_str().unwrap(),
        export.to_str().unwrap(),
        key.to_str().unwrap(),
        callers.to_str().unwrap(),
    );
    let calls = 3 + 2 + 1 + 1;

    // The bundle and registries the calls were recorded under: nothing changes, from the folder
    // and from the export alike (each verified first with the log's key).
    for source in [["--data", data], ["--export", export]] {
        let out = replay(&[
            source[0],
            source[1],
            "--json",
            "--check",
            "--key",
            key,
            "--callers",
            callers,
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r = json_of(&out);
        assert_eq!(
            r["entries"].as_u64().unwrap(),
            calls + r["not_replayed"]["audit-read"].as_u64().unwrap(),
            "{r}"
        );
        assert_eq!(r["replayed"], calls, "{r}");
        assert_eq!(r["unchanged"], calls, "{r}");
        assert_eq!(r["changed"], json!({}), "{r}");
        assert!(
            r["not_replayed"]["audit-read"].as_u64().unwrap() >= 1,
            "{r}"
        );
        assert_eq!(
            r["same_bundle"],
            json!({"replayed": calls, "changed": 0}),
            "{r}"
        );
        assert_eq!(r["check_passed"], true, "{r}");
        assert_eq!(r["model_file_changed"], 0, "{r}");
        assert_eq!(r["calls"], json!([]), "{r}");
    }

    // A rule added: every call that declared separate consent would be denied — the allowed
    // calls and the failed one (which was allowed, then ran out of time); the startup's denials
    // gain the rule as well; the call without consent is untouched. Exit 6: some would change.
    let policies = changed_bundle(work.path());
    let policies = policies.to_str().unwrap();
    let out = replay(&[
        "--export",
        export,
        "--json",
        "--policies",
        policies,
        "--callers",
        callers,
        "--show",
        "100",
    ]);
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json_of(&out);
    assert_eq!(r["replayed"], calls, "{r}");
    assert_eq!(r["changed"]["allow-to-deny"], 4, "{r}");
    assert_eq!(r["changed"]["other-rules"], 2, "{r}");
    assert_eq!(r["unchanged"], 1, "{r}");
    assert_eq!(r["by_rule"]["privacy.replay-probe"]["gained"], 6, "{r}");
    assert_eq!(
        r["by_caller"]["clinic"],
        json!({"replayed": 5, "changed": 4}),
        "{r}"
    );
    assert_eq!(
        r["by_caller"]["startup"],
        json!({"replayed": 2, "changed": 2}),
        "{r}"
    );
    assert_eq!(r["by_model"]["breast-cancer:1"]["changed"], 6, "{r}");
    // Recorded under another bundle: the check has nothing to hold them to.
    assert_eq!(r["same_bundle"]["replayed"], 0, "{r}");
    let listed = |change: &str| -> Vec<u64> {
        let mut seqs: Vec<u64> = r["calls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["change"] == change)
            .map(|c| c["seq"].as_u64().unwrap())
            .collect();
        seqs.sort();
        seqs
    };
    let mut denied_now = allowed.clone();
    denied_now.push(failed);
    assert_eq!(listed("allow-to-deny"), denied_now, "{r}");
    assert_eq!(listed("other-rules"), startup, "{r}");
    let first = r["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["seq"] == allowed[0])
        .unwrap();
    assert_eq!(first["recorded"]["decision"], "allow", "{first}");
    assert_eq!(first["now"]["decision"], "deny", "{first}");
    assert_eq!(
        first["now"]["rules"],
        json!(["privacy.replay-probe"]),
        "{first}"
    );
    assert!(!listed("allow-to-deny").contains(&no_consent));

    // The text report says the same in words.
    let out = replay(&["--data", data, "--policies", policies, "--callers", callers]);
    assert_eq!(out.status.code(), Some(6));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("changed:   6 (4 allow-to-deny, 2 other-rules)"),
        "{text}"
    );
    assert!(text.contains("privacy.replay-probe: +6 -0"), "{text}");
    assert!(
        text.contains(&format!("seq {} clinic breast-cancer:1: allow", allowed[0])),
        "{text}"
    );

    // A registry change alone: the startup given the oversight and licence it lacked would have
    // been allowed.
    let better = changed_callers(work.path());
    let out = replay(&[
        "--data",
        data,
        "--json",
        "--callers",
        better.to_str().unwrap(),
        "--check",
    ]);
    let r = json_of(&out);
    assert_eq!(r["changed"], json!({"deny-to-allow": 2}), "{r}");
    assert_eq!(listed_of(&r, "deny-to-allow"), startup, "{r}");
    // Recorded under this very bundle, yet decided otherwise now: --check fails (exit 1).
    assert_eq!(
        r["same_bundle"],
        json!({"replayed": calls, "changed": 2}),
        "{r}"
    );
    assert_eq!(r["check_passed"], false, "{r}");
    assert_eq!(out.status.code(), Some(1));

    // Faults: no log, a log that does not verify, a malformed export.
    let out = replay(&[
        "--data",
        work.path().to_str().unwrap(),
        "--callers",
        callers,
    ]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut bytes = std::fs::read(export).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    let bad = work.path().join("bad.jsonl");
    std::fs::write(&bad, &bytes).unwrap();
    let out = replay(&[
        "--export",
        bad.to_str().unwrap(),
        "--key",
        key,
        "--callers",
        callers,
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(json_of(&out)["error"]
        .as_str()
        .unwrap()
        .contains("does not verify"));
    std::fs::write(&bad, b"{\"type\":\"entry\",\"seq\":0}\n").unwrap();
    let out = replay(&["--export", bad.to_str().unwrap(), "--callers", callers]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = replay(&["--callers", callers]);
    assert_eq!(out.status.code(), Some(2));
}

fn listed_of(r: &Value, change: &str) -> Vec<u64> {
    let mut seqs: Vec<u64> = r["calls"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["change"] == change)
        .map(|c| c["seq"].as_u64().unwrap())
        .collect();
    seqs.sort();
    seqs
}

/// The golden log holds entries of both versions: those of version 1 record no declarations and
/// are said to be so, not judged on guesses.
#[test]
fn entries_of_version_1_are_not_replayed_and_say_why() {
    let work = tempfile::tempdir().unwrap();
    let callers = changed_callers(work.path());
    let export = root().join("tests/golden/export-v2.jsonl");
    let out = replay(&[
        "--export",
        export.to_str().unwrap(),
        "--key",
        root().join("tests/golden/log.pub").to_str().unwrap(),
        "--callers",
        callers.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = json_of(&out);
    assert_eq!(r["entries"], 18, "{r}");
    assert_eq!(r["replayed"], 0, "{r}");
    assert_eq!(
        r["not_replayed"],
        json!({"version-1-entry": 10, "no-model": 5, "unknown-caller": 3}),
        "{r}"
    );
}

/// What only inference gives is not in the ledger: an allowed call that drew `human-review`
/// after inference replays unchanged (post-inference rules and their obligations are left out of
/// both sides), and a change that touches only them is not reported.
#[test]
fn post_inference_rules_are_left_out_of_both_sides() {
    use vouch::ledger::{Declared, EntryContext, EntryDraft, Hash, ModelRef, Seq};
    use vouch::policy::replay::{recorded_context, replay, Change};
    use vouch::policy::{ModelFacts, PolicyEngine};

    let work = tempfile::tempdir().unwrap();
    let callers = CallerRegistry::load(&changed_callers(work.path())).unwrap();
    let clinic = callers.get("clinic").unwrap();
    let engine = PolicyEngine::load(&root().join("policies")).unwrap();
    let manifest =
        vouch::inference::Manifest::from_file(&root().join("models/breast-cancer/manifest.toml"))
            .unwrap();
    let version = manifest.version("1").unwrap();
    let facts = ModelFacts::new(&vouch::server::model_description(&manifest, version)).unwrap();

    let draft = EntryDraft {
        request_id: None,
        caller: Some(clinic.id().clone()),
        credential: None,
        model: Some(ModelRef {
            name: "breast-cancer".into(),
            version: "1".into(),
            sha256: Hash::from_hex(&version.sha256).unwrap(),
        }),
        input: Some(Hash::digest(b"in")),
        output: Some(Hash::digest(b"out")),
        decision: vouch::ledger::Decision::Allow,
        rules: vec![],
        obligations: vec![],
        context: EntryContext {
            purpose: Some("medical-triage".into()),
            data_categories: vec!["health".into()],
            pii: vec![],
            declared: Some(Declared {
                categories: vec!["health".into()],
                commercial: true,
                consent: true,
                separate_consent: true,
                terms_version: None,
            }),
            input_bytes: Some(280),
            pii_scan_complete: Some(true),
        },
        policy: Some(Hash::from_bytes(*engine.bundle_hash().as_bytes())),
    };
    // The decision the server would record for a low-confidence answer: judged after inference.
    let entry = draft
        .clone()
        .into_entry(Seq::new(0), "2026-12-03T10:00:00.000000Z".into());
    let context = recorded_context(&entry).unwrap();
    let post = engine
        .decide_post_with(clinic, &facts, &context, Some(0.51))
        .unwrap();
    assert!(
        post.obligations.iter().any(|o| o == "human-review"),
        "{post:?}"
    );
    let recorded = EntryDraft {
        rules: post.rules.clone(),
        obligations: post.obligations.clone(),
        ..draft
    }
    .into_entry(Seq::new(0), "2026-12-03T10:00:00.000000Z".into());
    let replayed = replay(&engine, clinic, &facts, &recorded).unwrap();
    assert_eq!(replayed.change(), Change::Unchanged, "{replayed:?}");
    assert!(!replayed
        .recorded
        .obligations
        .iter()
        .any(|o| o == "human-review"));
    assert!(replayed
        .recorded
        .rules
        .iter()
        .all(|r| !engine.post_rules().contains(r)));
}
