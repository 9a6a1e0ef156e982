//! The real `vouch keygen` and `vouch verify` binaries: key files, exit codes, and a tampered
//! store caught at the right place.

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

/// Runs `vouch verify --data DIR --key KEY`.
fn verify(dir: &std::path::Path, key: &std::path::Path) -> std::process::Output {
    vouch()
        .args(["verify", "--data"])
        .arg(dir)
        .arg("--key")
        .arg(key)
        .output()
        .unwrap()
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

/// The stored bytes of the entry at `seq` of a closed ledger.
fn stored_entry(dir: &std::path::Path, seq: u64) -> Vec<u8> {
    Store::open(dir).unwrap().entry(seq).unwrap().unwrap()
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

    // Rewrite the decision of seq 2 (still canonical JSON, so only the Merkle root can tell).
    let entry = String::from_utf8(stored_entry(dir.path(), 2)).unwrap();
    assert!(entry.contains("\"decision\":\"error\""));
    let forged = entry.replace("\"decision\":\"error\"", "\"decision\":\"allow\"");
    tamper_blocks_file(dir.path(), entry.as_bytes(), forged.as_bytes());
    let bad = vouch()
        .args(["verify", "--json", "--data"])
        .arg(dir.path())
        .arg("--key")
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(report["verified"], false);
    assert_eq!(report["place"], "height 2");
    assert_eq!(report["field"], "entries_root");
}

#[test]
fn verify_catches_stored_cbmt_nodes_that_are_not_the_entries_tree() {
    let dir = tempfile::tempdir().unwrap();
    let key = ledger_with_entries(dir.path(), 3);
    // A block of one entry stores one CBMT node, its root: the entry's leaf hash.
    let root = leaf_hash(&stored_entry(dir.path(), 1));
    let mut other = root.0;
    other[31] ^= 1;
    tamper_blocks_file(dir.path(), &root.0, &other);
    let out = verify(dir.path(), &key);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("height 1: stored CBMT nodes"), "{err}");
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
    let out = verify(dir.path(), &key);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FAILED at seq 2: entry chunks"));

    let dir = tempfile::tempdir().unwrap();
    let key = ledger_with_entries(dir.path(), 3);
    // A checkpoint for height 1 signed by another key with the same name.
    let forger = SignerKey::from_seed(common::ORIGIN, &[9u8; 32]).unwrap();
    let mut ck = vec![b'c'];
    ck.extend_from_slice(&1u64.to_be_bytes());
    tamper(dir.path(), &ck, |v| {
        let text = String::from_utf8(v).unwrap();
        let body = &text[..text.find("\n\n").unwrap() + 1];
        forger.sign_note(body).unwrap().into_bytes()
    });
    let out = verify(dir.path(), &key);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("height 1: checkpoint"), "{err}");
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
