//! The real `vouch keygen` and `vouch verify` binaries: key files, exit codes, and a tampered
//! store caught at the right place.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use vouch::ledger::*;

fn vouch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vouch"))
}

#[test]
fn keygen_writes_a_private_key_only_its_owner_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let out = vouch()
        .args(["keygen", "--name", "example.org/log", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let private = dir.path().join(PRIVATE_KEY_FILE);
    let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let signer = read_signer_key(&private).unwrap();
    let verifier = read_verifier_key(&dir.path().join(VERIFIER_KEY_FILE)).unwrap();
    assert_eq!(signer.verifier(), verifier);
    assert_eq!(verifier.name(), "example.org/log");

    // A second keygen into the same folder does not overwrite the key.
    let again = vouch()
        .args(["keygen", "--name", "x", "--out"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(4));
    assert_eq!(read_signer_key(&private).unwrap().verifier(), verifier);

    // Once others can read it, the key is refused.
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = read_signer_key(&private).unwrap_err();
    assert!(matches!(err, KeyFileError::TooOpen { .. }), "{err}");
    assert!(err.to_string().contains("chmod 600"));

    let bad = vouch()
        .args(["keygen", "--name", "has space", "--out"])
        .arg(dir.path().join("x"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(3));
}

/// Runs `vouch verify --data DIR --key KEY` and `extra` (`--index`, `--json`).
fn verify_with(
    dir: &std::path::Path,
    key: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    vouch()
        .args(["verify", "--data"])
        .arg(dir)
        .arg("--key")
        .arg(key)
        .args(extra)
        .output()
        .unwrap()
}

/// Runs `vouch verify --data DIR --key KEY`: the blocks file, read-only.
fn verify(dir: &std::path::Path, key: &std::path::Path) -> std::process::Output {
    verify_with(dir, key, &[])
}

/// `vouch verify --json` output as JSON.
fn report(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {} / {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn ledger_with_entries(dir: &std::path::Path, n: u64) -> std::path::PathBuf {
    let ledger = common::open(dir);
    for i in 0..n {
        ledger.append_blocking(common::draft(i)).unwrap();
    }
    ledger.close();
    drop(ledger);
    let key = dir.join("log.pub");
    write_verifier_key(&common::signer().verifier(), &key).unwrap();
    key
}

/// Rewrites one raw value of the store, as someone with access to the disk could.
fn tamper(dir: &std::path::Path, key: &[u8], f: impl FnOnce(Vec<u8>) -> Vec<u8>) {
    let db = common::raw_db(dir);
    let tree = db.open_tree("ledger-v1").unwrap();
    let old = tree.get(key).unwrap().unwrap().to_vec();
    tree.insert(key, f(old)).unwrap();
    db.flush().unwrap();
}

/// Rewrites bytes of the blocks file in place (same length, so every offset still holds), as
/// someone with access to the disk could: the one occurrence of `old` becomes `new`.
fn tamper_blocks_file(dir: &std::path::Path, old: &[u8], new: &[u8]) {
    assert_eq!(old.len(), new.len());
    let path = dir.join("ledger").join("blocks");
    let mut bytes = std::fs::read(&path).unwrap();
    let found: Vec<usize> = bytes
        .windows(old.len())
        .enumerate()
        .filter(|(_, w)| *w == old)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(found.len(), 1, "the bytes to tamper with are not unique");
    bytes[found[0]..found[0] + old.len()].copy_from_slice(new);
    std::fs::write(&path, bytes).unwrap();
}

/// Rewrites bytes of the blocks file in place, as [`tamper_blocks_file`], and then the CRC-32
/// of the record holding them, as someone who knows the file's format could: only the checks
/// beneath the record's own (roots, signatures, links) can tell.
fn tamper_record(dir: &std::path::Path, old: &[u8], new: &[u8]) {
    tamper_blocks_file(dir, old, new);
    let path = dir.join("ledger").join("blocks");
    let mut bytes = std::fs::read(&path).unwrap();
    let mut mended = 0;
    for (at, len) in records(&bytes) {
        let crc = crc32fast::hash(&bytes[at + 8..at + 8 + len]);
        if crc != u32::from_be_bytes(bytes[at + 4..at + 8].try_into().unwrap()) {
            bytes[at + 4..at + 8].copy_from_slice(&crc.to_be_bytes());
            mended += 1;
        }
    }
    assert_eq!(mended, 1, "one record's CRC should have changed");
    std::fs::write(&path, bytes).unwrap();
}

/// SHA-256 of every file under `dir`, by path: what a read-only command must leave as it was.
fn files_digest(dir: &std::path::Path) -> Vec<(std::path::PathBuf, Hash)> {
    let mut out: Vec<_> = common::files_under(dir)
        .into_iter()
        .map(|path| {
            let digest = Hash::digest(&std::fs::read(&path).unwrap());
            (path, digest)
        })
        .collect();
    out.sort();
    out
}

/// The stored bytes of the entry at `seq` of a closed ledger.
fn stored_entry(dir: &std::path::Path, seq: u64) -> Vec<u8> {
    Store::open(dir)
        .unwrap()
        .entry(Seq::new(seq))
        .unwrap()
        .unwrap()
}

fn entry_key(seq: u64) -> Vec<u8> {
    let mut k = vec![b'e'];
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

#[test]
fn verify_passes_a_good_log_and_names_the_first_fault_of_a_tampered_one() {
    let dir = tempfile::tempdir().unwrap();
    let key = ledger_with_entries(dir.path(), 6);
    let ok = verify(dir.path(), &key);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("verified: 6 entries in 6 blocks"));

    // Rewrite the decision of seq 2 (still canonical JSON, so only the Merkle root can tell),
    // and the CRC of its record, so the record still reads as whole.
    let entry = String::from_utf8(stored_entry(dir.path(), 2)).unwrap();
    assert!(entry.contains("\"decision\":\"error\""));
    let forged = entry.replace("\"decision\":\"error\"", "\"decision\":\"allow\"");
    tamper_record(dir.path(), entry.as_bytes(), forged.as_bytes());
    for extra in [&["--json"][..], &["--json", "--index"]] {
        let bad = verify_with(dir.path(), &key, extra);
        assert_eq!(bad.status.code(), Some(1), "{extra:?}");
        let report = report(&bad);
        assert_eq!(report["verified"], false);
        assert_eq!(report["place"], "height 2");
        assert_eq!(report["field"], "entries_root");
    }
}

#[test]
fn verify_names_a_damaged_record_with_blocks_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let key = ledger_with_entries(dir.path(), 4);
    // The same forgery without mending the CRC: record 2 is no longer whole, yet two records
    // follow it, which no unfinished write leaves.
    let entry = String::from_utf8(stored_entry(dir.path(), 2)).unwrap();
    let forged = entry.replace("\"decision\":\"error\"", "\"decision\":\"allow\"");
    tamper_blocks_file(dir.path(), entry.as_bytes(), forged.as_bytes());
    let bad = verify_with(dir.path(), &key, &["--json"]);
    assert_eq!(bad.status.code(), Some(1));
    let report = report(&bad);
    assert_eq!(report["place"], "height 2");
    assert_eq!(report["field"], "block record");
    let found = report["found"].as_str().unwrap();
    assert!(found.contains("CRC-32 fails"), "{found}");
}

/// Where each record of a blocks file starts, and its payload's length (as its head says).
fn records(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        out.push((at, len));
        at += 8 + len;
    }
    out
}

/// Where the last record of a blocks file starts.
fn last_record(bytes: &[u8]) -> usize {
    let (at, len) = *records(bytes).last().unwrap();
    assert_eq!(
        at + 8 + len,
        bytes.len(),
        "the file ends with a whole record"
    );
    at
}

/// Sets the length and CRC-32 of the record at `at`, the last, to what its payload now is.
fn mend_last_record(bytes: &mut [u8], at: usize) {
    let len = (bytes.len() - at - 8) as u32;
    bytes[at..at + 4].copy_from_slice(&len.to_be_bytes());
    let crc = crc32fast::hash(&bytes[at + 8..]);
    bytes[at + 4..at + 8].copy_from_slice(&crc.to_be_bytes());
}

/// The key of block `height`'s posting for entries with `decision`.
fn decision_posting(decision: &str, height: u64) -> Vec<u8> {
    let mut k = vec![b'D'];
    k.extend_from_slice(&(decision.len() as u16).to_be_bytes());
    k.extend_from_slice(decision.as_bytes());
    k.extend_from_slice(&height.to_be_bytes());
    k
}

#[test]
fn verify_checks_the_audit_index_against_the_entries() {
    let dir = tempfile::tempdir().unwrap();
    let key = ledger_with_entries(dir.path(), 4);
    assert!(verify(dir.path(), &key).status.success());
    // Block 2's one entry was an error: its decision posting is moved to "allow" (same length),
    // so a regulator's query for errors would miss it. In the record (CRC mended) ...
    let (error, allow) = (decision_posting("error", 2), decision_posting("allow", 2));
    tamper_record(dir.path(), &error, &allow);
    let out = verify_with(dir.path(), &key, &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let r = report(&out);
    assert_eq!(r["place"], "height 2");
    assert_eq!(r["field"], "audit index");
    assert_eq!(r["found"], "none");
    // ... and in sled's copy, which the server's queries read.
    {
        let db = common::raw_db(dir.path());
        let tree = db.open_tree("ledger-v1").unwrap();
        assert!(tree.remove(&error).unwrap().is_some());
        db.flush().unwrap();
    }
    let out = verify_with(dir.path(), &key, &["--json", "--index"]);
    assert_eq!(out.status.code(), Some(1));
    let r = report(&out);
    assert_eq!(r["place"], "height 2");
    assert_eq!(r["field"], "audit index");
}

#[test]
fn verify_fails_a_whole_record_that_stands_at_the_wrong_height() {
    let dir = tempfile::tempdir().unwrap();
    let key = ledger_with_entries(dir.path(), 3);
    let path = dir.path().join("ledger").join("blocks");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = last_record(&bytes);
    bytes[at + 8..at + 16].copy_from_slice(&7u64.to_be_bytes());
    mend_last_record(&mut bytes, at);
    std::fs::write(&path, bytes).unwrap();
    let out = verify(dir.path(), &key);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("FAILED") && err.contains("is block 7"),
        "{err}"
    );
}

#[test]
fn verify_names_a_key_a_record_holds_for_another_block() {
    let dir = tempfile::tempdir().unwrap();
    let key = ledger_with_entries(dir.path(), 3);
    // The last record (block 2, seq 2) gains the chunk key of seq 9 — which a replay would put
    // into the server's index — with its length, key count and CRC-32 mended.
    let path = dir.path().join("ledger").join("blocks");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = last_record(&bytes);
    let payload = at + 8;
    let data_len = u32::from_be_bytes(bytes[payload + 8..payload + 12].try_into().unwrap());
    let count_at = payload + 12 + data_len as usize;
    let count = u32::from_be_bytes(bytes[count_at..count_at + 4].try_into().unwrap());
    bytes[count_at..count_at + 4].copy_from_slice(&(count + 1).to_be_bytes());
    let extra = entry_key(9);
    bytes.extend_from_slice(&(extra.len() as u16).to_be_bytes());
    bytes.extend_from_slice(&extra);
    bytes.extend_from_slice(&14u32.to_be_bytes());
    bytes.extend_from_slice(&[0u8; 14]);
    mend_last_record(&mut bytes, at);
    std::fs::write(&path, bytes).unwrap();

    let out = verify_with(dir.path(), &key, &["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let r = report(&out);
    assert_eq!(r["place"], "height 2");
    assert_eq!(r["field"], "block record");
    assert_eq!(r["found"], format!("the key {}", hex::encode(entry_key(9))));
}

#[test]
fn verify_data_writes_nothing_and_reads_beside_a_running_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("log.pub");
    write_verifier_key(&common::signer().verifier(), &key).unwrap();
    let ledger = common::open(dir.path());
    for i in 0..5 {
        ledger.append_blocking(common::draft(i)).unwrap();
    }
    // The ledger is open (sled's lock held): the blocks file is read without it.
    let live = verify_with(dir.path(), &key, &["--json"]);
    assert!(
        live.status.success(),
        "{}",
        String::from_utf8_lossy(&live.stderr)
    );
    assert_eq!(report(&live)["entries"], 5);
    let locked = verify_with(dir.path(), &key, &["--index"]);
    assert_eq!(locked.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&locked.stderr).contains("without --index"));
    ledger.close();
    drop(ledger);

    // An unfinished last write: a record head whose length runs past the end of the file.
    let blocks = dir.path().join("ledger").join("blocks");
    let mut torn = 4000u32.to_be_bytes().to_vec();
    torn.extend_from_slice(&[7u8; 100]);
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&blocks)
        .unwrap();
    std::io::Write::write_all(&mut file, &torn).unwrap();
    drop(file);
    let before = files_digest(dir.path());
    let out = verify_with(dir.path(), &key, &["--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&out);
    assert_eq!(r["entries"], 5);
    assert_eq!(r["unfinished_tail_bytes"], 104);
    let text = verify(dir.path(), &key);
    assert!(String::from_utf8_lossy(&text.stdout).contains("not verified: 104 bytes"));
    assert_eq!(
        files_digest(dir.path()),
        before,
        "verify --data changed the folder"
    );

    // The index walk opens the store as the server does, which cuts the unfinished write.
    let index = verify_with(dir.path(), &key, &["--json", "--index"]);
    assert!(
        index.status.success(),
        "{}",
        String::from_utf8_lossy(&index.stderr)
    );
    assert_eq!(report(&index)["unfinished_tail_bytes"], 0);
    assert_eq!(
        report(&verify_with(dir.path(), &key, &["--json"]))["unfinished_tail_bytes"],
        0
    );
}

#[test]
fn verify_catches_stored_cbmt_nodes_that_are_not_the_entries_tree() {
    let dir = tempfile::tempdir().unwrap();
    let key = ledger_with_entries(dir.path(), 3);
    // A block of one entry stores one CBMT node, its root: the entry's leaf hash.
    let root = leaf_hash(&stored_entry(dir.path(), 1));
    let root = *root.hash().as_bytes();
    let mut other = root;
    other[31] ^= 1;
    tamper_record(dir.path(), &root, &other);
    for extra in [&[][..], &["--index"]] {
        let out = verify_with(dir.path(), &key, extra);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("height 1: stored CBMT nodes"),
            "{extra:?}: {err}"
        );
    }
}

#[test]
fn verify_catches_a_dropped_entry_and_a_forged_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let key = ledger_with_entries(dir.path(), 4);
    {
        let db = common::raw_db(dir.path());
        db.open_tree("ledger-v1")
            .unwrap()
            .remove(entry_key(2))
            .unwrap();
        db.flush().unwrap();
    }
    // sled's copy lost a key; the blocks file, the durable log, did not.
    let out = verify_with(dir.path(), &key, &["--index"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FAILED at seq 2: entry chunks"));
    assert!(verify(dir.path(), &key).status.success());

    let dir = tempfile::tempdir().unwrap();
    let key = ledger_with_entries(dir.path(), 3);
    // A checkpoint for height 1 signed by another key with the same name.
    let forger = SignerKey::from_seed(common::ORIGIN, &[9u8; 32]).unwrap();
    let mut ck = vec![b'c'];
    ck.extend_from_slice(&1u64.to_be_bytes());
    // In sled's copy and in the record (CRC mended): both walks reject the signature.
    let mut notes = None;
    tamper(dir.path(), &ck, |v| {
        let text = String::from_utf8(v.clone()).unwrap();
        let body = &text[..text.find("\n\n").unwrap() + 1];
        let forged = forger.sign_note(body).unwrap().into_bytes();
        notes = Some((v, forged.clone()));
        forged
    });
    let (old, forged) = notes.unwrap();
    tamper_record(dir.path(), &old, &forged);
    for extra in [&[][..], &["--index"]] {
        let out = verify_with(dir.path(), &key, extra);
        assert_eq!(out.status.code(), Some(1), "{extra:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("height 1: checkpoint"), "{extra:?}: {err}");
    }
}

#[test]
fn verify_exit_codes_for_bad_input_and_missing_data() {
    let dir = tempfile::tempdir().unwrap();
    let key = ledger_with_entries(dir.path(), 1);
    let missing = vouch()
        .args(["verify", "--data"])
        .arg(dir.path().join("nope"))
        .arg("--key")
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(4));
    std::fs::write(dir.path().join("bad.pub"), "not a key").unwrap();
    let bad = vouch()
        .args(["verify", "--data"])
        .arg(dir.path())
        .arg("--key")
        .arg(dir.path().join("bad.pub"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(3));
    let usage = vouch().args(["verify", "--bogus"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}
