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
//! | file | what |
//! | --- | --- |
//! | `error.rs` | `StoreError`, and `Corruption`: each way a store can contradict itself, with where |
//! | `keys.rs` | the key schema: one-byte prefixes, keys, the audit index of a block |
//! | `record.rs` | the record format of the blocks file, entry chunks, places |
//! | `blocks_file.rs` | the blocks file: positioned reads, walking its records, telling a torn tail from damage |
//! | `index.rs` | where keys are looked up: sled, or a read-only window on one record (a snapshot) |
//! | `open.rs` | opening: sled, the layout check, the replay of records sled lacks, a rebuilt index |
//! | `write.rs` | committing a block: its record synced, then its keys into sled |
//! | `read.rs` | the read API: entries, headers, checkpoints, CBMT nodes and proofs, history nodes |

mod blocks_file;
mod error;
mod index;
mod keys;
mod open;
mod read;
mod record;
mod write;

use std::sync::Arc;

use blocks_file::BlocksFile;
use index::Index;

pub use error::{Corruption, StoreError, Stored, StoredLayout, TailDamage};
pub use keys::CHUNK;
pub(crate) use keys::{
    is_posting, key_history, key_u64, push_str, seq_suffix, BlockIndex, BLOCK, BY_CALLER,
    BY_DECISION, BY_MODEL, BY_RULE, BY_VERSION, CBMT_NODES, CHECKPOINT, ENTRY, HISTORY, SEQ_BLOCK,
    TIME,
};
pub(crate) use read::trusted_header;
pub(crate) use record::reread_record;

/// The blocks file, in sled's folder.
const BLOCKS_FILE: &str = "blocks";

/// The metadata key naming the storage layout, and this layout's name. A store without it was
/// written by a version that kept the entries in sled.
const LAYOUT_KEY: &str = "layout";
const LAYOUT: &str = "blocks-file-1";

/// One ledger's blocks file and the index of its keys: sled, or a read-only snapshot.
#[derive(Clone)]
pub struct Store {
    index: Index,
    blocks: Arc<BlocksFile>,
    /// Whether [`Store::open`] built the index again from the blocks file.
    rebuilt: bool,
}
