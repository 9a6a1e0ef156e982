//! The fuzz corpora, replayed without the instrumented build: every file of
//! `fuzz/corpus/<target>/` goes through the same `vouch::fuzzing` function the fuzz target calls,
//! so a crash the fuzzer once found (kept as a regression file) stays fixed, and the hand-made
//! valid seeds stay valid as the formats evolve.
//!
//! `VOUCH_WRITE_CORPUS=1 cargo test --test fuzz_corpus -- --ignored` rewrites the seed files (the
//! ones named `seed-*`); files the fuzzer found are kept as they are.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

use std::path::{Path, PathBuf};

use serde_json::json;
use vouch::fuzzing::{signer, TARGETS};
use vouch::ids::{CallerId, CredentialId, RuleId};
use vouch::ledger::{
    consistency_proof, inclusion_proof, leaf_hash, Checkpoint, Decision, Declared, EntryContext,
    EntryDraft, Hash, Height, LeafHash, Ledger, LedgerConfig, MemoryNodes, ModelRef, Receipt, Seq,
    Store,
};

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn every_corpus_file_replays_through_its_target() {
    for (target, run) in TARGETS {
        let files = files(&corpus(target));
        assert!(
            files.len() >= 3,
            "{target}: the corpus has {} files",
            files.len()
        );
        for (path, bytes) in files {
            let r = std::panic::catch_unwind(|| run(&bytes));
            assert!(r.is_ok(), "{target}: {} panics", path.display());
        }
    }
}

#[test]
fn the_seeds_are_valid_inputs() {
    let key = signer().verifier();
    let seeds = |t| {
        files(&corpus(t))
            .into_iter()
            .filter(|(p, _)| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("seed-")
            })
            .collect::<Vec<_>>()
    };
    let receipts = seeds("receipt");
    let verified = receipts
        .iter()
        .filter(|(_, b)| serde_json::from_slice::<Receipt>(b).is_ok_and(|r| r.verify(&key).is_ok()))
        .count();
    assert!(verified >= 3, "only {verified} seed receipts verify");
    let opened = seeds("checkpoint")
        .iter()
        .filter(|(_, b)| Checkpoint::open(std::str::from_utf8(b).unwrap(), &key).is_ok())
        .count();
    assert!(opened >= 2, "only {opened} seed checkpoints open");
    let exports = seeds("export");
    assert_eq!(exports.len(), 3);
    for (p, b) in exports {
        let verified = vouch::ledger::verify_export(&b[..], &key, None, &mut |_| {});
        let truncated = p.to_string_lossy().contains("truncated");
        assert_eq!(
            verified.is_ok(),
            !truncated,
            "{}: {verified:?}",
            p.display()
        );
    }
    let blocks: Vec<_> = seeds("blocks_record")
        .into_iter()
        .map(|(p, b)| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, b.len() as u64, walk_blocks(&b))
        })
        .collect();
    let walked = |name: &str| {
        let seed = blocks.iter().find(|(n, _, _)| n == name);
        seed.unwrap_or_else(|| panic!("no seed {name}")).clone()
    };
    assert_eq!(walked("seed-whole.bin").2, Some((5, 0, false)));
    assert_eq!(walked("seed-one.bin").2, Some((1, 0, false)));
    let (_, len, torn) = walked("seed-torn.bin");
    let ends = record_ends(&std::fs::read(corpus("blocks_record").join("seed-whole.bin")).unwrap());
    assert_eq!(torn, Some((4, len - ends[3] as u64, false)));
    let (_, len, damaged) = walked("seed-damaged.bin");
    assert_eq!(damaged, Some((1, len - ends[0] as u64, true)));
    assert_eq!(walked("seed-wrong-height.bin").2, None);
    for name in ["seed-payload.bin", "seed-garbage.bin"] {
        let (_, len, walk) = walked(name);
        assert_eq!(walk, Some((0, len, false)), "{name}");
    }
    for (p, b) in seeds("request_json") {
        let v: serde_json::Value =
            serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(v["inputs"].is_array(), "{}", p.display());
    }
    for (p, b) in seeds("request_binary") {
        let (len, body) = b.split_at(b.iter().position(|&c| c == b'\n').unwrap());
        let len: usize = std::str::from_utf8(len).unwrap().parse().unwrap();
        serde_json::from_slice::<serde_json::Value>(&body[1..=len])
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    }
}

fn draft(i: u64) -> EntryDraft {
    EntryDraft {
        request_id: Some(format!("req-{i}")),
        caller: CallerId::parse("clinic"),
        credential: CredentialId::parse("c0ffee01"),
        model: Some(ModelRef {
            name: "breast-cancer".into(),
            version: "1".into(),
            sha256: Hash::digest(b"model"),
        }),
        input: Some(Hash::digest(&i.to_be_bytes())),
        output: (i.is_multiple_of(2)).then(|| Hash::digest(b"out")),
        decision: if i.is_multiple_of(2) {
            Decision::Allow
        } else {
            Decision::Deny
        },
        rules: if i.is_multiple_of(2) {
            vec![]
        } else {
            RuleId::parse("privacy.consent-required")
                .into_iter()
                .collect()
        },
        obligations: vec![],
        context: EntryContext {
            purpose: Some("medical-triage".into()),
            data_categories: vec!["health".into()],
            pii: vec!["email".into()],
            declared: Some(Declared {
                categories: vec!["health".into()],
                commercial: true,
                consent: i.is_multiple_of(2),
                separate_consent: false,
                terms_version: Some("2026-03".into()),
            }),
            input_bytes: Some(300),
            pii_scan_complete: Some(true),
        },
        policy: Some(Hash::digest(b"policy")),
    }
}

/// Where each record of a blocks file ends (a record: payload length, u32; CRC-32; payload).
fn record_ends(file: &[u8]) -> Vec<usize> {
    let mut ends = Vec::new();
    let mut at = 0;
    while let Some(head) = file.get(at..at + 4) {
        at += 8 + u32::from_be_bytes(head.try_into().unwrap()) as usize;
        ends.push(at);
    }
    ends
}

/// A blocks file walked by the store as `vouch verify --data` walks it: the records taken, the
/// bytes left after them and whether those are damage; `None` if the store refuses the file.
fn walk_blocks(bytes: &[u8]) -> Option<(u64, u64, bool)> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("ledger")).unwrap();
    std::fs::write(dir.path().join("ledger/blocks"), bytes).unwrap();
    let store = Store::open_snapshot(dir.path()).unwrap();
    let mut records = 0;
    while store.advance(Height::new(records)).ok()? {
        records += 1;
    }
    let damaged = store.tail_damage().unwrap().is_some();
    Some((records, store.unfinished_tail(), damaged))
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = corpus(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
}

fn proof_bytes(mode: u8, a: u64, b: u64, h1: Hash, h2: Hash, path: &[Hash]) -> Vec<u8> {
    let mut out = vec![mode];
    out.extend(a.to_le_bytes());
    out.extend(b.to_le_bytes());
    out.extend(h1.as_bytes());
    out.extend(h2.as_bytes());
    for h in path {
        out.extend(h.as_bytes());
    }
    out
}

#[test]
#[ignore = "writes the seed corpora; run with VOUCH_WRITE_CORPUS=1"]
fn write_seed_corpus() {
    if std::env::var("VOUCH_WRITE_CORPUS").is_err() {
        return;
    }
    let row: Vec<f32> = (0..30).map(|i| i as f32 * 0.5).collect();
    let triage = json!({"purpose": "medical-triage", "consent": true, "separate_consent": true, "data_categories": ["health"]});
    let requests = [
        (
            "fp32.json",
            json!({"id": "a", "inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "data": row}], "parameters": triage}),
        ),
        (
            "fp32-nested.json",
            json!({"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "data": [row]}], "outputs": [{"name": "label"}, {"name": "probabilities", "parameters": {"binary_data": true}}]}),
        ),
        (
            "bytes.json",
            json!({"inputs": [{"name": "text", "shape": [1, 1], "datatype": "BYTES", "data": [["call me on +44 20 7946 0958"]]}], "parameters": {"purpose": "customer-support", "note": "a@b.example", "binary_data_output": true}}),
        ),
        (
            "many-types.json",
            json!({"inputs": [
            {"name": "b", "shape": [2], "datatype": "BOOL", "data": [true, false]},
            {"name": "i", "shape": [2, 1], "datatype": "INT64", "data": [[-1], [9007199254740993i64]]},
            {"name": "u", "shape": [1], "datatype": "UINT8", "data": [255]},
            {"name": "f", "shape": [1], "datatype": "FP64", "data": [1e-300]}],
            "parameters": {"commercial": false, "terms_version": "2024-01", "data_categories": ["health", "financial"]}}),
        ),
    ];
    for (name, r) in &requests {
        write("request_json", name, &serde_json::to_vec(r).unwrap());
    }
    let binary = |header: serde_json::Value, data: &[u8]| {
        let h = serde_json::to_vec(&header).unwrap();
        let mut out = format!("{}\n", h.len()).into_bytes();
        out.extend(h);
        out.extend_from_slice(data);
        out
    };
    let fp32: Vec<u8> = row.iter().flat_map(|f| f.to_le_bytes()).collect();
    write(
        "request_binary",
        "fp32.bin",
        &binary(
            json!({"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "parameters": {"binary_data_size": 120}}], "parameters": triage}),
            &fp32,
        ),
    );
    let mut text = 11u32.to_le_bytes().to_vec();
    text.extend_from_slice(b"hello there");
    text.extend(3u32.to_le_bytes());
    text.extend_from_slice(b"abc");
    write(
        "request_binary",
        "bytes.bin",
        &binary(
            json!({"inputs": [{"name": "text", "shape": [2, 1], "datatype": "BYTES", "parameters": {"binary_data_size": text.len()}}], "parameters": {"purpose": "customer-support"}}),
            &text,
        ),
    );
    write(
        "request_binary",
        "mixed.bin",
        &binary(
            json!({"inputs": [
                {"name": "features", "shape": [1, 30], "datatype": "FP32", "parameters": {"binary_data_size": 120}},
                {"name": "flags", "shape": [3], "datatype": "BOOL", "parameters": {"binary_data_size": 3}},
                {"name": "text", "shape": [1], "datatype": "BYTES", "data": ["json"]}]}),
            &[&fp32[..], &[1, 0, 1]].concat(),
        ),
    );

    // Receipts, entries and block headers from a real ledger signed with the corpus key.
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), signer(), LedgerConfig::default()).unwrap();
    let mut receipts: Vec<Receipt> = Vec::new();
    for i in 0..5 {
        receipts.push(ledger.append_blocking(draft(i)).unwrap().receipt());
    }
    let mut with_nonce = receipts[0].clone();
    with_nonce.nonce = Some([9; 32]);
    receipts.push(with_nonce);
    receipts.push(ledger.receipt(Seq::new(1)).unwrap());
    for (i, r) in receipts.iter().enumerate() {
        write(
            "receipt",
            &format!("receipt-{i}.json"),
            &serde_json::to_vec_pretty(r).unwrap(),
        );
    }
    write("receipt", "entry.json", &receipts[0].entry);
    // An export of the same ledger (five blocks), whole and from the third block on.
    for (name, from) in [("whole.jsonl", 0), ("from-2.jsonl", 2)] {
        let mut out = Vec::new();
        vouch::ledger::write_export(ledger.store(), from, 5, &mut out).unwrap();
        write("export", name, &out);
        if from == 0 {
            // Without its end line: a truncated export, refused.
            let cut = out[..out.len() - 1]
                .iter()
                .rposition(|&b| b == b'\n')
                .unwrap()
                + 1;
            write("export", "truncated.jsonl", &out[..cut]);
        }
    }
    write("receipt", "block.json", &receipts[4].block);
    // The same ledger's blocks file (five records), and what a crash, damage or a stray file
    // leave: a record alone, a torn last record, a damaged one with records after it, a record
    // at the wrong height, a payload without its head, garbage.
    let file = std::fs::read(dir.path().join("ledger/blocks")).unwrap();
    let ends = record_ends(&file);
    assert_eq!(ends.len(), 5);
    write("blocks_record", "whole.bin", &file);
    write("blocks_record", "one.bin", &file[..ends[0]]);
    write("blocks_record", "torn.bin", &file[..file.len() - 10]);
    let mut damaged = file[..ends[2]].to_vec();
    damaged[ends[0] + 40] ^= 1;
    write("blocks_record", "damaged.bin", &damaged);
    write("blocks_record", "wrong-height.bin", &file[ends[0]..ends[1]]);
    write("blocks_record", "payload.bin", &file[8..ends[0]]);
    write(
        "blocks_record",
        "garbage.bin",
        b"\xff\xff\xff\xf0 not a record: its head claims more than there is\x00\x01",
    );
    for (i, r) in receipts.iter().take(3).enumerate() {
        write(
            "checkpoint",
            &format!("note-{i}.txt"),
            r.checkpoint.as_bytes(),
        );
    }
    let cp = Checkpoint::open(&receipts[4].checkpoint, &signer().verifier()).unwrap();
    write("checkpoint", "body.txt", cp.body().as_bytes());
    write(
        "checkpoint",
        "verifier-key.txt",
        signer().verifier().to_string().as_bytes(),
    );
    ledger.close();

    // Proofs: valid ones of each kind, in the byte form and the JSON form, and built trees.
    let leaves: Vec<LeafHash> = (0..13u64).map(|k| leaf_hash(&k.to_be_bytes())).collect();
    let nodes = MemoryNodes::from_leaves(&leaves);
    let root = |n| vouch::ledger::root(&nodes, n).unwrap().hash();
    let p = inclusion_proof(&nodes, 5, 13).unwrap();
    write(
        "proofs",
        "inclusion.bin",
        &proof_bytes(0, 5, 13, leaves[5].hash(), root(13), &p.path),
    );
    write("proofs", "inclusion.json", &serde_json::to_vec(&p).unwrap());
    let c = consistency_proof(&nodes, 6, 13).unwrap();
    write(
        "proofs",
        "consistency.bin",
        &proof_bytes(1, 6, 13, root(6), root(13), &c.path),
    );
    write(
        "proofs",
        "consistency.json",
        &serde_json::to_vec(&c).unwrap(),
    );
    let e = &receipts[2].entry_proof;
    write(
        "proofs",
        "entry.bin",
        &proof_bytes(
            2,
            e.index,
            e.count,
            Hash::digest(b"x"),
            Hash::default(),
            &e.path,
        ),
    );
    for (n, i, old) in [(13u64, 5u64, 6u64), (1, 0, 1), (256, 255, 129)] {
        let mut b = vec![3u8];
        b.extend((n - 1).to_le_bytes());
        b.extend(i.to_le_bytes());
        b.extend((old - 1).to_le_bytes());
        write("proofs", &format!("built-{n}.bin"), &b);
    }

    for (name, text) in [
        ("email.txt", "write to jane.doe+x@example.co.uk today"),
        (
            "phones.txt",
            "+44 20 7946 0958, (212) 555-0123, 13812345678",
        ),
        ("cn-id.txt", "ID 11010519491231002X"),
        ("card.txt", "card 4111 1111 1111 1111 exp 12/30"),
        ("iban.txt", "IBAN GB82 WEST 1234 5698 7654 32"),
        ("ssn.txt", "SSN 078-05-1120"),
        ("ip.txt", "from 192.168.1.10 and 2001:db8::1"),
        ("plain.txt", "where is my parcel?"),
    ] {
        write("detectors", name, text.as_bytes());
    }
}
