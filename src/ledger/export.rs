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

use std::borrow::Cow;
use std::io::{BufRead, Read as _, Write};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::time::Instant;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::block::{block_hash, BlockHeader};
use super::entry::FORMAT_VERSION;
use super::hash::{Hash, ZERO};
use super::history::{inclusion_proof, CompactRange, InclusionProof, ProofRequestError};
use super::note::{Checkpoint, VerifierKey};
use super::store::{self, Store, StoreError};
use super::verifier::{check_entry, fault, Chain, Fault, Place, VerifyError, VerifySummary};

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

/// Longest line the reader accepts (an entry line is at most about 22 KiB, a block line 6 KiB).
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Most entry bytes one block may hold in an export; more is refused before it is buffered.
pub const MAX_BLOCK_BYTES: usize = 64 << 20;
/// Blocks read ahead of the one being checked.
const READ_AHEAD: usize = 2;

/// One line, all types' fields optional; [`Line::only`] checks which a type may carry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    v: Option<u8>,
    log: Option<String>,
    from_height: Option<u64>,
    to_height: Option<u64>,
    base: Option<ExportBase>,
    height: Option<u64>,
    #[serde(borrow)]
    header: Option<Cow<'a, str>>,
    seq: Option<u64>,
    #[serde(borrow)]
    entry: Option<Cow<'a, str>>,
    note: Option<String>,
    blocks: Option<u64>,
    entries: Option<u64>,
}

impl Line<'_> {
    /// The names of the fields present, in declaration order.
    fn present(&self) -> Vec<&'static str> {
        let mut p = Vec::new();
        let mut add = |name, is: bool| {
            if is {
                p.push(name)
            }
        };
        add("v", self.v.is_some());
        add("log", self.log.is_some());
        add("from_height", self.from_height.is_some());
        add("to_height", self.to_height.is_some());
        add("base", self.base.is_some());
        add("height", self.height.is_some());
        add("header", self.header.is_some());
        add("seq", self.seq.is_some());
        add("entry", self.entry.is_some());
        add("note", self.note.is_some());
        add("blocks", self.blocks.is_some());
        add("entries", self.entries.is_some());
        p
    }
}

/// A block as read from the export, before any check of the shared core.
struct RawBlock {
    /// The `height` of the block line.
    height: u64,
    header: Vec<u8>,
    /// The entry count and first seq the reader went by: the header's, or 0 and the seq after
    /// the previous block when the header does not read.
    count: u64,
    first: u64,
    /// The block's entry lines in the writer's form, one after the other.
    lines: Vec<u8>,
    /// `(seq of the line, entry)`.
    entries: Vec<(u64, RawEntry)>,
    /// What ended the block: its checkpoint line, or why the reader stopped in it.
    end: BlockEnd,
}

/// A checked block's [`RawBlock::lines`] and [`RawBlock::entries`], handed back to the reader.
type Buffers = (Vec<u8>, Vec<(u64, RawEntry)>);

/// An entry of a [`RawBlock`].
enum RawEntry {
    /// An entry line in the writer's form (see [`writer_form`]), its base64 not yet decoded:
    /// the line's number and where its base64 is in [`RawBlock::lines`].
    Line { number: u64, b64: (usize, usize) },
    /// An entry line in any other form, read and decoded by the reader.
    Bytes(Vec<u8>),
}

/// Why a block's lines ended.
enum BlockEnd {
    /// Its checkpoint line: `height`, note.
    Checkpoint(u64, String),
    Fault(Fault),
    Io(std::io::Error),
}

/// What the reader thread hands over.
enum Item {
    Block(RawBlock),
    End { blocks: u64, entries: u64 },
    Fault(Fault),
    Io(std::io::Error),
}

/// The writer's form of an entry line: `{"type":"entry","seq":N,"entry":"B64"}` with `N` a
/// JSON integer without leading zeros that fits a u64, and only base64 characters in `B64`. Such
/// a line reads (with [`parse`]) as an entry line with that seq and that string, so its checks
/// can wait for the pool: `(seq, where B64 is in the line)`. `None` for any other line, which
/// the reader reads itself.
fn writer_form(line: &[u8]) -> Option<(u64, (usize, usize))> {
    const HEAD: &[u8] = br#"{"type":"entry","seq":"#;
    const MID: &[u8] = br#","entry":""#;
    const TAIL: &[u8] = br#""}"#;
    let rest = line.strip_prefix(HEAD)?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let (number, rest) = rest.split_at(digits);
    if number.is_empty() || (number.len() > 1 && number.first() == Some(&b'0')) {
        return None;
    }
    let seq: u64 = std::str::from_utf8(number).ok()?.parse().ok()?;
    let b64 = rest.strip_prefix(MID)?.strip_suffix(TAIL)?;
    // Without early exits, so that the check runs on whole vectors of bytes.
    let is_b64 = |b: u8| {
        b.is_ascii_uppercase()
            | b.is_ascii_lowercase()
            | b.is_ascii_digit()
            | (b == b'+')
            | (b == b'/')
            | (b == b'=')
    };
    if !b64
        .chunks(64)
        .all(|c| c.iter().fold(true, |ok, &b| ok & is_b64(b)))
    {
        return None;
    }
    let start = HEAD.len() + digits + MID.len();
    Some((seq, (start, start + b64.len())))
}

/// The fewest bytes `len` base64 characters can decode to, if they decode at all.
fn decoded_at_least(len: usize) -> usize {
    (len / 4 * 3).saturating_sub(2)
}

/// The first line of an export.
#[derive(Debug, Clone)]
struct HeadLine {
    log: String,
    from_height: u64,
    to_height: u64,
    base: ExportBase,
}

/// A line with its number, or why it was refused.
type ReadLine<'a> = Result<(u64, &'a [u8]), String>;

struct LineReader<R> {
    input: R,
    buf: Vec<u8>,
    number: u64,
}

impl<R: BufRead> LineReader<R> {
    /// The next line (without its newline), `Ok(None)` at the end of the input. A line longer
    /// than [`MAX_LINE_BYTES`] is an error string.
    fn next(&mut self) -> std::io::Result<Option<ReadLine<'_>>> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let read = self.next_into(&mut buf);
        self.buf = buf;
        Ok(match read? {
            None => None,
            Some(Err(e)) => Some(Err(e)),
            Some(Ok(number)) => Some(Ok((number, &self.buf))),
        })
    }

    /// Appends the next line (without its newline) to `buf`; its number, `Ok(None)` at the end
    /// of the input, an error string for a line longer than [`MAX_LINE_BYTES`].
    fn next_into(&mut self, buf: &mut Vec<u8>) -> std::io::Result<Option<Result<u64, String>>> {
        let start = buf.len();
        let n = (&mut self.input)
            .take(MAX_LINE_BYTES as u64 + 1)
            .read_until(b'\n', buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.number += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
        } else if buf.len() - start > MAX_LINE_BYTES {
            return Ok(Some(Err(format!(
                "line {}: longer than {MAX_LINE_BYTES} bytes",
                self.number
            ))));
        }
        Ok(Some(Ok(self.number)))
    }
}

/// Parses a line as a JSON object of type `kind` carrying exactly `fields`.
fn parse<'a>(
    number: u64,
    bytes: &'a [u8],
    kind: &[&str],
    fields: &[&[&str]],
) -> Result<Line<'a>, String> {
    let line: Line<'a> =
        serde_json::from_slice(bytes).map_err(|e| format!("line {number}: {e}"))?;
    let Some(i) = kind.iter().position(|k| *k == line.kind) else {
        return Err(format!("line {number}: a line of type {:?}", line.kind));
    };
    let present = line.present();
    if fields.get(i).copied() != Some(present.as_slice()) {
        return Err(format!(
            "line {number}: a {:?} line with fields [{}]",
            line.kind,
            present.join(", ")
        ));
    }
    Ok(line)
}

const BLOCK_FIELDS: &[&str] = &["height", "header"];
const ENTRY_FIELDS: &[&str] = &["seq", "entry"];
const CHECKPOINT_FIELDS: &[&str] = &["height", "note"];
const END_FIELDS: &[&str] = &["blocks", "entries"];

fn decode(b64: &str, what: &str, number: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    decode_into(b64.as_bytes(), &mut out, what, number)?;
    Ok(out)
}

/// Decodes `b64` into `out` (appended), with [`decode`]'s error.
fn decode_into(b64: &[u8], out: &mut Vec<u8>, what: &str, number: u64) -> Result<(), String> {
    B64.decode_vec(b64, out)
        .map_err(|e| format!("line {number}: {what} is not padded standard base64 ({e})"))
}

/// The fault of an entry line beyond the header's count or [`MAX_BLOCK_BYTES`].
fn more(seq: u64, count: u64, height: u64) -> Fault {
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
fn read_entry_line(
    number: u64,
    line: &[u8],
    seq: u64,
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
fn read_blocks<R: BufRead>(
    lines: &mut LineReader<R>,
    from_height: u64,
    tx: &SyncSender<Item>,
    recycled: &Receiver<Buffers>,
) {
    let mut height = from_height;
    let mut next_seq: Option<u64> = None;
    let send = |item| {
        let _ = tx.send(item);
    };
    loop {
        let at = Place::Height(height);
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
            Err(_) => (0, next_seq.unwrap_or(0)),
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
            Place::Height(head.from_height),
            "log",
            key.name(),
            &head.log,
        )
        .into());
    }
    if let Some((cp, _)) = trusted {
        if head.from_height > cp.size {
            return Err(VerifyError::BadInput(format!(
                "the export starts at height {}, after the trusted checkpoint (tree size {}): \
                 request it from height {} or earlier",
                head.from_height, cp.size, cp.size
            )));
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
                        if chain.height() != head.to_height {
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

fn read_head<R: BufRead>(lines: &mut LineReader<R>) -> Result<HeadLine, VerifyError> {
    let at = Place::Height(0);
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
    let at = Place::Height(head.from_height);
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
fn base_chain<'k>(key: &'k VerifierKey, head: &HeadLine) -> Result<Chain<'k>, Fault> {
    let base = &head.base;
    let at = Place::Height(head.from_height);
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
                .verify(base.prev, root.unwrap_or_default())
                .map_err(|e| {
                    fault(
                        Place::Height(last),
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
enum Checked {
    Undecodable(String),
    Entry(usize, Result<Hash, Fault>),
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
fn check_block(chain: &mut Chain, block: RawBlock) -> Result<Buffers, VerifyError> {
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
    if block.height != height {
        return Err(fault(at, "block line height", height, block.height).into());
    }
    let header = header?;
    for (i, (seq, _)) in block.entries.iter().take(kept).enumerate() {
        let expected = header.first_seq + i as u64;
        if *seq != expected {
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
    if cp_height != height {
        return Err(fault(at, "checkpoint line height", height, cp_height).into());
    }
    chain.append(&block.header);
    chain.checkpoint(&header, &block.header, &note)?;
    Ok((block.lines, block.entries))
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
            place: Place::Seq(seq),
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
        assert_eq!((f.place, f.field.as_str()), (Place::Seq(2), "line"));

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
                place: Place::Seq(2),
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
}
