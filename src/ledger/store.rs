//! The ledger's storage: an append-only blocks file, `ledger/blocks`, and one sled tree in the
//! same folder. Integers in keys and records are big-endian, so that key order is numeric order.
//!
//! **Writing a block.** The writer builds the block's record — the bytes of its entry chunks and
//! CBMT nodes, then every sled key and value of the block (where those bytes are, the header,
//! checkpoint, history nodes, index keys) — appends it to the blocks file and syncs it: that one
//! sync makes the block durable. Then the block's keys go into sled, one by one, and last the key
//! saying where its record is (`w`). sled flushes its own log in the background (every second),
//! not once per block.
//!
//! **Opening.** sled may be behind the file after a crash, never ahead of it, and it recovers a
//! prefix of its log: a block's `w` is there only if all its keys are. So opening reads on from
//! the end of the last record sled has a `w` for, applies each whole record's keys in order, and
//! cuts the file at the first record that is not whole (a length past the end, or a CRC-32 that
//! fails): a block torn there was never answered. Only the last record can be torn, so a record
//! whose length fits with bytes after it, yet whose CRC fails, makes the store refuse to open
//! rather than cut answered blocks. A file shorter than the last record sled refers to has lost
//! blocks, and the store refuses to open.
//!
//! **Why not sled alone.** sled keeps a B-tree leaf of up to 16 values as one page, and writes a
//! page larger than a quarter of its segment as a file of its own, again at every split. Chunks
//! of 64 entries (some 26 KB) and node arrays made every leaf of them such a page, which cost
//! about a third of the writer's time; and a sled flush per block cost a device sync of its own.
//! In the blocks file the entries are written once, with one sync per block, and read back with
//! positioned reads (`docs/BENCHMARKS.md`, `docs/LEDGER.md`).
//!
//! A record: payload length (u32), CRC-32 of the payload (u32); the payload: height (u64), data
//! length (u32), the data (the chunks, then the CBMT nodes), the number of keys (u32), then each
//! key's length (u16), key, value's length (u32), value.
//!
//! | prefix | key | value |
//! | --- | --- | --- |
//! | `m` | name | metadata (`format`, `origin`, `verifier`, `layout`) |
//! | `w` | height | where the block's record is in the blocks file: offset (u64), length (u32) |
//! | `e` | first seq of a chunk | where its chunk of up to 64 consecutive entries of one block is in the blocks file: offset, length, entries (u16) |
//! | `b` | height | block header bytes (RFC 8785) |
//! | `n` | height | where the block's CBMT is in the blocks file (array form, 32 bytes a node): offset, length |
//! | `c` | height | the signed checkpoint of the tree of height + 1 blocks |
//! | `s` | first_seq | height (which block holds a seq) |
//! | `h` | level, index | history-tree node |
//! | `t` | time (µs since 1970), height | `[]` |
//! | `C` | caller, height | offsets in the block of the caller's entries (u32 each) |
//! | `M` | model name, height | offsets of the model's entries |
//! | `V` | model name, version, height | offsets of that version's entries |
//! | `D` | decision, height | offsets of the entries with that decision |
//! | `R` | rule id, height | offsets of the entries that rule decided |
//!
//! The audit indexes are posting lists per block: one key per indexed value and block. Strings in
//! index keys are length-prefixed (u16, big-endian), so no id can run into the next.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::block::{self, EntryProof};
use super::hash::Hash;
use super::history::NodeSource;

/// Most entries in one stored chunk.
pub const CHUNK: usize = 64;

pub(crate) const META: u8 = b'm';
pub(crate) const ENTRY: u8 = b'e';
pub(crate) const BLOCK: u8 = b'b';
pub(crate) const CBMT_NODES: u8 = b'n';
pub(crate) const CHECKPOINT: u8 = b'c';
pub(crate) const SEQ_BLOCK: u8 = b's';
pub(crate) const HISTORY: u8 = b'h';
pub(crate) const TIME: u8 = b't';
pub(crate) const BY_CALLER: u8 = b'C';
pub(crate) const BY_MODEL: u8 = b'M';
pub(crate) const BY_VERSION: u8 = b'V';
pub(crate) const BY_DECISION: u8 = b'D';
pub(crate) const BY_RULE: u8 = b'R';
pub(crate) const RECORD: u8 = b'w';

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the ledger store: {0}")]
    Sled(#[from] sled::Error),
    #[error("the ledger in {0} is in use by another process (a running server?)")]
    Locked(String),
    #[error("the ledger store is inconsistent: {0}")]
    Corrupt(String),
    #[error("the ledger's blocks file: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "the ledger store has the storage layout {0:?}; this vouch reads {LAYOUT:?} (entries and \
         CBMT nodes in ledger/blocks). Export the log with the vouch that wrote it"
    )]
    Layout(String),
    #[error("the ledger store was opened read-only (a snapshot of the blocks file)")]
    ReadOnly,
    /// Writing or syncing a block's record failed before the block became part of the log: the
    /// file was cut back to where the record began, and the same height may be written again.
    #[error("the block could not be written to the blocks file ({0}); it is not in the log")]
    Unwritten(std::io::Error),
}

pub(crate) fn key_u64(prefix: u8, n: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = prefix;
    k[1..].copy_from_slice(&n.to_be_bytes());
    k
}

pub(crate) fn key_history(level: u8, index: u64) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[0] = HISTORY;
    k[1] = level;
    k[2..].copy_from_slice(&index.to_be_bytes());
    k
}

/// Reads a header this store wrote, without the canonical-form check a verifier makes (the
/// walker checks every header; readers serving proofs need only its fields).
pub(crate) fn trusted_header(
    bytes: &[u8],
    height: u64,
) -> Result<super::block::BlockHeader, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(format!("block {height}: {e}")))
}

/// The blocks file, in sled's folder.
const BLOCKS_FILE: &str = "blocks";

/// The metadata key naming the storage layout, and this layout's name. A store without it was
/// written by a version that kept the entries in sled.
const LAYOUT_KEY: &str = "layout";
const LAYOUT: &str = "blocks-file-1";

/// Encodes one chunk of consecutive entries at the end of `out`.
fn encode_chunk_into(out: &mut Vec<u8>, entries: &[Vec<u8>]) {
    let total: usize = entries.iter().map(Vec::len).sum();
    out.reserve(2 + 4 * entries.len() + total);
    out.extend_from_slice(&(entries.len() as u16).to_be_bytes());
    let mut end = 0u32;
    for e in entries {
        end += e.len() as u32;
        out.extend_from_slice(&end.to_be_bytes());
    }
    for e in entries {
        out.extend_from_slice(e);
    }
}

/// The end offsets of a chunk's entries (relative to its data), if the chunk is well formed:
/// `head` begins the chunk (at least its offset table), `len` is the whole chunk's length.
fn chunk_ends(head: &[u8], len: usize) -> Option<Vec<usize>> {
    let n = usize::from(u16::from_be_bytes(head.get(..2)?.try_into().ok()?));
    let table = head.get(2..2 + 4 * n)?;
    let ends: Vec<usize> = table
        .chunks_exact(4)
        .filter_map(|b| super::hash::be_u32(b).map(|e| e as usize))
        .collect();
    let sorted = ends.windows(2).all(|w| w.first() <= w.last());
    if ends.len() != n || !sorted || ends.last().map(|last| 2 + 4 * n + last) != Some(len) {
        return None;
    }
    Some(ends)
}

fn nodes_malformed(height: u64) -> StoreError {
    StoreError::Corrupt(format!("the CBMT nodes of block {height} are malformed"))
}

fn malformed(first: u64) -> StoreError {
    StoreError::Corrupt(format!("the entry chunk at seq {first} is malformed"))
}

/// Appends a length-prefixed string to an index key.
pub(crate) fn push_str(key: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let len = u16::try_from(b.len()).unwrap_or(u16::MAX);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(b.get(..usize::from(len)).unwrap_or(b));
}

/// The index keys (without the height) under which an entry with these fields is found.
pub(crate) fn index_keys<R: AsRef<str>>(
    caller: Option<&str>,
    model: Option<(&str, &str)>,
    decision: &str,
    rules: &[R],
) -> Vec<Vec<u8>> {
    let mut keys = Vec::with_capacity(5 + rules.len());
    if let Some(caller) = caller {
        let mut k = vec![BY_CALLER];
        push_str(&mut k, caller);
        keys.push(k);
    }
    if let Some((name, version)) = model {
        let mut k = vec![BY_MODEL];
        push_str(&mut k, name);
        keys.push(k);
        let mut k = vec![BY_VERSION];
        push_str(&mut k, name);
        push_str(&mut k, version);
        keys.push(k);
    }
    let mut k = vec![BY_DECISION];
    push_str(&mut k, decision);
    keys.push(k);
    for rule in rules {
        let mut k = vec![BY_RULE];
        push_str(&mut k, rule.as_ref());
        keys.push(k);
    }
    keys
}

/// Whether a key is an audit-index posting (`C`, `M`, `V`, `D` or `R`).
pub(crate) fn is_posting(key: &[u8]) -> bool {
    matches!(
        key.first().copied(),
        Some(BY_CALLER | BY_MODEL | BY_VERSION | BY_DECISION | BY_RULE)
    )
}

/// The audit index of one block: for every indexed value (caller, model, model and version,
/// decision, rule), the offsets in the block of the entries that have it. Stored as one key per
/// value and block — `prefix ‖ value ‖ height` → offsets as u32 big-endian — so a block of a
/// thousand entries costs a few dozen index writes, not thousands. The writer builds it from the
/// drafts; the verifying walk rebuilds it from the entries and compares.
#[derive(Default)]
pub(crate) struct BlockIndex {
    postings: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl BlockIndex {
    /// Indexes the entry at `offset` in the block under its fields.
    pub(crate) fn add_entry<R: AsRef<str>>(
        &mut self,
        caller: Option<&str>,
        model: Option<(&str, &str)>,
        decision: &str,
        rules: &[R],
        offset: u32,
    ) {
        for key in index_keys(caller, model, decision, rules) {
            self.postings
                .entry(key)
                .or_default()
                .extend_from_slice(&offset.to_be_bytes());
        }
    }

    /// The block's posting keys (ending in `height`) and values.
    pub(crate) fn pairs(self, height: u64) -> impl Iterator<Item = (Vec<u8>, Vec<u8>)> {
        self.postings.into_iter().map(move |(mut key, offsets)| {
            key.extend_from_slice(&height.to_be_bytes());
            (key, offsets)
        })
    }
}

/// The key of metadata `name`.
fn meta_key(name: &str) -> Vec<u8> {
    let mut k = vec![META];
    k.extend_from_slice(name.as_bytes());
    k
}

/// Reads the seq (or height) at the end of a key.
pub(crate) fn seq_suffix(key: &[u8]) -> Option<u64> {
    let tail = key.get(key.len().checked_sub(8)?..)?;
    Some(u64::from_be_bytes(tail.try_into().ok()?))
}

/// Where bytes are in the blocks file: the value of a `w` or `n` key, and the start of an `e` key's
/// value (which goes on with the chunk's entry count, u16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Place {
    offset: u64,
    len: u32,
}

impl Place {
    const LEN: usize = 12;

    fn to_bytes(self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[..8].copy_from_slice(&self.offset.to_be_bytes());
        b[8..].copy_from_slice(&self.len.to_be_bytes());
        b
    }

    /// Reads a place from exactly [`Place::LEN`] bytes.
    fn parse(b: &[u8]) -> Option<Place> {
        if b.len() != Self::LEN {
            return None;
        }
        Some(Place {
            offset: u64::from_be_bytes(b.get(..8)?.try_into().ok()?),
            len: super::hash::be_u32(b.get(8..12)?)?,
        })
    }

    fn end(self) -> u64 {
        self.offset + u64::from(self.len)
    }

    /// The first `len` bytes of this place (all of it if it is shorter).
    fn prefix(self, len: u32) -> Place {
        Place {
            offset: self.offset,
            len: len.min(self.len),
        }
    }
}

/// A chunk's place and entry count, from its `e` key's value.
fn chunk_place(value: &[u8], first: u64) -> Result<(Place, u16), StoreError> {
    let count = value
        .get(Place::LEN..)
        .and_then(|b| b.try_into().ok())
        .map(u16::from_be_bytes);
    match (value.get(..Place::LEN).and_then(Place::parse), count) {
        (Some(place), Some(count)) => Ok((place, count)),
        _ => Err(StoreError::Corrupt(format!(
            "the place of the entry chunk at seq {first} is malformed"
        ))),
    }
}

/// The append-only blocks file. Only the ledger's one writer appends; readers use positioned
/// reads, so they never move a shared cursor.
struct BlocksFile {
    file: std::fs::File,
    /// The end of the last whole record (the next record's offset).
    end: AtomicU64,
    /// Blocks applied from the file when the store was opened.
    replayed: AtomicU64,
}

impl BlocksFile {
    /// The bytes at `place`, which must lie within what has been appended; `what` names them in
    /// the error if not.
    fn read(&self, place: Place, what: &dyn Fn() -> String) -> Result<Vec<u8>, StoreError> {
        if place
            .offset
            .checked_add(u64::from(place.len))
            .is_none_or(|end| end > self.end.load(Ordering::Acquire))
        {
            return Err(StoreError::Corrupt(format!(
                "{} lies past the end of the blocks file",
                what()
            )));
        }
        let mut buf = vec![0u8; place.len as usize];
        self.file.read_exact_at(&mut buf, place.offset)?;
        Ok(buf)
    }

    /// Hands each whole record from byte `from` on (the first of them block `next_height`), in
    /// order, to `apply`, at most `most` of them; returns where the first record not read
    /// starts (the first that is not whole, or `len`) and how many records were read.
    fn records(
        &self,
        from: u64,
        mut next_height: u64,
        len: u64,
        most: u64,
        apply: &mut dyn FnMut(u64, Place, Pairs) -> Result<(), StoreError>,
    ) -> Result<(u64, u64), StoreError> {
        let mut at = from;
        let mut read = 0u64;
        while read < most {
            let Some(payload) = self.whole_record(at, len)? else {
                break;
            };
            let (height, pairs) = BlockRecord::parse(&payload).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "the record at byte {at} of the blocks file passes its CRC but does not parse"
                ))
            })?;
            if height != next_height {
                return Err(StoreError::Corrupt(format!(
                    "the record at byte {at} of the blocks file is block {height}, the store \
                     expects block {next_height}"
                )));
            }
            let place = Place {
                offset: at,
                len: u32::try_from(payload.len() + 8).unwrap_or(u32::MAX),
            };
            apply(height, place, pairs)?;
            at = place.end();
            next_height += 1;
            read += 1;
        }
        Ok((at, read))
    }

    /// Why the bytes from `at` (where the first record that is not whole starts) to `len` are
    /// not what an unfinished write leaves, if they are not. The writer appends one record at a
    /// time with one write and syncs it before the next, so a crash leaves at most the last
    /// record torn, and nothing after it: a record whose head claims a length that fits, with
    /// bytes after it, yet is not whole, was damaged after it was written. A head that is cut,
    /// or claims too little or more than is there, cannot say where the next record would be:
    /// that is taken for a torn write (the file system may persist a write's pages in any
    /// order).
    fn tail_damage(&self, at: u64, len: u64) -> Result<Option<String>, StoreError> {
        let Some((payload_len, _)) = self.record_head(at, len)? else {
            return Ok(None);
        };
        let after = len.saturating_sub(at + 8 + payload_len);
        if payload_len < RECORD_HEAD - 8 || at + 8 + payload_len > len || after == 0 {
            return Ok(None);
        }
        Ok(Some(format!(
            "a record of {} bytes whose CRC-32 fails, with {after} bytes after it",
            8 + payload_len
        )))
    }

    /// The payload length and CRC-32 a record at `at` claims, if the file holds its 8 bytes.
    fn record_head(&self, at: u64, len: u64) -> Result<Option<(u64, u32)>, StoreError> {
        if len.saturating_sub(at) < 8 {
            return Ok(None);
        }
        let mut head = [0u8; 8];
        self.file.read_exact_at(&mut head, at)?;
        let payload_len = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        Ok(Some((
            payload_len,
            u32::from_be_bytes([head[4], head[5], head[6], head[7]]),
        )))
    }

    /// The payload of the record at `at` if it is whole: its length fits the file and its CRC
    /// holds.
    fn whole_record(&self, at: u64, len: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((payload_len, crc)) = self.record_head(at, len)? else {
            return Ok(None);
        };
        if payload_len < RECORD_HEAD - 8 || len - at - 8 < payload_len {
            return Ok(None);
        }
        let mut payload = vec![0u8; payload_len as usize];
        self.file.read_exact_at(&mut payload, at + 8)?;
        Ok((crc32fast::hash(&payload) == crc).then_some(payload))
    }
}

/// The bytes before a record's data: payload length (u32), CRC-32 of the payload (u32), height
/// (u64), data length (u32).
const RECORD_HEAD: u64 = 20;

/// A block's sled keys and values, in the order the writer put them.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// One block as the writer builds it: the bytes of its entry chunks and CBMT nodes, and every
/// sled key and value of the block. [`Store::commit`] writes it to the blocks file, syncs it, and
/// applies its keys to sled.
pub(crate) struct BlockRecord {
    height: u64,
    /// Where the record will start in the blocks file.
    offset: u64,
    /// The record as it is written: its head (length, CRC and data length filled in by
    /// [`BlockRecord::finish`]), then the data as it is added; the keys follow at the end.
    bytes: Vec<u8>,
    pairs: Pairs,
}

impl BlockRecord {
    pub(crate) fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.pairs.push((key.into(), value.into()));
    }

    /// Adds the block's chunks and CBMT nodes to its data, and keys saying where each is.
    /// `chunks` are the first seq and the entries of each chunk.
    pub(crate) fn put_entries<'a>(
        &mut self,
        chunks: impl Iterator<Item = (u64, &'a [Vec<u8>])>,
        nodes: &[Hash],
    ) -> Result<(), StoreError> {
        let (offset, height) = (self.offset, self.height);
        let place = |bytes: &Vec<u8>, from: usize| -> Result<Place, StoreError> {
            let len = u32::try_from(bytes.len() - from).map_err(|_| {
                StoreError::Corrupt(format!("block {height} has over 4 GiB of entries"))
            })?;
            Ok(Place {
                offset: offset + from as u64,
                len,
            })
        };
        for (first, chunk) in chunks {
            let from = self.bytes.len();
            encode_chunk_into(&mut self.bytes, chunk);
            let mut value = place(&self.bytes, from)?.to_bytes().to_vec();
            value.extend_from_slice(&u16::try_from(chunk.len()).unwrap_or(u16::MAX).to_be_bytes());
            self.insert(key_u64(ENTRY, first), value);
        }
        let from = self.bytes.len();
        for n in nodes {
            self.bytes.extend_from_slice(&n.0);
        }
        let nodes = place(&self.bytes, from)?;
        self.insert(key_u64(CBMT_NODES, height), nodes.to_bytes());
        Ok(())
    }

    /// Completes the record where it was built — data length, then the keys and values (a
    /// count, u32; then each key's length, u16, the key, the value's length, u32, the value),
    /// then length and CRC — and hands back its bytes and keys.
    fn finish(self) -> Result<(Vec<u8>, Pairs), StoreError> {
        let BlockRecord {
            height,
            mut bytes,
            pairs,
            ..
        } = self;
        let too_big = || StoreError::Corrupt(format!("block {height} is over 4 GiB"));
        let head = RECORD_HEAD as usize;
        let data_len = u32::try_from(bytes.len() - head).map_err(|_| too_big())?;
        let pairs_len: usize = pairs.iter().map(|(k, v)| 6 + k.len() + v.len()).sum();
        bytes.reserve(4 + pairs_len);
        bytes.extend_from_slice(
            &u32::try_from(pairs.len())
                .map_err(|_| too_big())?
                .to_be_bytes(),
        );
        for (k, v) in &pairs {
            bytes.extend_from_slice(&u16::try_from(k.len()).map_err(|_| too_big())?.to_be_bytes());
            bytes.extend_from_slice(k);
            bytes.extend_from_slice(&u32::try_from(v.len()).map_err(|_| too_big())?.to_be_bytes());
            bytes.extend_from_slice(v);
        }
        let payload_len = u32::try_from(bytes.len() - 8).map_err(|_| too_big())?;
        let malformed = || StoreError::Corrupt(format!("block {height}: a record without a head"));
        bytes
            .get_mut(16..head)
            .ok_or_else(malformed)?
            .copy_from_slice(&data_len.to_be_bytes());
        let crc = crc32fast::hash(bytes.get(8..).ok_or_else(malformed)?);
        bytes
            .get_mut(..4)
            .ok_or_else(malformed)?
            .copy_from_slice(&payload_len.to_be_bytes());
        bytes
            .get_mut(4..8)
            .ok_or_else(malformed)?
            .copy_from_slice(&crc.to_be_bytes());
        Ok((bytes, pairs))
    }

    /// Reads a record's height and keys back from its payload (the bytes after length and
    /// CRC); `None` if they do not parse.
    fn parse(payload: &[u8]) -> Option<(u64, Pairs)> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Option<&[u8]> {
            let b = payload.get(at..at.checked_add(n)?)?;
            at += n;
            Some(b)
        };
        let height = u64::from_be_bytes(take(8)?.try_into().ok()?);
        let data_len = super::hash::be_u32(take(4)?)? as usize;
        take(data_len)?;
        let count = super::hash::be_u32(take(4)?)?;
        let mut pairs = Vec::new();
        for _ in 0..count {
            let klen = u16::from_be_bytes(take(2)?.try_into().ok()?);
            let key = take(usize::from(klen))?.to_vec();
            let vlen = super::hash::be_u32(take(4)?)? as usize;
            let value = take(vlen)?.to_vec();
            pairs.push((key, value));
        }
        (at == payload.len()).then_some((height, pairs))
    }
}

/// One ledger's blocks file and the index of its keys: sled, or a read-only snapshot.
#[derive(Clone)]
pub struct Store {
    index: Index,
    blocks: Arc<BlocksFile>,
    /// Whether [`Store::open`] built the index again from the blocks file.
    rebuilt: bool,
}

/// Where a store's keys are looked up.
#[derive(Clone)]
enum Index {
    /// The server's index ([`Store::open`]).
    Sled { db: sled::Db, tree: sled::Tree },
    /// The keys of one record of the blocks file at a time, read without writing anything
    /// ([`Store::open_snapshot`]).
    Snapshot(Arc<Mutex<Window>>),
}

/// A read-only walk through the blocks file, one record at a time.
#[derive(Default)]
struct Window {
    /// The keys and values of the record read last.
    keys: BTreeMap<sled::IVec, sled::IVec>,
    /// Where the next record starts, and its height.
    next_at: u64,
    next_height: u64,
    /// The file's length when it was opened: records appended since are not read.
    len: u64,
    /// Whether a record that is not whole was met at `next_at`.
    ended: bool,
}

impl Index {
    fn flush(&self) -> Result<(), StoreError> {
        if let Index::Sled { db, .. } = self {
            db.flush()?;
        }
        Ok(())
    }
}

/// The window's keys stay consistent while a walk reads them (it is the only user); a panic
/// elsewhere cannot leave them half-replaced, so a poisoned lock is used as is.
fn lock(window: &Mutex<Window>) -> std::sync::MutexGuard<'_, Window> {
    window
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A forward scan of either index, from a start key.
enum Scan {
    Sled(Box<sled::Iter>),
    /// The next key to look up at or after; `None` once past the end.
    Snapshot {
        window: Arc<Mutex<Window>>,
        next: Option<Vec<u8>>,
    },
}

impl Iterator for Scan {
    type Item = Result<(sled::IVec, sled::IVec), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Scan::Sled(iter) => iter.next().map(|r| r.map_err(StoreError::from)),
            Scan::Snapshot { window, next } => {
                let from = next.take()?;
                let window = lock(window);
                let (k, v) = window
                    .keys
                    .range::<[u8], _>((Bound::Included(&from[..]), Bound::Unbounded))
                    .next()?;
                // The least key after `k`: `k` followed by a zero byte.
                let mut after = k.to_vec();
                after.push(0);
                *next = Some(after);
                Some(Ok((k.clone(), v.clone())))
            }
        }
    }
}

/// How often sled's own log is flushed in the background. An append is durable once its block's
/// record is synced in the blocks file; what sled has not flushed at a crash is replayed from
/// there when the store opens.
const SLED_FLUSH_MS: u64 = 1000;

/// Opens sled in `dir/ledger`, waiting up to two seconds for a lock a closed store in this
/// process may still hold.
fn open_sled(dir: &Path) -> Result<sled::Db, StoreError> {
    let config = sled::Config::new()
        .path(dir.join("ledger"))
        .mode(sled::Mode::HighThroughput)
        .flush_every_ms(Some(SLED_FLUSH_MS))
        .cache_capacity(256 * 1024 * 1024);
    let mut tries = 0;
    loop {
        match config.open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock") && tries < 100 =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                return Err(StoreError::Locked(dir.display().to_string()));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether sled failed for want of room (`ENOSPC`, `EDQUOT`), which making room mends.
fn out_of_room(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if matches!(io.raw_os_error(), Some(28 | 122)))
}

/// Removes the snapshot files sled leaves half-made when it is stopped (or runs out of room)
/// while writing one: they are never read, and only take room.
fn remove_unfinished_snapshots(folder: &Path) {
    let Ok(dir) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => tracing::info!(file = %name, "removed an unfinished sled snapshot"),
                Err(e) => {
                    tracing::warn!(file = %name, error = %e, "cannot remove an unfinished sled snapshot")
                }
            }
        }
    }
}

/// Moves every file of `folder` but the blocks file into a new `index-set-aside-<n>` folder
/// inside it (kept for inspection, never read again), and returns that folder.
fn set_index_aside(folder: &Path) -> Result<std::path::PathBuf, StoreError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let aside = folder.join(format!("index-set-aside-{stamp}"));
    std::fs::create_dir_all(&aside)?;
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let name = entry.file_name();
        let keep = name == BLOCKS_FILE || name.to_string_lossy().starts_with("index-set-aside-");
        if !keep {
            std::fs::rename(entry.path(), aside.join(&name))?;
        }
    }
    if let Ok(d) = std::fs::File::open(folder) {
        let _ = d.sync_all();
    }
    Ok(aside)
}

impl Store {
    /// Opens (or creates) the store in `dir/ledger`.
    ///
    /// sled locks the folder while a database is open and releases the lock from a background
    /// thread after the last handle is dropped, so a store closed a moment ago in this process
    /// may still look locked: wait up to two seconds for it before giving up.
    ///
    /// Then the blocks file is brought in line with sled: records after the last one sled holds
    /// are applied to sled, in order (sled flushes in the background, so a crash can leave it
    /// behind the file), and a torn record at the end — a block whose write never finished, and
    /// so was never answered — is cut off.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let folder = dir.join("ledger");
        remove_unfinished_snapshots(&folder);
        let (db, rebuilt) = match open_sled(dir) {
            Ok(db) => (db, false),
            Err(StoreError::Sled(e)) if out_of_room(&e) => {
                return Err(StoreError::Io(std::io::Error::other(format!(
                    "the disk is full ({e}): make room and start again; nothing was changed"
                ))))
            }
            Err(StoreError::Sled(e)) if folder.join(BLOCKS_FILE).exists() => {
                // The blocks file is the durable log and sled only its index: an index that
                // cannot be opened (a disk that filled up while sled wrote, say) is set aside and
                // built again from the file, block by block, below.
                let aside = set_index_aside(&folder)?;
                tracing::warn!(
                    error = %e,
                    moved_to = %aside.display(),
                    "the ledger's index (sled) cannot be opened; rebuilding it from the blocks file"
                );
                (open_sled(dir)?, true)
            }
            Err(e) => return Err(e),
        };
        let tree = db.open_tree("ledger-v1")?;
        let layout = meta_key(LAYOUT_KEY);
        match tree.get(&layout)? {
            Some(v) if v.as_ref() == LAYOUT.as_bytes() => {}
            Some(v) => return Err(StoreError::Layout(String::from_utf8_lossy(&v).into_owned())),
            None if tree.first()?.is_some() => {
                return Err(StoreError::Layout("entries in sled".into()))
            }
            None => {
                tree.insert(&layout, LAYOUT.as_bytes())?;
                db.flush()?;
            }
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("ledger").join(BLOCKS_FILE))?;
        let store = Store {
            index: Index::Sled { db, tree },
            blocks: Arc::new(BlocksFile {
                file,
                end: AtomicU64::new(0),
                replayed: AtomicU64::new(0),
            }),
            rebuilt,
        };
        // Where sled's blocks end: after the last record it has a `w` for, and that block's height.
        let (applied, next_height) = match store.last(RECORD)? {
            None => (0, 0),
            Some((k, v)) => {
                let height = seq_suffix(&k).unwrap_or(0);
                let place = Place::parse(&v).ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "the place of block {height}'s record is malformed"
                    ))
                })?;
                (place.end(), height + 1)
            }
        };
        let len = store.blocks.file.metadata()?.len();
        if len < applied {
            return Err(StoreError::Corrupt(format!(
                "the blocks file holds {len} bytes, the store refers to {applied}"
            )));
        }
        store.replay(applied, next_height, len)?;
        Ok(store)
    }

    /// Opens the ledger in `dir/ledger` read-only, from its blocks file alone, for a walk from
    /// the first block ([`Store::advance`] reads each record in turn). Nothing is written and
    /// sled is not opened, so its lock is not needed and a running server may go on appending
    /// (records appended after opening are not read). What is read is the durable log itself,
    /// every block the server ever answered for, not sled's copy of its keys. Memory: one
    /// record's keys at a time.
    pub fn open_snapshot(dir: &Path) -> Result<Store, StoreError> {
        let file = std::fs::File::open(dir.join("ledger").join(BLOCKS_FILE))?;
        let len = file.metadata()?.len();
        Ok(Store {
            index: Index::Snapshot(Arc::new(Mutex::new(Window {
                len,
                ..Window::default()
            }))),
            blocks: Arc::new(BlocksFile {
                file,
                end: AtomicU64::new(0),
                replayed: AtomicU64::new(0),
            }),
            rebuilt: false,
        })
    }

    /// Whether the index was built again from the blocks file when the store was opened (it
    /// could not be opened as it was); its metadata must then be written again.
    pub fn rebuilt(&self) -> bool {
        self.rebuilt
    }

    /// For a snapshot: reads the record of block `height`, the next in the file, in place of
    /// the one before, if it is whole. Returns whether the store holds block `height` — for
    /// sled, always (its keys say). After the last whole record the last one's keys stay.
    pub fn advance(&self, height: u64) -> Result<bool, StoreError> {
        let Index::Snapshot(window) = &self.index else {
            return Ok(true);
        };
        let mut w = lock(window);
        if w.ended || height != w.next_height {
            return Ok(false);
        }
        let (at, len) = (w.next_at, w.len);
        let mut keys = BTreeMap::new();
        let (end, read) = self
            .blocks
            .records(at, height, len, 1, &mut |_, _, pairs| {
                for (k, v) in pairs {
                    keys.insert(sled::IVec::from(k), sled::IVec::from(v));
                }
                Ok(())
            })?;
        if read == 0 {
            w.ended = true;
            return Ok(false);
        }
        w.keys = keys;
        w.next_at = end;
        w.next_height = height + 1;
        self.blocks.end.store(end, Ordering::Release);
        Ok(true)
    }

    /// For a snapshot: the keys of the record read last.
    pub fn record_keys(&self) -> Option<Vec<sled::IVec>> {
        match &self.index {
            Index::Snapshot(window) => Some(lock(window).keys.keys().cloned().collect()),
            Index::Sled { .. } => None,
        }
    }

    /// Applies to sled the whole records of the blocks file from `from` on (the first of them
    /// block `next_height`), and cuts the file at the first record that is not whole.
    fn replay(&self, from: u64, next_height: u64, len: u64) -> Result<(), StoreError> {
        let (at, replayed) =
            self.blocks
                .records(from, next_height, len, u64::MAX, &mut |h, place, pairs| {
                    self.apply(h, place, pairs)
                })?;
        if at < len {
            // Only what a crash leaves is cut; a damaged record with blocks after it — blocks
            // that were answered — is not a reason to drop them.
            if let Some(why) = self.blocks.tail_damage(at, len)? {
                return Err(StoreError::Corrupt(format!(
                    "byte {at} of the blocks file: {why}; not what an unfinished write leaves, so \
                     nothing was cut (verify it with `vouch verify --data`)"
                )));
            }
            self.blocks.file.set_len(at)?;
            self.blocks.file.sync_all()?;
        }
        self.blocks.end.store(at, Ordering::Release);
        if replayed > 0 {
            tracing::info!(blocks = replayed, "replayed blocks sled had not flushed");
            self.index.flush()?;
        }
        self.blocks.replayed.store(replayed, Ordering::Release);
        Ok(())
    }

    /// A new record for the block at `height`, to be written at the end of the blocks file.
    pub(crate) fn begin_block(&self, height: u64) -> BlockRecord {
        let mut bytes = Vec::with_capacity(RECORD_HEAD as usize);
        bytes.extend_from_slice(&[0u8; 8]);
        bytes.extend_from_slice(&height.to_be_bytes());
        bytes.extend_from_slice(&[0u8; 4]);
        BlockRecord {
            height,
            offset: self.blocks.end.load(Ordering::Acquire),
            bytes,
            pairs: Vec::new(),
        }
    }

    /// Makes a block durable — its record written at the end of the blocks file and synced —
    /// then applies its keys to sled, `w` last. sled's own log is flushed in the
    /// background; after a crash [`Store::open`] replays what it lacks from the file.
    /// Returns how long the sync took.
    pub(crate) fn commit(&self, record: BlockRecord) -> Result<Duration, StoreError> {
        let (height, offset) = (record.height, record.offset);
        if offset != self.blocks.end.load(Ordering::Acquire) {
            return Err(StoreError::Corrupt(format!(
                "block {height} was begun at byte {offset} of the blocks file, which has moved on"
            )));
        }
        let (bytes, pairs) = record.finish()?;
        let started = Instant::now();
        let written = self
            .blocks
            .file
            .write_all_at(&bytes, offset)
            .and_then(|()| self.blocks.file.sync_data());
        if let Err(e) = written {
            // Nothing after `offset` is part of the log yet: cut what reached the file, so
            // that neither a retry at the same height nor the next open meets a stale tail.
            let _ = self.blocks.file.set_len(offset);
            let _ = self.blocks.file.sync_all();
            return Err(StoreError::Unwritten(e));
        }
        let synced = started.elapsed();
        let place = Place {
            offset,
            len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        };
        self.blocks.end.store(place.end(), Ordering::Release);
        self.apply(height, place, pairs)?;
        Ok(synced)
    }

    /// Applies one block's keys to sled, then where its record is. Not as one sled batch: a
    /// batch makes sled write out its log buffer at once (one write and one writeback request
    /// per block, on sled's I/O threads), and the block is already durable in the blocks file.
    /// sled recovers a prefix of its log, so after a crash the block's `w` key is there only if
    /// all its other keys are; [`Store::open`] replays from the last `w`, and a block's keys
    /// put again are the same keys with the same values. Readers see a block only once the
    /// ledger's head moves past it, after this returns.
    fn apply(&self, height: u64, place: Place, pairs: Pairs) -> Result<(), StoreError> {
        let Index::Sled { tree, .. } = &self.index else {
            return Err(StoreError::ReadOnly);
        };
        for (k, v) in pairs {
            tree.insert(k, v)?;
        }
        tree.insert(key_u64(RECORD, height), &place.to_bytes())?;
        Ok(())
    }

    /// Whether a record of `bytes` could be written now: writes that many zeros after the last
    /// record, syncs them, and cuts them off again. Only the writer calls it, between blocks;
    /// what a crash in the middle leaves is a torn tail, which the next open cuts.
    pub(crate) fn probe_room(&self, bytes: usize) -> Result<(), StoreError> {
        let end = self.blocks.end.load(Ordering::Acquire);
        let written = self
            .blocks
            .file
            .write_all_at(&vec![0u8; bytes], end)
            .and_then(|()| self.blocks.file.sync_data());
        let cut = self
            .blocks
            .file
            .set_len(end)
            .and_then(|()| self.blocks.file.sync_all());
        written.and(cut).map_err(StoreError::Unwritten)
    }

    /// Flushes sled's log (the blocks are durable without it; this only spares a replay).
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        self.index.flush()
    }

    /// How many blocks [`Store::open`] applied from the blocks file because sled lacked them.
    pub fn replayed(&self) -> u64 {
        self.blocks.replayed.load(Ordering::Acquire)
    }

    /// For a snapshot walked to its end: the bytes after the last whole record, left in place —
    /// a block whose write never finished (or that a running server is writing now). Always 0
    /// for a store opened for writing, which cuts them.
    pub fn unfinished_tail(&self) -> u64 {
        match &self.index {
            Index::Snapshot(window) => {
                let w = lock(window);
                if w.ended {
                    w.len - w.next_at
                } else {
                    0
                }
            }
            Index::Sled { .. } => 0,
        }
    }

    /// For a snapshot walked to its end: the height and byte where the bytes after the last
    /// whole record start, and why they cannot be an unfinished write, if they cannot.
    pub fn tail_damage(&self) -> Result<Option<(u64, u64, String)>, StoreError> {
        let Index::Snapshot(window) = &self.index else {
            return Ok(None);
        };
        let (at, len, height) = {
            let w = lock(window);
            (w.next_at, w.len, w.next_height)
        };
        Ok(self
            .blocks
            .tail_damage(at, len)?
            .map(|why| (height, at, why)))
    }

    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        match &self.index {
            Index::Sled { tree, .. } => Ok(tree.get(key)?),
            Index::Snapshot(window) => Ok(lock(window).keys.get(key).cloned()),
        }
    }

    /// The last key/value under `prefix`.
    pub(crate) fn last(&self, prefix: u8) -> Result<Option<(sled::IVec, sled::IVec)>, StoreError> {
        match &self.index {
            Index::Sled { tree, .. } => Ok(tree.scan_prefix([prefix]).next_back().transpose()?),
            Index::Snapshot(window) => {
                let from = [prefix];
                let to = prefix.checked_add(1).map(|p| [p]);
                let upper = to
                    .as_ref()
                    .map_or(Bound::Unbounded, |t| Bound::Excluded(&t[..]));
                Ok(lock(window)
                    .keys
                    .range::<[u8], _>((Bound::Included(&from[..]), upper))
                    .next_back()
                    .map(|(k, v)| (k.clone(), v.clone())))
            }
        }
    }

    /// Keys and values from `start` (inclusive) while they share `prefix`.
    pub(crate) fn scan_from(
        &self,
        prefix: &[u8],
        start: &[u8],
    ) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>> + use<> {
        let prefix = prefix.to_vec();
        let scan = match &self.index {
            Index::Sled { tree, .. } => Scan::Sled(Box::new(tree.range(start.to_vec()..))),
            Index::Snapshot(window) => Scan::Snapshot {
                window: Arc::clone(window),
                next: Some(start.to_vec()),
            },
        };
        scan.take_while(move |r| match r {
            Ok((k, _)) => k.starts_with(&prefix),
            Err(_) => true,
        })
    }

    /// The last key at or below `key`, if it shares `prefix`.
    pub(crate) fn floor(
        &self,
        prefix: u8,
        key: &[u8],
    ) -> Result<Option<(sled::IVec, sled::IVec)>, StoreError> {
        let found = match &self.index {
            Index::Sled { tree, .. } => tree.range(..=key.to_vec()).next_back().transpose()?,
            Index::Snapshot(window) => lock(window)
                .keys
                .range::<[u8], _>((Bound::Unbounded, Bound::Included(key)))
                .next_back()
                .map(|(k, v)| (k.clone(), v.clone())),
        };
        match found {
            Some((k, v)) if k.first() == Some(&prefix) => Ok(Some((k, v))),
            _ => Ok(None),
        }
    }

    /// The chunk whose `e` key and value these are: its first seq, place and entry count.
    fn place(key: &[u8], value: &[u8]) -> Result<(u64, Place, u16), StoreError> {
        let first = seq_suffix(key).unwrap_or(u64::MAX);
        let (place, count) = chunk_place(value, first)?;
        Ok((first, place, count))
    }

    /// A whole chunk's bytes and the end offsets of its entries.
    fn chunk(
        &self,
        first: u64,
        place: Place,
        count: u16,
    ) -> Result<(Vec<u8>, Vec<usize>), StoreError> {
        let bytes = self
            .blocks
            .read(place, &|| format!("the entry chunk at seq {first}"))?;
        match chunk_ends(&bytes, bytes.len()) {
            Some(ends) if ends.len() == usize::from(count) => Ok((bytes, ends)),
            _ => Err(malformed(first)),
        }
    }

    /// The entry bytes at `seq`: two positioned reads, the chunk's offset table and the entry.
    pub fn entry(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((key, value)) = self.floor(ENTRY, &key_u64(ENTRY, seq))? else {
            return Ok(None);
        };
        let (first, place, count) = Self::place(&key, &value)?;
        let Some(index) = seq.checked_sub(first).and_then(|i| usize::try_from(i).ok()) else {
            return Ok(None);
        };
        if index >= usize::from(count) {
            return Ok(None);
        }
        let what = || format!("the entry chunk at seq {first}");
        let header = 2 + 4 * u32::from(count);
        let head = self.blocks.read(place.prefix(header), &what)?;
        let ends = chunk_ends(&head, place.len as usize).ok_or_else(|| malformed(first))?;
        let start = match index.checked_sub(1) {
            None => 0,
            Some(i) => *ends.get(i).ok_or_else(|| malformed(first))?,
        };
        let end = *ends.get(index).ok_or_else(|| malformed(first))?;
        // chunk_ends checked that the offsets are sorted and end where the chunk does.
        let entry = Place {
            offset: place.offset + u64::from(header) + start as u64,
            len: u32::try_from(end - start).map_err(|_| malformed(first))?,
        };
        self.blocks.read(entry, &what).map(Some)
    }

    /// The `e` keys and values of the chunks that start at seqs `[from, to)`, in order.
    fn chunk_keys(
        &self,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>> + use<> {
        let end = key_u64(ENTRY, to);
        self.scan_from(&[ENTRY], &key_u64(ENTRY, from))
            .take_while(move |r| r.as_ref().map_or(true, |(k, _)| k.as_ref() < &end[..]))
    }

    /// The first seqs and entry counts of the chunks stored for seqs `[from, to)`, in order.
    pub fn chunks_in(&self, from: u64, to: u64) -> Result<Vec<(u64, usize)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.chunk_keys(from, to) {
            let (key, value) = kv?;
            let (first, _, count) = Self::place(&key, &value)?;
            out.push((first, usize::from(count)));
        }
        Ok(out)
    }

    /// Calls `f` with the bytes of each stored entry of seqs `[from, to)`, in seq order, reading
    /// whole chunks (`from` must be the first seq of a chunk, as a block's first seq is). Stops at
    /// the first gap; the caller counts the calls.
    pub fn for_each_entry<E: From<StoreError>>(
        &self,
        from: u64,
        to: u64,
        f: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut next = from;
        for kv in self.chunk_keys(from, to) {
            let (key, value) = kv?;
            let (first, place, count) = Self::place(&key, &value)?;
            if first != next {
                return Ok(());
            }
            let (chunk, ends) = self.chunk(first, place, count)?;
            let data = chunk
                .get(2 + 4 * ends.len()..)
                .ok_or_else(|| malformed(first))?;
            let mut start = 0;
            for end in ends {
                f(data.get(start..end).ok_or_else(|| malformed(first))?)?;
                start = end;
                next += 1;
                if next == to {
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// The seq of the last stored entry.
    pub fn last_seq(&self) -> Result<Option<u64>, StoreError> {
        match self.last(ENTRY)? {
            None => Ok(None),
            Some((key, value)) => {
                let (first, _, count) = Self::place(&key, &value)?;
                Ok(Some(first + u64::from(count.max(1)) - 1))
            }
        }
    }

    /// The header bytes of the block at `height`.
    pub fn header(&self, height: u64) -> Result<Option<sled::IVec>, StoreError> {
        self.get(&key_u64(BLOCK, height))
    }

    /// The signed checkpoint stored with the block at `height` (tree size height + 1).
    pub fn checkpoint(&self, height: u64) -> Result<Option<String>, StoreError> {
        match self.get(&key_u64(CHECKPOINT, height))? {
            None => Ok(None),
            Some(v) => String::from_utf8(v.to_vec()).map(Some).map_err(|_| {
                StoreError::Corrupt(format!("checkpoint at height {height} is not UTF-8"))
            }),
        }
    }

    /// Where the CBMT nodes of the block at `height` are.
    fn nodes_place(&self, height: u64) -> Result<Option<Place>, StoreError> {
        match self.get(&key_u64(CBMT_NODES, height))? {
            None => Ok(None),
            Some(v) => Place::parse(&v)
                .filter(|p| block::stored_leaf_count(p.len as usize).is_some())
                .map(Some)
                .ok_or_else(|| nodes_malformed(height)),
        }
    }

    /// The CBMT of the block at `height` in array form, 32 bytes a node.
    pub fn cbmt_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(place) = self.nodes_place(height)? else {
            return Ok(None);
        };
        let what = || format!("the CBMT nodes of block {height}");
        self.blocks.read(place, &what).map(Some)
    }

    /// The CBMT node array of the block at `height`.
    pub fn cbmt_nodes(&self, height: u64) -> Result<Option<Vec<Hash>>, StoreError> {
        Ok(self
            .cbmt_bytes(height)?
            .map(|v| v.chunks_exact(32).filter_map(Hash::from_slice).collect()))
    }

    /// The proof of the entry at `index` in the block at `height`, reading only the O(log c)
    /// nodes on its path. `None` if the block has no stored nodes or no such entry.
    pub fn entry_proof(&self, height: u64, index: u64) -> Result<Option<EntryProof>, StoreError> {
        let Some(place) = self.nodes_place(height)? else {
            return Ok(None);
        };
        let count = block::stored_leaf_count(place.len as usize).unwrap_or(0);
        if index >= count {
            return Ok(None);
        }
        let what = || format!("the CBMT nodes of block {height}");
        let mut path = Vec::new();
        for k in block::sibling_indexes(count, index) {
            let node = Place {
                offset: place.offset + k * 32,
                len: 32,
            };
            let bytes = self.blocks.read(node, &what)?;
            path.push(Hash::from_slice(&bytes).ok_or_else(|| nodes_malformed(height))?);
        }
        Ok(Some(EntryProof { index, count, path }))
    }

    /// The height of the block holding `seq` (the caller checks that seq is below the log size).
    pub fn block_of(&self, seq: u64) -> Result<Option<u64>, StoreError> {
        match self.floor(SEQ_BLOCK, &key_u64(SEQ_BLOCK, seq))? {
            None => Ok(None),
            Some((_, v)) => {
                Ok(Some(u64::from_be_bytes(v.as_ref().try_into().map_err(
                    |_| StoreError::Corrupt("seq→block value".into()),
                )?)))
            }
        }
    }

    /// The first seq of the block at `height`.
    pub fn first_seq(&self, height: u64) -> Result<u64, StoreError> {
        let bytes = self
            .header(height)?
            .ok_or_else(|| StoreError::Corrupt(format!("block {height} is missing")))?;
        Ok(trusted_header(&bytes, height)?.first_seq)
    }

    pub(crate) fn meta(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(&meta_key(name))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub(crate) fn set_meta(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let Index::Sled { db, tree } = &self.index else {
            return Err(StoreError::ReadOnly);
        };
        tree.insert(meta_key(name), value.as_bytes())?;
        db.flush()?;
        Ok(())
    }

    /// Size of the store on disk, in bytes.
    pub fn size_on_disk(&self) -> u64 {
        let index = match &self.index {
            Index::Sled { db, .. } => db.size_on_disk().unwrap_or(0),
            Index::Snapshot(_) => 0,
        };
        index + self.blocks.end.load(Ordering::Acquire)
    }
}

impl NodeSource for Store {
    type Error = StoreError;
    fn node(&self, level: u8, index: u64) -> Result<Hash, StoreError> {
        let v = self.get(&key_history(level, index))?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "history node (level {level}, index {index}) is missing"
            ))
        })?;
        Hash::from_slice(&v).ok_or_else(|| {
            StoreError::Corrupt(format!("history node ({level}, {index}) is not 32 bytes"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_its_height_and_keys_and_places_its_data_after_its_head() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut record = store.begin_block(0);
        let entries = [b"first".to_vec(), b"second entry".to_vec()];
        record
            .put_entries([(0u64, &entries[..])].into_iter(), &[Hash::digest(b"n")])
            .unwrap();
        record.insert(key_u64(BLOCK, 0), b"header".to_vec());
        let (bytes, written) = record.finish().unwrap();
        let (height, pairs) = BlockRecord::parse(&bytes[8..]).unwrap();
        assert_eq!((height, &pairs), (0, &written));
        // The chunk's place points at its bytes inside the record.
        let (_, value) = &pairs[0];
        let (place, count) = chunk_place(value, 0).unwrap();
        assert_eq!((place.offset, count), (RECORD_HEAD, 2));
        let at = place.offset as usize;
        let chunk = &bytes[at..at + place.len as usize];
        assert_eq!(chunk_ends(chunk, chunk.len()), Some(vec![5, 17]));
        // Any cut or extra byte is not a record.
        assert!(BlockRecord::parse(&bytes[8..bytes.len() - 1]).is_none());
        assert!(BlockRecord::parse(&[&bytes[8..], &[0][..]].concat()).is_none());
    }

    /// Commits block `height` with one chunk, its nodes and a header key.
    fn commit_block(store: &Store, height: u64) {
        let mut record = store.begin_block(height);
        let entries = [format!("entry {height}").into_bytes()];
        record
            .put_entries([(height, &entries[..])].into_iter(), &[Hash::digest(b"n")])
            .unwrap();
        record.insert(key_u64(BLOCK, height), b"header".to_vec());
        store.commit(record).unwrap();
    }

    /// A closed store of `blocks` blocks whose sled lacks `lost` (what a crash can leave).
    fn store_losing(blocks: u64, lost: &[[u8; 9]]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for height in 0..blocks {
            commit_block(&store, height);
        }
        let Index::Sled { tree, .. } = &store.index else {
            unreachable!("Store::open opens sled")
        };
        for key in lost {
            tree.remove(key).unwrap();
        }
        store.flush().unwrap();
        dir
    }

    /// Flips a bit of the blocks file where block `height`'s entry is; returns the new bytes.
    fn damage_entry(dir: &Path, height: u64) -> Vec<u8> {
        let path = dir.join("ledger").join(BLOCKS_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let entry = format!("entry {height}");
        let at = bytes
            .windows(entry.len())
            .position(|w| w == entry.as_bytes());
        bytes[at.unwrap()] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        bytes
    }

    #[test]
    fn a_block_whose_keys_sled_holds_in_part_is_replayed_whole() {
        // sled recovers a prefix of its log, so block 1's header can be there without its
        // nodes' place and its record's place (written last).
        let dir = store_losing(2, &[key_u64(CBMT_NODES, 1), key_u64(RECORD, 1)]);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.replayed(), 1);
        assert!(store.nodes_place(1).unwrap().is_some());
        assert_eq!(store.entry(1).unwrap(), Some(b"entry 1".to_vec()));
        assert!(store.get(&key_u64(RECORD, 1)).unwrap().is_some());
    }

    #[test]
    fn a_damaged_record_with_blocks_after_it_is_refused_not_cut() {
        // sled lost blocks 1 and 2 (as after a crash), so opening replays them from the file.
        let dir = store_losing(3, &[key_u64(RECORD, 1), key_u64(RECORD, 2)]);
        let bytes = damage_entry(dir.path(), 1);
        let err = Store::open(dir.path()).err().map(|e| e.to_string());
        let err = err.expect("a damaged record with blocks after it must not be cut");
        assert!(err.contains("CRC-32 fails"), "{err}");
        let path = dir.path().join("ledger").join(BLOCKS_FILE);
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "the file was changed");

        // The same damage to the last record: an unfinished write, cut.
        let dir = store_losing(2, &[key_u64(RECORD, 1)]);
        let bytes = damage_entry(dir.path(), 1);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.replayed(), 0);
        let path = dir.path().join("ledger").join(BLOCKS_FILE);
        assert!(std::fs::read(&path).unwrap().len() < bytes.len());
    }

    #[test]
    fn a_place_is_exactly_its_bytes() {
        let place = Place { offset: 7, len: 9 };
        let bytes = place.to_bytes();
        assert_eq!(Place::parse(&bytes), Some(place));
        assert_eq!(Place::parse(&bytes[..11]), None);
        assert_eq!(Place::parse(&[&bytes[..], &[0][..]].concat()), None);
        let chunk = [&bytes[..], &3u16.to_be_bytes()[..]].concat();
        assert_eq!(chunk_place(&chunk, 0).unwrap(), (place, 3));
        assert!(chunk_place(&[&chunk[..], &[0][..]].concat(), 0).is_err());
        assert!(chunk_place(&chunk[..13], 0).is_err());
    }

    #[test]
    fn a_store_of_another_layout_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path().join("ledger")).unwrap();
            let tree = db.open_tree("ledger-v1").unwrap();
            tree.insert(key_u64(BLOCK, 0), b"{}".to_vec()).unwrap();
            db.flush().unwrap();
        }
        let err = Store::open(dir.path()).err().map(|e| e.to_string());
        let err = err.expect("a store without a layout must not open");
        assert!(err.contains("storage layout \"entries in sled\""), "{err}");
        assert!(err.contains("\"blocks-file-1\""), "{err}");
    }
}
