//! Crash safety: a child process appending to a ledger is SIGKILLed at random moments, again and
//! again on the same folder. After each kill the ledger must reopen, every receipt the child
//! printed before it died must still verify and match the stored entry, the latest checkpoint must
//! be consistent with every checkpoint handed out, and the verifying walker must pass. sled
//! flushes in the background, so a kill leaves it behind the blocks file, and reopening replays
//! what it lacks; the test fails if no kill ever did.
//!
//! The child is this same test binary, re-run with only `crash_child` selected.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use vouch::ledger::*;

const CHILD_DIR: &str = "VOUCH_CRASH_CHILD_DIR";
const KILLS: usize = 12;

#[test]
#[ignore = "the child half of sigkill_during_appends; only runs when that test spawns it"]
fn crash_child() {
    let Ok(dir) = std::env::var(CHILD_DIR) else {
        return;
    };
    let ledger = common::open(std::path::Path::new(&dir));
    let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
    let threads: Vec<_> = (0..16u64)
        .map(|t| {
            let (l, out) = (ledger.clone(), Arc::clone(&out));
            std::thread::spawn(move || {
                for i in 0.. {
                    let a = l.append_blocking(common::draft(t * 1_000_000 + i)).unwrap();
                    let line = serde_json::to_string(&a.receipt()).unwrap();
                    let mut o = out.lock().unwrap();
                    writeln!(o, "{line}").unwrap();
                    o.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

#[test]
fn sigkill_during_appends_loses_no_acknowledged_entry() {
    let dir = tempfile::tempdir().unwrap();
    let key = common::signer().verifier();
    let mut rng = rand::thread_rng();
    let mut receipts: Vec<Receipt> = Vec::new();
    let mut kills = 0;
    let mut replayed = 0;
    for round in 0..KILLS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut lines = Vec::new();
            let mut line = String::new();
            // Only whole lines count: a line cut by the kill was never fully acknowledged.
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                if line.ends_with('\n') && line.starts_with('{') {
                    lines.push(std::mem::take(&mut line));
                }
                line.clear();
            }
            lines
        });
        std::thread::sleep(Duration::from_millis(rng.gen_range(100..500)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
        let lines = reader.join().unwrap();
        let before = receipts.len();
        receipts.extend(
            lines
                .iter()
                .map(|l| serde_json::from_str::<Receipt>(l).unwrap()),
        );

        // Before anything reopens the store: the blocks file as the kill left it verifies
        // read-only and holds every acknowledged entry.
        let left = verify_blocks_from(dir.path(), &key, None, &mut |_| {}).unwrap_or_else(|e| {
            panic!("round {round}: the blocks file a kill left does not verify: {e}")
        });
        let acknowledged = receipts
            .iter()
            .map(|r| Entry::from_bytes(&r.entry).unwrap().seq())
            .max();
        assert!(
            acknowledged.is_none_or(|m| m.get() < left.entries),
            "round {round}"
        );
        let ledger = Ledger::open(dir.path(), common::signer(), LedgerConfig::default())
            .unwrap_or_else(|e| {
                panic!("round {round}: the ledger does not reopen after a kill: {e}")
            });
        replayed += ledger.store().replayed();
        let head = ledger.head();
        let latest = head
            .checkpoint
            .as_ref()
            .map(|c| Checkpoint::open(c, &key).unwrap());
        // Receipts of this round: signature and proofs. Every receipt so far: its entry is still
        // stored byte for byte. Every checkpoint handed out: a prefix of the log as it is now.
        let mut sizes = std::collections::BTreeMap::new();
        for (i, r) in receipts.iter().enumerate() {
            let entry = Entry::from_bytes(&r.entry).unwrap();
            if i >= before {
                let v = r.verify(&key).unwrap();
                sizes.insert(v.checkpoint.size, v.checkpoint.root);
            }
            let stored = ledger.store().entry(entry.seq()).unwrap();
            assert_eq!(
                stored.as_deref(),
                Some(r.entry.as_slice()),
                "round {round}: seq {} changed or lost",
                entry.seq()
            );
        }
        let latest = latest.as_ref();
        for (size, root) in sizes {
            let latest = latest.unwrap();
            ledger
                .consistency_proof(size, latest.size)
                .unwrap()
                .verify(RootHash::new(root, size), latest.tree_root())
                .unwrap();
        }
        ledger.close();
        drop(ledger);
        let summary = verify_store(dir.path(), &key, &mut |_| {}).unwrap();
        assert!(acknowledged.is_none_or(|m| m.get() < summary.entries));
        println!(
            "round {round}: {} receipts acknowledged ({} this round), log holds {} entries",
            receipts.len(),
            receipts.len() - before,
            summary.entries
        );
    }
    assert!(kills >= 10);
    assert!(
        replayed > 0,
        "no kill left sled behind the blocks file: the replay was never exercised"
    );
    assert!(
        !receipts.is_empty(),
        "the child never acknowledged an append: the test proved nothing"
    );
}

/// A block is durable once its record is synced in the blocks file. A crash in the middle of
/// writing one leaves a torn record at the end: opening cuts it off and appends go on from
/// there. A file that lost bytes the store refers to is refused, not served.
#[test]
fn a_torn_record_is_cut_and_lost_blocks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let key = common::signer().verifier();
    let file = dir.path().join("ledger").join("blocks");
    let ledger = common::open(dir.path());
    for i in 0..5 {
        ledger.append_blocking(common::draft(i)).unwrap();
    }
    ledger.close();
    drop(ledger);
    let len = std::fs::metadata(&file).unwrap().len();

    // Torn records: a length running past the end of the file, then a whole length whose
    // payload fails its CRC.
    for torn in [vec![0xA5; 3000], [&[0, 0, 0, 40][..], &[7; 44]].concat()] {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .unwrap();
        f.write_all(&torn).unwrap();
        drop(f);
        let ledger = common::open(dir.path());
        assert_eq!(ledger.store().replayed(), 0);
        assert_eq!(std::fs::metadata(&file).unwrap().len(), len);
        assert_eq!(ledger.head().entries, 5);
        ledger.close();
    }
    let ledger = common::open(dir.path());
    let a = ledger.append_blocking(common::draft(5)).unwrap();
    assert_eq!(a.receipt().verify(&key).unwrap().entry.seq(), Seq::new(5));
    let stored = ledger.store().entry(Seq::new(5)).unwrap().unwrap();
    assert_eq!(stored, a.receipt().entry);
    ledger.close();
    drop(ledger);
    let summary = verify_store(dir.path(), &key, &mut |_| {}).unwrap();
    assert_eq!(summary.entries, 6);

    // The file loses its last bytes: the store refers to more than is there.
    let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
    let full = f.metadata().unwrap().len();
    f.set_len(full - 1).unwrap();
    drop(f);
    let Err(err) = Ledger::open(dir.path(), common::signer(), LedgerConfig::default()) else {
        panic!("a ledger whose blocks file lost bytes must not open");
    };
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "the blocks file holds {} bytes, the store refers to {full}",
            full - 1
        )),
        "{text}"
    );
}

/// A block whose write fails is answered with why — to every appender in it — and nothing of it
/// is appended: the ledger says it is failing (readiness reads that) and tries again with the
/// next append. `/dev/full` stands in for a full disk: every write to it fails with "no space
/// left on device".
#[test]
fn a_failed_block_write_is_told_to_its_appenders_and_nothing_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("ledger")).unwrap();
    std::os::unix::fs::symlink("/dev/full", dir.path().join("ledger").join("blocks")).unwrap();
    let ledger = common::open(dir.path());
    assert_eq!(ledger.health(), vouch::ledger::Health::Appending);
    let Err(first) = ledger.append_blocking(common::draft(0)) else {
        panic!("an append whose block cannot be written must fail");
    };
    let first = first.to_string();
    assert!(
        first.contains("writing the block failed") && first.contains("No space left on device"),
        "{first}"
    );
    assert_eq!(ledger.health(), vouch::ledger::Health::Failing);
    let Err(next) = ledger.append_blocking(common::draft(1)) else {
        panic!("a block that cannot be written is never acknowledged");
    };
    let next = next.to_string();
    assert!(next.contains("No space left on device"), "{next}");
    assert_eq!(ledger.health(), vouch::ledger::Health::Failing);
    assert_eq!(ledger.head().entries, 0);
    ledger.close();
}
