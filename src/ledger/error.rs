//! [`LedgerError`]: why the ledger could not open, append or answer a read — each cause typed,
//! so that a caller (the server picking a status) decides by the variant, never by the text.

use std::sync::Arc;

use super::block::HeaderError;
use super::entry::EntryError;
use super::history::{ProofRangeError, ProofRequestError};
use super::note::NoteError;
use super::position::{Height, Seq};
use super::store::StoreError;

/// Errors of the ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key: {0}")]
    Key(NoteError),
    #[error("entry refused: {0}")]
    Entry(EntryError),
    #[error("block header: {0}")]
    Header(HeaderError),
    #[error(
        "this ledger belongs to log {stored:?} (key {stored_key}), not to the key given ({given})"
    )]
    WrongKey {
        stored: String,
        stored_key: String,
        given: String,
    },
    #[error(
        "the ledger's tail does not hold together at {what}: expected {expected}, found {found}"
    )]
    Tail {
        what: &'static str,
        expected: String,
        found: String,
    },
    #[error("the ledger is closed")]
    Closed,
    /// A write failed after its block may have reached the blocks file (the cause is the first
    /// such failure): every later append is refused until a restart has checked the tail.
    #[error("a ledger write failed earlier ({0}); restart to check the tail and resume")]
    Poisoned(Arc<LedgerError>),
    /// The block this append was part of could not be written; the cause is shared by every
    /// appender of that block.
    #[error("writing the block failed: {0}")]
    WriteFailed(Arc<LedgerError>),
    #[error("no entry {seq}: the log holds {size} entries")]
    NoEntry { seq: Seq, size: u64 },
    #[error("no block {height}: the log holds {size} blocks")]
    NoBlock { height: Height, size: u64 },
    #[error("no tree of {size} blocks: the log holds {blocks} blocks")]
    NoSize { size: u64, blocks: u64 },
    #[error("a tree size is at least 1 block (0 has no checkpoint)")]
    SizeZero,
    /// A proof asked for a leaf or tree sizes the log does not have.
    #[error("proof request: {0}")]
    Proof(ProofRangeError),
}

impl LedgerError {
    /// A proof assembled from the store: what was asked is wrong, or the store could not be read.
    pub(crate) fn from_proof(e: ProofRequestError<StoreError>) -> LedgerError {
        match e {
            ProofRequestError::Source(s) => LedgerError::Store(s),
            ProofRequestError::Range(r) => LedgerError::Proof(r),
        }
    }
}
