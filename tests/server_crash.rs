//! Crash safety of the real service under load: client threads send allowed and denied calls
//! while the server is SIGKILLed at random moments and restarted on the same data folder, again
//! and again. Every receipt a client received (with a 200 or a 403) must still verify, the
//! reopened store must hold exactly that entry at that seq, seqs must be gap-free, and
//! `vouch verify` must pass on the folder.
//!
//! The kill moments come from a seeded RNG; the seed is printed, and `VOUCH_CRASH_SEED=<n>`
//! replays a run's schedule (the interleaving with the clients still varies).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod harness;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use vouch::ledger::{Entry, Receipt, Seq, Store};

use harness::*;

const KILLS: usize = 20;
const CLIENTS: usize = 4;

fn triage() -> Value {
    json!({"purpose": "medical-triage", "consent": true, "separate_consent": true, "data_categories": ["health"]})
}

/// One call of a client: (key, path, body, expected status).
fn call(s: &Server, i: u64) -> (String, &'static str, Value, u16) {
    match i % 3 {
        // Allowed.
        0 => (
            s.caller_key.clone(),
            "/v2/models/breast-cancer/infer",
            breast_cancer_request(triage()),
            200,
        ),
        // Denied: no human oversight for a high-risk model.
        1 => (
            s.other_caller_key.clone(),
            "/v2/models/breast-cancer/infer",
            breast_cancer_request(triage()),
            403,
        ),
        // Allowed, text.
        _ => (
            s.caller_key.clone(),
            "/v2/models/support-intent/infer",
            text_request(
                "my card was declined",
                json!({"purpose": "customer-support"}),
            ),
            200,
        ),
    }
}

#[test]
fn sigkill_under_load_loses_no_acknowledged_call() {
    let seed: u64 = std::env::var("VOUCH_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    println!("seed {seed} (VOUCH_CRASH_SEED={seed} replays the kill schedule)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);

    let mut server = start();
    let calls: Vec<_> = (0..3).map(|i| call(&server, i)).collect();
    let url = Arc::new(RwLock::new(server.url.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let receipts: Arc<Mutex<Vec<Receipt>>> = Arc::default();
    let unexpected: Arc<Mutex<Vec<String>>> = Arc::default();
    let sent = Arc::new(AtomicU64::new(0));

    let clients: Vec<_> = (0..CLIENTS as u64)
        .map(|c| {
            let (url, stop, receipts, unexpected, sent, calls) = (
                Arc::clone(&url),
                Arc::clone(&stop),
                Arc::clone(&receipts),
                Arc::clone(&unexpected),
                Arc::clone(&sent),
                calls.clone(),
            );
            std::thread::spawn(move || {
                let agent = ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(20))
                    .build();
                let mut i = c;
                while !stop.load(Ordering::Relaxed) {
                    let (key, path, body, expected) = &calls[(i % 3) as usize];
                    i += 1;
                    let base = url.read().unwrap().clone();
                    sent.fetch_add(1, Ordering::Relaxed);
                    let r = agent
                        .post(&format!("{base}{path}"))
                        .set("authorization", &format!("Bearer {key}"))
                        .send_json(body.clone());
                    let r = match r {
                        Ok(r) => r,
                        Err(ureq::Error::Status(_, r)) => r,
                        // The server died under this call, or is not up yet: never acknowledged.
                        Err(_) => {
                            std::thread::sleep(Duration::from_millis(5));
                            continue;
                        }
                    };
                    let status = r.status();
                    // A body cut by the kill was never fully acknowledged either.
                    let Ok(text) = r.into_string() else { continue };
                    if status != *expected {
                        unexpected
                            .lock()
                            .unwrap()
                            .push(format!("{path}: {status} (wanted {expected}): {text}"));
                        continue;
                    }
                    let body: Value = serde_json::from_str(&text).unwrap();
                    let receipt: Receipt = serde_json::from_value(body["receipt"].clone())
                        .unwrap_or_else(|e| panic!("a {status} without a receipt ({e}): {text}"));
                    receipts.lock().unwrap().push(receipt);
                }
            })
        })
        .collect();

    let mut kills = 0;
    let mut per_round = Vec::new();
    for _ in 0..KILLS {
        let before = receipts.lock().unwrap().len();
        std::thread::sleep(Duration::from_millis(rng.gen_range(50..600)));
        server.kill();
        kills += 1;
        per_round.push(receipts.lock().unwrap().len() - before);
        server = start_with(Options {
            reuse: Some(server.reuse()),
            ..Options::default()
        });
        *url.write().unwrap() = server.url.clone();
    }
    // A last stretch of load on the last restart, then a clean stop.
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert!(server.stop().success());
    let unexpected = unexpected.lock().unwrap();
    assert!(
        unexpected.is_empty(),
        "calls answered with the wrong status: {unexpected:#?}"
    );

    let receipts = receipts.lock().unwrap();
    let acknowledged = receipts.len();
    assert!(
        acknowledged > KILLS,
        "only {acknowledged} calls acknowledged over {kills} kills: the test proved little"
    );
    let store = Store::open(server.data()).unwrap();
    let mut by_seq = BTreeMap::new();
    let mut lost = Vec::new();
    for r in receipts.iter() {
        let v = r
            .verify(&server.verifier)
            .unwrap_or_else(|e| panic!("an acknowledged receipt no longer verifies: {e}"));
        let seq = v.entry.seq();
        assert!(
            by_seq.insert(seq, ()).is_none(),
            "two acknowledged calls got seq {seq}"
        );
        if store.entry(seq).unwrap().as_deref() != Some(r.entry.as_slice()) {
            lost.push(seq);
        }
    }
    // Gap-free: every seq below the last one holds an entry that parses with its own seq.
    let last = store.last_seq().unwrap().expect("the log is not empty");
    for seq in (0..=last.get()).map(Seq::new) {
        let bytes = store
            .entry(seq)
            .unwrap()
            .unwrap_or_else(|| panic!("seq {seq} missing below the last seq {last}"));
        assert_eq!(Entry::from_bytes(&bytes).unwrap().seq(), seq);
    }
    assert!(store.entry(last + 1).unwrap().is_none());
    let last = last.get();
    drop(store);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(["verify", "--json", "--data"])
        .arg(server.data())
        .arg("--key")
        .arg(server.data().join("log.pub"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "vouch verify fails after the kills: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["entries"], last + 1, "{report}");

    println!(
        "kills {kills}, calls sent {}, acknowledged {acknowledged}, lost {}, log holds {} entries \
         (unacknowledged calls recorded: {}); acknowledged per round {per_round:?}",
        sent.load(Ordering::Relaxed),
        lost.len(),
        last + 1,
        last + 1 - acknowledged as u64
    );
    assert!(
        lost.is_empty(),
        "acknowledged entries lost or changed: {lost:?}"
    );
}
