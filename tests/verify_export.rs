//! `vouch verify --export` through the real binary: a clean export verifies; every way of
//! tampering with one is caught at the right place with the right field and exit code; the
//! trusted-checkpoint round trip; `vouch verify checkpoint`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Value};
use vouch::ledger::*;

fn vouch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_vouch"))
}

/// Appends `rounds` × `per_block` entries, `per_block` at a time from as many threads, so that
/// blocks hold several entries (the writer waits up to 2 s to fill a block of `per_block`).
fn append(l: &Ledger, start: u64, rounds: u64, per_block: u64) {
    for r in 0..rounds {
        std::thread::scope(|s| {
            for i in 0..per_block {
                let l = l.clone();
                s.spawn(move || l.append_blocking(common::draft(start + r * per_block + i)));
            }
        });
    }
}

fn open(dir: &Path, per_block: u64) -> Ledger {
    let config = LedgerConfig {
        max_batch: per_block as usize,
        max_wait: std::time::Duration::from_secs(2),
        ..LedgerConfig::default()
    };
    Ledger::open(dir, common::signer(), config).unwrap()
}

/// A ledger of 6 rounds of 3 entries, its export and the verifier key file.
struct Fixture {
    dir: tempfile::TempDir,
    key: PathBuf,
    lines: Vec<String>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let l = open(dir.path(), 3);
        append(&l, 0, 6, 3);
        let blocks = l.head().blocks;
        let mut out = Vec::new();
        write_export(l.store(), 0, blocks, &mut out).unwrap();
        l.close();
        let key = dir.path().join("log.pub");
        write_verifier_key(&common::signer().verifier(), &key).unwrap();
        let lines = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        Fixture { dir, key, lines }
    }

    fn parsed(&self, i: usize) -> Value {
        serde_json::from_str(&self.lines[i]).unwrap()
    }

    /// The index of the first line of `kind` whose `field` is `n`.
    fn find(&self, kind: &str, field: &str, n: u64) -> usize {
        (0..self.lines.len())
            .find(|&i| {
                let v = self.parsed(i);
                v["type"] == kind && v[field] == n
            })
            .unwrap()
    }

    fn header(&self, height: u64) -> BlockHeader {
        let v = self.parsed(self.find("block", "height", height));
        BlockHeader::from_bytes(&B64.decode(v["header"].as_str().unwrap()).unwrap()).unwrap()
    }

    fn blocks(&self) -> u64 {
        self.parsed(self.lines.len() - 1)["blocks"]
            .as_u64()
            .unwrap()
    }

    /// A block holding at least two entries.
    fn multi_entry_block(&self) -> BlockHeader {
        (0..self.blocks())
            .map(|h| self.header(h))
            .find(|h| h.count >= 2 && h.height.get() >= 1)
            .expect("a block of several entries")
    }

    /// Writes `lines` as an export file and runs `vouch verify --json --export FILE`.
    fn verify(&self, lines: &[String], extra: &[&str]) -> (i32, Value) {
        let path = self.dir.path().join("export.jsonl");
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        self.verify_file(&path, extra)
    }

    fn verify_file(&self, path: &Path, extra: &[&str]) -> (i32, Value) {
        let out = vouch()
            .args(["verify", "--json", "--export"])
            .arg(path)
            .arg("--key")
            .arg(&self.key)
            .args(extra)
            .output()
            .unwrap();
        let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{e}: {} / {}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap(), report)
    }

    /// Runs verify on `lines` and asserts a fault at `place` in `field`.
    fn assert_fault(&self, lines: &[String], place: &str, field: &str) -> Value {
        let (code, report) = self.verify(lines, &[]);
        assert_eq!(code, 1, "{report}");
        assert_eq!(report["verified"], false, "{report}");
        assert_eq!(report["place"], place, "{report}");
        assert_eq!(report["field"], field, "{report}");
        report
    }
}

/// Re-encodes a line after `f` changed its decoded JSON.
fn edit_line(line: &str, f: impl FnOnce(&mut Value)) -> String {
    let mut v: Value = serde_json::from_str(line).unwrap();
    f(&mut v);
    v.to_string()
}

/// Changes the decoded bytes of a block or entry line's base64 field.
fn edit_bytes(line: &str, field: &str, f: impl FnOnce(String) -> String) -> String {
    edit_line(line, |v| {
        let bytes = B64.decode(v[field].as_str().unwrap()).unwrap();
        let changed = f(String::from_utf8(bytes).unwrap());
        v[field] = Value::String(B64.encode(changed));
    })
}

fn header_line(h: &BlockHeader) -> String {
    json!({"type": "block", "height": h.height, "header": B64.encode(h.to_bytes().unwrap())})
        .to_string()
}

#[test]
fn a_clean_export_verifies_from_a_file_and_from_standard_input() {
    let f = Fixture::new();
    let (code, report) = f.verify(&f.lines, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["verified"], true);
    assert_eq!(report["entries"], 18);
    assert_eq!(report["blocks"], f.blocks());
    assert_eq!(report["checkpoints"], f.blocks());
    assert!(report["first_time"].as_str().unwrap() <= report["last_time"].as_str().unwrap());
    assert!(report["entries_per_second"].as_f64().unwrap() > 0.0);
    assert!(
        f.blocks() < 18,
        "blocks should hold several entries: {}",
        f.blocks()
    );

    let mut child = vouch()
        .args(["verify", "--export", "-", "--key"])
        .arg(&f.key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let text = f.lines.join("\n") + "\n";
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("verified: 18 entries"), "{stdout}");
}

#[test]
fn changed_dropped_reordered_and_duplicated_entries_are_caught_at_their_seq() {
    let f = Fixture::new();
    let b = f.multi_entry_block();
    let s = b.first_seq;
    let i = f.find("entry", "seq", s.get());

    // A field of an entry changed, still canonical: only the block's Merkle root can tell.
    let mut lines = f.lines.clone();
    lines[i] = edit_bytes(&lines[i], "entry", |t| {
        assert!(t.contains("\"request_id\":\"req-"));
        t.replace("\"request_id\":\"req-", "\"request_id\":\"REQ-")
    });
    f.assert_fault(&lines, &format!("height {}", b.height), "entries_root");

    // An entry that is not canonical JSON any more.
    let mut lines = f.lines.clone();
    lines[i] = edit_bytes(&lines[i], "entry", |t| t.replacen('{', "{ ", 1));
    f.assert_fault(&lines, &format!("seq {s}"), "entry");

    // Dropped: the next entry arrives where seq s belongs.
    let mut lines = f.lines.clone();
    lines.remove(i);
    let r = f.assert_fault(&lines, &format!("seq {s}"), "seq");
    assert_eq!(r["found"], (s + 1).to_string());

    // Reordered: s and s + 1 swapped.
    let mut lines = f.lines.clone();
    lines.swap(i, i + 1);
    f.assert_fault(&lines, &format!("seq {s}"), "seq");

    // Duplicated: s twice.
    let mut lines = f.lines.clone();
    lines.insert(i, f.lines[i].clone());
    let r = f.assert_fault(&lines, &format!("seq {}", s + 1), "seq");
    assert_eq!(r["found"], s.to_string());

    // The last entry of the block dropped: one entry short.
    let last = b.first_seq + (b.count - 1);
    let mut lines = f.lines.clone();
    lines.remove(f.find("entry", "seq", last.get()));
    f.assert_fault(&lines, &format!("seq {last}"), "entry");

    // An entry line whose seq agrees with its position but whose bytes say another seq.
    let mut lines = f.lines.clone();
    lines[i] = edit_line(&f.lines[i + 1], |v| v["seq"] = json!(s));
    f.assert_fault(&lines, &format!("seq {s}"), "seq");
}

#[test]
fn changed_headers_links_checkpoints_and_signatures_are_caught_at_their_height() {
    let f = Fixture::new();
    let b = f.multi_entry_block();
    let h = b.height;
    let at = format!("height {h}");
    let bi = f.find("block", "height", h.get());
    let ci = f.find("checkpoint", "height", h.get());

    // A header field: the entries_root (canonical header, wrong root).
    let mut changed = b.clone();
    changed.entries_root = Hash::digest(b"other");
    let mut lines = f.lines.clone();
    lines[bi] = header_line(&changed);
    f.assert_fault(&lines, &at, "entries_root");

    // A header field: the time, which the block's entries carry too.
    let mut changed = b.clone();
    let t: chrono::DateTime<chrono::Utc> = changed.time.parse().unwrap();
    changed.time = format_time(t + chrono::Duration::microseconds(1));
    let mut lines = f.lines.clone();
    lines[bi] = header_line(&changed);
    let r = f.assert_fault(&lines, &format!("seq {}", b.first_seq), "time");
    assert_eq!(r["expected"], changed.time);

    // A header that is not in canonical form.
    let mut lines = f.lines.clone();
    lines[bi] = edit_bytes(&lines[bi], "header", |t| t.replacen('{', "{ ", 1));
    f.assert_fault(&lines, &at, "header");

    // The prev link.
    let mut changed = b.clone();
    changed.prev = BlockHash::from_digest(Hash::digest(b"another past"));
    let mut lines = f.lines.clone();
    lines[bi] = header_line(&changed);
    f.assert_fault(&lines, &at, "prev");

    // The checkpoint root, re-signed with the log's own key: the signature holds, the root not.
    let note = f.parsed(ci)["note"].as_str().unwrap().to_string();
    let cp = Checkpoint::open(&note, &common::signer().verifier()).unwrap();
    let forged = Checkpoint {
        root: Hash::digest(b"another tree"),
        ..cp.clone()
    }
    .sign(&common::signer())
    .unwrap();
    let mut lines = f.lines.clone();
    lines[ci] = edit_line(&lines[ci], |v| v["note"] = json!(forged));
    f.assert_fault(&lines, &at, "checkpoint root");

    // The checkpoint root changed without a signature: the signature fails.
    let body = Checkpoint {
        root: Hash::digest(b"another tree"),
        ..cp.clone()
    }
    .body();
    let unsigned = format!("{body}{}", &note[note.find("\n\n").unwrap() + 1..]);
    let mut lines = f.lines.clone();
    lines[ci] = edit_line(&lines[ci], |v| v["note"] = json!(unsigned));
    f.assert_fault(&lines, &at, "checkpoint");

    // A signature byte flipped.
    let sig_at = note.rfind(' ').unwrap() + 5;
    let mut flipped = note.clone().into_bytes();
    flipped[sig_at] = if flipped[sig_at] == b'A' { b'B' } else { b'A' };
    let mut lines = f.lines.clone();
    lines[ci] = edit_line(&lines[ci], |v| {
        v["note"] = json!(String::from_utf8(flipped).unwrap())
    });
    f.assert_fault(&lines, &at, "checkpoint");
}

#[test]
fn truncation_anywhere_and_lines_out_of_place_are_faults() {
    let f = Fixture::new();
    let blocks = f.blocks();

    // The end line missing.
    let lines = &f.lines[..f.lines.len() - 1];
    f.assert_fault(lines, &format!("height {blocks}"), "end");

    // Cut at a block boundary (the last block and the end gone).
    let last = f.find("block", "height", blocks - 1);
    f.assert_fault(&f.lines[..last], &format!("height {}", blocks - 1), "end");

    // Cut in the middle of a line.
    let b = f.multi_entry_block();
    let i = f.find("entry", "seq", b.first_seq.get() + 1);
    let path = f.dir.path().join("cut.jsonl");
    let mut text = f.lines[..i].join("\n") + "\n";
    text.push_str(&f.lines[i][..f.lines[i].len() / 2]);
    std::fs::write(&path, text).unwrap();
    let (code, r) = f.verify_file(&path, &[]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["place"], format!("seq {}", b.first_seq + 1));
    assert_eq!(r["field"], "line");

    // A line after the end; an unknown type; not JSON; a checkpoint of another height.
    let mut lines = f.lines.clone();
    lines.push(lines[1].clone());
    f.assert_fault(&lines, &format!("height {blocks}"), "end");
    let mut lines = f.lines.clone();
    lines.insert(2, r#"{"type":"comment","text":"hi"}"#.into());
    f.assert_fault(&lines, "seq 0", "line");
    let mut lines = f.lines.clone();
    lines[2] = "not json".into();
    f.assert_fault(&lines, "seq 0", "line");
    let ci = f.find("checkpoint", "height", 0);
    let mut lines = f.lines.clone();
    lines[ci] = edit_line(&lines[ci], |v| v["height"] = json!(7));
    f.assert_fault(&lines, "height 0", "checkpoint line height");

    // The end line's counts must be what was verified.
    let mut lines = f.lines.clone();
    let n = lines.len() - 1;
    lines[n] = json!({"type": "end", "blocks": blocks, "entries": 17}).to_string();
    f.assert_fault(&lines, &format!("height {blocks}"), "end entries");

    // An over-long line is refused without reading it whole into memory.
    let mut lines = f.lines.clone();
    lines.insert(2, "x".repeat(MAX_LINE_BYTES + 10));
    f.assert_fault(&lines, "seq 0", "line");
}

#[test]
fn a_block_appended_by_another_key_is_caught() {
    let f = Fixture::new();
    let blocks = f.blocks();
    let last = f.header(blocks - 1);
    // Every block hash, to continue the history tree correctly.
    let mut range = CompactRange::empty();
    for h in 0..blocks {
        let v = f.parsed(f.find("block", "height", h));
        range.append(block_hash(&B64.decode(v["header"].as_str().unwrap()).unwrap()).leaf());
    }
    let last_bytes = last.to_bytes().unwrap();
    let seq = last.first_seq + last.count;
    let entry = common::draft(99)
        .into_entry(seq, last.time.clone())
        .to_bytes()
        .unwrap();
    let header = BlockHeader {
        v: 1,
        log: common::ORIGIN.into(),
        height: Height::new(blocks),
        first_seq: seq,
        count: 1,
        time: last.time.clone(),
        entries_root: EntriesTree::build(&[entry_leaf(&entry)]).root(),
        prev: block_hash(&last_bytes),
    };
    let header_bytes = header.to_bytes().unwrap();
    range.append(block_hash(&header_bytes).leaf());
    let forger = SignerKey::from_seed(common::ORIGIN, &[9u8; 32]).unwrap();
    let note = Checkpoint {
        origin: common::ORIGIN.into(),
        size: blocks + 1,
        root: range.root().unwrap().hash(),
    }
    .sign(&forger)
    .unwrap();
    let mut lines = f.lines[..f.lines.len() - 1].to_vec();
    lines[0] = edit_line(&lines[0], |v| v["to_height"] = json!(blocks + 1));
    lines.push(header_line(&header));
    lines.push(json!({"type": "entry", "seq": seq, "entry": B64.encode(&entry)}).to_string());
    lines.push(json!({"type": "checkpoint", "height": blocks, "note": note}).to_string());
    lines.push(json!({"type": "end", "blocks": blocks + 1, "entries": seq + 1}).to_string());
    let r = f.assert_fault(&lines, &format!("height {blocks}"), "checkpoint");
    assert!(r["found"].as_str().unwrap().contains("signature"), "{r}");

    // Signed by the log's key, the same block verifies: only the signature was wrong.
    let note = Checkpoint {
        origin: common::ORIGIN.into(),
        size: blocks + 1,
        root: range.root().unwrap().hash(),
    }
    .sign(&common::signer())
    .unwrap();
    let n = lines.len();
    lines[n - 2] = json!({"type": "checkpoint", "height": blocks, "note": note}).to_string();
    let (code, r) = f.verify(&lines, &[]);
    assert_eq!(code, 0, "{r}");
}

#[test]
fn a_saved_checkpoint_lets_the_next_run_verify_only_what_follows() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("log.pub");
    write_verifier_key(&common::signer().verifier(), &key).unwrap();
    let l = open(dir.path(), 2);
    append(&l, 0, 3, 2);
    let first = l.head().blocks;
    let export = |from: u64, to: u64, name: &str| {
        let path = dir.path().join(name);
        let mut file = std::fs::File::create(&path).unwrap();
        write_export(l.store(), from, to, &mut file).unwrap();
        path
    };
    let run = |path: &Path, extra: &[&std::ffi::OsStr]| {
        let out = vouch()
            .args(["verify", "--json", "--export"])
            .arg(path)
            .arg("--key")
            .arg(&key)
            .args(extra)
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code().unwrap(), v)
    };
    let saved = dir.path().join("trusted.note");
    let prefix = export(0, first, "prefix.jsonl");
    let (code, r) = run(&prefix, &["--save-checkpoint".as_ref(), saved.as_os_str()]);
    assert_eq!(code, 0, "{r}");
    let note = std::fs::read_to_string(&saved).unwrap();
    assert_eq!(note, l.checkpoint(first).unwrap());

    append(&l, 100, 2, 2);
    let now = l.head().blocks;
    assert!(now > first);
    let rest = export(first, now, "rest.jsonl");
    let saved2 = dir.path().join("trusted2.note");
    let (code, r) = run(
        &rest,
        &[
            "--from-checkpoint".as_ref(),
            saved.as_os_str(),
            "--save-checkpoint".as_ref(),
            saved2.as_os_str(),
        ],
    );
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["blocks"], now - first);
    assert_eq!(r["entries"], 4);
    assert_eq!(
        std::fs::read_to_string(&saved2).unwrap(),
        l.checkpoint(now).unwrap()
    );

    // The whole export checks too, and passes the trusted size on the way.
    let whole = export(0, now, "whole.jsonl");
    let (code, r) = run(&whole, &["--from-checkpoint".as_ref(), saved.as_os_str()]);
    assert_eq!(code, 0, "{r}");

    // An export starting after the trusted checkpoint cannot be checked against it.
    let late = export(first + 1, now, "late.jsonl");
    let (code, r) = run(&late, &["--from-checkpoint".as_ref(), saved.as_os_str()]);
    assert_eq!(code, 3, "{r}");

    // A checkpoint of the same key over another history: not consistent with this log.
    let other_dir = tempfile::tempdir().unwrap();
    let other = open(other_dir.path(), 1);
    append(&other, 500, first, 1);
    let forked = dir.path().join("forked.note");
    std::fs::write(&forked, other.checkpoint(first).unwrap()).unwrap();
    let (code, r) = run(&rest, &["--from-checkpoint".as_ref(), forked.as_os_str()]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["field"], "consistency with the trusted checkpoint");
    assert_eq!(r["place"], format!("height {}", first - 1));
    let (code, r) = run(&whole, &["--from-checkpoint".as_ref(), forked.as_os_str()]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["field"], "consistency with the trusted checkpoint");

    // A trusted checkpoint not signed by the key fails; a file that is no note is bad input.
    let forger = SignerKey::from_seed(common::ORIGIN, &[9u8; 32]).unwrap();
    let cp = Checkpoint::open(&note, &common::signer().verifier()).unwrap();
    std::fs::write(&forked, cp.sign(&forger).unwrap()).unwrap();
    let (code, _) = run(&rest, &["--from-checkpoint".as_ref(), forked.as_os_str()]);
    assert_eq!(code, 1);
    std::fs::write(&forked, "hello\n").unwrap();
    let (code, _) = run(&rest, &["--from-checkpoint".as_ref(), forked.as_os_str()]);
    assert_eq!(code, 3);
}

#[test]
fn verify_checkpoint_checks_a_consistency_proof() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("log.pub");
    write_verifier_key(&common::signer().verifier(), &key).unwrap();
    let l = open(dir.path(), 1);
    append(&l, 0, 7, 1);
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let old = write("old.note", &l.checkpoint(3).unwrap());
    let new = write("new.note", &l.checkpoint(7).unwrap());
    let proof = l.consistency_proof(3, 7).unwrap();
    let good = write("proof.json", &serde_json::to_string(&proof).unwrap());
    let run = |proof: &Path, old: &Path, new: &Path| {
        let out = vouch()
            .args(["verify", "checkpoint"])
            .arg(old)
            .arg(new)
            .arg("--proof")
            .arg(proof)
            .arg("--key")
            .arg(&key)
            .arg("--json")
            .output()
            .unwrap();
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code().unwrap(), v)
    };
    let (code, r) = run(&good, &old, &new);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["old_size"], 3);
    assert_eq!(r["new_size"], 7);

    let mut bad = proof.clone();
    bad.path[0] = Hash::digest(b"x");
    let bad = write("bad.json", &serde_json::to_string(&bad).unwrap());
    let (code, r) = run(&bad, &old, &new);
    assert_eq!(code, 1, "{r}");
    // Swapped checkpoints: the sizes do not match the proof.
    let (code, _) = run(&good, &new, &old);
    assert_eq!(code, 1);
    let junk = write("junk.json", "{\"old_size\": 3}");
    assert_eq!(run(&junk, &old, &new).0, 3);
    let missing = dir.path().join("nope.json");
    assert_eq!(run(&missing, &old, &new).0, 4);
}

#[test]
fn a_store_held_by_another_process_is_read_from_its_blocks_file_and_locked_to_index() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("log.pub");
    write_verifier_key(&common::signer().verifier(), &key).unwrap();
    let l = open(dir.path(), 1);
    append(&l, 0, 2, 1);
    let verify = |extra: &[&str]| {
        vouch()
            .args(["verify", "--data"])
            .arg(dir.path())
            .arg("--key")
            .arg(&key)
            .args(extra)
            .output()
            .unwrap()
    };
    // The blocks file is read without sled's lock.
    let out = verify(&[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("verified: 2 entries"));
    // The index is the server's to hold.
    let out = verify(&["--index"]);
    assert_eq!(out.status.code(), Some(4));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("locked") && err.contains("--url"), "{err}");
    l.close();
    drop(l);
    let out = verify(&["--index"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn usage_errors_are_exit_2() {
    for args in [
        vec!["verify"],
        vec!["verify", "--export", "x", "--data", "y", "--key", "k"],
        vec!["verify", "--url", "http://127.0.0.1:1", "--key", "k"],
        vec!["verify", "--export", "x"],
    ] {
        let out = vouch().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn a_server_that_cannot_be_reached_is_an_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("log.pub");
    write_verifier_key(&common::signer().verifier(), &key).unwrap();
    let api = dir.path().join("api.key");
    std::fs::write(&api, "secret\n").unwrap();
    // A port nobody listens on: bind one, then free it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = vouch()
        .args([
            "verify",
            "--url",
            &format!("http://127.0.0.1:{port}"),
            "--key-file",
        ])
        .arg(&api)
        .arg("--key")
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
