//! Writing an export (`docs/LEDGER.md`, "Export"): the first line carries the RFC 9162 compact
//! range of the tree before the first block exported, the hash of the block before it and that
//! block's inclusion proof (RFC 9162 §2.1.3); then each block's header, entries and checkpoint,
//! the exact stored bytes, and an end line.

use std::io::Write;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Serialize;

use super::*;
use crate::ledger::block::block_hash;
use crate::ledger::entry::FORMAT_VERSION;
use crate::ledger::hash::ZERO;
use crate::ledger::history::{inclusion_proof, CompactRange, ProofRequestError};
use crate::ledger::position::Height;
use crate::ledger::store::{self, Corruption, Store, StoreError};

#[derive(Serialize)]
pub(super) struct Head<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    v: u8,
    log: &'a str,
    from_height: u64,
    to_height: u64,
    base: &'a ExportBase,
}

#[derive(Serialize)]
pub(super) struct CheckpointLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    height: u64,
    note: &'a str,
}

pub(super) fn proof_err(e: ProofRequestError<StoreError>) -> ExportError {
    match e {
        ProofRequestError::Source(s) => ExportError::Store(s),
        ProofRequestError::Range(r) => ExportError::Corrupt(Corruption::Proof(r)),
    }
}

/// The number of blocks in the store: the height after the last header.
pub(super) fn block_count(store: &Store) -> Result<u64, ExportError> {
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
    let range = CompactRange::load(store, from_height)?;
    let (prev, prev_proof) = match from_height.checked_sub(1) {
        None => (ZERO, Vec::new()),
        Some(last) => {
            let height = Height::new(last);
            let bytes = store
                .header(height)?
                .ok_or(Corruption::MissingBlock { height })?;
            let proof = inclusion_proof(store, last, from_height).map_err(proof_err)?;
            (block_hash(&bytes), proof.path)
        }
    };
    let origin = store.meta("origin")?.ok_or(Corruption::NoOrigin)?;
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
    })?;
    line.push(b'\n');
    out.write_all(&line)?;

    let mut summary = ExportSummary {
        from_height,
        to_height,
        ..ExportSummary::default()
    };
    let mut b64 = String::new();
    for height in (from_height..to_height).map(Height::new) {
        let header_bytes = store
            .header(height)?
            .ok_or(Corruption::MissingBlock { height })?;
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
            .ok_or(Corruption::CountOverflows { height })?;
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
            seq = seq + 1;
            Ok::<(), ExportError>(())
        })?;
        if seq != end {
            return Err(Corruption::EntriesShort {
                height,
                first_seq: header.first_seq,
                end,
                found: seq,
            }
            .into());
        }
        let note = store
            .checkpoint(height)?
            .ok_or(Corruption::MissingCheckpoint { height })?;
        line.clear();
        serde_json::to_writer(
            &mut line,
            &CheckpointLine {
                kind: "checkpoint",
                height: height.get(),
                note: &note,
            },
        )?;
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
