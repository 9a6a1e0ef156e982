//! The verifying walker: reads a ledger store from the first block to the last and checks every
//! entry (canonical bytes, seq, time), every `entries_root`, every `prev` link, every history-tree
//! node, and every checkpoint signature, size and root — stopping at the first fault, which it
//! reports with its place, the field, what was expected and what was found. Memory stays
//! O(log n) plus one block.

use std::path::Path;
use std::time::{Duration, Instant};

use super::block::{block_hash, BlockHeader, EntriesTree};
use super::entry::{entry_leaf, Entry};
use super::hash::{Hash, ZERO};
use super::history::{CompactRange, NodeSource};
use super::note::{Checkpoint, VerifierKey};
use super::store::{self, Store, StoreError};

/// Where a fault is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In the entry with this seq.
    Seq(u64),
    /// In the block (header, history node or checkpoint) at this height.
    Height(u64),
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::Seq(s) => write!(f, "seq {s}"),
            Place::Height(h) => write!(f, "height {h}"),
        }
    }
}

/// The first thing found wrong in a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: {field}: expected {expected}, found {found}")]
pub struct Fault {
    pub place: Place,
    pub field: String,
    pub expected: String,
    pub found: String,
}

/// Why verification did not succeed: the log is wrong, or it could not be read.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("verification failed at {0}")]
    Fault(Fault),
    #[error("no ledger at {0}")]
    Missing(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a successful walk saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifySummary {
    pub entries: u64,
    pub blocks: u64,
    pub first_time: Option<String>,
    pub last_time: Option<String>,
    /// The last checkpoint, which the whole log is now known to be consistent with.
    pub checkpoint: Option<String>,
    pub elapsed: Duration,
}

fn fault(
    place: Place,
    field: impl Into<String>,
    expected: impl ToString,
    found: impl ToString,
) -> VerifyError {
    VerifyError::Fault(Fault {
        place,
        field: field.into(),
        expected: expected.to_string(),
        found: found.to_string(),
    })
}

/// Opens the store in `dir` and walks it. `progress` is called after each block with the number
/// of entries verified so far.
pub fn verify_store(
    dir: &Path,
    key: &VerifierKey,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifySummary, VerifyError> {
    if !dir.join("ledger").exists() {
        return Err(VerifyError::Missing(dir.display().to_string()));
    }
    let store = Store::open(dir)?;
    walk(&store, key, progress)
}

/// Walks an open store.
pub fn walk(
    store: &Store,
    key: &VerifierKey,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifySummary, VerifyError> {
    let started = Instant::now();
    let origin = key.name();
    let mut range = CompactRange::empty();
    let mut prev: Hash = ZERO;
    let mut next_seq = 0u64;
    let mut summary = VerifySummary::default();
    let mut height = 0u64;
    while let Some(header_bytes) = store.header(height)? {
        let at = Place::Height(height);
        let header = BlockHeader::from_bytes(&header_bytes)
            .map_err(|e| fault(at, "header", "a canonical format-v1 header", e))?;
        if header.height != height {
            return Err(fault(at, "height", height, header.height));
        }
        if header.log != origin {
            return Err(fault(at, "log", origin, &header.log));
        }
        if header.first_seq != next_seq {
            return Err(fault(at, "first_seq", next_seq, header.first_seq));
        }
        if header.prev != prev {
            return Err(fault(at, "prev", prev, header.prev));
        }
        if let Some(last) = &summary.last_time {
            if header.time < *last {
                return Err(fault(
                    at,
                    "time",
                    format!("not before {last}"),
                    &header.time,
                ));
            }
        }
        let end = next_seq
            .checked_add(header.count)
            .ok_or_else(|| fault(at, "count", "a seq range that fits", header.count))?;
        // The block's entries are stored as chunks of up to CHUNK, starting at first_seq.
        let expected: Vec<(u64, usize)> = (next_seq..end)
            .step_by(store::CHUNK)
            .map(|s| {
                (
                    s,
                    usize::try_from((end - s).min(store::CHUNK as u64)).unwrap_or(0),
                )
            })
            .collect();
        let found = store.chunks_in(next_seq, end)?;
        if found != expected {
            let at = found
                .iter()
                .zip(&expected)
                .find(|(f, e)| f != e)
                .map_or(next_seq, |(f, _)| f.0);
            return Err(fault(
                Place::Seq(at),
                "entry chunks",
                format!("{expected:?} (first seq, entries)"),
                format!("{found:?}"),
            ));
        }
        let mut leaves =
            Vec::with_capacity(usize::try_from(header.count).unwrap_or(0).min(1 << 20));
        for seq in next_seq..end {
            let bytes = store
                .entry(seq)?
                .ok_or_else(|| fault(Place::Seq(seq), "entry", "present", "missing"))?;
            let entry = Entry::from_bytes(&bytes)
                .map_err(|e| fault(Place::Seq(seq), "entry", "a canonical format-v1 entry", e))?;
            if entry.seq != seq {
                return Err(fault(Place::Seq(seq), "seq", seq, entry.seq));
            }
            if entry.time != header.time {
                return Err(fault(Place::Seq(seq), "time", &header.time, &entry.time));
            }
            leaves.push(entry_leaf(&bytes));
        }
        let tree = EntriesTree::build(&leaves);
        if tree.root() != header.entries_root {
            return Err(fault(at, "entries_root", tree.root(), header.entries_root));
        }
        match store.cbmt_nodes(height)? {
            Some(nodes) if nodes == tree.nodes() => {}
            Some(_) => {
                return Err(fault(
                    at,
                    "stored CBMT nodes",
                    "the tree of the block's entries",
                    "other nodes",
                ))
            }
            None => return Err(fault(at, "stored CBMT nodes", "present", "missing")),
        }
        if store.block_of(next_seq)? != Some(height) {
            return Err(fault(
                at,
                "seq index",
                format!("seq {next_seq} in block {height}"),
                format!("{:?}", store.block_of(next_seq)?),
            ));
        }
        let hash = block_hash(&header_bytes);
        for (level, index, node) in range.append(hash) {
            let stored = store
                .node(level, index)
                .map_err(|e| fault(at, format!("history node ({level}, {index})"), node, e))?;
            if stored != node {
                return Err(fault(
                    at,
                    format!("history node ({level}, {index})"),
                    node,
                    stored,
                ));
            }
        }
        let note = store
            .checkpoint(height)?
            .ok_or_else(|| fault(at, "checkpoint", "present", "missing"))?;
        let cp = Checkpoint::open(&note, key)
            .map_err(|e| fault(at, "checkpoint", "a checkpoint signed by the log's key", e))?;
        if cp.size != height + 1 {
            return Err(fault(at, "checkpoint size", height + 1, cp.size));
        }
        let root = range.root().unwrap_or_default();
        if cp.root != root {
            return Err(fault(at, "checkpoint root", root, cp.root));
        }
        if summary.first_time.is_none() {
            summary.first_time = Some(header.time.clone());
        }
        summary.last_time = Some(header.time);
        summary.checkpoint = Some(note);
        prev = hash;
        next_seq = end;
        height += 1;
        progress(next_seq);
    }
    // Nothing may lie beyond the last block.
    if let Some(seq) = store.last_seq()? {
        if seq >= next_seq {
            return Err(fault(
                Place::Seq(seq),
                "entry",
                format!("no entry at or beyond seq {next_seq}"),
                "an entry outside every block",
            ));
        }
    }
    if let Some((k, _)) = store.last(store::CHECKPOINT)? {
        let h = store::seq_suffix(&k).unwrap_or(u64::MAX);
        if h >= height {
            return Err(fault(
                Place::Height(h),
                "checkpoint",
                format!("no checkpoint beyond height {}", height.saturating_sub(1)),
                "one",
            ));
        }
    }
    if store.get(&store::key_history(0, height))?.is_some() {
        return Err(fault(
            Place::Height(height),
            "history node (0, h)",
            "none beyond the last block",
            "one",
        ));
    }
    summary.entries = next_seq;
    summary.blocks = height;
    summary.elapsed = started.elapsed();
    Ok(summary)
}
