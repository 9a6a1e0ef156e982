//! The verifying walker: reads a ledger store from the first block to the last and checks every
//! entry (canonical bytes, seq, time), every `entries_root`, every `prev` link, every history-tree
//! node, and every checkpoint signature, size and root — stopping at the first fault, which it
//! reports with its place, the field, what was expected and what was found. Memory stays
//! O(log n) plus one block.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::hash::Hash;
use super::history::NodeSource;
use super::note::{Checkpoint, VerifierKey};
use super::position::{Height, Seq};
use super::store::{self, Store, StoreError};
use super::verifier::{fault, Chain, Fault, Place, VerifyError, VerifySummary};

/// Why walking a store did not succeed: the log is wrong, there is no ledger, or the store could
/// not be read. The verifying core's [`VerifyError`] knows nothing of stores; this adds them.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalkError {
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("no ledger at {}", dir.display())]
    Missing { dir: PathBuf },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Fault> for WalkError {
    fn from(f: Fault) -> WalkError {
        WalkError::Verify(VerifyError::Fault(f))
    }
}

/// Opens the store in `dir` and walks it. `progress` is called after each block with the number
/// of entries verified so far.
pub fn verify_store(
    dir: &Path,
    key: &VerifierKey,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifySummary, WalkError> {
    verify_store_from(dir, key, None, progress)
}

/// [`verify_store`], also checking that the log is consistent with `trusted` (a checkpoint
/// already verified): when the walk reaches its size, the history tree must have its root. A
/// store is always walked whole (its own nodes and indexes are checked too).
pub fn verify_store_from(
    dir: &Path,
    key: &VerifierKey,
    trusted: Option<&Checkpoint>,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifySummary, WalkError> {
    let store = Store::open(ledger_dir(dir)?)?;
    walk(&store, key, trusted, progress)
}

/// Walks the durable log in `dir` read-only: the blocks file alone ([`Store::open_snapshot`]),
/// without opening sled — so nothing is written, no lock is taken, and a server may be running
/// on the folder. Bytes after the last whole record are left alone and counted in
/// [`VerifySummary::unfinished_tail`].
pub fn verify_blocks_from(
    dir: &Path,
    key: &VerifierKey,
    trusted: Option<&Checkpoint>,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifySummary, WalkError> {
    let store = Store::open_snapshot(ledger_dir(dir)?)?;
    let mut summary = walk(&store, key, trusted, progress)?;
    if let Some((height, at, why)) = store.tail_damage()? {
        return Err(fault(
            Place::Height(height),
            "block record",
            format!("a whole record at byte {at} of the blocks file, or an unfinished last write"),
            why,
        )
        .into());
    }
    summary.unfinished_tail = store.unfinished_tail();
    Ok(summary)
}

/// Calls `f` with the seq and bytes of every entry of the durable log in `dir`, in seq order,
/// reading the blocks file alone as [`verify_blocks_from`] does (read-only, no lock: a server
/// may be running on the folder; blocks appended after opening are not read). Nothing is
/// verified beyond what reading needs. Returns the number of entries.
pub fn for_each_stored_entry(dir: &Path, f: &mut dyn FnMut(Seq, &[u8])) -> Result<u64, WalkError> {
    let store = Store::open_snapshot(ledger_dir(dir)?)?;
    let mut height = Height::new(0);
    let mut entries = 0u64;
    loop {
        store.advance(height)?;
        let Some(header_bytes) = store.header(height)? else {
            return Ok(entries);
        };
        let header = super::block::BlockHeader::from_bytes(&header_bytes)
            .map_err(|e| fault(Place::Height(height), "block header", "a header", e))?;
        let first = header.first_seq;
        let end = first + header.count;
        let mut seq = first;
        store.for_each_entry(first, end, &mut |bytes| {
            f(seq, bytes);
            seq = seq + 1;
            Ok::<(), WalkError>(())
        })?;
        if seq != end {
            return Err(fault(
                Place::Seq(seq),
                "entry",
                format!("the entries of block {height} up to seq {end}"),
                "a gap",
            )
            .into());
        }
        entries += header.count;
        height = height + 1;
    }
}

/// What the audit index reads of an entry (already checked whole by [`Chain::entries`]).
#[derive(serde::Deserialize)]
struct Indexed<'a> {
    #[serde(borrow, default)]
    caller: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    model: Option<IndexedModel<'a>>,
    #[serde(borrow)]
    decision: Cow<'a, str>,
    #[serde(borrow, default)]
    rules: Vec<Cow<'a, str>>,
}

#[derive(serde::Deserialize)]
struct IndexedModel<'a> {
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    version: Cow<'a, str>,
}

/// Checks the block's audit-index postings — what regulators' queries by caller, model, version,
/// decision and rule read — against its entries (already verified): each posting the entries
/// call for is stored with exactly their offsets, and (walking the blocks file, where a block's
/// keys are known) the record holds no other.
fn check_postings(
    store: &Store,
    record_keys: Option<&[sled::IVec]>,
    entries: &[Vec<u8>],
    height: Height,
    first_seq: Seq,
) -> Result<(), WalkError> {
    let mut index = store::BlockIndex::default();
    for (offset, bytes) in entries.iter().enumerate() {
        let seq = first_seq + offset as u64;
        let e: Indexed<'_> = serde_json::from_slice(bytes)
            .map_err(|e| fault(Place::Seq(seq), "entry", "a format-v1 entry", e))?;
        let offset = u32::try_from(offset).unwrap_or(u32::MAX);
        let model = e.model.as_ref().map(|m| (&*m.name, &*m.version));
        index.add_entry(e.caller.as_deref(), model, &e.decision, &e.rules, offset);
    }
    let expected: BTreeMap<Vec<u8>, Vec<u8>> = index.pairs(height.get()).collect();
    let at = Place::Height(height);
    for (key, offsets) in &expected {
        match store.get(key)? {
            Some(found) if found.as_ref() == offsets.as_slice() => {}
            found => {
                return Err(fault(
                    at,
                    "audit index",
                    format!("posting {} = {}", hex::encode(key), hex::encode(offsets)),
                    found.map_or_else(|| "none".to_string(), hex::encode),
                )
                .into())
            }
        }
    }
    if let Some(keys) = record_keys {
        if let Some(extra) = keys
            .iter()
            .find(|k| store::is_posting(k) && !expected.contains_key(k.as_ref()))
        {
            return Err(fault(
                at,
                "audit index",
                "only the postings of the block's entries",
                format!("posting {}", hex::encode(extra)),
            )
            .into());
        }
    }
    Ok(())
}

/// `dir`, if it holds a ledger.
fn ledger_dir(dir: &Path) -> Result<&Path, WalkError> {
    if dir.join("ledger").exists() {
        Ok(dir)
    } else {
        Err(WalkError::Missing {
            dir: dir.to_path_buf(),
        })
    }
}

/// Whether a key read from block `height`'s record is one of that block's: its entries' chunks
/// and first seq (in `[first_seq, end)`), its header, CBMT nodes, checkpoint, time and audit
/// postings (ending in its height), and the history nodes its append completed. A record with
/// other keys would put them into the server's index when replayed.
fn belongs(
    key: &[u8],
    height: Height,
    first_seq: Seq,
    end: Seq,
    history: &[(u8, u64, Hash)],
) -> bool {
    let (height, first_seq, end) = (height.get(), first_seq.get(), end.get());
    let suffix = store::seq_suffix(key);
    match key.first().copied() {
        Some(store::ENTRY | store::SEQ_BLOCK) => {
            key.len() == 9 && suffix.is_some_and(|s| (first_seq..end).contains(&s))
        }
        Some(store::BLOCK | store::CBMT_NODES | store::CHECKPOINT) => {
            key.len() == 9 && suffix == Some(height)
        }
        Some(
            store::TIME
            | store::BY_CALLER
            | store::BY_MODEL
            | store::BY_VERSION
            | store::BY_DECISION
            | store::BY_RULE,
        ) => key.len() > 9 && suffix == Some(height),
        Some(store::HISTORY) => history
            .iter()
            .any(|&(level, index, _)| key == store::key_history(level, index)),
        _ => false,
    }
}

/// Walks an open store: the shared checks of [`Chain`] on every block, plus what only a store
/// has — the chunk layout of the entries, the stored CBMT nodes, the seq index, the stored
/// history nodes, nothing beyond the last block, and (walking the blocks file) that each record
/// holds only its own block's keys.
pub fn walk(
    store: &Store,
    key: &VerifierKey,
    trusted: Option<&Checkpoint>,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifySummary, WalkError> {
    let started = Instant::now();
    let mut chain = Chain::genesis(key);
    loop {
        let height = chain.height();
        store.advance(height)?;
        let Some(header_bytes) = store.header(height)? else {
            break;
        };
        let at = Place::Height(height);
        let header = chain.header(&header_bytes)?;
        let next_seq = header.first_seq;
        let end = next_seq + header.count; // Chain::header checked that it fits.
                                           // The block's entries are stored as chunks of up to CHUNK, starting at first_seq.
        let expected: Vec<(Seq, usize)> = (next_seq.get()..end.get())
            .step_by(store::CHUNK)
            .map(|s| {
                (
                    Seq::new(s),
                    usize::try_from((end.get() - s).min(store::CHUNK as u64)).unwrap_or(0),
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
            )
            .into());
        }
        let mut entries = Vec::with_capacity(expected.len() * store::CHUNK);
        store.for_each_entry(next_seq, end, &mut |bytes| {
            entries.push(bytes.to_vec());
            Ok::<(), WalkError>(())
        })?;
        let tree = chain.entries(&header, &entries)?;
        // Walking the blocks file: the keys of this block's record, read once for the checks
        // that no key is another block's.
        let record_keys = store.record_keys();
        check_postings(store, record_keys.as_deref(), &entries, height, next_seq)?;
        match store.cbmt_nodes(height)? {
            Some(nodes) if nodes == tree.nodes() => {}
            Some(_) => {
                return Err(fault(
                    at,
                    "stored CBMT nodes",
                    "the tree of the block's entries",
                    "other nodes",
                )
                .into())
            }
            None => return Err(fault(at, "stored CBMT nodes", "present", "missing").into()),
        }
        if store.block_of(next_seq)? != Some(height) {
            return Err(fault(
                at,
                "seq index",
                format!("seq {next_seq} in block {height}"),
                format!("{:?}", store.block_of(next_seq)?),
            )
            .into());
        }
        let appended = chain.append(&header_bytes);
        for &(level, index, node) in &appended {
            let field = || format!("history node ({level}, {index})");
            let stored: Hash = store
                .node(level, index)
                .map_err(|e| fault(at, field(), node, e))?;
            if stored != node {
                return Err(fault(at, field(), node, stored).into());
            }
        }
        if let Some(keys) = &record_keys {
            if let Some(key) = keys
                .iter()
                .find(|k| !belongs(k, height, next_seq, end, &appended))
            {
                return Err(fault(
                    at,
                    "block record",
                    format!("only keys of block {height}"),
                    format!("the key {}", hex::encode(key)),
                )
                .into());
            }
        }
        let note = store
            .checkpoint(height)?
            .ok_or_else(|| fault(at, "checkpoint", "present", "missing"))?;
        chain.checkpoint(&header, &header_bytes, &note)?;
        chain.consistent_with(trusted)?;
        progress(end.get());
    }
    chain.reached(trusted)?;
    let height = chain.height();
    let next_seq = chain.next_seq().unwrap_or_default();
    // Nothing may lie beyond the last block.
    if let Some(seq) = store.last_seq()? {
        if seq >= next_seq {
            return Err(fault(
                Place::Seq(seq),
                "entry",
                format!("no entry at or beyond seq {next_seq}"),
                "an entry outside every block",
            )
            .into());
        }
    }
    if let Some((k, _)) = store.last(store::CHECKPOINT)? {
        let h = Height::new(store::seq_suffix(&k).unwrap_or(u64::MAX));
        if h >= height {
            return Err(fault(
                Place::Height(h),
                "checkpoint",
                format!(
                    "no checkpoint beyond height {}",
                    height.get().saturating_sub(1)
                ),
                "one",
            )
            .into());
        }
    }
    if store.get(&store::key_history(0, height.get()))?.is_some() {
        return Err(fault(
            Place::Height(height),
            "history node (0, h)",
            "none beyond the last block",
            "one",
        )
        .into());
    }
    let mut summary = chain.summary;
    summary.elapsed = started.elapsed();
    Ok(summary)
}
