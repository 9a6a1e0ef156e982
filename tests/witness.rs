//! `vouch witness serve`, black-box (C2SP `tlog-witness`, `tlog-cosignature`): every status code
//! of `add-checkpoint` — 200 with a cosignature that verifies (with vouch's verifier and with the
//! `signed_note` crate, the consistency proofs checked with the `tlog_tiles` crate too), 400, 403,
//! 404, 409 with `text/x.tlog.size`, 422 — a fork refused, and a witness killed (SIGKILL) again
//! and again while it cosigns never forgetting a checkpoint it answered for nor cosigning one
//! inconsistent with it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use vouch::ledger::{
    consistency_proof, root, write_key_pair, write_verifier_key, Checkpoint, CosignatureVerifier,
    Hash, LeafHash, MemoryNodes, SignerKey,
};

const LOG: &str = "test.vouch/log";

struct WitnessProcess {
    child: Child,
    url: String,
    cosigner_key: String,
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &Path, logs: &[&Path]) -> WitnessProcess {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vouch"));
    cmd.args(["witness", "serve", "--bind", "127.0.0.1:0", "--key"])
        .arg(dir.join("log.key"))
        .arg("--data")
        .arg(dir.join("state"));
    for l in logs {
        cmd.arg("--log").arg(l);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut cosigner_key = String::new();
    let url = loop {
        let line = lines.next().expect("the witness started").unwrap();
        if let Some(k) = line.strip_prefix("witness cosigner key: ") {
            cosigner_key = k.to_string();
        }
        if let Some(u) = line.strip_prefix("vouch witness serving on ") {
            break u.to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    WitnessProcess {
        child,
        url,
        cosigner_key,
    }
}

/// A log of `n` leaves (block hashes) whose leaves depend on `fork`.
fn history(n: u64, fork: u8) -> MemoryNodes {
    let leaves: Vec<LeafHash> = (0..n)
        .map(|i| LeafHash::from_digest(Hash::digest(&[&i.to_be_bytes()[..], &[fork]].concat())))
        .collect();
    MemoryNodes::from_leaves(&leaves)
}

fn checkpoint(nodes: &MemoryNodes, size: u64, key: &SignerKey) -> (Checkpoint, String) {
    let cp = Checkpoint {
        origin: key.name().to_string(),
        size,
        root: root(nodes, size).unwrap().hash(),
    };
    let note = cp.sign(key).unwrap();
    (cp, note)
}

fn body(old: u64, proof: &[Hash], note: &str) -> String {
    let mut b = format!("old {old}\n");
    for h in proof {
        b.push_str(&B64.encode(h.as_bytes()));
        b.push('\n');
    }
    b.push('\n');
    b.push_str(note);
    b
}

fn proof(nodes: &MemoryNodes, old: u64, new: u64) -> Vec<Hash> {
    if old == 0 || old == new {
        return vec![];
    }
    consistency_proof(nodes, old, new).unwrap().path
}

/// POSTs a body; (status, content type, body).
fn post(url: &str, body: &str) -> (u16, String, String) {
    match ureq::post(&format!("{url}/add-checkpoint")).send_string(body) {
        Ok(r) => (
            r.status(),
            r.content_type().to_string(),
            r.into_string().unwrap(),
        ),
        Err(ureq::Error::Status(code, r)) => {
            (code, r.content_type().to_string(), r.into_string().unwrap())
        }
        Err(e) => panic!("{e}"),
    }
}

/// `cosignature/v1` written from C2SP `tlog-cosignature` for the `signed_note` crate: the key id
/// over 0x04 ‖ key, the signed message `cosignature/v1\ntime T\n` ‖ text.
struct CosignatureV1 {
    name: String,
    id: u32,
    key: ed25519_dalek::VerifyingKey,
}

impl signed_note::Verifier for CosignatureV1 {
    fn name(&self) -> &str {
        &self.name
    }
    fn key_id(&self) -> u32 {
        self.id
    }
    fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        let (Some(time), Some(sig)) = (sig.get(..8), sig.get(8..)) else {
            return false;
        };
        let t = u64::from_be_bytes(time.try_into().unwrap());
        let mut m = format!("cosignature/v1\ntime {t}\n").into_bytes();
        m.extend_from_slice(msg);
        let Ok(sig) = ed25519_dalek::Signature::from_slice(sig) else {
            return false;
        };
        self.key.verify_strict(&m, &sig).is_ok()
    }
}

/// Checks `cosigned` (the log's note with the witness's line) with the `signed_note` crate: the
/// log's signature with its standard verifier, the witness's with `cosignature/v1`.
fn interop_check(cosigned: &str, log_key: &vouch::ledger::VerifierKey, witness: &SignerKey) {
    let wpub = B64
        .decode(
            witness
                .verifier()
                .to_string()
                .splitn(3, '+')
                .nth(2)
                .unwrap(),
        )
        .unwrap();
    let wkey = ed25519_dalek::VerifyingKey::from_bytes(&wpub[1..].try_into().unwrap()).unwrap();
    let mut id_input = vec![0x04];
    id_input.extend_from_slice(wkey.as_bytes());
    let cosigner = CosignatureV1 {
        name: witness.name().to_string(),
        id: signed_note::key_id(witness.name(), &id_input),
        key: wkey,
    };
    let standard = signed_note::StandardVerifier::new(&log_key.to_string()).unwrap();
    let note = signed_note::Note::from_bytes(cosigned.as_bytes()).unwrap();
    let list = signed_note::VerifierList::new(vec![Box::new(standard), Box::new(cosigner)]);
    let (verified, unverified) = note.verify(&list).unwrap();
    assert_eq!(verified.len(), 2, "{cosigned}");
    assert!(unverified.is_empty());
}

/// The consistency proofs vouch makes check with the `tlog_tiles` crate's RFC 6962 code.
fn interop_proof(nodes: &MemoryNodes, old: u64, new: u64) {
    let p: Vec<tlog_tiles::Hash> = proof(nodes, old, new)
        .iter()
        .map(|h| tlog_tiles::Hash(*h.as_bytes()))
        .collect();
    let h = |n| tlog_tiles::Hash(*root(nodes, n).unwrap().hash().as_bytes());
    tlog_tiles::check_tree(&p, new, h(new), old, h(old)).unwrap();
}

fn keys(dir: &Path) -> (SignerKey, SignerKey, std::path::PathBuf) {
    let witness = SignerKey::generate("witness.test/w1").unwrap();
    write_key_pair(&witness, dir).unwrap();
    let log = SignerKey::generate(LOG).unwrap();
    let log_pub = dir.join("the-log.pub");
    write_verifier_key(&log.verifier(), &log_pub).unwrap();
    (witness, log, log_pub)
}

#[test]
fn every_status_of_add_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (witness_key, log, log_pub) = keys(dir.path());
    let w = start(dir.path(), &[&log_pub]);
    let verifier: CosignatureVerifier = w.cosigner_key.parse().unwrap();
    assert_eq!(verifier, CosignatureVerifier::from(&witness_key.verifier()));
    let nodes = history(12, 0);

    // 200: the first checkpoint, from size 0 with an empty proof.
    let (_, note3) = checkpoint(&nodes, 3, &log);
    let (status, _, line) = post(&w.url, &body(0, &[], &note3));
    assert_eq!(status, 200, "{line}");
    assert!(
        line.starts_with("\u{2014} witness.test/w1 ") && line.ends_with('\n'),
        "{line}"
    );
    let cosigned = format!("{note3}{line}");
    let t = verifier.verify(&cosigned).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(t <= now && now - t < 600, "{t} {now}");
    interop_check(&cosigned, &log.verifier(), &witness_key);

    // 409: the old size is not the latest cosigned; the body says which is.
    let (_, note7) = checkpoint(&nodes, 7, &log);
    let (status, ctype, said) = post(&w.url, &body(0, &[], &note7));
    assert_eq!(
        (status, ctype.as_str(), said.as_str()),
        (409, "text/x.tlog.size", "3\n")
    );

    // 200: from 3 to 7 with the consistency proof (which tlog_tiles checks as well).
    interop_proof(&nodes, 3, 7);
    let (status, _, line) = post(&w.url, &body(3, &proof(&nodes, 3, 7), &note7));
    assert_eq!(status, 200, "{line}");
    interop_check(&format!("{note7}{line}"), &log.verifier(), &witness_key);

    // 422: a proof that does not verify (one hash changed), and a fork's checkpoint with its own
    // proof: both refused, and the state stays at 7.
    let (_, note9) = checkpoint(&nodes, 9, &log);
    let mut bad = proof(&nodes, 7, 9);
    bad[0] = Hash::digest(b"not this");
    let (status, _, said) = post(&w.url, &body(7, &bad, &note9));
    assert_eq!(status, 422, "{said}");
    let fork = history(12, 1);
    let (_, fork9) = checkpoint(&fork, 9, &log);
    let (status, _, said) = post(&w.url, &body(7, &proof(&fork, 7, 9), &fork9));
    assert_eq!(status, 422, "{said}");
    let (status, _, said) = post(&w.url, &body(7, &[Hash::digest(b"x")], &note7));
    assert_eq!(
        status, 422,
        "a proof between equal sizes must be empty: {said}"
    );

    // 409: the same size with another root.
    let (_, fork7) = checkpoint(&fork, 7, &log);
    let (status, ctype, said) = post(&w.url, &body(7, &[], &fork7));
    assert_eq!(
        (status, ctype.as_str(), said.as_str()),
        (409, "text/x.tlog.size", "7\n")
    );
    // 200: the same checkpoint again is cosigned again.
    let (status, _, _) = post(&w.url, &body(7, &[], &note7));
    assert_eq!(status, 200);

    // 400: an old size larger than the checkpoint's (checked before the state: even 7 > 5).
    let (_, note5) = checkpoint(&nodes, 5, &log);
    let (status, _, said) = post(&w.url, &body(7, &[], &note5));
    assert_eq!(status, 400, "{said}");
    // 400: bodies that are not an add-checkpoint request.
    for junk in [
        "",
        "old 7\n",
        "old 07\n\nx\n",
        "7\n\n",
        &format!("old 7\n\n{}", "a\n"),
    ] {
        let (status, _, said) = post(&w.url, junk);
        assert_eq!(status, 400, "{junk:?}: {said}");
    }

    // 403: signed by another key of the same name only.
    let impostor = SignerKey::generate(LOG).unwrap();
    let (_, forged) = checkpoint(&nodes, 9, &impostor);
    let (status, _, said) = post(&w.url, &body(7, &proof(&nodes, 7, 9), &forged));
    assert_eq!(status, 403, "{said}");
    // ... and a note whose trusted signature line is damaged.
    let mut damaged = note9.clone();
    let at = damaged.len() - 5;
    damaged.replace_range(
        at..at + 1,
        if &damaged[at..at + 1] == "A" {
            "B"
        } else {
            "A"
        },
    );
    let (status, _, _) = post(&w.url, &body(7, &proof(&nodes, 7, 9), &damaged));
    assert_eq!(status, 403);
    // A checkpoint with an extra, unknown signature is still cosigned (unknown keys ignored).
    let other = SignerKey::generate("someone.else/key").unwrap();
    let text = format!("{}\n", note9.split("\n\n").next().unwrap());
    let theirs = other.sign_note(&text).unwrap();
    let extra = format!("{note9}{}", theirs.split("\n\n").nth(1).unwrap());
    let (status, _, said) = post(&w.url, &body(7, &proof(&nodes, 7, 9), &extra));
    assert_eq!(status, 200, "{said}");

    // 404: a log the witness does not follow.
    let stranger = SignerKey::generate("another.log/x").unwrap();
    let (_, theirs) = checkpoint(&nodes, 3, &stranger);
    let (status, _, said) = post(&w.url, &body(0, &[], &theirs));
    assert_eq!(status, 404, "{said}");

    // 413: a body larger than any request.
    let (status, _, _) = post(&w.url, &"x".repeat(vouch::witness::MAX_REQUEST_BYTES + 1));
    assert_eq!(status, 413);
}

#[test]
fn a_witness_killed_while_cosigning_keeps_what_it_answered_for() {
    let dir = tempfile::tempdir().unwrap();
    let (_witness_key, log, log_pub) = keys(dir.path());
    let nodes = history(400, 0);
    let fork = history(400, 2);
    let mut answered = 0u64; // the largest size a 200 was returned for
    let mut believed = 0u64; // the size this client last knew the witness at
    for round in 0..6 {
        let mut w = start(dir.path(), &[&log_pub]);
        // Cosign upwards on 2 threads racing each other, and kill the witness mid-run.
        let url = w.url.clone();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut threads = Vec::new();
        for t in 0..2u64 {
            let (url, stop) = (url.clone(), std::sync::Arc::clone(&stop));
            let nodes = nodes.clone();
            let log_key = log.to_private_string().to_string();
            let start_at = believed;
            threads.push(std::thread::spawn(move || {
                let log = SignerKey::from_private_string(&log_key).unwrap();
                let mut old = start_at;
                let mut best = 0;
                let mut size = start_at + 1 + t;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) && size < 400 {
                    let (_, note) = checkpoint(&nodes, size, &log);
                    let body = body(old, &proof(&nodes, old, size), &note);
                    match ureq::post(&format!("{url}/add-checkpoint")).send_string(&body) {
                        Ok(_) => {
                            best = best.max(size);
                            old = size;
                            size += 1 + t;
                        }
                        Err(ureq::Error::Status(409, r)) => {
                            old = r.into_string().unwrap().trim().parse().unwrap();
                            size = size.max(old + 1);
                        }
                        Err(ureq::Error::Status(code, r)) => {
                            panic!("{code}: {}", r.into_string().unwrap())
                        }
                        Err(_) => break, // killed
                    }
                }
                best
            }));
        }
        std::thread::sleep(std::time::Duration::from_millis(150 + 70 * round));
        let _ = w.child.kill(); // SIGKILL
        let _ = w.child.wait();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in threads {
            answered = answered.max(t.join().unwrap());
        }

        // Restarted, the witness holds a size at least the largest it answered for, with the
        // root of this history: the same checkpoint is cosigned again, a fork's is not.
        let w = start(dir.path(), &[&log_pub]);
        let (_, note) = checkpoint(&nodes, 1, &log);
        let (status, _, said) = post(&w.url, &body(0, &[], &note));
        let held: u64 = if status == 200 {
            1
        } else {
            assert_eq!(status, 409, "{said}");
            said.trim().parse().unwrap()
        };
        assert!(
            held >= answered,
            "round {round}: holds {held}, answered for {answered}"
        );
        let (_, same) = checkpoint(&nodes, held, &log);
        assert_eq!(
            post(&w.url, &body(held, &[], &same)).0,
            200,
            "round {round}"
        );
        let (_, forked) = checkpoint(&fork, held, &log);
        assert_eq!(
            post(&w.url, &body(held, &[], &forked)).0,
            409,
            "round {round}"
        );
        if held + 1 < 400 {
            let (_, forked) = checkpoint(&fork, held + 1, &log);
            let (status, _, _) = post(&w.url, &body(held, &proof(&fork, held, held + 1), &forked));
            assert_eq!(status, 422, "round {round}");
        }
        believed = held;
        drop(w);
    }
    assert!(answered > 0, "no checkpoint was cosigned before the kills");
}

mod harness;

fn wait_cosigned(s: &harness::Server, at_least: u64) -> serde_json::Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, body) = s.get("/v1/checkpoint", Some(&s.regulator_key));
        assert_eq!(status, 200, "{body}");
        if body["cosigned"]["size"]
            .as_u64()
            .is_some_and(|n| n >= at_least)
        {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never cosigned to {at_least}: {body}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// One allowed call: its request and response.
fn call(s: &harness::Server) -> (serde_json::Value, serde_json::Value) {
    let req = harness::breast_cancer_request(serde_json::json!({
        "purpose": "medical-triage", "consent": true, "separate_consent": true,
        "data_categories": ["health"]}));
    let (status, body) = s.post("/v2/models/breast-cancer/infer", Some(&s.caller_key), &req);
    assert_eq!(status, 200, "{body}");
    (req, body)
}

/// `vouch receipt verify` with the log's and the witness's keys, and more arguments.
fn receipt_verify(dir: &Path, receipt: &str, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vouch"))
        .current_dir(dir)
        .args([
            "receipt",
            "verify",
            receipt,
            "--key",
            "log.pub",
            "--witness-key",
            "witness.pub",
        ])
        .args(extra)
        .output()
        .unwrap()
}

fn seq_of(body: &serde_json::Value) -> u64 {
    let bytes = B64
        .decode(body["receipt"]["entry"].as_str().unwrap())
        .unwrap();
    vouch::ledger::Entry::from_bytes(&bytes)
        .unwrap()
        .seq()
        .get()
}

/// A vouch server with one witness gets its checkpoints cosigned in the background and serves
/// the cosigned checkpoint beside its own; a second server with the same log key and another
/// history (a split view) is refused by the witness and never gets a cosigned checkpoint.
#[test]
fn a_log_gets_cosigned_and_a_split_view_does_not() {
    let wdir = tempfile::tempdir().unwrap();
    let witness_key = SignerKey::generate("witness.test/w1").unwrap();
    write_key_pair(&witness_key, wdir.path()).unwrap();
    let setup = harness::provision_at(tempfile::tempdir().unwrap());
    let log_pub = wdir.path().join("the-log.pub");
    write_verifier_key(setup.verifier(), &log_pub).unwrap();
    let w = start(wdir.path(), &[&log_pub]);
    let wkey = wdir.path().join("witness.pub");
    std::fs::write(&wkey, format!("{}\n", w.cosigner_key)).unwrap();
    let args = vec![
        "--witness".to_string(),
        format!("{}={}", w.url, wkey.display()),
        "--witness-interval-ms".into(),
        "50".into(),
    ];
    let with = |reuse| harness::Options {
        reuse: Some(reuse),
        extra_args: args.clone(),
        ..harness::Options::default()
    };

    let mut a = harness::start_with(with(setup));
    for _ in 0..3 {
        call(&a);
    }
    let (_, now) = a.get("/v1/checkpoint", Some(&a.regulator_key));
    let size = now["size"].as_u64().unwrap();
    let body = wait_cosigned(&a, size);
    let cosigned = body["cosigned"]["checkpoint"].as_str().unwrap();
    let verifier: CosignatureVerifier = w.cosigner_key.parse().unwrap();
    verifier.verify(cosigned).unwrap();
    let cp = Checkpoint::open(cosigned, &a.verifier).unwrap();
    assert_eq!(cp.size, body["cosigned"]["size"].as_u64().unwrap());
    assert_eq!(
        body["cosigned"]["witnesses"],
        serde_json::json!(["witness.test/w1"])
    );
    interop_check(cosigned, &a.verifier, &witness_key);

    // The split: the same log key and history so far, then each its own.
    a.stop();
    let other = a.copied();
    let a = harness::start_with(with(a.reuse()));
    for _ in 0..3 {
        call(&a);
    }
    let (_, now) = a.get("/v1/checkpoint", Some(&a.regulator_key));
    wait_cosigned(&a, now["size"].as_u64().unwrap());
    let b = harness::start_with(with(other));
    call(&b);
    let (b_req, b_resp) = call(&b);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let (_, seen) = b.get("/v1/checkpoint", Some(&b.regulator_key));
    assert_eq!(seen["cosigned"], serde_json::Value::Null, "{seen}");
    let logs = String::from_utf8_lossy(&b.logs()).into_owned();
    assert!(
        logs.contains("the witness holds a larger tree than this log")
            || logs.contains("the witness refused the checkpoint"),
        "{logs}"
    );
    // The first log goes on being cosigned.
    let (a_req, a_resp) = call(&a);
    let (_, now) = a.get("/v1/checkpoint", Some(&a.regulator_key));
    wait_cosigned(&a, now["size"].as_u64().unwrap());

    // A caller of the first log gets a receipt of its call against the cosigned checkpoint, and
    // `vouch receipt verify --witness-key` accepts it — alone, or beside the receipt returned
    // with the answer (whose nonce opens the commitments).
    let work = tempfile::tempdir().unwrap();
    let wd = work.path();
    write_verifier_key(&a.verifier, &wd.join("log.pub")).unwrap();
    std::fs::copy(&wkey, wd.join("witness.pub")).unwrap();
    let save = |name: &str, v: &serde_json::Value| {
        std::fs::write(wd.join(name), serde_json::to_vec(v).unwrap()).unwrap()
    };
    save("a-req.json", &a_req);
    save("a-resp.json", &a_resp);
    let path = format!("/v1/receipts/{}?cosigned=true", seq_of(&a_resp));
    let (status, cosigned) = a.get(&path, Some(&a.caller_key));
    assert_eq!(status, 200, "{cosigned}");
    save("a-cosigned.json", &cosigned);
    let out = receipt_verify(wd, "a-cosigned.json", &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("cosigned by witness.test/w1 under a checkpoint of"),
        "{stdout}"
    );
    let out = receipt_verify(
        wd,
        "a-resp.json",
        &[
            "--cosigned",
            "a-cosigned.json",
            "--request",
            "a-req.json",
            "--response",
            "a-resp.json",
            "--json",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["cosigned_by"],
        serde_json::json!(["witness.test/w1"])
    );
    assert_eq!(
        (&report["input"], &report["output"]),
        (&serde_json::json!(true), &serde_json::json!(true))
    );
    // The answer's own receipt alone is not cosigned: refused, saying where a cosigned one is.
    let out = receipt_verify(wd, "a-resp.json", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("?cosigned=true"));

    // The split view's receipts: none is cosigned (409 with Retry-After), and one dressed up
    // with the first log's cosignature line is refused.
    save("b-resp.json", &b_resp);
    save("b-req.json", &b_req);
    let path = format!("/v1/receipts/{}?cosigned=true", seq_of(&b_resp));
    let resp = ureq::get(&format!("{}{path}", b.url))
        .set("Authorization", &format!("Bearer {}", b.caller_key))
        .call();
    match resp {
        Err(ureq::Error::Status(409, r)) => assert!(r.header("Retry-After").is_some()),
        other => panic!("{other:?}"),
    }
    let out = receipt_verify(wd, "b-resp.json", &[]);
    assert_eq!(out.status.code(), Some(1));
    let a_line = cosigned["checkpoint"]
        .as_str()
        .unwrap()
        .lines()
        .find(|l| l.starts_with("\u{2014} witness.test/w1 "))
        .unwrap()
        .to_string();
    let mut dressed = b_resp["receipt"].clone();
    let note = format!("{}{a_line}\n", dressed["checkpoint"].as_str().unwrap());
    dressed["checkpoint"] = note.into();
    save("b-dressed.json", &dressed);
    let out = receipt_verify(wd, "b-dressed.json", &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = receipt_verify(wd, "b-resp.json", &["--cosigned", "a-cosigned.json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "another entry's cosigned receipt"
    );
    // `vouch verify --witness-key`: the first log is consistent with the checkpoint the witness
    // cosigned; the split view has none, and held to the first log's cosigned checkpoint it
    // fails.
    std::fs::write(wd.join("regulator.key"), &a.regulator_key).unwrap();
    std::fs::write(
        wd.join("cosigned.note"),
        cosigned["checkpoint"].as_str().unwrap(),
    )
    .unwrap();
    let verify = |s: &harness::Server, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_vouch"))
            .current_dir(wd)
            .args([
                "verify",
                "--url",
                &s.url,
                "--key-file",
                "regulator.key",
                "--key",
                "log.pub",
            ])
            .args(["--witness-key", "witness.pub"])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = verify(&a, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cosigned by witness.test/w1"));
    let out = verify(&b, &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no cosigned checkpoint"));
    let out = verify(&b, &["--from-checkpoint", "cosigned.note"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A checkpoint without the witness's line is not enough.
    std::fs::write(
        wd.join("plain.note"),
        a_resp["receipt"]["checkpoint"].as_str().unwrap(),
    )
    .unwrap();
    let out = verify(&a, &["--from-checkpoint", "plain.note"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fewer than the quorum"));

    // `vouch audit --witness-key`: entries and counts proven against the cosigned checkpoint;
    // the split view has none to offer.
    let audit = |s: &harness::Server, state: &str, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_vouch"))
            .current_dir(wd)
            .args([
                "audit",
                "--url",
                &s.url,
                "--key-file",
                "regulator.key",
                "--key",
                "log.pub",
            ])
            .args([
                "--witness-key",
                "witness.pub",
                "--state",
                state,
                "--format",
                "json",
            ])
            .args(extra)
            .output()
            .unwrap()
    };
    let out = audit(&a, "a.state", &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("cosigned by witness.test/w1"));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["entries"].as_array().unwrap().len() >= 7, "{report}");
    // Every entry proven against the checkpoint the witness cosigned.
    let cp = Checkpoint::open(cosigned["checkpoint"].as_str().unwrap(), &a.verifier).unwrap();
    let size = report["checkpoint"]["size"].as_u64().unwrap();
    assert!(size >= cp.size, "{report}");
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        said.contains(&format!("checkpoint of {size} blocks cosigned by")),
        "{said}"
    );
    let out = audit(&a, "a.state", &["--stats", "decision"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = audit(&b, "b.state", &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no cosigned checkpoint"));

    // And a witness that is down stops no call.
    drop(w);
    call(&a);
    call(&b);
}

/// A log without witnesses has no cosigned receipts.
#[test]
fn without_witnesses_no_receipt_is_cosigned() {
    let s = harness::start();
    let (_, resp) = call(&s);
    let (status, body) = s.get(
        &format!("/v1/receipts/{}?cosigned=true", seq_of(&resp)),
        Some(&s.caller_key),
    );
    assert_eq!(status, 404, "{body}");
    let (status, body) = s.get("/v1/checkpoint", Some(&s.regulator_key));
    assert_eq!(status, 200);
    assert_eq!(body["cosigned"], serde_json::Value::Null);
    let (status, _) = s.get(
        &format!("/v1/receipts/{}?cosigned=maybe", seq_of(&resp)),
        Some(&s.caller_key),
    );
    assert_eq!(status, 400);
}
