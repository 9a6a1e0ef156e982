//! What can go wrong in a store: [`StoreError`], and [`Corruption`], each way a store can
//! contradict itself, with where (the seq, height or byte) and what was found (`docs/LEDGER.md`,
//! "Storage"; `docs/RELIABILITY.md`).

use std::fmt;
use std::path::PathBuf;

use super::LAYOUT;
use crate::ledger::entry::JsonError;
use crate::ledger::history::ProofRangeError;
use crate::ledger::position::{Height, Seq};

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the ledger store: {0}")]
    Sled(#[from] sled::Error),
    #[error("the ledger in {} is in use by another process (a running server?)", dir.display())]
    Locked { dir: PathBuf },
    #[error("the ledger store is inconsistent: {0}")]
    Corrupt(Corruption),
    #[error("the ledger's blocks file: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "the ledger store has the storage layout {0}; this vouch reads {LAYOUT:?} (entries and \
         CBMT nodes in ledger/blocks). Export the log with the vouch that wrote it"
    )]
    Layout(StoredLayout),
    #[error("the ledger store was opened read-only (a snapshot of the blocks file)")]
    ReadOnly,
    /// Writing or syncing a block's record failed before the block became part of the log: the
    /// file was cut back to where the record began, and the same height may be written again.
    #[error("the block could not be written to the blocks file ({0}); it is not in the log")]
    Unwritten(std::io::Error),
}

impl From<Corruption> for StoreError {
    fn from(c: Corruption) -> StoreError {
        StoreError::Corrupt(c)
    }
}

/// The storage layout a store that this vouch does not read has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredLayout {
    /// The layout named in the store's metadata.
    Named(String),
    /// No layout named, but keys: a store of the versions that kept the entries in sled.
    EntriesInSled,
}

impl fmt::Display for StoredLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoredLayout::Named(name) => write!(f, "{name:?}"),
            StoredLayout::EntriesInSled => write!(f, "{:?}", "entries in sled"),
        }
    }
}

/// Bytes the keys place in the blocks file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// The chunk of entries starting at seq `first`.
    Chunk { first: u64 },
    /// The CBMT nodes of block `height`.
    CbmtNodes { height: Height },
}

impl fmt::Display for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stored::Chunk { first } => write!(f, "the entry chunk at seq {first}"),
            Stored::CbmtNodes { height } => write!(f, "the CBMT nodes of block {height}"),
        }
    }
}

/// Why the bytes after the last whole record of the blocks file are not what an unfinished write
/// leaves: a record whose length fits, with bytes after it, yet whose CRC-32 fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a record of {len} bytes whose CRC-32 fails, with {after} bytes after it")]
pub struct TailDamage {
    /// The record's length, its head included.
    pub len: u64,
    /// The bytes after it.
    pub after: u64,
}

/// How a store contradicts itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Corruption {
    #[error("{what} for seq {seq} is missing")]
    MissingForSeq { what: &'static str, seq: Seq },
    #[error("block {height} is missing")]
    MissingBlock { height: Height },
    #[error("the checkpoint of block {height} is missing")]
    MissingCheckpoint { height: Height },
    #[error("history node (level {level}, index {index}) is missing")]
    MissingHistoryNode { level: u8, index: u64 },
    #[error("history node ({level}, {index}) is not 32 bytes")]
    HistoryNodeSize { level: u8, index: u64 },
    #[error("block {height}: {error}")]
    Header { height: Height, error: JsonError },
    #[error("checkpoint at height {height} is not UTF-8")]
    CheckpointNotUtf8 { height: Height },
    #[error("the CBMT nodes of block {height} are malformed")]
    CbmtNodes { height: Height },
    #[error("the entry chunk at seq {first} is malformed")]
    Chunk { first: u64 },
    #[error("the place of the entry chunk at seq {first} is malformed")]
    ChunkPlace { first: u64 },
    #[error("the seq→block value at seq {seq}")]
    SeqBlock { seq: Seq },
    #[error("index key too short")]
    IndexKey,
    #[error("the place of block {height}'s record is malformed")]
    RecordPlace { height: u64 },
    #[error("the blocks file holds {len} bytes, the store refers to {applied}")]
    BlocksFileShort { len: u64, applied: u64 },
    #[error("{0} lies past the end of the blocks file")]
    PastTheEnd(Stored),
    #[error("the record at byte {at} of the blocks file passes its CRC but does not parse")]
    RecordUnparsable { at: u64 },
    #[error(
        "the record at byte {at} of the blocks file is block {height}, the store expects block \
         {expected}"
    )]
    RecordHeight { at: u64, height: u64, expected: u64 },
    #[error(
        "byte {at} of the blocks file: {damage}; not what an unfinished write leaves, so nothing \
         was cut (verify it with `vouch verify --data`)"
    )]
    DamagedRecord { at: u64, damage: TailDamage },
    #[error("block {height} has over 4 GiB of entries")]
    EntriesTooLarge { height: u64 },
    #[error("block {height} is over 4 GiB")]
    RecordTooLarge { height: u64 },
    #[error("block {height}: a record without a head")]
    RecordWithoutHead { height: u64 },
    #[error("block {height} was begun at byte {offset} of the blocks file, which has moved on")]
    BlocksFileMoved { height: u64, offset: u64 },
    #[error("the log's origin is not recorded")]
    NoOrigin,
    #[error("block {height}: count overflows")]
    CountOverflows { height: Height },
    #[error("block {height} holds entries {first_seq}..{end}, the store has them up to {found}")]
    EntriesShort {
        height: Height,
        first_seq: Seq,
        end: Seq,
        found: Seq,
    },
    /// A proof the store's own sizes call for cannot be made.
    #[error("{0}")]
    Proof(ProofRangeError),
}
