//! The export's reader thread: it groups the lines of each block — the block line, its entry
//! lines (those in the writer's form left undecoded), its checkpoint line — and hands whole
//! blocks to the verifier through a bounded channel, a few blocks ahead, reusing the buffers the
//! verifier hands back. Stops at the first structural fault, at the end line, or when the
//! verifier is gone; never holds more than [`MAX_BLOCK_BYTES`] of a block's entries.

use std::io::BufRead;
use std::sync::mpsc::{Receiver, SyncSender};

use super::lines::*;

use super::*;
use crate::ledger::block::BlockHeader;
use crate::ledger::position::{Height, Seq};
use crate::ledger::verifier::{fault, Fault, Place};

/// A block as read from the export, before any check of the shared core.
pub(super) struct RawBlock {
    /// The `height` of the block line.
    pub(super) height: u64,
    pub(super) header: Vec<u8>,
    /// The entry count and first seq the reader went by: the header's, or 0 and the seq after
    /// the previous block when the header does not read.
    pub(super) count: u64,
    pub(super) first: Seq,
    /// The block's entry lines in the writer's form, one after the other.
    pub(super) lines: Vec<u8>,
    /// `(seq of the line, entry)`.
    pub(super) entries: Vec<(u64, RawEntry)>,
    /// What ended the block: its checkpoint line, or why the reader stopped in it.
    pub(super) end: BlockEnd,
}

/// A checked block's [`RawBlock::lines`] and [`RawBlock::entries`], handed back to the reader.
pub(super) type Buffers = (Vec<u8>, Vec<(u64, RawEntry)>);

/// An entry of a [`RawBlock`].
pub(super) enum RawEntry {
    /// An entry line in the writer's form (see [`writer_form`]), its base64 not yet decoded:
    /// the line's number and where its base64 is in [`RawBlock::lines`].
    Line { number: u64, b64: (usize, usize) },
    /// An entry line in any other form, read and decoded by the reader.
    Bytes(Vec<u8>),
}

/// Why a block's lines ended.
pub(super) enum BlockEnd {
    /// Its checkpoint line: `height`, note.
    Checkpoint(u64, String),
    Fault(Fault),
    Io(std::io::Error),
}

/// What the reader thread hands over.
pub(super) enum Item {
    Block(RawBlock),
    End { blocks: u64, entries: u64 },
    Fault(Fault),
    Io(std::io::Error),
}

/// The fault of an entry line beyond the header's count or [`MAX_BLOCK_BYTES`].
pub(super) fn more(seq: Seq, count: u64, height: u64) -> Fault {
    fault(
        Place::Seq(seq),
        "entry",
        format!("at most {count} entries in block {height}"),
        "more",
    )
}

/// Reads a line of a block that is not in the writer's form: `Ok(Ok((seq, bytes)))` for an entry
/// line, `Ok(Err(checkpoint))` for the block's end, `Err` for a fault at `seq`.
#[allow(clippy::type_complexity)]
pub(super) fn read_entry_line(
    number: u64,
    line: &[u8],
    seq: Seq,
) -> Result<Result<(u64, Vec<u8>), BlockEnd>, BlockEnd> {
    let parsed = parse(
        number,
        line,
        &["entry", "checkpoint"],
        &[ENTRY_FIELDS, CHECKPOINT_FIELDS],
    )
    .map_err(|e| {
        BlockEnd::Fault(fault(
            Place::Seq(seq),
            "line",
            "an entry or checkpoint line",
            e,
        ))
    })?;
    if parsed.kind == "checkpoint" {
        return Ok(Err(BlockEnd::Checkpoint(
            parsed.height.unwrap_or(0),
            parsed.note.unwrap_or_default(),
        )));
    }
    let entry = decode(parsed.entry.as_deref().unwrap_or(""), "entry", number)
        .map_err(|e| BlockEnd::Fault(fault(Place::Seq(seq), "entry", "base64 bytes", e)))?;
    Ok(Ok((parsed.seq.unwrap_or(0), entry)))
}

/// Reads the lines after the first: groups each block's lines and sends them on. Stops at the
/// first structural fault, at the end line, or when the receiver is gone.
pub(super) fn read_blocks<R: BufRead>(
    lines: &mut LineReader<R>,
    from_height: u64,
    tx: &SyncSender<Item>,
    recycled: &Receiver<Buffers>,
) {
    let mut height = from_height;
    let mut next_seq: Option<Seq> = None;
    let send = |item| {
        let _ = tx.send(item);
    };
    loop {
        let at = Place::Height(Height::new(height));
        let line = match lines.next() {
            Err(e) => return send(Item::Io(e)),
            Ok(None) => {
                return send(Item::Fault(fault(
                    at,
                    "end",
                    "an end line",
                    "the end of the input (the export is truncated)",
                )))
            }
            Ok(Some(Err(e))) => return send(Item::Fault(fault(at, "line", "a line", e))),
            Ok(Some(Ok(l))) => l,
        };
        let (number, line) = line;
        let line = match parse(number, line, &["block", "end"], &[BLOCK_FIELDS, END_FIELDS]) {
            Ok(l) => l,
            Err(e) => return send(Item::Fault(fault(at, "line", "a block or end line", e))),
        };
        if line.kind == "end" {
            let item = Item::End {
                blocks: line.blocks.unwrap_or(0),
                entries: line.entries.unwrap_or(0),
            };
            if tx.send(item).is_err() {
                return;
            }
            let after = match lines.next() {
                Err(e) => Item::Io(e),
                Ok(None) => return,
                Ok(Some(_)) => Item::Fault(fault(
                    at,
                    "end",
                    "nothing after the end line",
                    format!("line {}", lines.number),
                )),
            };
            return send(after);
        }
        let header = match decode(line.header.as_deref().unwrap_or(""), "header", number) {
            Ok(h) => h,
            Err(e) => return send(Item::Fault(fault(at, "header", "base64 bytes", e))),
        };
        let line_height = line.height.unwrap_or(0);
        // The header says how many entries to expect; the core checks the header itself.
        let (count, first) = match BlockHeader::from_bytes(&header) {
            Ok(h) => (h.count, h.first_seq),
            Err(_) => (0, next_seq.unwrap_or_default()),
        };
        // The buffers of a block already checked: no fresh pages for every block.
        let (lines_buf, entries) = recycled.try_recv().unwrap_or_default();
        let mut block = RawBlock {
            height: line_height,
            header,
            count,
            first,
            lines: lines_buf,
            entries,
            end: BlockEnd::Fault(fault(at, "checkpoint", "a checkpoint line", "none")),
        };
        // At most the entry bytes so far: exact for decoded entries, a lower bound for lines in
        // the writer's form (whose decoding `check_block` does, and which counts exactly).
        let mut bytes = 0usize;
        loop {
            let seq = first.saturating_add(block.entries.len() as u64);
            let start = block.lines.len();
            let number = match lines.next_into(&mut block.lines) {
                Err(e) => {
                    block.end = BlockEnd::Io(e);
                    break;
                }
                Ok(None) => {
                    block.end = BlockEnd::Fault(fault(
                        Place::Seq(seq),
                        "end",
                        "the block's entries and checkpoint, then an end line",
                        "the end of the input (the export is truncated)",
                    ));
                    break;
                }
                Ok(Some(Err(e))) => {
                    block.end = BlockEnd::Fault(fault(Place::Seq(seq), "line", "a line", e));
                    break;
                }
                Ok(Some(Ok(n))) => n,
            };
            let line = block.lines.get(start..).unwrap_or_default();
            let entry = match writer_form(line) {
                Some((line_seq, (from, to))) => {
                    bytes = bytes.saturating_add(decoded_at_least(to - from));
                    block.entries.push((
                        line_seq,
                        RawEntry::Line {
                            number,
                            b64: (start + from, start + to),
                        },
                    ));
                    Ok(())
                }
                None => {
                    let read = read_entry_line(number, line, seq);
                    block.lines.truncate(start);
                    match read {
                        Ok(Ok((line_seq, entry))) => {
                            bytes = bytes.saturating_add(entry.len());
                            block.entries.push((line_seq, RawEntry::Bytes(entry)));
                            Ok(())
                        }
                        Ok(Err(end)) | Err(end) => Err(end),
                    }
                }
            };
            if let Err(end) = entry {
                block.end = end;
                break;
            }
            // One entry more than the header's count is enough to report it.
            if block.entries.len() as u64 > count || bytes > MAX_BLOCK_BYTES {
                block.end = BlockEnd::Fault(more(seq, count, line_height));
                break;
            }
        }
        let stop = !matches!(block.end, BlockEnd::Checkpoint(..));
        next_seq = Some(first.saturating_add(count));
        height += 1;
        if tx.send(Item::Block(block)).is_err() || stop {
            return;
        }
    }
}
