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
//!
//! | file | what |
//! | --- | --- |
//! | `write.rs` | the writer: the first line's base, then each block's lines, from a store |
//! | `lines.rs` | the line reader (capped lines), the strict parser of each line type, the fast recognition of entry lines in the writer's form |
//! | `read_ahead.rs` | the reader thread: groups each block's lines and hands them on, a few blocks ahead |
//! | `entries.rs` | reading an export's entries in order without verifying (for `vouch policy replay`) |
//! | `verify.rs` | verification: the first line's base, then each block through the shared core, its entries decoded and checked on all cores |

mod entries;
mod lines;
mod read_ahead;
mod verify;
mod write;

use serde::{Deserialize, Serialize};

use super::hash::{BlockHash, Hash};
use super::store::{Corruption, StoreError};

pub use entries::{for_each_export_entry, ExportReadError};
pub use verify::verify_export;
pub use write::write_export;

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
    Corrupt(#[from] Corruption),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
    /// A line could not be serialised (serde_json writing into memory does not fail).
    #[error("writing the export: {0}")]
    Json(#[from] serde_json::Error),
}

/// The first line's `base`: what the verifier needs to continue the history tree at `size`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportBase {
    pub size: u64,
    /// The block hash of height size − 1; all zeros when size is 0.
    pub prev: BlockHash,
    /// The compact range of the tree of `size` blocks, largest subtree first.
    pub range: Vec<Hash>,
    /// The inclusion proof of leaf size − 1 in the tree of `size` (empty when size is 0).
    pub prev_proof: Vec<Hash>,
}

/// Longest line the reader accepts (an entry line is at most about 22 KiB, a block line 6 KiB).
pub const MAX_LINE_BYTES: usize = 1 << 20;
/// Most entry bytes one block may hold in an export; more is refused before it is buffered.
pub const MAX_BLOCK_BYTES: usize = 64 << 20;
/// Blocks read ahead of the one being checked.
const READ_AHEAD: usize = 2;

#[cfg(test)]
mod tests;
