//! The ledger on sled. Everything lives in one sled tree under one-byte key prefixes, so that a
//! block — its entries, header, CBMT nodes, history nodes, checkpoint and index keys — is written
//! as one atomic sled batch followed by one flush: after a crash the block is there whole or not
//! at all. Integers in keys are big-endian so that key order is numeric order.
//!
//! | prefix | key | value |
//! | --- | --- | --- |
//! | `m` | name | metadata (`format`, `origin`, `verifier`) |
//! | `e` | first seq of a chunk | up to 64 consecutive entries of one block (RFC 8785 bytes each) |
//! | `b` | height | block header bytes (RFC 8785) |
//! | `n` | height | the block's CBMT in array form, 32 bytes a node |
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

use std::path::Path;

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

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the ledger store: {0}")]
    Sled(#[from] sled::Error),
    #[error("the ledger in {0} is in use by another process (a running server?)")]
    Locked(String),
    #[error("the ledger store is inconsistent: {0}")]
    Corrupt(String),
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

/// Encodes one chunk of consecutive entries.
pub(crate) fn encode_chunk(entries: &[Vec<u8>]) -> Vec<u8> {
    let total: usize = entries.iter().map(Vec::len).sum();
    let mut out = Vec::with_capacity(2 + 4 * entries.len() + total);
    out.extend_from_slice(&(entries.len() as u16).to_be_bytes());
    let mut end = 0u32;
    for e in entries {
        end += e.len() as u32;
        out.extend_from_slice(&end.to_be_bytes());
    }
    for e in entries {
        out.extend_from_slice(e);
    }
    out
}

/// The end offsets of a chunk's entries (relative to its data), if the chunk is well formed.
fn chunk_ends(chunk: &[u8]) -> Option<Vec<usize>> {
    let n = usize::from(u16::from_be_bytes(chunk.get(..2)?.try_into().ok()?));
    let table = chunk.get(2..2 + 4 * n)?;
    let ends: Vec<usize> = table
        .chunks_exact(4)
        .filter_map(|b| super::hash::be_u32(b).map(|e| e as usize))
        .collect();
    let sorted = ends.windows(2).all(|w| w.first() <= w.last());
    if ends.len() != n || !sorted || ends.last().map(|last| 2 + 4 * n + last) != Some(chunk.len()) {
        return None;
    }
    Some(ends)
}

/// Appends a length-prefixed string to an index key.
pub(crate) fn push_str(key: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    let len = u16::try_from(b.len()).unwrap_or(u16::MAX);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(b.get(..usize::from(len)).unwrap_or(b));
}

/// The index keys (without the height) under which an entry is found.
pub(crate) fn index_keys(entry: &super::entry::EntryDraft) -> Vec<Vec<u8>> {
    let mut keys = Vec::with_capacity(5 + entry.rules.len());
    if let Some(caller) = &entry.caller {
        let mut k = vec![BY_CALLER];
        push_str(&mut k, caller);
        keys.push(k);
    }
    if let Some(model) = &entry.model {
        let mut k = vec![BY_MODEL];
        push_str(&mut k, &model.name);
        keys.push(k);
        let mut k = vec![BY_VERSION];
        push_str(&mut k, &model.name);
        push_str(&mut k, &model.version);
        keys.push(k);
    }
    let mut k = vec![BY_DECISION];
    push_str(&mut k, entry.decision.as_str());
    keys.push(k);
    for rule in &entry.rules {
        let mut k = vec![BY_RULE];
        push_str(&mut k, rule);
        keys.push(k);
    }
    keys
}

/// Reads the seq (or height) at the end of a key.
pub(crate) fn seq_suffix(key: &[u8]) -> Option<u64> {
    let tail = key.get(key.len().checked_sub(8)?..)?;
    Some(u64::from_be_bytes(tail.try_into().ok()?))
}

/// The sled database holding one ledger.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    tree: sled::Tree,
}

impl Store {
    /// Opens (or creates) the store in `dir/ledger`.
    ///
    /// sled locks the folder while a database is open and releases the lock from a background
    /// thread after the last handle is dropped, so a store closed a moment ago in this process
    /// may still look locked: wait up to two seconds for it before giving up.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let config = sled::Config::new()
            .path(dir.join("ledger"))
            .mode(sled::Mode::HighThroughput)
            .flush_every_ms(None)
            .cache_capacity(256 * 1024 * 1024);
        let mut tries = 0;
        let db = loop {
            match config.open() {
                Ok(db) => break db,
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
        };
        let tree = db.open_tree("ledger-v1")?;
        Ok(Store { db, tree })
    }

    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self.tree.get(key)?)
    }

    /// Applies one batch atomically and makes it durable.
    pub(crate) fn commit(&self, batch: sled::Batch) -> Result<(), StoreError> {
        self.tree.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }

    /// The last key/value under `prefix`.
    pub(crate) fn last(&self, prefix: u8) -> Result<Option<(sled::IVec, sled::IVec)>, StoreError> {
        Ok(self.tree.scan_prefix([prefix]).next_back().transpose()?)
    }

    /// Keys and values from `start` (inclusive) while they share `prefix`.
    pub(crate) fn scan_from(
        &self,
        prefix: &[u8],
        start: &[u8],
    ) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>> + use<> {
        let prefix = prefix.to_vec();
        self.tree
            .range(start.to_vec()..)
            .take_while(move |r| match r {
                Ok((k, _)) => k.starts_with(&prefix),
                Err(_) => true,
            })
            .map(|r| r.map_err(StoreError::from))
    }

    /// The last key at or below `key`, if it shares `prefix`.
    pub(crate) fn floor(
        &self,
        prefix: u8,
        key: &[u8],
    ) -> Result<Option<(sled::IVec, sled::IVec)>, StoreError> {
        match self.tree.range(..=key.to_vec()).next_back().transpose()? {
            Some((k, v)) if k.first() == Some(&prefix) => Ok(Some((k, v))),
            _ => Ok(None),
        }
    }

    /// The entry bytes at `seq` (a view into its chunk; no copy).
    pub fn entry(&self, seq: u64) -> Result<Option<sled::IVec>, StoreError> {
        let Some((key, chunk)) = self.floor(ENTRY, &key_u64(ENTRY, seq))? else {
            return Ok(None);
        };
        let first = seq_suffix(&key).unwrap_or(u64::MAX);
        let Some(index) = seq.checked_sub(first).and_then(|i| usize::try_from(i).ok()) else {
            return Ok(None);
        };
        let corrupt =
            || StoreError::Corrupt(format!("the entry chunk at seq {first} is malformed"));
        let ends = chunk_ends(&chunk).ok_or_else(corrupt)?;
        if index >= ends.len() {
            return Ok(None);
        }
        let header = 2 + 4 * ends.len();
        let start = match index.checked_sub(1) {
            None => 0,
            Some(i) => *ends.get(i).ok_or_else(corrupt)?,
        };
        let end = *ends.get(index).ok_or_else(corrupt)?;
        if start > end || header + end > chunk.len() {
            return Err(corrupt());
        }
        Ok(Some(chunk.subslice(header + start, end - start)))
    }

    /// The first seqs and entry counts of the chunks stored for seqs `[from, to)`, in order.
    pub fn chunks_in(&self, from: u64, to: u64) -> Result<Vec<(u64, usize)>, StoreError> {
        let mut out = Vec::new();
        for kv in self
            .tree
            .range(key_u64(ENTRY, from).to_vec()..key_u64(ENTRY, to).to_vec())
        {
            let (key, chunk) = kv?;
            let first = seq_suffix(&key).unwrap_or(u64::MAX);
            out.push((first, chunk_ends(&chunk).map_or(0, |e| e.len())));
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
        for kv in self
            .tree
            .range(key_u64(ENTRY, from).to_vec()..key_u64(ENTRY, to).to_vec())
        {
            let (key, chunk) = kv.map_err(StoreError::from)?;
            let first = seq_suffix(&key).unwrap_or(u64::MAX);
            if first != next {
                return Ok(());
            }
            let corrupt =
                || StoreError::Corrupt(format!("the entry chunk at seq {first} is malformed"));
            let ends = chunk_ends(&chunk).ok_or_else(corrupt)?;
            let data = chunk.get(2 + 4 * ends.len()..).ok_or_else(corrupt)?;
            let mut start = 0;
            for end in ends {
                f(data.get(start..end).ok_or_else(corrupt)?)?;
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
            Some((key, chunk)) => {
                let first = seq_suffix(&key).unwrap_or(0);
                let n = chunk_ends(&chunk)
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("the entry chunk at seq {first} is malformed"))
                    })?
                    .len() as u64;
                Ok(Some(first + n.max(1) - 1))
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

    /// The CBMT node array of the block at `height`.
    pub fn cbmt_nodes(&self, height: u64) -> Result<Option<Vec<Hash>>, StoreError> {
        match self.get(&key_u64(CBMT_NODES, height))? {
            None => Ok(None),
            Some(v) if v.len() % 32 == 0 => Ok(Some(
                v.chunks_exact(32).filter_map(Hash::from_slice).collect(),
            )),
            Some(_) => Err(StoreError::Corrupt(format!(
                "CBMT nodes of block {height} are not whole digests"
            ))),
        }
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
        let mut k = vec![META];
        k.extend_from_slice(name.as_bytes());
        Ok(self
            .get(&k)?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub(crate) fn set_meta(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let mut k = vec![META];
        k.extend_from_slice(name.as_bytes());
        self.tree.insert(k, value.as_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    /// Size of the store on disk, in bytes.
    pub fn size_on_disk(&self) -> u64 {
        self.db.size_on_disk().unwrap_or(0)
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
