//! Verifying an export (`docs/LEDGER.md`, "Export"; "Verification"): the first line's base is
//! checked (the compact range against the previous block's inclusion proof, RFC 9162 §2.1.3.2),
//! then every block goes through the shared verifying core ([`Chain`]), its entries decoded,
//! checked for canonical form and hashed on all cores, its faults reported in the order a
//! line-by-line reader meets them. Streamed: at most a few blocks are held at a time.

use std::io::BufRead;
use std::sync::mpsc::sync_channel;
use std::time::Instant;

use rayon::prelude::*;

use super::lines::*;
use super::read_ahead::*;
use super::*;
use crate::ledger::entry::FORMAT_VERSION;
use crate::ledger::hash::{Hash, LeafHash, RootHash, ZERO};
use crate::ledger::history::{CompactRange, InclusionProof};
use crate::ledger::note::{Checkpoint, VerifierKey};
use crate::ledger::position::Height;
use crate::ledger::verifier::{
    check_entry, fault, Chain, Fault, Place, VerifyError, VerifySummary,
};

/// Verifies an export read from `input` (streamed: at most a few blocks are held at a time)
/// with the log's verifier key. With `trusted` (a checkpoint already verified, opened with the
/// same key), the export must start at or before its size, and the history tree must have its
/// root when it reaches that size. `progress` is called after each block with the number of
/// entries verified so far.
pub fn verify_export<R: BufRead + Send>(
    input: R,
    key: &VerifierKey,
    trusted: Option<(&Checkpoint, &str)>,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifySummary, VerifyError> {
    let started = Instant::now();
    let mut lines = LineReader {
        input,
        buf: Vec::with_capacity(4096),
        number: 0,
    };
    let head = read_head(&mut lines)?;
    if head.log != key.name() {
        return Err(fault(
            Place::Height(Height::new(head.from_height)),
            "log",
            key.name(),
            &head.log,
        )
        .into());
    }
    if let Some((cp, _)) = trusted {
        if head.from_height > cp.size {
            return Err(VerifyError::StartsAfterTrusted {
                from_height: head.from_height,
                trusted: cp.size,
            });
        }
    }
    let mut chain = base_chain(key, &head)?;
    chain.consistent_with(trusted.map(|(cp, _)| cp))?;
    let from_height = head.from_height;
    let result = std::thread::scope(|scope| {
        let (tx, rx) = sync_channel(READ_AHEAD);
        let (recycle, recycled) = sync_channel(READ_AHEAD + 2);
        let reader = scope.spawn(move || read_blocks(&mut lines, from_height, &tx, &recycled));
        let result = (|| {
            let mut ended = false;
            for item in &rx {
                match item {
                    Item::Io(e) => return Err(VerifyError::Io(e)),
                    Item::Fault(f) => return Err(f.into()),
                    Item::End { blocks, entries } => {
                        let s = &chain.summary;
                        let at = Place::Height(chain.height());
                        if blocks != s.blocks {
                            return Err(fault(at, "end blocks", s.blocks, blocks).into());
                        }
                        if entries != s.entries {
                            return Err(fault(at, "end entries", s.entries, entries).into());
                        }
                        if chain.height().get() != head.to_height {
                            return Err(
                                fault(at, "to_height", head.to_height, chain.height()).into()
                            );
                        }
                        // Wait for the reader: a line after the end is a fault too.
                        ended = true;
                    }
                    Item::Block(block) => {
                        let mut bufs = check_block(&mut chain, block)?;
                        bufs.0.clear();
                        bufs.1.clear();
                        let _ = recycle.try_send(bufs);
                        chain.consistent_with(trusted.map(|(cp, _)| cp))?;
                        progress(chain.summary.entries);
                    }
                }
            }
            if ended {
                return Ok(());
            }
            // The reader stopped without an end (it only does so after sending a fault).
            Err(fault(
                Place::Height(chain.height()),
                "end",
                "an end line",
                "the end of the input",
            )
            .into())
        })();
        drop(rx);
        let _ = reader.join();
        result
    });
    result?;
    if let Some((cp, note)) = trusted {
        chain.reached(Some(cp))?;
        if chain.summary.checkpoint.is_none() {
            chain.summary.checkpoint = Some(note.to_string());
        }
    }
    let mut summary = chain.summary;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

pub(super) fn read_head<R: BufRead>(lines: &mut LineReader<R>) -> Result<HeadLine, VerifyError> {
    let at = Place::Height(Height::new(0));
    let line = match lines.next()? {
        None => return Err(fault(at, "export line", "an export line", "an empty input").into()),
        Some(Err(e)) => return Err(fault(at, "export line", "an export line", e).into()),
        Some(Ok((_, l))) => l,
    };
    let line = parse(
        1,
        line,
        &["export"],
        &[&["v", "log", "from_height", "to_height", "base"]],
    )
    .map_err(|e| fault(at, "export line", "an export line", e))?;
    if line.v != Some(FORMAT_VERSION) {
        let found = line
            .v
            .map_or_else(|| "no v".to_string(), |v| format!("v {v}"));
        return Err(fault(at, "export line", "v 1", found).into());
    }
    let head = HeadLine {
        log: line.log.unwrap_or_default(),
        from_height: line.from_height.unwrap_or(0),
        to_height: line.to_height.unwrap_or(0),
        base: line
            .base
            .ok_or_else(|| fault(at, "base", "present", "none"))?,
    };
    let at = Place::Height(Height::new(head.from_height));
    if head.base.size != head.from_height {
        return Err(fault(at, "base size", head.from_height, head.base.size).into());
    }
    if head.to_height < head.from_height {
        return Err(fault(
            at,
            "to_height",
            format!("at least {}", head.from_height),
            head.to_height,
        )
        .into());
    }
    Ok(head)
}

/// The chain continuing after the export's base: the compact range gives the root of the tree
/// before the export, and `prev` must be its last leaf.
pub(super) fn base_chain<'k>(key: &'k VerifierKey, head: &HeadLine) -> Result<Chain<'k>, Fault> {
    let base = &head.base;
    let at = Place::Height(Height::new(head.from_height));
    let range = CompactRange::from_hashes(base.size, &base.range).ok_or_else(|| {
        fault(
            at,
            "base range",
            format!("{} hashes for size {}", base.size.count_ones(), base.size),
            base.range.len(),
        )
    })?;
    match (base.size.checked_sub(1), range.root()) {
        (None, _) => {
            if base.prev != ZERO || !base.prev_proof.is_empty() {
                return Err(fault(
                    at,
                    "base prev",
                    "zeros and no proof at size 0",
                    base.prev,
                ));
            }
        }
        (Some(last), root) => {
            let proof = InclusionProof {
                index: last,
                tree_size: base.size,
                path: base.prev_proof.clone(),
            };
            proof
                .verify(
                    base.prev.leaf(),
                    root.unwrap_or(RootHash::new(Hash::default(), base.size)),
                )
                .map_err(|e| {
                    fault(
                        Place::Height(Height::new(last)),
                        "base prev",
                        "leaf size − 1 of the base range",
                        e,
                    )
                })?;
        }
    }
    Ok(Chain::resume(key, range, base.prev))
}

/// An entry of a block after the pool's pass: its base64 did not decode (the message), or its
/// length and its check (its leaf).
pub(super) enum Checked {
    Undecodable(String),
    Entry(usize, Result<LeafHash, Fault>),
}

/// The checks of one exported block: the line's height, then the shared core in order (header,
/// entries, history append, checkpoint), with the export's line order checked in between.
///
/// The reader leaves entry lines in the writer's form undecoded; here one pass on all cores
/// decodes each into a reused buffer, checks it and hashes it. Then the faults are taken in the
/// order a line-by-line reader meets them: the first entry whose base64 does not decode, or that
/// is one more than the header's count or passes [`MAX_BLOCK_BYTES`], ends the block there, before
/// the seq of the lines, the block's end and the entries themselves are looked at.
/// Returns the block's buffers, for the reader to use again.
pub(super) fn check_block(chain: &mut Chain, block: RawBlock) -> Result<Buffers, VerifyError> {
    let height = chain.height();
    let at = Place::Height(height);
    // Checked first, reported in its turn below (after what the reader would have stopped at).
    let header = chain.header(&block.header);
    let lines = &block.lines;
    let checked: Vec<Checked> = block
        .entries
        .par_iter()
        .enumerate()
        .with_min_len(64)
        .map_init(Vec::new, |buf, (i, (_, raw))| {
            let bytes = match raw {
                RawEntry::Bytes(b) => b.as_slice(),
                RawEntry::Line { number, b64 } => {
                    buf.clear();
                    let b64 = lines.get(b64.0..b64.1).unwrap_or_default();
                    if let Err(e) = decode_into(b64, buf, "entry", *number) {
                        return Checked::Undecodable(e);
                    }
                    buf.as_slice()
                }
            };
            let leaf = match &header {
                Ok(h) => check_entry(bytes, h.first_seq.saturating_add(i as u64), &h.time),
                // Not reported: the header's fault comes first.
                Err(f) => Err(f.clone()),
            };
            Checked::Entry(bytes.len(), leaf)
        })
        .collect();
    // Where a line-by-line reader would have stopped, as `read_blocks` does with what it knew.
    let (count, first) = (block.count, block.first);
    let mut end = block.end;
    let mut kept = checked.len();
    let mut bytes = 0usize;
    for (i, c) in checked.iter().enumerate() {
        let seq = first.saturating_add(i as u64);
        match c {
            Checked::Undecodable(e) => {
                end = BlockEnd::Fault(fault(Place::Seq(seq), "entry", "base64 bytes", e));
                kept = i;
                break;
            }
            Checked::Entry(len, _) => {
                bytes = bytes.saturating_add(*len);
                if i as u64 >= count || bytes > MAX_BLOCK_BYTES {
                    end = BlockEnd::Fault(more(seq, count, block.height));
                    kept = i + 1;
                    break;
                }
            }
        }
    }
    // A line-by-line reader that failed to read reported nothing of this block.
    let end = match end {
        BlockEnd::Io(e) => return Err(VerifyError::Io(e)),
        other => other,
    };
    if block.height != height.get() {
        return Err(fault(at, "block line height", height, block.height).into());
    }
    let header = header?;
    for (i, (seq, _)) in block.entries.iter().take(kept).enumerate() {
        let expected = header.first_seq + i as u64;
        if *seq != expected.get() {
            return Err(fault(Place::Seq(expected), "seq", expected, seq).into());
        }
    }
    let (cp_height, note) = match end {
        BlockEnd::Checkpoint(h, note) => (h, note),
        BlockEnd::Fault(f) => return Err(f.into()),
        BlockEnd::Io(e) => return Err(VerifyError::Io(e)),
    };
    let leaves = checked.into_iter().map(|c| match c {
        Checked::Entry(_, leaf) => leaf,
        // Not reached: an undecodable entry ends the block with a fault above.
        Checked::Undecodable(e) => Err(fault(Place::Height(height), "entry", "base64 bytes", e)),
    });
    chain.leaves(&header, leaves)?;
    if cp_height != height.get() {
        return Err(fault(at, "checkpoint line height", height, cp_height).into());
    }
    chain.append(&block.header);
    chain.checkpoint(&header, &block.header, &note)?;
    Ok((block.lines, block.entries))
}
