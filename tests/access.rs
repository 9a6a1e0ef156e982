//! Access control, as a table: every route against every role (no credential, caller, regulator,
//! admin), each cell the expected status, checked against the real server. A caller reads only
//! its own receipts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod harness;

use harness::*;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug)]
enum Role {
    None,
    Caller,
    Regulator,
    Admin,
}

const ROLES: [Role; 4] = [Role::None, Role::Caller, Role::Regulator, Role::Admin];

fn key(s: &Server, r: Role) -> Option<&str> {
    match r {
        Role::None => None,
        Role::Caller => Some(&s.caller_key),
        Role::Regulator => Some(&s.regulator_key),
        Role::Admin => Some(&s.admin_key),
    }
}

fn triage() -> Value {
    json!({"purpose": "medical-triage", "consent": true, "separate_consent": true, "data_categories": ["health"]})
}

#[test]
fn every_route_against_every_role() {
    let s = start();
    // Two entries: seq 0 is the caller's own, seq 1 another caller's.
    let (st, _) = s.post(
        "/v2/models/breast-cancer/infer",
        Some(&s.caller_key),
        &breast_cancer_request(triage()),
    );
    assert_eq!(st, 200);
    let (st, _) = s.post(
        "/v2/models/breast-cancer/infer",
        Some(&s.other_caller_key),
        &breast_cancer_request(triage()),
    );
    assert_eq!(st, 403);

    let infer = breast_cancer_request(triage());
    // route, body (POST when given), expected for [none, caller, regulator, admin]
    let table: Vec<(&str, Option<&Value>, [u16; 4])> = vec![
        ("/v2/health/live", None, [200, 200, 200, 200]),
        ("/v2/health/ready", None, [200, 200, 200, 200]),
        ("/v2", None, [401, 200, 200, 200]),
        ("/v2/models/breast-cancer", None, [401, 200, 200, 200]),
        (
            "/v2/models/breast-cancer/versions/1",
            None,
            [401, 200, 200, 200],
        ),
        ("/v2/models/breast-cancer/ready", None, [401, 200, 200, 200]),
        (
            "/v2/models/breast-cancer/versions/1/ready",
            None,
            [401, 200, 200, 200],
        ),
        ("/v2/models/nope", None, [401, 404, 404, 404]),
        // Only the role `caller` runs models; the others are denied by policy (and recorded).
        (
            "/v2/models/breast-cancer/infer",
            Some(&infer),
            [401, 200, 403, 403],
        ),
        (
            "/v2/models/breast-cancer/versions/1/infer",
            Some(&infer),
            [401, 200, 403, 403],
        ),
        // Receipts: one's own, or any for a regulator; someone else's is 404, as if absent.
        ("/v1/receipts/0", None, [401, 200, 200, 404]),
        ("/v1/receipts/1", None, [401, 404, 200, 404]),
        ("/v1/receipts/999999", None, [401, 404, 404, 404]),
        ("/metrics", None, [401, 403, 200, 200]),
        // The audit API: regulators only.
        ("/v1/entries", None, [401, 403, 200, 403]),
        ("/v1/entries/0", None, [401, 403, 200, 403]),
        ("/v1/blocks/0", None, [401, 403, 200, 403]),
        ("/v1/checkpoint", None, [401, 403, 200, 403]),
        ("/v1/checkpoints/1", None, [401, 403, 200, 403]),
        ("/v1/proofs/inclusion?seq=0", None, [401, 403, 200, 403]),
        ("/v1/proofs/consistency?from=1", None, [401, 403, 200, 403]),
        ("/v1/stats?by=model", None, [401, 403, 200, 403]),
        ("/v1/export", None, [401, 403, 200, 403]),
        // Unknown routes answer only to a valid credential.
        ("/nowhere", None, [401, 404, 404, 404]),
    ];
    let mut wrong = vec![];
    for (route, body, expected) in &table {
        for (role, want) in ROLES.iter().zip(expected) {
            let (got, answer) = match body {
                Some(b) => s.post(route, key(&s, *role), b),
                None => s.get(route, key(&s, *role)),
            };
            if got != *want {
                wrong.push(format!(
                    "{route} as {role:?}: expected {want}, got {got} {answer}"
                ));
            }
            if got >= 400 {
                assert!(answer["error"].is_string(), "{route} as {role:?}: {answer}");
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "{} cells wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
