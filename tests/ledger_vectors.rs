//! Known-answer tests for every hash, proof and signature format of the ledger.
//!
//! RFC 9162 vectors: the eight leaves, the roots of trees of 1..8 leaves, and the inclusion and
//! consistency proofs published as test data of the transparency-dev Merkle library
//! (`proof/verify_test.go`), which implements RFC 6962/9162 independently of this project. The
//! C2SP signed-note example's values were made by `scripts/golden/make_vectors.py` (Python), as
//! were the vectors of every other format v1 structure, which `tests/golden.rs` checks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

use vouch::ids::{CallerId, RuleId};
use vouch::ledger::*;

fn h(s: &str) -> Hash {
    Hash::from_hex(s).unwrap()
}

/// Flips bits of one byte of a digest.
fn flip(h: &mut Hash, byte: usize, bits: u8) {
    let mut b = *h.as_bytes();
    b[byte] ^= bits;
    *h = Hash::from_bytes(b);
}

fn leaves() -> Vec<LeafHash> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
    .iter()
    .map(|x| leaf_hash(&hex::decode(x).unwrap()))
    .collect()
}

const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

#[test]
fn rfc9162_roots_of_1_to_8_leaves() {
    let nodes = MemoryNodes::from_leaves(&leaves());
    for size in 1..=8u64 {
        let expected = RootHash::new(h(ROOTS[size as usize - 1]), size);
        assert_eq!(root(&nodes, size).unwrap(), expected, "root of size {size}");
        let mut range = CompactRange::empty();
        for l in &leaves()[..size as usize] {
            range.append(*l);
        }
        assert_eq!(range.root(), Some(expected));
        assert_eq!(CompactRange::load(&nodes, size).unwrap(), range);
    }
}

#[test]
fn rfc9162_inclusion_proofs() {
    // (leaf index, tree size, proof), from the vectors (which number leaves from 1).
    let vectors: Vec<(u64, u64, Vec<&str>)> = vec![
        (0, 1, vec![]),
        (
            0,
            8,
            vec![
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            vec![
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            3,
            vec!["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
        ),
        (
            1,
            5,
            vec![
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    let leaves = leaves();
    let nodes = MemoryNodes::from_leaves(&leaves);
    for (index, size, path) in vectors {
        let expected = InclusionProof {
            index,
            tree_size: size,
            path: path.iter().map(|p| h(p)).collect(),
        };
        assert_eq!(
            inclusion_proof(&nodes, index, size).unwrap(),
            expected,
            "proof of {index} in {size}"
        );
        let root = h(ROOTS[size as usize - 1]);
        // The root, given as of the tree size the proof claims: what fails is the proof.
        let at = |p: &InclusionProof| RootHash::new(root, p.tree_size);
        expected
            .verify(leaves[index as usize], at(&expected))
            .unwrap();
        // A wrong leaf, a wrong index, a wrong size or a bit flip in the path must not verify.
        assert!(expected
            .verify(leaves[(index as usize + 1) % 8], at(&expected))
            .is_err());
        let mut p = expected.clone();
        p.index ^= 1;
        if p.index < size {
            assert!(p.verify(leaves[index as usize], at(&p)).is_err());
        }
        let mut p = expected.clone();
        p.tree_size *= 2;
        assert!(p.verify(leaves[index as usize], at(&p)).is_err());
        // Nor against the root of another size.
        assert!(expected
            .verify(leaves[index as usize], RootHash::new(root, size + 1))
            .is_err());
        for i in 0..expected.path.len() {
            let mut p = expected.clone();
            flip(&mut p.path[i], 0, 8);
            assert!(p.verify(leaves[index as usize], at(&p)).is_err());
        }
        let mut p = expected.clone();
        p.path.push(root);
        assert!(
            p.verify(leaves[index as usize], at(&p)).is_err(),
            "trailing hash accepted"
        );
    }
}

#[test]
fn rfc9162_consistency_proofs() {
    let vectors: Vec<(u64, u64, Vec<&str>)> = vec![
        (1, 1, vec![]),
        (
            1,
            8,
            vec![
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            vec![
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            vec![
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
        (
            6,
            7,
            vec![
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
    ];
    let nodes = MemoryNodes::from_leaves(&leaves());
    for (old, new, path) in vectors {
        let expected = ConsistencyProof {
            old_size: old,
            new_size: new,
            path: path.iter().map(|p| h(p)).collect(),
        };
        assert_eq!(
            consistency_proof(&nodes, old, new).unwrap(),
            expected,
            "proof {old} → {new}"
        );
        let (r1, r2) = (h(ROOTS[old as usize - 1]), h(ROOTS[new as usize - 1]));
        // Roots given as of the tree sizes the proof claims: what fails is the proof.
        let check = |p: &ConsistencyProof, a: Hash, b: Hash| {
            p.verify(RootHash::new(a, p.old_size), RootHash::new(b, p.new_size))
        };
        check(&expected, r1, r2).unwrap();
        if old != new {
            assert!(check(&expected, r2, r1).is_err(), "swapped roots accepted");
            let mut p = expected.clone();
            p.path.pop();
            assert!(check(&p, r1, r2).is_err(), "truncated proof accepted");
            for i in 0..expected.path.len() {
                let mut p = expected.clone();
                flip(&mut p.path[i], 0, 16);
                assert!(check(&p, r1, r2).is_err(), "bit flip {i} accepted");
            }
            let mut p = expected.clone();
            p.old_size += 1;
            assert!(check(&p, r1, r2).is_err());
            // Nor against roots of other sizes than the proof's.
            let (a, b) = (RootHash::new(r1, old), RootHash::new(r2, new));
            assert!(expected.verify(b, a).is_err());
        }
    }
    // The degenerate cases, as RFC 9162 §2.1.4.2 verifiers treat them (each root given as of
    // the size the proof claims).
    let r = h(ROOTS[0]);
    let at = RootHash::new;
    assert!(ConsistencyProof {
        old_size: 1,
        new_size: 1,
        path: vec![]
    }
    .verify(at(r, 1), at(r, 1))
    .is_ok());
    assert!(ConsistencyProof {
        old_size: 1,
        new_size: 1,
        path: vec![]
    }
    .verify(at(r, 1), at(h(ROOTS[1]), 1))
    .is_err());
    assert!(ConsistencyProof {
        old_size: 2,
        new_size: 1,
        path: vec![]
    }
    .verify(at(r, 2), at(r, 1))
    .is_err());
    assert!(ConsistencyProof {
        old_size: 1,
        new_size: 2,
        path: vec![]
    }
    .verify(at(r, 1), at(h(ROOTS[1]), 2))
    .is_err());
}

#[test]
fn jcs_bytes_of_a_sample_entry() {
    let entry = EntryDraft {
        request_id: Some("req-1 \"é\"\n".into()),
        caller: CallerId::parse("acme-clinic"),
        // An id as a log may hold it: read back as written, not judged again.
        credential: Some(serde_json::from_value(serde_json::json!("k1")).unwrap()),
        model: Some(ModelRef {
            name: "breast-cancer".into(),
            version: "1".into(),
            sha256: Hash::from_bytes([0xab; 32]),
        }),
        input: Some(Hash::from_bytes([1; 32])),
        output: None,
        decision: Decision::Deny,
        rules: RuleId::parse("privacy.consent-required")
            .into_iter()
            .collect(),
        obligations: vec![],
        context: EntryContext {
            purpose: Some("medical-triage".into()),
            data_categories: vec!["health".into()],
            pii: vec!["email".into()],
            declared: Some(Declared {
                categories: vec![],
                commercial: true,
                consent: false,
                separate_consent: false,
                terms_version: Some("2026-03".into()),
            }),
            input_bytes: Some(65_536),
            pii_scan_complete: Some(false),
        },
        policy: Some(Hash::from_bytes([2; 32])),
    }
    .into_entry(Seq::new(42), "2026-11-29T10:04:43.123456Z".into());
    assert_eq!(entry.version(), 2);
    let ab = "ab".repeat(32);
    let one = "01".repeat(32);
    let two = "02".repeat(32);
    // Written out by hand: keys sorted by UTF-16 code units, no whitespace, strings escaped as
    // RFC 8785 §3.2.2.2 says (quote and newline escaped, é as itself).
    let expected = format!(
        concat!(
            r#"{{"caller":"acme-clinic","context":{{"data_categories":["health"],"#,
            r#""declared":{{"categories":[],"commercial":true,"consent":false,"separate_consent":false,"terms_version":"2026-03"}},"#,
            r#""input_bytes":65536,"pii":["email"],"pii_scan_complete":false,"purpose":"medical-triage"}},"#,
            r#""credential":"k1","decision":"deny","input":"{one}","model":{{"name":"breast-cancer","sha256":"{ab}","version":"1"}},"#,
            r#""obligations":[],"output":null,"policy":"{two}","request_id":"req-1 \"é\"\n","rules":["privacy.consent-required"],"#,
            r#""seq":42,"time":"2026-11-29T10:04:43.123456Z","v":2}}"#
        ),
        one = one,
        ab = ab,
        two = two
    );
    let bytes = entry.to_bytes().unwrap();
    assert_eq!(String::from_utf8(bytes.clone()).unwrap(), expected);
    assert_eq!(Entry::from_bytes(&bytes).unwrap(), entry);
    // The same entry with its keys in another order, or with spaces, is not canonical.
    let spaced = expected.replacen(",", ", ", 1);
    assert_eq!(
        Entry::from_bytes(spaced.as_bytes()),
        Err(EntryError::NotCanonical)
    );
    assert!(matches!(
        Entry::from_bytes(&expected.as_bytes()[1..]),
        Err(EntryError::Json(_))
    ));
}

/// The C2SP `signed-note` example, its expected values literal: made by
/// `scripts/golden/make_vectors.py` (Python `hashlib` and `cryptography`, from the C2SP text, not
/// with the crates vouch signs with) and kept as `c2sp_example` in `tests/golden/vectors.json`.
#[test]
fn a_c2sp_signed_note_checked_by_hand() {
    // Seed 07 × 32, key name "example.org/log"; a checkpoint of 17 leaves with root 09 × 32.
    const NAME: &str = "example.org/log";
    // First 4 bytes of SHA-256(name ‖ 0x0A ‖ 0x01 ‖ public key), public key
    // ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c.
    const KEY_ID: u32 = 0x5e2c_ef00;
    // <name>+<id hex>+<base64(0x01 ‖ public key)>.
    const VERIFIER_KEY: &str =
        "example.org/log+5e2cef00+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs";
    // PRIVATE+KEY+<name>+<id hex>+<base64(0x01 ‖ seed)>.
    const PRIVATE_KEY: &str =
        "PRIVATE+KEY+example.org/log+5e2cef00+AQcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcH";
    // The checkpoint body, a blank line, "— <name> base64(key id ‖ Ed25519 signature)".
    const NOTE: &str = concat!(
        "example.org/log\n17\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n",
        "\n",
        "\u{2014} example.org/log XizvAOZrPOqqSUIv3QO8m8/nJ/IRKERVEyTYBKou1NWjujj+fgEC61opkJXHFzi",
        "drp+wZHd+WWRFsIJsUCJEhyvAQg8=\n",
    );
    let key = SignerKey::from_seed(NAME, &[7u8; 32]).unwrap();
    assert_eq!(key.id(), KeyId::new(KEY_ID));
    assert_eq!(key.verifier().to_string(), VERIFIER_KEY);
    let parsed: VerifierKey = VERIFIER_KEY.parse().unwrap();
    assert_eq!(parsed, key.verifier());

    let root = Hash::from_bytes([9; 32]);
    let checkpoint = Checkpoint {
        origin: NAME.into(),
        size: 17,
        root,
    };
    assert_eq!(
        checkpoint.body(),
        "example.org/log\n17\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n"
    );
    let note = checkpoint.sign(&key).unwrap();
    assert_eq!(note, NOTE);
    assert_eq!(Checkpoint::open(NOTE, &parsed).unwrap(), checkpoint);

    // A changed body, a changed signature, or another key fails.
    assert!(Checkpoint::open(&note.replace("\n17\n", "\n18\n"), &parsed).is_err());
    let mut bad = note.clone().into_bytes();
    let n = bad.len();
    bad[n - 6] = if bad[n - 6] == b'A' { b'B' } else { b'A' };
    assert!(Checkpoint::open(std::str::from_utf8(&bad).unwrap(), &parsed).is_err());
    let other = SignerKey::from_seed(NAME, &[8u8; 32]).unwrap().verifier();
    assert!(matches!(
        Checkpoint::open(&note, &other),
        Err(NoteError::NoSignature { .. })
    ));

    // The private key string is the literal one and round-trips.
    let private = key.to_private_string();
    assert_eq!(private.as_str(), PRIVATE_KEY);
    let back = SignerKey::from_private_string(PRIVATE_KEY).unwrap();
    assert_eq!(back.verifier(), key.verifier());
}

#[test]
fn verifier_keys_reject_manglings() {
    let key = SignerKey::from_seed("log", &[3u8; 32])
        .unwrap()
        .verifier()
        .to_string();
    assert!(key.parse::<VerifierKey>().is_ok());
    for bad in [
        key.replacen("log", "lag", 1),    // name no longer matches the key id
        key[..key.len() - 2].to_string(), // truncated key material
        key.replacen('+', "+0", 1),       // 9-digit key id
        format!("a b{}", &key[3..]),      // a space in the name
        String::new(),
    ] {
        assert!(bad.parse::<VerifierKey>().is_err(), "accepted {bad:?}");
    }
}
