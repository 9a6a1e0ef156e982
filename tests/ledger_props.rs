//! Property tests of the ledger against plain models: appends read back as a `Vec` would hold
//! them, every receipt verifies, consistency proofs verify for any two sizes, and changing any
//! byte of an entry, a header, a proof or a checkpoint makes verification fail.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod common;

use proptest::prelude::*;
use vouch::ledger::*;

/// Appends `sizes.len()` blocks: block i holds `sizes[i]` entries appended concurrently.
/// `h` with the bits `flip` of byte `at` flipped.
fn flipped(h: Hash, at: usize, flip: u8) -> Hash {
    let mut b = *h.as_bytes();
    b[at] ^= flip;
    Hash::from_bytes(b)
}

fn build(dir: &std::path::Path, sizes: &[usize]) -> (Ledger, Vec<(EntryDraft, Appended)>) {
    let ledger = common::open(dir);
    let mut out = Vec::new();
    let mut i = 0u64;
    for &n in sizes {
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let d = common::draft(i);
                i += 1;
                let l = ledger.clone();
                std::thread::spawn(move || (d.clone(), l.append_blocking(d).unwrap()))
            })
            .collect();
        out.extend(handles.into_iter().map(|h| h.join().unwrap()));
    }
    (ledger, out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn appends_read_back_like_a_vec_and_every_receipt_verifies(sizes in prop::collection::vec(1usize..12, 1..10)) {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, appended) = build(dir.path(), &sizes);
        let total: usize = sizes.iter().sum();
        // The model: a Vec indexed by seq.
        let mut model: Vec<Option<Entry>> = vec![None; total];
        for (draft, a) in &appended {
            let entry = Entry::from_bytes(a.entry_bytes()).unwrap();
            prop_assert_eq!(entry.seq(), a.seq);
            prop_assert_eq!(entry.request_id(), draft.request_id.as_deref());
            prop_assert!(model[a.seq.get() as usize].replace(entry).is_none(), "seq {} given twice", a.seq);
            let v = a.receipt().verify(ledger.verifier()).unwrap();
            prop_assert_eq!(v.entry.seq(), a.seq);
        }
        prop_assert!(model.iter().all(Option::is_some), "a gap in the seqs");
        for (seq, e) in model.iter().enumerate() {
            let stored = ledger.store().entry(Seq::new(seq as u64)).unwrap().unwrap();
            prop_assert_eq!(&Entry::from_bytes(&stored).unwrap(), e.as_ref().unwrap());
            // A fresh receipt against the latest checkpoint verifies too.
            ledger.receipt(Seq::new(seq as u64)).unwrap().verify(ledger.verifier()).unwrap();
        }
        let head = ledger.head();
        prop_assert_eq!(head.entries, total as u64);
        ledger.close();
        drop(ledger); // sled holds a lock on the folder while the ledger is open
        let summary = verify_store(dir.path(), &common::signer().verifier(), &mut |_| {}).unwrap();
        prop_assert_eq!(summary.entries, total as u64);
        prop_assert_eq!(summary.blocks, head.blocks);
    }

    #[test]
    fn consistency_proofs_verify_for_any_two_sizes(blocks in 1usize..40, picks in prop::collection::vec((0.0f64..1.0, 0.0f64..1.0), 1..8)) {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, _) = build(dir.path(), &vec![1; blocks]);
        let n = ledger.head().blocks;
        for (a, b) in picks {
            let new = 1 + ((b * n as f64) as u64).min(n - 1);
            let old = 1 + ((a * new as f64) as u64).min(new - 1);
            let key = ledger.verifier();
            let c_old = Checkpoint::open(&ledger.checkpoint(old).unwrap(), key).unwrap();
            let c_new = Checkpoint::open(&ledger.checkpoint(new).unwrap(), key).unwrap();
            let proof = ledger.consistency_proof(old, new).unwrap();
            proof.verify(c_old.tree_root(), c_new.tree_root()).unwrap();
            if old < new {
                // The roots swapped, each given as of the size the proof claims.
                let swapped = (RootHash::new(c_new.root, old), RootHash::new(c_old.root, new));
                prop_assert!(proof.verify(swapped.0, swapped.1).is_err());
            }
            // Inclusion of every block below `old` in the tree of `new` blocks.
            let h = (a * old as f64) as u64 % old;
            let header = ledger.store().header(Height::new(h)).unwrap().unwrap();
            ledger.inclusion_proof(Height::new(h), new).unwrap().verify(block_hash(&header).leaf(), c_new.tree_root()).unwrap();
        }
        ledger.close();
    }

    #[test]
    fn changing_any_byte_breaks_a_receipt(sizes in prop::collection::vec(1usize..6, 1..5), pick in any::<prop::sample::Index>(), pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let dir = tempfile::tempdir().unwrap();
        let (ledger, appended) = build(dir.path(), &sizes);
        let key = ledger.verifier().clone();
        let receipt = pick.get(&appended).1.receipt();
        receipt.verify(&key).unwrap();

        let mut r = receipt.clone();
        let i = pos.index(r.entry.len());
        r.entry[i] ^= flip;
        prop_assert!(r.verify(&key).is_err(), "entry byte {} changed, still verifies", i);

        let mut r = receipt.clone();
        let i = pos.index(r.block.len());
        r.block[i] ^= flip;
        prop_assert!(r.verify(&key).is_err(), "header byte {} changed, still verifies", i);

        let mut cp = receipt.checkpoint.clone().into_bytes();
        let i = pos.index(cp.len());
        cp[i] ^= flip;
        if let Ok(cp) = String::from_utf8(cp) {
            let mut r = receipt.clone();
            r.checkpoint = cp;
            prop_assert!(r.verify(&key).is_err(), "checkpoint byte {} changed, still verifies", i);
        }

        if !receipt.entry_proof.path.is_empty() {
            let mut r = receipt.clone();
            let j = pos.index(r.entry_proof.path.len());
            r.entry_proof.path[j] = flipped(r.entry_proof.path[j], i % 32, flip);
            prop_assert!(r.verify(&key).is_err(), "entry proof changed, still verifies");
        }
        if !receipt.block_proof.path.is_empty() {
            let mut r = receipt.clone();
            let j = pos.index(r.block_proof.path.len());
            r.block_proof.path[j] = flipped(r.block_proof.path[j], i % 32, flip);
            prop_assert!(r.verify(&key).is_err(), "block proof changed, still verifies");
        }
        let mut r = receipt.clone();
        r.entry_proof.index ^= 1;
        prop_assert!(r.verify(&key).is_err());
        let mut r = receipt.clone();
        r.block_proof.tree_size += 1;
        prop_assert!(r.verify(&key).is_err());
        ledger.close();
    }
}

#[test]
fn audit_indexes_match_a_brute_force_filter() {
    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = build(dir.path(), &[7, 1, 13, 4, 25]);
    let n = ledger.head().entries;
    let all: Vec<Entry> = (0..n)
        .map(|s| Entry::from_bytes(&ledger.store().entry(Seq::new(s)).unwrap().unwrap()).unwrap())
        .collect();
    let filters = vec![
        Filter::Caller("caller-3".into()),
        Filter::Model {
            name: "seed-mlp".into(),
            version: None,
        },
        Filter::Model {
            name: "breast-cancer".into(),
            version: Some("1".into()),
        },
        Filter::Decision(Decision::Deny),
        Filter::Rule("privacy.rule-1".into()),
    ];
    for f in filters {
        let expected: Vec<u64> = all
            .iter()
            .filter(|e| match &f {
                Filter::Caller(c) => e.caller().map(|c| c.as_str()) == Some(c.as_str()),
                Filter::Model { name, version } => e.model().as_ref().is_some_and(|m| {
                    &m.name == name && version.as_ref().is_none_or(|v| &m.version == v)
                }),
                Filter::Decision(d) => e.decision() == *d,
                Filter::Rule(r) => e.rules().iter().any(|rule| rule.as_str() == r),
            })
            .map(|e| e.seq().get())
            .collect();
        assert!(
            !expected.is_empty(),
            "{f:?} matches nothing: a useless case"
        );
        // Page through three at a time.
        let mut got: Vec<u64> = vec![];
        let mut from = Seq::new(0);
        loop {
            let page = f.scan(ledger.store(), from, 3).unwrap();
            got.extend(page.seqs.iter().map(|s| s.get()));
            match page.next {
                Some(n) => from = n,
                None => break,
            }
        }
        assert_eq!(got, expected, "{f:?}");
    }
    ledger.close();
}
