//! Group commit under concurrency: 1,000 appends from many tasks at once come back with gap-free
//! seqs and verifying receipts (written as JSON directly, the same bytes serde writes), and they
//! share blocks; an answer is already in the head; closing answers every append the writer took.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod common;

use vouch::ledger::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_appends_are_gap_free_verified_and_grouped() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = common::open(dir.path());
    let tasks: Vec<_> = (0..1000u64)
        .map(|i| {
            let l = ledger.clone();
            tokio::spawn(async move {
                let a = l.append(common::draft(i)).await.unwrap();
                // An answered entry is already in the head readers see, with its block and a
                // checkpoint that covers it.
                let head = l.head();
                assert!(
                    head.entries > a.seq.get(),
                    "{} not past seq {}",
                    head.entries,
                    a.seq
                );
                let height = BlockHeader::from_bytes(&a.receipt().block).unwrap().height;
                assert!(head.blocks > height.get());
                a
            })
        })
        .collect();
    let mut seqs = Vec::new();
    for t in tasks {
        let a = t.await.unwrap();
        let v = a.receipt().verify(ledger.verifier()).unwrap();
        assert_eq!(v.entry.seq(), a.seq);
        // The receipt written straight to JSON (the members its block shares serialised once)
        // is byte for byte what serde writes for the receipt, with a nonce and without.
        let nonce = [a.seq.get() as u8; 32];
        let mut with_nonce = a.receipt();
        with_nonce.nonce = Some(nonce);
        for (nonce, receipt) in [(Some(&nonce), with_nonce), (None, a.receipt())] {
            let mut direct = Vec::new();
            a.write_receipt_json(nonce, &mut direct).unwrap();
            assert_eq!(
                String::from_utf8(direct).unwrap(),
                serde_json::to_string(&receipt).unwrap()
            );
        }
        seqs.push(a.seq.get());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (0..1000).collect::<Vec<_>>());
    let head = ledger.head();
    assert_eq!(head.entries, 1000);
    assert!(
        head.blocks < 1000,
        "every append got a block of its own: no group commit"
    );
    let biggest = (0..head.blocks)
        .map(|h| {
            BlockHeader::from_bytes(&ledger.store().header(Height::new(h)).unwrap().unwrap())
                .unwrap()
                .count
        })
        .max()
        .unwrap();
    assert!(biggest > 1, "no block holds more than one entry");
    println!(
        "1000 appends in {} blocks, the largest of {biggest}",
        head.blocks
    );
    ledger.close();
    drop(ledger);
    let s = verify_store(dir.path(), &common::signer().verifier(), &mut |_| {}).unwrap();
    assert_eq!((s.entries, s.blocks), (1000, head.blocks));
}

/// Closing while appends are in flight: every append answered Ok is in the store after a
/// reopen, and nothing else is (the writer writes, flushes and answers what it took before
/// the ledger closes).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn closing_answers_every_append_it_took() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = common::open(dir.path());
    let tasks: Vec<_> = (0..400u64)
        .map(|i| {
            let l = ledger.clone();
            tokio::spawn(async move { l.append(common::draft(i)).await.ok().map(|a| a.seq.get()) })
        })
        .collect();
    // Let some appends reach the writer, then close with the rest in flight.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let closer = ledger.clone();
    tokio::task::spawn_blocking(move || closer.close())
        .await
        .unwrap();
    let mut answered = Vec::new();
    for t in tasks {
        answered.extend(t.await.unwrap());
    }
    answered.sort_unstable();
    drop(ledger);
    let s = verify_store(dir.path(), &common::signer().verifier(), &mut |_| {}).unwrap();
    assert_eq!(answered, (0..s.entries).collect::<Vec<_>>());
    println!(
        "{} of 400 appends answered before the close",
        answered.len()
    );
}

#[tokio::test]
async fn reopening_resumes_the_log_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let first = {
        let ledger = common::open(dir.path());
        for i in 0..5 {
            ledger.append(common::draft(i)).await.unwrap();
        }
        let head = ledger.head();
        ledger.close();
        head
    };
    let ledger = common::open(dir.path());
    assert_eq!(ledger.head().entries, 5);
    assert_eq!(ledger.head().checkpoint, first.checkpoint);
    let a = ledger.append(common::draft(5)).await.unwrap();
    assert_eq!(a.seq, Seq::new(5));
    // The new checkpoint is consistent with the one before the restart.
    let key = ledger.verifier().clone();
    let old = Checkpoint::open(first.checkpoint.as_ref().unwrap(), &key).unwrap();
    let new = Checkpoint::open(&a.receipt().checkpoint, &key).unwrap();
    ledger
        .consistency_proof(old.size, new.size)
        .unwrap()
        .verify(old.tree_root(), new.tree_root())
        .unwrap();
    ledger.close();
}

#[test]
fn a_ledger_refuses_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = common::open(dir.path());
    ledger.append_blocking(common::draft(0)).unwrap();
    ledger.close();
    drop(ledger);
    let other = SignerKey::from_seed(common::ORIGIN, &[1u8; 32]).unwrap();
    let err = Ledger::open(dir.path(), other, LedgerConfig::default()).unwrap_err();
    assert!(matches!(err, LedgerError::WrongKey { .. }), "{err}");
}

#[test]
fn an_oversized_entry_is_refused_without_using_a_seq() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = common::open(dir.path());
    let mut big = common::draft(0);
    big.request_id = Some("x".repeat(20_000));
    assert!(matches!(
        ledger.append_blocking(big),
        Err(LedgerError::Entry(EntryError::TooLarge(_)))
    ));
    assert_eq!(
        ledger.append_blocking(common::draft(1)).unwrap().seq,
        Seq::new(0)
    );
    ledger.close();
}

/// The group-commit wait: a lone appender, whose blocks hold one entry, never pays it (when the
/// writer waits is unit-tested in `src/ledger/writer.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_commit_wait_costs_a_lone_caller_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let wait = std::time::Duration::from_secs(2);
    let config = LedgerConfig {
        max_wait: wait,
        ..LedgerConfig::default()
    };
    let ledger = Ledger::open(dir.path(), common::signer(), config).unwrap();
    // One at a time: each append is answered without waiting for company.
    for i in 0..5 {
        let started = std::time::Instant::now();
        ledger.append(common::draft(i)).await.unwrap();
        assert!(
            started.elapsed() < wait / 2,
            "a lone append waited {:?}",
            started.elapsed()
        );
    }
    // Appends that arrive together after that still share blocks.
    let before = ledger.head().blocks;
    let tasks: Vec<_> = (0..100u64)
        .map(|i| {
            let l = ledger.clone();
            tokio::spawn(async move { l.append(common::draft(100 + i)).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let blocks = ledger.head().blocks - before;
    assert!(
        blocks < 100,
        "100 appends arriving together took {blocks} blocks"
    );
    assert_eq!(ledger.head().entries, 105);
}
