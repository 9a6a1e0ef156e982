//! The export's unit tests: the lines written, the base of a later start, the writer's form of an
//! entry line against the parser, and the faults of the parallel decoding against a line-by-line
//! reader.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::lines::{decoded_at_least, parse, writer_form, ENTRY_FIELDS};
use super::*;
use crate::ids::CallerId;
use crate::ledger::block::block_hash;
use crate::ledger::hash::ZERO;
use crate::ledger::history::CompactRange;
use crate::ledger::position::{Height, Seq};
use crate::ledger::verifier::{Fault, Place, VerifyError, VerifySummary};
use crate::ledger::{
    BlockHeader, Checkpoint, Decision, EntryContext, EntryDraft, InclusionProof, Ledger,
    LedgerConfig, SignerKey,
};

fn draft(i: u64) -> EntryDraft {
    EntryDraft {
        request_id: Some(format!("r{i}")),
        caller: CallerId::parse("c"),
        credential: None,
        model: None,
        input: Some(Hash::digest(&i.to_be_bytes())),
        output: None,
        decision: Decision::Allow,
        rules: vec![],
        obligations: vec![],
        context: EntryContext::default(),
        policy: None,
    }
}

/// A ledger of `blocks` blocks (one entry each: one appender at a time).
fn ledger(dir: &std::path::Path, blocks: u64) -> (Ledger, SignerKey) {
    let key = SignerKey::from_seed("export.test/log", &[3u8; 32]).unwrap();
    let l = Ledger::open(
        dir,
        SignerKey::from_seed("export.test/log", &[3u8; 32]).unwrap(),
        LedgerConfig::default(),
    )
    .unwrap();
    for i in 0..blocks {
        l.append_blocking(draft(i)).unwrap();
    }
    (l, key)
}

fn lines(out: &[u8]) -> Vec<serde_json::Value> {
    std::str::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_whole_export_has_a_base_every_block_its_entries_and_checkpoint_and_an_end() {
    let dir = tempfile::tempdir().unwrap();
    let (l, key) = ledger(dir.path(), 3);
    let mut out = Vec::new();
    let s = write_export(l.store(), 0, 3, &mut out).unwrap();
    assert_eq!((s.blocks, s.entries), (3, 3));
    let v = lines(&out);
    assert_eq!(v.len(), 1 + 3 * 3 + 1);
    assert_eq!(v[0]["type"], "export");
    assert_eq!(v[0]["log"], "export.test/log");
    assert_eq!(v[0]["base"]["size"], 0);
    assert_eq!(v[0]["base"]["prev"], ZERO.to_hex());
    assert_eq!(v[0]["base"]["range"], serde_json::json!([]));
    for h in 0..3u64 {
        let b = &v[1 + 3 * h as usize];
        assert_eq!(b["type"], "block");
        assert_eq!(b["height"], h);
        let bytes = B64.decode(b["header"].as_str().unwrap()).unwrap();
        assert_eq!(
            bytes,
            l.store().header(Height::new(h)).unwrap().unwrap().to_vec()
        );
        let header = BlockHeader::from_bytes(&bytes).unwrap();
        let e = &v[2 + 3 * h as usize];
        assert_eq!(e["type"], "entry");
        assert_eq!(e["seq"], header.first_seq.get());
        let entry = B64.decode(e["entry"].as_str().unwrap()).unwrap();
        assert_eq!(
            entry,
            l.store().entry(Seq::new(h)).unwrap().unwrap().to_vec()
        );
        let c = &v[3 + 3 * h as usize];
        assert_eq!(c["type"], "checkpoint");
        let cp = Checkpoint::open(c["note"].as_str().unwrap(), &key.verifier()).unwrap();
        assert_eq!(cp.size, h + 1);
    }
    assert_eq!(
        v[10],
        serde_json::json!({"type": "end", "blocks": 3, "entries": 3})
    );
}

#[test]
fn a_later_start_carries_the_range_and_the_proof_of_the_block_before() {
    let dir = tempfile::tempdir().unwrap();
    let (l, key) = ledger(dir.path(), 7);
    let mut out = Vec::new();
    write_export(l.store(), 5, 7, &mut out).unwrap();
    let v = lines(&out);
    let base: ExportBase = serde_json::from_value(v[0]["base"].clone()).unwrap();
    assert_eq!(base.size, 5);
    assert_eq!(base.range.len(), 2); // 5 = 4 + 1
    let range = CompactRange::from_hashes(5, &base.range).unwrap();
    let root = range.root().unwrap();
    let cp = Checkpoint::open(&l.checkpoint(5).unwrap(), &key.verifier()).unwrap();
    assert_eq!(root.hash(), cp.root);
    let proof = InclusionProof {
        index: 4,
        tree_size: 5,
        path: base.prev_proof,
    };
    proof.verify(base.prev.leaf(), root).unwrap();
    assert_eq!(
        base.prev,
        block_hash(&l.store().header(Height::new(4)).unwrap().unwrap())
    );
    assert_eq!(v[1]["height"], 5);
    assert_eq!(v.last().unwrap()["blocks"], 2);

    // An empty run is a base and an end.
    let mut out = Vec::new();
    write_export(l.store(), 7, 7, &mut out).unwrap();
    assert_eq!(lines(&out).len(), 2);
}

#[test]
fn the_writers_form_reads_as_the_parser_reads_it_and_nothing_else_is_taken_for_it() {
    for (seq, bytes) in [
        (0u64, &b""[..]),
        (7, b"a"),
        (u64::MAX, b"\xff\x00{\"x\"}\n"),
    ] {
        let b64 = B64.encode(bytes);
        let line = format!("{{\"type\":\"entry\",\"seq\":{seq},\"entry\":\"{b64}\"}}");
        let (s, (from, to)) = writer_form(line.as_bytes()).unwrap();
        let parsed = parse(1, line.as_bytes(), &["entry"], &[ENTRY_FIELDS]).unwrap();
        assert_eq!(s, parsed.seq.unwrap());
        assert_eq!(&line[from..to], parsed.entry.as_deref().unwrap());
        assert!(decoded_at_least(to - from) <= bytes.len());
    }
    for line in [
        r#"{"type":"entry","seq":01,"entry":"YQ=="}"#,
        r#"{"type":"entry","seq":18446744073709551616,"entry":"YQ=="}"#,
        r#"{"type":"entry","seq":-1,"entry":"YQ=="}"#,
        r#"{"type":"entry","seq":1.0,"entry":"YQ=="}"#,
        r#"{"type":"entry","seq":,"entry":"YQ=="}"#,
        r#"{"type":"entry","seq":1,"entry":"\u0059Q=="}"#,
        r#"{"type":"entry","seq":1,"entry":"Y\/=="}"#,
        r#"{"type":"entry","seq":1,"entry":"Y Q=="}"#,
        r#"{"type":"entry","seq":1,"entry":"YQ=="} "#,
        "{\"type\":\"entry\",\"seq\":1,\"entry\":\"YQ==\"}\r",
        r#"{"type":"entry","seq":1,"entry":"YQ==","note":""}"#,
        r#"{"type":"entry","entry":"YQ==","seq":1}"#,
        r#"{"type":"entry", "seq":1,"entry":"YQ=="}"#,
        r#"{"type":"entry","seq":1,"entry":"é"}"#,
        r#"{"type":"entry","seq":1,"entry":"YQ=="#,
        r#"{"type":"checkpoint","height":1,"note":"x"}"#,
    ] {
        assert_eq!(writer_form(line.as_bytes()), None, "{line}");
    }
}

/// An input that fails to read after its bytes.
struct Failing(std::io::Cursor<Vec<u8>>);

impl std::io::Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.read(buf)? {
            0 => Err(std::io::Error::other("the input broke")),
            n => Ok(n),
        }
    }
}

#[test]
fn entries_decoded_on_the_pool_fault_where_a_line_by_line_reader_stops() {
    let dir = tempfile::tempdir().unwrap();
    let (l, key) = ledger(dir.path(), 3);
    let mut out = Vec::new();
    write_export(l.store(), 0, 3, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Line 6 is the entry of block 1 (seq 1), line 7 its checkpoint.
    assert!(lines[5].starts_with(r#"{"type":"entry","seq":1,"#));
    let good_entry = lines[5];
    let verify = |lines: &[&str], fail: bool| {
        let mut bytes = lines.join("\n").into_bytes();
        bytes.push(b'\n');
        let key = key.verifier();
        if fail {
            let input = std::io::BufReader::new(Failing(std::io::Cursor::new(bytes)));
            verify_export(input, &key, None, &mut |_| {})
        } else {
            verify_export(&bytes[..], &key, None, &mut |_| {})
        }
    };
    let fault_of = |r: Result<VerifySummary, VerifyError>| match r {
        Err(VerifyError::Fault(f)) => f,
        other => panic!("{other:?}"),
    };
    let base64 = |seq: u64, line: u64| Fault {
        place: Place::Seq(Seq::new(seq)),
        field: "entry".into(),
        expected: "base64 bytes".into(),
        found: format!("line {line}: entry is not padded standard base64 (Invalid padding)"),
    };
    assert_eq!(verify(&lines, false).unwrap().entries, 3);

    // Base64 that does not decode, in the writer's form: the fault of that line, before the
    // seq of the line and before what follows (a line that does not read, a broken input).
    let bad = r#"{"type":"entry","seq":1,"entry":"YQ="}"#;
    let bad_seq = r#"{"type":"entry","seq":9,"entry":"YQ="}"#;
    for (line, rest, fail) in [
        (bad, &lines[6..], false),
        (bad_seq, &lines[6..], false),
        (bad, &["not json"][..], false),
        (bad, &[][..], true),
    ] {
        let mut l = lines[..5].to_vec();
        l.push(line);
        l.extend_from_slice(rest);
        assert_eq!(fault_of(verify(&l, fail)), base64(1, 6), "{line} {rest:?}");
    }
    // After good entries, a broken input is an input error; a line that does not read is
    // the fault of that line.
    let mut l = lines[..6].to_vec();
    assert!(matches!(verify(&l, true), Err(VerifyError::Io(_))));
    l.push("not json");
    let f = fault_of(verify(&l, false));
    assert_eq!(
        (f.place, f.field.as_str()),
        (Place::Seq(Seq::new(2)), "line")
    );

    // One entry more than the header's count: it is the fault, unless its base64 is.
    let more = r#"{"type":"entry","seq":2,"entry":"YQ=="}"#;
    let more_bad = r#"{"type":"entry","seq":2,"entry":"YQ="}"#;
    let mut l = lines[..6].to_vec();
    l.push(more);
    l.extend_from_slice(&lines[6..]);
    let f = fault_of(verify(&l, false));
    assert_eq!(
        f,
        Fault {
            place: Place::Seq(Seq::new(2)),
            field: "entry".into(),
            expected: "at most 1 entries in block 1".into(),
            found: "more".into(),
        }
    );
    l[6] = more_bad;
    assert_eq!(fault_of(verify(&l, false)), base64(2, 7));
    assert_eq!(l[5], good_entry);
}

#[test]
fn a_range_beyond_the_log_is_refused_before_any_line() {
    let dir = tempfile::tempdir().unwrap();
    let (l, _) = ledger(dir.path(), 2);
    for (from, to) in [(0, 3), (3, 2), (5, 9)] {
        let mut out = Vec::new();
        let e = write_export(l.store(), from, to, &mut out).unwrap_err();
        assert!(matches!(e, ExportError::Range { blocks: 2, .. }), "{e}");
        assert!(out.is_empty());
    }
}
