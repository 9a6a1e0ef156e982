//! Known-answer vectors of ledger format v1 made by an implementation other than vouch's: the
//! files in `tests/golden/` were written by `scripts/golden/make_vectors.py` (Python: hashlib,
//! `rfc8785`, `cryptography`) from the format's specification (`docs/LEDGER.md`, "Known-answer
//! vectors", says how to regenerate them). This test never runs Python.
//!
//! For every vector, vouch's library builds the same thing — from the vector's JSON through
//! serde and public functions, not field by field — and must give the same bytes and hashes:
//! an entry's RFC 8785 bytes and leaf hash, the CBMT (`entries_root`, nodes, entry proofs) of
//! blocks of 1, 2, 3 and 7 entries, block headers chained by `prev`, the RFC 9162 history tree,
//! the C2SP checkpoints (Ed25519 signatures are deterministic), a receipt as the caller gets it.
//! vouch's verifiers — the library's and the `vouch` binary's — must accept the receipts,
//! checkpoints and exports as they are and refuse each with one byte changed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::Value;
use vouch::ledger::*;

/// Ed25519's public key for the golden seed, as RFC 8032 §7.1 (test 1) publishes it.
const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(golden(name)).unwrap_or_else(|e| panic!("tests/golden/{name}: {e}"))
}

fn vectors() -> &'static Value {
    static V: OnceLock<Value> = OnceLock::new();
    V.get_or_init(|| serde_json::from_slice(&read("vectors.json")).unwrap())
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn hash(v: &Value) -> Hash {
    Hash::from_hex(text(v)).unwrap()
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array().unwrap().iter().map(hash).collect()
}

fn blocks() -> &'static [Value] {
    vectors()["blocks"].as_array().unwrap()
}

/// The log's signing key, from the vectors' name and seed.
fn signer() -> SignerKey {
    let key = &vectors()["key"];
    let seed: [u8; 32] = hex::decode(text(&key["seed"])).unwrap().try_into().unwrap();
    SignerKey::from_seed(text(&key["name"]), &seed).unwrap()
}

fn verifier() -> VerifierKey {
    signer().verifier()
}

fn vouch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vouch"))
        .args(args)
        .output()
        .unwrap()
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The entry of a vector built by vouch: its JSON object read into vouch's `Entry` (in
/// DESIGN.md's field order, not the canonical one), then encoded.
fn entry_bytes(vector: &Value) -> Vec<u8> {
    let entry: Entry = serde_json::from_value(vector["fields"].clone()).unwrap();
    entry.to_bytes().unwrap()
}

#[test]
fn one_entry_has_the_bytes_and_leaf_hash_of_the_spec() {
    let v = &vectors()["entry"];
    let expected = text(&v["bytes"]).as_bytes();
    let bytes = entry_bytes(v);
    assert_eq!(String::from_utf8(bytes.clone()).unwrap(), text(&v["bytes"]));
    assert_eq!(entry_leaf(&bytes).hash(), hash(&v["leaf_hash"]));
    assert_eq!(leaf_hash(expected).hash(), hash(&v["leaf_hash"]));
    // The bytes read back as the same entry and encode to themselves; any other encoding of the
    // same object is refused.
    let entry = Entry::from_bytes(expected).unwrap();
    assert_eq!(entry.to_bytes().unwrap(), expected);
    let pretty = serde_json::to_vec_pretty(&v["fields"]).unwrap();
    assert_eq!(Entry::from_bytes(&pretty), Err(EntryError::NotCanonical));
    let spaced = text(&v["bytes"]).replacen(':', ": ", 1);
    assert_eq!(
        Entry::from_bytes(spaced.as_bytes()),
        Err(EntryError::NotCanonical)
    );
}

#[test]
fn one_entry_of_version_2_has_the_bytes_and_leaf_hash_of_the_spec() {
    let v = &vectors()["entry_v2"];
    let expected = text(&v["bytes"]).as_bytes();
    let bytes = entry_bytes(v);
    assert_eq!(String::from_utf8(bytes.clone()).unwrap(), text(&v["bytes"]));
    assert_eq!(entry_leaf(&bytes).hash(), hash(&v["leaf_hash"]));
    let entry = Entry::from_bytes(expected).unwrap();
    assert_eq!(entry.version(), 2);
    let declared = entry.context().declared.as_ref().unwrap();
    assert_eq!(declared.categories, ["health", "personal"]);
    assert!(!declared.commercial && declared.consent && declared.separate_consent);
    assert_eq!(entry.context().input_bytes, Some((1 << 53) - 1));
    assert_eq!(entry.context().pii_scan_complete, Some(false));
    // Built by vouch's sealing path (the appender's serialiser and the writer's tail), the same
    // bytes.
    let draft = EntryDraft {
        request_id: entry.request_id().map(str::to_string),
        caller: entry.caller().cloned(),
        credential: entry.credential().cloned(),
        model: entry.model().cloned(),
        input: entry.input(),
        output: entry.output(),
        decision: entry.decision(),
        rules: entry.rules().to_vec(),
        obligations: entry.obligations().to_vec(),
        context: entry.context().clone(),
        policy: entry.policy(),
    };
    let sealed = draft.seal().unwrap().finish(entry.seq(), entry.time());
    assert_eq!(String::from_utf8(sealed).unwrap(), text(&v["bytes"]));
    // Version 1 with version 2's members is refused, as is `null` for an absent member.
    let as_v1 = text(&v["bytes"]).replacen("\"v\":2", "\"v\":1", 1);
    assert_eq!(
        Entry::from_bytes(as_v1.as_bytes()),
        Err(EntryError::Members(1))
    );
}

#[test]
fn blocks_of_1_2_3_7_2_and_3_entries_have_the_entries_roots_of_the_spec() {
    let counts: Vec<usize> = blocks()
        .iter()
        .map(|b| b["entries"].as_array().unwrap().len())
        .collect();
    assert_eq!(counts, [1, 2, 3, 7, 2, 3]);
    // The first four blocks hold entries of version 1, the last two of version 2: a log
    // continued by a newer vouch.
    let versions: Vec<u64> = blocks()
        .iter()
        .map(|b| b["entries"][0]["fields"]["v"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 1, 1, 1, 2, 2]);
    for b in blocks() {
        let height = b["height"].as_u64().unwrap();
        let mut leaves = Vec::new();
        for e in b["entries"].as_array().unwrap() {
            let bytes = entry_bytes(e);
            assert_eq!(
                String::from_utf8(bytes.clone()).unwrap(),
                text(&e["bytes"]),
                "block {height}"
            );
            assert_eq!(
                entry_leaf(&bytes).hash(),
                hash(&e["leaf_hash"]),
                "block {height}"
            );
            leaves.push(entry_leaf(&bytes));
        }
        let tree = EntriesTree::build(&leaves);
        assert_eq!(tree.nodes(), hashes(&b["cbmt_nodes"]), "block {height}");
        assert_eq!(tree.root(), hash(&b["entries_root"]), "block {height}");
        let stored: Vec<u8> = tree.nodes().iter().flat_map(|h| *h.as_bytes()).collect();
        for (i, p) in b["entry_proofs"].as_array().unwrap().iter().enumerate() {
            let expected: EntryProof = serde_json::from_value(p.clone()).unwrap();
            let i = i as u64;
            assert_eq!(tree.proof(i), Some(expected.clone()), "block {height}, {i}");
            assert_eq!(proof_from_stored_nodes(&stored, i), Some(expected.clone()));
            assert_eq!(expected.root_from(leaves[i as usize]), Ok(tree.root()));
        }
    }
}

#[test]
fn block_headers_have_the_bytes_and_hashes_of_the_spec_and_chain() {
    let mut prev = ZERO;
    let mut next_seq = 0;
    for b in blocks() {
        let height = b["height"].as_u64().unwrap();
        let header: BlockHeader = serde_json::from_value(b["header"].clone()).unwrap();
        let bytes = header.to_bytes().unwrap();
        assert_eq!(
            String::from_utf8(bytes.clone()).unwrap(),
            text(&b["header_bytes"]),
            "block {height}"
        );
        assert_eq!(BlockHeader::from_bytes(&bytes), Ok(header.clone()));
        assert_eq!(
            block_hash(&bytes).hash(),
            hash(&b["block_hash"]),
            "block {height}"
        );
        assert_eq!(header.height.get(), height);
        assert_eq!(
            header.prev, prev,
            "block {height} links to block {height} − 1"
        );
        assert_eq!(header.first_seq.get(), next_seq);
        assert_eq!(header.entries_root, hash(&b["entries_root"]));
        prev = block_hash(&bytes);
        next_seq += header.count;
    }
}

#[test]
fn the_key_the_history_tree_and_the_checkpoints_are_those_of_the_spec() {
    let key = &vectors()["key"];
    let signer = signer();
    let verifier = signer.verifier();
    assert_eq!(verifier.to_string(), text(&key["verifier_key"]));
    let file = String::from_utf8(read("log.pub")).unwrap();
    assert_eq!(file.trim().parse::<VerifierKey>().unwrap(), verifier);
    assert_eq!(format!("{:08x}", signer.id()), text(&key["key_id"]));
    // The public key inside the verifier key (`name+id+base64`, whose base64 may hold `+`):
    // RFC 8032's for this seed.
    let raw = B64
        .decode(verifier.to_string().splitn(3, '+').nth(2).unwrap())
        .unwrap();
    assert_eq!(raw[0], 0x01, "the Ed25519 algorithm byte");
    assert_eq!(hex::encode(&raw[1..]), RFC8032_PUBLIC);
    assert_eq!(text(&key["public_key"]), RFC8032_PUBLIC);

    let leaves: Vec<LeafHash> = blocks()
        .iter()
        .map(|b| LeafHash::from_digest(hash(&b["block_hash"])))
        .collect();
    let nodes = MemoryNodes::from_leaves(&leaves);
    let mut range = CompactRange::empty();
    for (b, l) in blocks().iter().zip(&leaves) {
        let size = b["height"].as_u64().unwrap() + 1;
        range.append(*l);
        let expected = RootHash::new(hash(&b["history_root"]), size);
        assert_eq!(root(&nodes, size).unwrap(), expected);
        assert_eq!(range.root(), Some(expected));
        // The checkpoint vouch signs is the one made elsewhere, byte for byte (RFC 8032 §5.1.6:
        // Ed25519 signatures are deterministic).
        let checkpoint = Checkpoint {
            origin: signer.name().to_string(),
            size,
            root: hash(&b["history_root"]),
        };
        let note = text(&b["checkpoint"]);
        assert_eq!(checkpoint.sign(&signer).unwrap(), note, "size {size}");
        assert_eq!(Checkpoint::open(note, &verifier), Ok(checkpoint));
        for i in 0..note.len() {
            let mut bad = note.as_bytes().to_vec();
            bad[i] ^= 1;
            if let Ok(bad) = std::str::from_utf8(&bad) {
                assert!(
                    Checkpoint::open(bad, &verifier).is_err(),
                    "size {size}: the note with byte {i} changed opens"
                );
            }
        }
    }
    for p in vectors()["inclusion_proofs"].as_array().unwrap() {
        let expected: InclusionProof = serde_json::from_value(p.clone()).unwrap();
        let (index, size) = (expected.index, expected.tree_size);
        assert_eq!(inclusion_proof(&nodes, index, size).unwrap(), expected);
        let root = root(&nodes, size).unwrap();
        assert_eq!(expected.verify(leaves[index as usize], root), Ok(()));
    }
    let expected: ConsistencyProof =
        serde_json::from_value(vectors()["consistency_proof"].clone()).unwrap();
    assert_eq!(consistency_proof(&nodes, 2, 4).unwrap(), expected);
    let (old, new) = (
        text(&blocks()[1]["checkpoint"]),
        text(&blocks()[3]["checkpoint"]),
    );
    verify_consistency(old, new, &expected, &verifier).unwrap();

    // `vouch verify checkpoint` takes them; with one byte of the new signature changed it fails.
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let (old_file, proof) = (
        write("old.note", old.as_bytes()),
        write(
            "proof.json",
            &serde_json::to_vec(&vectors()["consistency_proof"]).unwrap(),
        ),
    );
    let key_file = golden("log.pub");
    for (new_note, code) in [(new.to_string(), 0), (flip_signature(new), 1)] {
        let new_file = write("new.note", new_note.as_bytes());
        let out = vouch(&[
            "verify",
            "checkpoint",
            path_str(&old_file),
            path_str(&new_file),
            "--proof",
            path_str(&proof),
            "--key",
            path_str(&key_file),
        ]);
        assert_eq!(out.status.code(), Some(code), "{out:?}");
    }
}

/// The note with one character of its signature changed (to another base64 character).
fn flip_signature(note: &str) -> String {
    let mut bytes = note.as_bytes().to_vec();
    let at = bytes.len() - 10;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

/// The receipt of `seq` against the checkpoint of `size` blocks, built with vouch's library
/// from the vectors' entries, headers and key.
fn build_receipt(seq: u64, size: u64, nonce: Option<[u8; 32]>) -> Receipt {
    let block = blocks()
        .iter()
        .find(|b| {
            let first = b["header"]["first_seq"].as_u64().unwrap();
            (first..first + b["header"]["count"].as_u64().unwrap()).contains(&seq)
        })
        .unwrap();
    let header: BlockHeader = serde_json::from_value(block["header"].clone()).unwrap();
    let entries: Vec<Vec<u8>> = block["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(entry_bytes)
        .collect();
    let leaves: Vec<LeafHash> = entries.iter().map(|e| entry_leaf(e)).collect();
    let index = seq - header.first_seq.get();
    let history: Vec<LeafHash> = blocks()
        .iter()
        .map(|b| LeafHash::from_digest(hash(&b["block_hash"])))
        .collect();
    let nodes = MemoryNodes::from_leaves(&history);
    let checkpoint = Checkpoint {
        origin: signer().name().to_string(),
        size,
        root: root(&nodes, size).unwrap().hash(),
    };
    Receipt {
        v: FORMAT_VERSION,
        entry: entries[index as usize].clone(),
        entry_proof: EntriesTree::build(&leaves).proof(index).unwrap(),
        block: header.to_bytes().unwrap(),
        block_proof: inclusion_proof(&nodes, header.height.get(), size).unwrap(),
        checkpoint: checkpoint.sign(&signer()).unwrap(),
        nonce,
    }
}

fn nonce() -> [u8; 32] {
    hex::decode(text(&vectors()["commitments"]["nonce"]))
        .unwrap()
        .try_into()
        .unwrap()
}

#[test]
fn the_receipts_are_those_vouch_makes_and_verify() {
    let verifier = verifier();
    let request: Value = serde_json::from_slice(&read("request.json")).unwrap();
    let response: Value = serde_json::from_slice(&read("response.json")).unwrap();
    let c = &vectors()["commitments"];
    assert_eq!(
        String::from_utf8(canonical_json(&request["inputs"]).unwrap()).unwrap(),
        text(&c["inputs_jcs"])
    );
    assert_eq!(
        String::from_utf8(canonical_json(&response["outputs"]).unwrap()).unwrap(),
        text(&c["outputs_jcs"])
    );
    let input = commit(&nonce(), &request["inputs"]).unwrap();
    let output = commit(&nonce(), &response["outputs"]).unwrap();
    assert_eq!((input, output), (hash(&c["input"]), hash(&c["output"])));

    for (file, seq, size, nonce) in [
        ("receipt.json", 11, 4, Some(nonce())),
        ("receipt-later.json", 1, 4, None),
        ("receipt-v2.json", 16, 6, None),
    ] {
        assert_eq!(vectors()["receipts"][file].as_u64(), Some(seq));
        let bytes = read(file);
        let receipt: Receipt = serde_json::from_slice(&bytes).unwrap();
        // Built by vouch, and written as vouch writes it, it is the same receipt, byte for byte.
        let built = build_receipt(seq, size, nonce);
        assert_eq!(receipt, built, "{file}");
        assert_eq!(
            String::from_utf8(serde_json::to_vec(&built).unwrap()).unwrap(),
            String::from_utf8(bytes.clone()).unwrap(),
            "{file}"
        );
        let verified = receipt.verify(&verifier).unwrap();
        assert_eq!(verified.entry.seq().get(), seq);
        assert_eq!(verified.checkpoint.size, size);
        assert_eq!(verified.entry.version(), if seq < 13 { 1 } else { 2 });
        if nonce.is_some() {
            assert_eq!(verified.entry.input(), Some(input));
            assert_eq!(verified.entry.output(), Some(output));
        }

        // One byte changed anywhere but in the nonce (which no signature covers; it only opens
        // the commitments) and the receipt does not verify; a changed nonce opens nothing.
        let nonce_at = find(&bytes, b",\"nonce\":");
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 1;
            let Ok(r) = serde_json::from_slice::<Receipt>(&bad) else {
                continue;
            };
            if i <= nonce_at || i == bytes.len() - 1 {
                assert!(
                    r.verify(&verifier).is_err(),
                    "{file} with byte {i} changed verifies"
                );
            } else if let Some(n) = r.nonce {
                assert_ne!(commit(&n, &request["inputs"]).unwrap(), input, "byte {i}");
            }
        }
    }

    // The binary: the receipt verifies and its commitments open with the request and the
    // response (which carries the receipt); with one byte changed, it does not verify.
    let key = golden("log.pub");
    let (request, response) = (golden("request.json"), golden("response.json"));
    let out = vouch(&[
        "receipt",
        "verify",
        path_str(&golden("receipt.json")),
        "--key",
        path_str(&key),
        "--request",
        path_str(&request),
        "--response",
        path_str(&response),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&report["verified"], &report["seq"]),
        (&Value::Bool(true), &Value::from(11))
    );
    assert_eq!(
        (&report["input"], &report["output"]),
        (&Value::Bool(true), &Value::Bool(true))
    );
    let out = vouch(&[
        "receipt",
        "verify",
        path_str(&response),
        "--key",
        path_str(&key),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let dir = tempfile::tempdir().unwrap();
    let bytes = read("receipt.json");
    let bad = dir.path().join("receipt.json");
    let mut changed = bytes.clone();
    changed[find(&bytes, b"\"entry\":\"") + 40] ^= 1;
    std::fs::write(&bad, &changed).unwrap();
    let out = vouch(&["receipt", "verify", path_str(&bad), "--key", path_str(&key)]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
}

/// The export's lines, parsed.
fn lines(bytes: &[u8]) -> Vec<Value> {
    std::str::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn the_exports_carry_the_vectors_bytes_and_verify() {
    let verifier = verifier();
    for (file, from, to) in [
        ("export.jsonl", 0usize, 4usize),
        ("export-from-2.jsonl", 2, 4),
        ("export-v2.jsonl", 0, 6),
    ] {
        assert_eq!(
            vectors()["exports"][file],
            serde_json::json!([from, to]),
            "{file}"
        );
        let bytes = read(file);
        // Its headers, entries and checkpoints are the vectors' (which vouch builds above).
        let mut headers = Vec::new();
        let mut entries = Vec::new();
        let mut notes = Vec::new();
        for line in lines(&bytes) {
            match text(&line["type"]) {
                "block" => headers.push(B64.decode(text(&line["header"])).unwrap()),
                "entry" => entries.push(B64.decode(text(&line["entry"])).unwrap()),
                "checkpoint" => notes.push(text(&line["note"]).to_string()),
                _ => {}
            }
        }
        let exported = &blocks()[from..to];
        let expected_headers: Vec<&[u8]> = exported
            .iter()
            .map(|b| text(&b["header_bytes"]).as_bytes())
            .collect();
        assert_eq!(headers, expected_headers, "{file}");
        let expected_entries: Vec<Vec<u8>> = exported
            .iter()
            .flat_map(|b| b["entries"].as_array().unwrap().iter().map(entry_bytes))
            .collect();
        assert_eq!(entries, expected_entries, "{file}");
        let expected_notes: Vec<&str> = exported.iter().map(|b| text(&b["checkpoint"])).collect();
        assert_eq!(notes, expected_notes, "{file}");

        let summary = verify_export(&bytes[..], &verifier, None, &mut |_| {}).unwrap();
        let exported_blocks = (to - from) as u64;
        assert_eq!(summary.blocks, exported_blocks, "{file}");
        assert_eq!(summary.checkpoints, exported_blocks, "{file}");
        assert_eq!(summary.entries, entries.len() as u64);
        assert_eq!(
            summary.checkpoint.as_deref(),
            expected_notes.last().copied()
        );

        // One byte changed, and the export does not verify: every byte of each line's first
        // and last 48 (its type, members, numbers, the ends of its strings, its newline) and
        // every 16th in between (every byte of both files takes some 20 s here).
        let mut start = 0;
        for line in bytes.split_inclusive(|&b| b == b'\n') {
            let n = line.len();
            let places = (0..n).filter(|&i| i < 48 || i + 48 >= n || i % 16 == 0);
            for i in places.map(|i| start + i) {
                let mut bad = bytes.clone();
                bad[i] ^= 1;
                assert!(
                    verify_export(&bad[..], &verifier, None, &mut |_| {}).is_err(),
                    "{file}: byte {i} changed verifies"
                );
            }
            start += n;
        }
    }
}

#[test]
fn the_binary_verifies_the_exports_and_refuses_one_byte_changed() {
    let key = golden("log.pub");
    let dir = tempfile::tempdir().unwrap();
    for (file, blocks, entries) in [
        ("export.jsonl", 4, 13),
        ("export-from-2.jsonl", 2, 10),
        ("export-v2.jsonl", 6, 18),
    ] {
        let out = vouch(&[
            "verify",
            "--export",
            path_str(&golden(file)),
            "--key",
            path_str(&key),
            "--json",
        ]);
        assert_eq!(out.status.code(), Some(0), "{file}: {out:?}");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["verified"], Value::Bool(true), "{file}");
        assert_eq!(
            (&report["blocks"], &report["entries"]),
            (&Value::from(blocks), &Value::from(entries)),
            "{file}"
        );
        let last = if file == "export-v2.jsonl" { 5 } else { 3 };
        assert_eq!(
            report["checkpoint"],
            vectors()["blocks"][last]["checkpoint"],
            "{file}"
        );
        // The middle byte of each line changed: a fault (exit 1), at that line's place.
        let bytes = read(file);
        let mut start = 0;
        for (number, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
            let mut bad = bytes.clone();
            bad[start + line.len() / 2] ^= 1;
            let path = dir.path().join(file);
            std::fs::write(&path, &bad).unwrap();
            let out = vouch(&[
                "verify",
                "--export",
                path_str(&path),
                "--key",
                path_str(&key),
            ]);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{file} line {}: {out:?}",
                number + 1
            );
            start += line.len();
        }
    }
}

/// A line's form: every string that is not a member name emptied and every number made 0, so
/// that what is left is its members, their order, their nesting and the lengths of its arrays.
fn skeleton(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                let mut s = String::from('"');
                while let Some(c) = chars.next() {
                    s.push(c);
                    if c == '\\' {
                        s.extend(chars.next());
                    } else if c == '"' {
                        break;
                    }
                }
                out.push_str(if chars.peek() == Some(&':') {
                    &s
                } else {
                    "\"\""
                });
            }
            '0'..='9' | '-' => {
                while chars
                    .peek()
                    .is_some_and(|c| c.is_ascii_digit() || "+-.eE".contains(*c))
                {
                    chars.next();
                }
                out.push('0');
            }
            c => out.push(c),
        }
    }
    out
}

#[test]
fn the_exports_are_in_the_form_vouch_writes() {
    // A log written by vouch (one entry a block), exported from the start and from block 2: each
    // line of the made exports has the form of vouch's line of the same type.
    let dir = tempfile::tempdir().unwrap();
    let ledger = common::open(dir.path());
    for i in 0..4 {
        ledger.append_blocking(common::draft(i)).unwrap();
    }
    for (file, from) in [("export.jsonl", 0), ("export-from-2.jsonl", 2)] {
        let mut written = Vec::new();
        write_export(ledger.store(), from, 4, &mut written).unwrap();
        let forms = |bytes: &[u8]| -> Vec<(String, String)> {
            std::str::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|l| {
                    let v: Value = serde_json::from_str(l).unwrap();
                    (text(&v["type"]).to_string(), skeleton(l))
                })
                .collect()
        };
        let vouchs = forms(&written);
        let made = forms(&read(file));
        assert!(read(file).ends_with(b"\n") && written.ends_with(b"\n"));
        for (kind, form) in &made {
            let theirs = vouchs.iter().find(|(k, _)| k == kind);
            assert_eq!(Some(form), theirs.map(|(_, f)| f), "{file}: a {kind} line");
        }
        let kinds = |f: &[(String, String)]| {
            let mut k: Vec<String> = f.iter().map(|(k, _)| k.clone()).collect();
            k.dedup();
            k
        };
        assert_eq!(kinds(&made).first(), kinds(&vouchs).first());
        assert_eq!(kinds(&made).last(), kinds(&vouchs).last());
    }
    ledger.close();
}
