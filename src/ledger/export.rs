//! The export format: a run of blocks as JSON lines, which anyone holding the verifier key can
//! check without the store (`docs/LEDGER.md`, "Export"). One object per line, each with a `type`:
//!
//! 1. `{"type":"export","v":1,"log":O,"from_height":S,"to_height":E,"base":{"size":S,"prev":P,
//!    "range":[…],"prev_proof":[…]}}` — the RFC 9162 compact range of the history tree of the S
//!    blocks before the export, the hash of block S − 1 and its inclusion proof in that tree;
//! 2. per block, in height order: `{"type":"block","height":H,"header":B64}`, then one
//!    `{"type":"entry","seq":N,"entry":B64}` per entry, then
//!    `{"type":"checkpoint","height":H,"note":TEXT}`;
//! 3. `{"type":"end","blocks":K,"entries":N}`.
//!
//! Header and entry bytes are the exact RFC 8785 bytes stored, in padded standard base64.

use std::io::Write;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::block::block_hash;
use super::entry::FORMAT_VERSION;
use super::hash::{Hash, ZERO};
use super::history::{inclusion_proof, CompactRange, ProofRequestError};
use super::store::{self, Store, StoreError};

/// What an export wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    pub from_height: u64,
    pub to_height: u64,
    pub blocks: u64,
    pub entries: u64,
}

/// Why an export could not be written. Range errors are found before the first line is written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    #[error(
        "export range {from}..{to}: need from ≤ to ≤ {blocks} (the log holds {blocks} blocks)"
    )]
    Range { from: u64, to: u64, blocks: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the ledger store is inconsistent: {0}")]
    Corrupt(String),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}

/// The first line's `base`: what the verifier needs to continue the history tree at `size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportBase {
    pub size: u64,
    /// The block hash of height size − 1; all zeros when size is 0.
    pub prev: Hash,
    /// The compact range of the tree of `size` blocks, largest subtree first.
    pub range: Vec<Hash>,
    /// The inclusion proof of leaf size − 1 in the tree of `size` (empty when size is 0).
    pub prev_proof: Vec<Hash>,
}

#[derive(Serialize)]
struct Head<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    v: u8,
    log: &'a str,
    from_height: u64,
    to_height: u64,
    base: &'a ExportBase,
}

#[derive(Serialize)]
struct CheckpointLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    height: u64,
    note: &'a str,
}

fn proof_err(e: ProofRequestError<StoreError>) -> ExportError {
    match e {
        ProofRequestError::Source(s) => ExportError::Store(s),
        other => ExportError::Corrupt(other.to_string()),
    }
}

/// The number of blocks in the store: the height after the last header.
fn block_count(store: &Store) -> Result<u64, ExportError> {
    Ok(match store.last(store::BLOCK)? {
        Some((k, _)) => store::seq_suffix(&k).map_or(0, |h| h + 1),
        None => 0,
    })
}

/// Writes blocks `from_height..to_height` (exclusive; the caller bounds `to_height` by the head
/// it read) of `store` as export lines.
pub fn write_export<W: std::io::Write>(
    store: &Store,
    from_height: u64,
    to_height: u64,
    out: &mut W,
) -> Result<ExportSummary, ExportError> {
    let blocks = block_count(store)?;
    if from_height > to_height || to_height > blocks {
        return Err(ExportError::Range {
            from: from_height,
            to: to_height,
            blocks,
        });
    }
    let corrupt = |what: String| ExportError::Corrupt(what);
    let range = CompactRange::load(store, from_height)?;
    let (prev, prev_proof) = match from_height.checked_sub(1) {
        None => (ZERO, Vec::new()),
        Some(last) => {
            let bytes = store
                .header(last)?
                .ok_or_else(|| corrupt(format!("block {last} is missing")))?;
            let proof = inclusion_proof(store, last, from_height).map_err(proof_err)?;
            (block_hash(&bytes), proof.path)
        }
    };
    let origin = store
        .meta("origin")?
        .ok_or_else(|| corrupt("the log's origin is not recorded".into()))?;
    let base = ExportBase {
        size: from_height,
        prev,
        range: range.hashes(),
        prev_proof,
    };
    let mut line = serde_json::to_vec(&Head {
        kind: "export",
        v: FORMAT_VERSION,
        log: &origin,
        from_height,
        to_height,
        base: &base,
    })
    .map_err(|e| corrupt(e.to_string()))?;
    line.push(b'\n');
    out.write_all(&line)?;

    let mut summary = ExportSummary {
        from_height,
        to_height,
        ..ExportSummary::default()
    };
    let mut b64 = String::new();
    for height in from_height..to_height {
        let header_bytes = store
            .header(height)?
            .ok_or_else(|| corrupt(format!("block {height} is missing")))?;
        let header = store::trusted_header(&header_bytes, height)?;
        line.clear();
        b64.clear();
        B64.encode_string(&header_bytes, &mut b64);
        writeln!(
            line,
            "{{\"type\":\"block\",\"height\":{height},\"header\":\"{b64}\"}}"
        )?;
        out.write_all(&line)?;
        let end = header
            .first_seq
            .checked_add(header.count)
            .ok_or_else(|| corrupt(format!("block {height}: count overflows")))?;
        let mut seq = header.first_seq;
        store.for_each_entry(header.first_seq, end, &mut |bytes| {
            line.clear();
            b64.clear();
            B64.encode_string(bytes, &mut b64);
            writeln!(
                line,
                "{{\"type\":\"entry\",\"seq\":{seq},\"entry\":\"{b64}\"}}"
            )?;
            out.write_all(&line)?;
            seq += 1;
            Ok::<(), ExportError>(())
        })?;
        if seq != end {
            return Err(corrupt(format!(
                "block {height} holds entries {}..{end}, the store has them up to {seq}",
                header.first_seq
            )));
        }
        let note = store
            .checkpoint(height)?
            .ok_or_else(|| corrupt(format!("the checkpoint of block {height} is missing")))?;
        line.clear();
        serde_json::to_writer(
            &mut line,
            &CheckpointLine {
                kind: "checkpoint",
                height,
                note: &note,
            },
        )
        .map_err(|e| corrupt(e.to_string()))?;
        line.push(b'\n');
        out.write_all(&line)?;
        summary.blocks += 1;
        summary.entries += header.count;
    }
    writeln!(
        out,
        "{{\"type\":\"end\",\"blocks\":{},\"entries\":{}}}",
        summary.blocks, summary.entries
    )?;
    out.flush()?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{
        BlockHeader, Checkpoint, Decision, EntryContext, EntryDraft, InclusionProof, Ledger,
        LedgerConfig, SignerKey,
    };

    fn draft(i: u64) -> EntryDraft {
        EntryDraft {
            request_id: Some(format!("r{i}")),
            caller: Some("c".into()),
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
            assert_eq!(bytes, l.store().header(h).unwrap().unwrap().to_vec());
            let header = BlockHeader::from_bytes(&bytes).unwrap();
            let e = &v[2 + 3 * h as usize];
            assert_eq!(e["type"], "entry");
            assert_eq!(e["seq"], header.first_seq);
            let entry = B64.decode(e["entry"].as_str().unwrap()).unwrap();
            assert_eq!(entry, l.store().entry(h).unwrap().unwrap().to_vec());
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
        assert_eq!(root, cp.root);
        let proof = InclusionProof {
            index: 4,
            tree_size: 5,
            path: base.prev_proof,
        };
        proof.verify(base.prev, root).unwrap();
        assert_eq!(
            base.prev,
            block_hash(&l.store().header(4).unwrap().unwrap())
        );
        assert_eq!(v[1]["height"], 5);
        assert_eq!(v.last().unwrap()["blocks"], 2);

        // An empty run is a base and an end.
        let mut out = Vec::new();
        write_export(l.store(), 7, 7, &mut out).unwrap();
        assert_eq!(lines(&out).len(), 2);
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
}
