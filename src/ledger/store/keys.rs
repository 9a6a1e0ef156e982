//! The key schema of the ledger's sled tree: one-byte prefixes, big-endian integers (so that key
//! order is numeric order), length-prefixed strings, and the audit index of one block
//! (`docs/LEDGER.md`, "Storage").
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
pub(super) fn meta_key(name: &str) -> Vec<u8> {
    let mut k = vec![META];
    k.extend_from_slice(name.as_bytes());
    k
}

/// Reads the seq (or height) at the end of a key.
pub(crate) fn seq_suffix(key: &[u8]) -> Option<u64> {
    let tail = key.get(key.len().checked_sub(8)?..)?;
    Some(u64::from_be_bytes(tail.try_into().ok()?))
}
