//! The one verifying core. [`Chain`] follows a log block by block and checks what every copy of a
//! log must satisfy, wherever it is read from: the header's canonical form, height, log origin,
//! `first_seq`, `prev` link and time; every entry's canonical form, seq and time; `entries_root`;
//! the history tree append; and the checkpoint's signature, size and root. The store walker
//! (`walker.rs`) and the export reader (`export.rs`) feed it, each adding the checks only its
//! source has. Faults carry their place, the field, what was expected and what was found.
//!
//! Pure: it reads bytes handed to it and knows nothing of the store (sled, the blocks file), so
//! `vouch verify` checks an export, or a receipt, with the verifier key alone.

use std::time::Duration;

use rayon::prelude::*;

use super::block::{block_hash, BlockHeader, EntriesTree};
use super::entry::{entry_leaf, read_canonical};
use super::hash::{BlockHash, Hash, LeafHash, RootHash, ZERO};
use super::history::{CompactRange, ConsistencyProof, HistoryProofError};
use super::note::{Checkpoint, NoteError, VerifierKey};
use super::position::{Height, Seq};

/// Where a fault is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// In the entry with this seq.
    Seq(Seq),
    /// In the block (header, history node or checkpoint) at this height.
    Height(Height),
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
#[non_exhaustive]
pub enum VerifyError {
    #[error("verification failed at {0}")]
    Fault(Fault),
    /// Reading the export failed (not a fault of the log: the bytes did not arrive).
    #[error("reading the export: {0}")]
    Io(#[from] std::io::Error),
    /// The export cannot show consistency with the trusted checkpoint: it starts after it.
    #[error(
        "the export starts at height {from_height}, after the trusted checkpoint (tree size \
         {trusted}): request it from height {trusted} or earlier"
    )]
    StartsAfterTrusted { from_height: u64, trusted: u64 },
    /// The log ends before the size of the trusted checkpoint, which the same key signed. Read
    /// from a store or a live server, the log was rolled back; read from an export file, it may
    /// only be an export older than the checkpoint. The caller knows which it read.
    #[error(
        "the log ends at tree size {size}, before the trusted checkpoint's tree size {trusted}"
    )]
    Shorter { trusted: u64, size: u64 },
}

impl From<Fault> for VerifyError {
    fn from(f: Fault) -> VerifyError {
        VerifyError::Fault(f)
    }
}

/// What a successful walk saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifySummary {
    pub entries: u64,
    pub blocks: u64,
    /// Signed checkpoints verified.
    pub checkpoints: u64,
    pub first_time: Option<String>,
    pub last_time: Option<String>,
    /// The last checkpoint, which the whole log is now known to be consistent with.
    pub checkpoint: Option<String>,
    pub elapsed: Duration,
    /// Bytes of a local blocks file after its last whole record, left unverified: a block whose
    /// write never finished, so never answered (or one a running server is writing now).
    pub unfinished_tail: u64,
}

/// A fault at `place`.
pub(crate) fn fault(
    place: Place,
    field: impl Into<String>,
    expected: impl ToString,
    found: impl ToString,
) -> Fault {
    Fault {
        place,
        field: field.into(),
        expected: expected.to_string(),
        found: found.to_string(),
    }
}

/// The state of a verified prefix of a log, and the checks of the next block.
#[derive(Debug)]
pub(crate) struct Chain<'k> {
    key: &'k VerifierKey,
    range: CompactRange,
    prev: BlockHash,
    /// The seq the next block must start at; `None` when resuming mid-log, where the first
    /// header's `first_seq` is authenticated by the first checkpoint instead.
    next_seq: Option<Seq>,
    last_time: Option<String>,
    pub summary: VerifySummary,
}

impl<'k> Chain<'k> {
    /// A chain at the start of the log.
    pub fn genesis(key: &'k VerifierKey) -> Chain<'k> {
        Chain {
            key,
            range: CompactRange::empty(),
            prev: ZERO,
            next_seq: Some(Seq::new(0)),
            last_time: None,
            summary: VerifySummary::default(),
        }
    }

    /// A chain continuing after the tree `range`, whose last leaf is `prev`.
    pub fn resume(key: &'k VerifierKey, range: CompactRange, prev: BlockHash) -> Chain<'k> {
        let next_seq = (range.size() == 0).then_some(Seq::new(0));
        Chain {
            key,
            range,
            prev,
            next_seq,
            last_time: None,
            summary: VerifySummary::default(),
        }
    }

    /// The height of the next block (the number of blocks so far).
    pub fn height(&self) -> Height {
        Height::new(self.range.size())
    }

    /// The seq the next block starts at, if known.
    pub fn next_seq(&self) -> Option<Seq> {
        self.next_seq
    }

    /// The root of the tree so far.
    pub fn root(&self) -> Option<RootHash> {
        self.range.root()
    }

    /// Checks the next block's header bytes: canonical format-v1, height, log, first_seq, prev,
    /// time not before the previous block's, and a seq range that fits.
    pub fn header(&self, bytes: &[u8]) -> Result<BlockHeader, Fault> {
        let height = self.height();
        let at = Place::Height(height);
        let header = BlockHeader::from_bytes(bytes)
            .map_err(|e| fault(at, "header", "a canonical format-v1 header", e))?;
        if header.height != height {
            return Err(fault(at, "height", height, header.height));
        }
        if header.log != self.key.name() {
            return Err(fault(at, "log", self.key.name(), &header.log));
        }
        if let Some(next) = self.next_seq {
            if header.first_seq != next {
                return Err(fault(at, "first_seq", next, header.first_seq));
            }
        }
        if header.prev != self.prev {
            return Err(fault(at, "prev", self.prev, header.prev));
        }
        if let Some(last) = &self.last_time {
            if header.time < *last {
                return Err(fault(
                    at,
                    "time",
                    format!("not before {last}"),
                    &header.time,
                ));
            }
        }
        if header.first_seq.checked_add(header.count).is_none() {
            return Err(fault(at, "count", "a seq range that fits", header.count));
        }
        Ok(header)
    }

    /// Checks the block's entries (all `header.count` of them, in seq order) — canonical form,
    /// seq, time — on all cores, and that they hash to `entries_root`. Returns their CBMT.
    pub fn entries<B: AsRef<[u8]> + Sync>(
        &self,
        header: &BlockHeader,
        entries: &[B],
    ) -> Result<EntriesTree, Fault> {
        let first = header.first_seq;
        let checked: Vec<Result<LeafHash, Fault>> = entries
            .par_iter()
            .enumerate()
            .with_min_len(64)
            .map(|(i, bytes)| check_entry(bytes.as_ref(), first + i as u64, &header.time))
            .collect();
        self.leaves(header, checked)
    }

    /// The rest of [`Chain::entries`] for entries already checked (with [`check_entry`]), in seq
    /// order: the first fault, then the count, then `entries_root`.
    pub fn leaves(
        &self,
        header: &BlockHeader,
        checked: impl IntoIterator<Item = Result<LeafHash, Fault>>,
    ) -> Result<EntriesTree, Fault> {
        let first = header.first_seq;
        let checked = checked.into_iter();
        let mut leaves = Vec::with_capacity(checked.size_hint().0);
        for c in checked {
            leaves.push(c?);
        }
        if leaves.len() as u64 != header.count {
            let at = first + (leaves.len() as u64).min(header.count);
            return Err(fault(
                Place::Seq(at),
                "entry",
                format!("{} entries in block {}", header.count, header.height),
                leaves.len(),
            ));
        }
        let tree = EntriesTree::build(&leaves);
        if tree.root() != header.entries_root {
            return Err(fault(
                Place::Height(header.height),
                "entries_root",
                tree.root(),
                header.entries_root,
            ));
        }
        Ok(tree)
    }

    /// Appends the block to the history tree; returns the nodes that became complete.
    pub fn append(&mut self, header_bytes: &[u8]) -> Vec<(u8, u64, Hash)> {
        self.range.append(block_hash(header_bytes).leaf())
    }

    /// Checks the block's checkpoint against the tree after [`Chain::append`] and moves on to the
    /// next block.
    pub fn checkpoint(
        &mut self,
        header: &BlockHeader,
        header_bytes: &[u8],
        note: &str,
    ) -> Result<Checkpoint, Fault> {
        let at = Place::Height(header.height);
        let cp = Checkpoint::open(note, self.key)
            .map_err(|e| fault(at, "checkpoint", "a checkpoint signed by the log's key", e))?;
        let size = self.range.size();
        if cp.size != size {
            return Err(fault(at, "checkpoint size", size, cp.size));
        }
        let root = self.range.root().map(RootHash::hash).unwrap_or_default();
        if cp.root != root {
            return Err(fault(at, "checkpoint root", root, cp.root));
        }
        self.summary.checkpoint = Some(note.to_string());
        self.summary.checkpoints += 1;
        self.advance(header, header_bytes);
        Ok(cp)
    }

    /// Moves on to the next block once this one (appended with [`Chain::append`]) is checked:
    /// the counts, its time and hash for the next block's checks. [`Chain::checkpoint`] does it
    /// after checking the block's checkpoint; a walk without one per block calls it directly.
    pub fn advance(&mut self, header: &BlockHeader, header_bytes: &[u8]) {
        let s = &mut self.summary;
        if s.first_time.is_none() {
            s.first_time = Some(header.time.clone());
        }
        s.last_time = Some(header.time.clone());
        s.blocks += 1;
        s.entries += header.count;
        self.last_time = Some(header.time.clone());
        self.prev = block_hash(header_bytes);
        self.next_seq = Some(header.first_seq + header.count);
    }
}

impl Chain<'_> {
    /// When the tree has reached the trusted checkpoint's size, its root must be the trusted one.
    pub fn consistent_with(&self, trusted: Option<&Checkpoint>) -> Result<(), Fault> {
        match trusted {
            Some(cp) if cp.size == self.height().get() => {
                let root = self.root().map(RootHash::hash).unwrap_or_default();
                if root != cp.root {
                    return Err(fault(
                        Place::Height(Height::new(cp.size.saturating_sub(1))),
                        "consistency with the trusted checkpoint",
                        cp.root,
                        root,
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// At the end: the log must have reached the trusted checkpoint's size.
    pub fn reached(&self, trusted: Option<&Checkpoint>) -> Result<(), VerifyError> {
        match trusted {
            Some(cp) if self.height().get() < cp.size => Err(VerifyError::Shorter {
                trusted: cp.size,
                size: self.height().get(),
            }),
            _ => Ok(()),
        }
    }
}

/// Checks one entry: canonical format-v1 bytes, its seq and the block's time. Returns its leaf.
pub(crate) fn check_entry(bytes: &[u8], seq: Seq, time: &str) -> Result<LeafHash, Fault> {
    let at = Place::Seq(seq);
    let entry =
        read_canonical(bytes).map_err(|e| fault(at, "entry", "a canonical format-v1 entry", e))?;
    if entry.seq != seq {
        return Err(fault(at, "seq", seq, entry.seq));
    }
    if entry.time != time {
        return Err(fault(at, "time", time, &entry.time));
    }
    Ok(entry_leaf(bytes))
}

/// Why two checkpoints are not shown consistent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsistencyError {
    #[error("the {which} checkpoint: {error}")]
    Checkpoint {
        which: &'static str,
        error: NoteError,
    },
    #[error("the proof is from tree size {proof_old} to {proof_new}, the checkpoints have sizes {old} and {new}")]
    Sizes {
        proof_old: u64,
        proof_new: u64,
        old: u64,
        new: u64,
    },
    #[error("the proof does not verify: {0}")]
    Proof(HistoryProofError),
}

impl ConsistencyError {
    /// Whether the input could not be read as what it should be (as opposed to not verifying).
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            ConsistencyError::Checkpoint {
                error: NoteError::Malformed(_) | NoteError::Checkpoint(_),
                ..
            }
        )
    }
}

/// Checks that the signed checkpoint `new` extends `old`: both open with `key`, and `proof` is an
/// RFC 9162 consistency proof between their trees.
pub fn verify_consistency(
    old: &str,
    new: &str,
    proof: &ConsistencyProof,
    key: &VerifierKey,
) -> Result<(Checkpoint, Checkpoint), ConsistencyError> {
    let open = |which, note| {
        Checkpoint::open(note, key).map_err(|error| ConsistencyError::Checkpoint { which, error })
    };
    let (old, new) = (open("old", old)?, open("new", new)?);
    if proof.old_size != old.size || proof.new_size != new.size {
        return Err(ConsistencyError::Sizes {
            proof_old: proof.old_size,
            proof_new: proof.new_size,
            old: old.size,
            new: new.size,
        });
    }
    proof
        .verify(old.tree_root(), new.tree_root())
        .map_err(ConsistencyError::Proof)?;
    Ok((old, new))
}
