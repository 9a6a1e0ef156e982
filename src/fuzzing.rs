//! The bodies of the fuzz targets in `fuzz/fuzz_targets/`, kept in the library so that the same
//! code runs under the fuzzer (an instrumented nightly build) and in the ordinary test suite, which
//! replays every file of `fuzz/corpus/<target>/` through [`TARGETS`].
//!
//! Each function takes arbitrary bytes and must return without panicking, whatever they are; the
//! few `assert!`s check properties that hold for every input (a parsed checkpoint prints back to
//! itself, a proof built from a tree verifies against that tree's root). Set-up that cannot fail
//! (a fixed key, the roots of a tree just built) says so with `unreachable!`: a fuzz target
//! reports a broken assumption by panicking, which is what the fuzzer looks for.
#![allow(clippy::unreachable)]

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::inference::validate::{check_inputs, check_outputs, CheckedSpec};
use crate::inference::{Datatype, InputLimits, TensorData};
use crate::ledger::{
    consistency_proof, inclusion_proof, leaf_hash, proof_from_stored_nodes, reread_record, root,
    BlockHeader, Checkpoint, ConsistencyProof, EntriesTree, Entry, EntryProof, Hash,
    InclusionProof, LeafHash, MemoryNodes, Receipt, RootHash, SignerKey, Store, VerifierKey,
};
use crate::policy::{detect, CallContext};
use crate::server::body;

/// The body of a fuzz target: any bytes, no panic.
pub type Target = fn(&[u8]);

/// Every target: its name (the folder of its corpus and the file in `fuzz/fuzz_targets/`) and its
/// body.
pub const TARGETS: &[(&str, Target)] = &[
    ("request_json", request_json),
    ("request_binary", request_binary),
    ("receipt", receipt),
    ("proofs", proofs),
    ("checkpoint", checkpoint),
    ("detectors", detectors),
    ("export", export),
    ("blocks_record", blocks_record),
];

/// The name of the log the fuzz corpora's receipts and checkpoints are signed for.
pub const LOG_NAME: &str = "fuzz.vouch/log";

/// The key the fuzz corpora's receipts and checkpoints are signed with (a fixed seed: the corpus
/// files stay valid across runs).
pub fn signer() -> SignerKey {
    // A fixed, valid name and seed: this cannot fail.
    SignerKey::from_seed(LOG_NAME, &[7u8; 32]).unwrap_or_else(|_| unreachable!())
}

/// The input specs of the shipped models, and ones mirroring what the request sends (so the
/// element checks of every datatype and rank are reached).
fn specs_for(inputs: &[crate::inference::InferInput]) -> Vec<Vec<CheckedSpec>> {
    let spec = |name: &str, datatype, shape: &[i64]| CheckedSpec {
        name: name.into(),
        datatype,
        shape: shape.to_vec(),
    };
    let mirror = inputs
        .iter()
        .filter_map(|i| {
            Some(CheckedSpec {
                name: i.name.clone(),
                datatype: i.datatype.parse::<Datatype>().ok()?,
                shape: i.shape.iter().map(|_| -1).collect(),
            })
        })
        .collect();
    vec![
        vec![spec("features", Datatype::Fp32, &[-1, 30])],
        vec![spec("text", Datatype::Bytes, &[-1, 1])],
        mirror,
    ]
}

/// What the service does with a body once it is decoded, short of running a model: the
/// declared context, the personal-data scan, the checks against the model's inputs and outputs.
fn after_decode(decoded: body::Decoded) {
    let mut request = decoded.request;
    let parameters = request.parameters.take().unwrap_or_default();
    let _ = CallContext::from_parameters(&parameters);
    let _ = detect::scan(detect::parameter_texts(&parameters));
    for specs in specs_for(&request.inputs) {
        let _ = check_outputs(&specs, request.outputs.clone());
        if let Ok(prepared) = check_inputs(&specs, request.inputs.clone(), &InputLimits::default())
        {
            for input in prepared {
                assert!(!input.values.is_empty());
            }
        }
    }
    for input in &request.inputs {
        if let TensorData::Binary(bytes) = &input.data {
            let _ = crate::inference::TensorValues::from_binary(Datatype::Bytes, bytes);
        }
    }
}

/// A v2 JSON request body, as `POST …/infer` reads it.
pub fn request_json(data: &[u8]) {
    if let Ok(decoded) = body::decode(&HeaderMap::new(), data, true) {
        after_decode(decoded);
    }
}

/// A binary-extension request body: the input is the `Inference-Header-Content-Length` value, a
/// newline, then the body (the JSON header and the binary tensors).
pub fn request_binary(data: &[u8]) {
    let (value, body_bytes) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (
            data.get(..i).unwrap_or_default(),
            data.get(i + 1..).unwrap_or_default(),
        ),
        None => (data, &[][..]),
    };
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(HeaderName::from_static(body::HEADER_LENGTH), value);
    let _ = body::check_content_type(&headers);
    if let Ok(decoded) = body::decode(&headers, body_bytes, true) {
        after_decode(decoded);
    }
}

/// A receipt as a caller holds it (JSON), verified with the corpus key; its entry and block
/// header parsed on their own; the bytes also read directly as an entry and as a header.
pub fn receipt(data: &[u8]) {
    let key = signer().verifier();
    if let Ok(r) = serde_json::from_slice::<Receipt>(data) {
        if let Ok(v) = r.verify(&key) {
            // What verified must be what the receipt carries.
            assert_eq!(Entry::from_bytes(&r.entry).ok(), Some(v.entry));
        }
        let _ = Entry::from_bytes(&r.entry);
        let _ = BlockHeader::from_bytes(&r.block);
        let _ = r
            .entry_proof
            .root_from(LeafHash::from_digest(Hash::digest(&r.entry)));
        let _ = r
            .block_proof
            .root_from(LeafHash::from_digest(Hash::digest(&r.block)));
    }
    if let Ok(e) = Entry::from_bytes(data) {
        // An entry that parses is canonical: it serialises back to the same bytes.
        assert_eq!(e.to_bytes().ok().as_deref(), Some(data));
    }
    let _ = BlockHeader::from_bytes(data);
}

fn u64_at(data: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    if let Some(s) = data.get(at..at + 8) {
        b.copy_from_slice(s);
    }
    u64::from_le_bytes(b)
}

fn hash_at(data: &[u8], at: usize) -> Hash {
    data.get(at..at + 32)
        .and_then(Hash::from_slice)
        .unwrap_or_default()
}

/// Proofs. The first byte chooses: 0–2 read arbitrary proofs from the bytes and verify them
/// (history-tree inclusion, consistency, block entry proof, and a stored node array); 3 builds a
/// tree of up to 300 leaves and checks that its own proofs verify and a changed one does not;
/// anything else reads the bytes as the JSON forms of the proofs.
pub fn proofs(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (a, b) = (u64_at(rest, 0), u64_at(rest, 8));
    let (h1, h2) = (hash_at(rest, 16), hash_at(rest, 48));
    let path: Vec<Hash> = rest
        .get(80..)
        .unwrap_or_default()
        .chunks_exact(32)
        .filter_map(Hash::from_slice)
        .collect();
    match mode {
        0 => {
            let p = InclusionProof {
                index: a,
                tree_size: b,
                path,
            };
            let _ = p.verify(LeafHash::from_digest(h1), RootHash::new(h2, b));
        }
        1 => {
            let p = ConsistencyProof {
                old_size: a,
                new_size: b,
                path,
            };
            let _ = p.verify(RootHash::new(h1, a), RootHash::new(h2, b));
        }
        2 => {
            let p = EntryProof {
                index: a,
                count: b,
                path,
            };
            let _ = p.root_from(LeafHash::from_digest(h1));
            let _ = proof_from_stored_nodes(rest.get(16..).unwrap_or_default(), a);
        }
        3 => built_tree(rest),
        _ => {
            let zero = |size| RootHash::new(Hash::default(), size);
            let _ = serde_json::from_slice::<InclusionProof>(data)
                .map(|p| p.verify(LeafHash::default(), zero(p.tree_size)));
            let _ = serde_json::from_slice::<ConsistencyProof>(data)
                .map(|p| p.verify(zero(p.old_size), zero(p.new_size)));
            let _ = serde_json::from_slice::<EntryProof>(data)
                .map(|p| p.root_from(LeafHash::default()));
        }
    }
}

/// Builds a history tree and a block entry tree from the bytes and checks their proofs.
fn built_tree(rest: &[u8]) {
    let n = (u64_at(rest, 0) % 300) + 1;
    let i = u64_at(rest, 8) % n;
    let old = (u64_at(rest, 16) % n) + 1;
    let leaves: Vec<LeafHash> = (0..n).map(|k| leaf_hash(&k.to_be_bytes())).collect();
    let nodes = MemoryNodes::from_leaves(&leaves);
    let (Ok(new_root), Ok(old_root)) = (root(&nodes, n), root(&nodes, old)) else {
        unreachable!("a tree built from leaves has every root")
    };
    let leaf = leaves.get(usize::try_from(i).unwrap_or(0)).copied();
    let leaf = leaf.unwrap_or_default();
    if let Ok(p) = inclusion_proof(&nodes, i, n) {
        assert!(p.verify(leaf, new_root).is_ok());
        assert!(p.verify(leaf_hash(b"other"), new_root).is_err());
    }
    if let Ok(p) = consistency_proof(&nodes, old, n) {
        assert!(p.verify(old_root, new_root).is_ok());
        if old < n {
            // The new root at the old size: the right size, the wrong tree.
            assert!(p
                .verify(RootHash::new(new_root.hash(), old), new_root)
                .is_err());
        }
    }
    let tree = EntriesTree::build(&leaves);
    if let Some(p) = tree.proof(i) {
        assert_eq!(p.root_from(leaf).ok(), Some(tree.root()));
        let stored: Vec<u8> = tree.nodes().iter().flat_map(|h| *h.as_bytes()).collect();
        assert_eq!(proof_from_stored_nodes(&stored, i), Some(p));
    }
}

/// A signed checkpoint note (opened with the corpus key), its body alone, and a verifier key.
pub fn checkpoint(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let key = signer().verifier();
    let _ = key.open(text);
    let _ = Checkpoint::open(text, &key);
    if let Ok(cp) = Checkpoint::parse_body(text) {
        // The body a checkpoint prints parses back to the same checkpoint.
        assert_eq!(Checkpoint::parse_body(&cp.body()).ok(), Some(cp));
    }
    if let Ok(k) = text.parse::<VerifierKey>() {
        assert_eq!(k.to_string().parse::<VerifierKey>().ok(), Some(k));
    }
}

/// The personal-data detectors over arbitrary bytes, as one text and split into several.
pub fn detectors(data: &[u8]) {
    let report = detect::scan([data]);
    assert!(report.scanned_bytes() <= detect::MAX_SCAN_BYTES);
    let _ = detect::scan(data.split(|&b| b == 0));
    let _ = detect::scan([String::from_utf8_lossy(data).as_bytes()]);
}

/// An export (the JSON lines `vouch verify --export` reads) verified with the corpus key, from
/// the start and against a trusted checkpoint: a summary or a fault, never a panic; a summary
/// that says verified holds together.
pub fn export(data: &[u8]) {
    let key = signer().verifier();
    if let Ok(summary) = crate::ledger::verify_export(data, &key, None, &mut |_| {}) {
        // Every verified block came with its verified checkpoint.
        assert_eq!(summary.checkpoints, summary.blocks);
        if let Some(note) = &summary.checkpoint {
            if let Ok(cp) = Checkpoint::open(note, &key) {
                let _ = crate::ledger::verify_export(data, &key, Some((&cp, note)), &mut |_| {});
            }
        }
    }
}

/// The blocks file's records, which opening a store reads from untrusted bytes (`docs/LEDGER.md`,
/// "Storage"): the input as one record's payload, and as a whole blocks file walked by the store
/// (read-only, as `vouch verify --data` walks it; opening for the server walks the same way)
/// against a plain reading of the format beside it.
pub fn blocks_record(data: &[u8]) {
    if let Some((_, _, record)) = reread_record(data) {
        // What parses, the writer writes again to these very bytes, under a head holding their
        // length and CRC-32; a byte less or more does not parse.
        assert_eq!(record.get(8..), Some(data));
        let len = u32::try_from(data.len()).ok().map(u32::to_be_bytes);
        assert_eq!(record.get(..4), len.as_ref().map(|l| &l[..]));
        assert_eq!(
            record.get(4..8),
            Some(&crc32fast::hash(data).to_be_bytes()[..])
        );
        assert!(reread_record(data.get(..data.len() - 1).unwrap_or_default()).is_none());
        assert!(reread_record(&[data, &[0]].concat()).is_none());
    }
    blocks_file(data);
}

/// What a plain reading of a blocks file finds: the keys of each whole record from the start (a
/// length and CRC-32 that hold, then a payload that parses at the next height), where the first
/// record that is not whole starts, whether a record passed its CRC yet could not be taken, and
/// whether what follows the last whole record is damage rather than a torn write.
struct FileReading {
    records: Vec<std::collections::BTreeSet<Vec<u8>>>,
    end: usize,
    refused: bool,
    damaged: bool,
}

fn read_blocks_file(file: &[u8]) -> FileReading {
    let mut reading = FileReading {
        records: Vec::new(),
        end: 0,
        refused: false,
        damaged: false,
    };
    let be = |at: usize| {
        file.get(at..at + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_be_bytes)
    };
    while let (Some(len), Some(crc)) = (be(reading.end), be(reading.end + 4)) {
        let (at, len) = (reading.end, len as usize);
        let Some(payload) = file.get(at + 8..at + 8 + len).filter(|_| len >= 12) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            // Damage, not a torn write, when bytes follow the record the head claims.
            reading.damaged = file.len() > at + 8 + len;
            break;
        }
        match reread_record(payload) {
            Some((height, pairs, record)) if height == reading.records.len() as u64 => {
                // A record taken is exactly its bytes, its checksum theirs.
                assert_eq!(file.get(at..at + 8 + len), Some(record.as_slice()));
                reading
                    .records
                    .push(pairs.into_iter().map(|(k, _)| k).collect());
                reading.end = at + 8 + len;
            }
            _ => {
                reading.refused = true;
                break;
            }
        }
    }
    reading
}

/// The input as a store's blocks file, walked with [`Store::open_snapshot`] and
/// [`Store::advance`]: the store takes exactly the records the plain reading takes, with their
/// keys, refuses where it refuses, and tells damage from a torn last record as it does.
fn blocks_file(data: &[u8]) {
    static FILES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("vouch-fuzz-blocks-{}-{n}", std::process::id()));
    let opened = std::fs::create_dir_all(dir.join("ledger"))
        .and_then(|()| std::fs::write(dir.join("ledger").join("blocks"), data))
        .map_err(crate::ledger::StoreError::Io)
        .and_then(|()| Store::open_snapshot(&dir));
    // The store holds the file open; nothing is left behind.
    let _ = std::fs::remove_dir_all(&dir);
    let Ok(store) = opened else {
        return;
    };
    let expected = read_blocks_file(data);
    let mut taken = 0usize;
    let refused = loop {
        match store.advance(crate::ledger::Height::new(taken as u64)) {
            Ok(true) => {
                let keys = store.record_keys().unwrap_or_default();
                let keys: std::collections::BTreeSet<Vec<u8>> =
                    keys.iter().map(|k| k.to_vec()).collect();
                assert_eq!(expected.records.get(taken), Some(&keys), "record {taken}");
                taken += 1;
            }
            Ok(false) => break false,
            Err(_) => break true,
        }
    };
    assert_eq!(taken, expected.records.len());
    assert_eq!(refused, expected.refused);
    if !refused {
        assert_eq!(store.unfinished_tail(), (data.len() - expected.end) as u64);
        let damage = store.tail_damage().ok().flatten();
        assert_eq!(damage.is_some(), expected.damaged);
    }
}
