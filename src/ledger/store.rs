//! The ledger on sled, beside one append-only file of entry chunks. Everything but the entries'
//! bytes lives in one sled tree under one-byte key prefixes, so that a block — where its entries
//! are, its header, CBMT nodes, history nodes, checkpoint and index keys — is written as one
//! atomic sled batch followed by one flush: after a crash the block is there whole or not at all.
//! The entries' bytes go first, appended to `ledger/entries` and synced before the batch is
//! applied; a chunk no batch refers to (the tail of a block that crashed before its batch) is cut
//! off when the store is opened. Integers in keys are big-endian so that key order is numeric
//! order.
//!
//! Why a file of its own: sled keeps a B-tree leaf of up to 16 values as one page, and writes a
//! page larger than a quarter of its segment as a file of its own, again at every split. Chunks of
//! 64 entries (some 26 KB) made every leaf of them such a page, which cost about a third of the
//! writer's time (`docs/BENCHMARKS.md`). In a file of their own they are written once, and read
//! back with one positioned read of the chunk's offsets and one of the entry.
//!
//! | prefix | key | value |
//! | --- | --- | --- |
//! | `m` | name | metadata (`format`, `origin`, `verifier`) |
//! | `e` | first seq of a chunk | where its chunk of up to 64 consecutive entries of one block is in the entries file: offset (u64), length (u32), entries (u16) |
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

use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

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

/// Storage errors.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the ledger store: {0}")]
    Sled(#[from] sled::Error),
    #[error("the ledger in {0} is in use by another process (a running server?)")]
    Locked(String),
    #[error("the ledger store is inconsistent: {0}")]
    Corrupt(String),
    #[error("the ledger's entries file: {0}")]
    Io(#[from] std::io::Error),
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

/// The entries file, in sled's folder.
const ENTRIES_FILE: &str = "entries";

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

/// Where bytes are in the entries file: the value of an `n` key, and the start of an `e` key's
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

    fn parse(b: &[u8]) -> Option<Place> {
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
    match (Place::parse(value), count) {
        (Some(place), Some(count)) => Ok((place, count)),
        _ => Err(StoreError::Corrupt(format!(
            "the place of the entry chunk at seq {first} is malformed"
        ))),
    }
}

/// The append-only file of entry chunks. Only the ledger's one writer appends; readers use
/// positioned reads, so they never move a shared cursor.
struct EntriesFile {
    file: std::fs::File,
    /// The end of what has been appended (the next chunk's offset).
    end: AtomicU64,
    /// Appended since the last sync.
    dirty: AtomicBool,
}

impl EntriesFile {
    /// The bytes at `place`, which must lie within what has been appended; `what` names them in
    /// the error if not.
    fn read(&self, place: Place, what: &dyn Fn() -> String) -> Result<Vec<u8>, StoreError> {
        if place
            .offset
            .checked_add(u64::from(place.len))
            .is_none_or(|end| end > self.end.load(Ordering::Acquire))
        {
            return Err(StoreError::Corrupt(format!(
                "{} lies past the end of the entries file",
                what()
            )));
        }
        let mut buf = vec![0u8; place.len as usize];
        self.file.read_exact_at(&mut buf, place.offset)?;
        Ok(buf)
    }
}

/// The sled database holding one ledger, and its entries file.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    tree: sled::Tree,
    entries: Arc<EntriesFile>,
}

impl Store {
    /// Opens (or creates) the store in `dir/ledger`.
    ///
    /// sled locks the folder while a database is open and releases the lock from a background
    /// thread after the last handle is dropped, so a store closed a moment ago in this process
    /// may still look locked: wait up to two seconds for it before giving up.
    ///
    /// The entries file is cut back to the end of the last chunk the store refers to: anything
    /// after it was appended for a block whose batch never landed.
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
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("ledger").join(ENTRIES_FILE))?;
        // Each block appends its chunks, then its CBMT nodes.
        let mut referenced = 0;
        if let Some((k, v)) = tree.scan_prefix([ENTRY]).next_back().transpose()? {
            referenced = chunk_place(&v, seq_suffix(&k).unwrap_or(0))?.0.end();
        }
        if let Some((k, v)) = tree.scan_prefix([CBMT_NODES]).next_back().transpose()? {
            let height = seq_suffix(&k).unwrap_or(0);
            let place = Place::parse(&v).ok_or_else(|| nodes_malformed(height))?;
            referenced = referenced.max(place.end());
        }
        let len = file.metadata()?.len();
        if len < referenced {
            return Err(StoreError::Corrupt(format!(
                "the entries file holds {len} bytes, the store refers to {referenced}"
            )));
        }
        if len > referenced {
            file.set_len(referenced)?;
            file.sync_all()?;
        }
        let entries = Arc::new(EntriesFile {
            file,
            end: AtomicU64::new(referenced),
            dirty: AtomicBool::new(false),
        });
        Ok(Store { db, tree, entries })
    }

    /// Appends one block's chunks and CBMT nodes to the entries file (not yet synced) and puts
    /// where each is into `batch`. `chunks` are the first seq and the entries of each chunk.
    pub(crate) fn put_block<'a>(
        &self,
        batch: &mut sled::Batch,
        height: u64,
        chunks: impl Iterator<Item = (u64, &'a [Vec<u8>])>,
        nodes: &[Hash],
    ) -> Result<(), StoreError> {
        let start = self.entries.end.load(Ordering::Acquire);
        let mut bytes = Vec::new();
        let place = |bytes: &Vec<u8>, from: usize| -> Result<Place, StoreError> {
            let len = u32::try_from(bytes.len() - from).map_err(|_| {
                StoreError::Corrupt(format!("block {height} has over 4 GiB of entries"))
            })?;
            Ok(Place {
                offset: start + from as u64,
                len,
            })
        };
        for (first, chunk) in chunks {
            let from = bytes.len();
            encode_chunk_into(&mut bytes, chunk);
            let mut value = place(&bytes, from)?.to_bytes().to_vec();
            value.extend_from_slice(&u16::try_from(chunk.len()).unwrap_or(u16::MAX).to_be_bytes());
            batch.insert(&key_u64(ENTRY, first), value);
        }
        let from = bytes.len();
        for n in nodes {
            bytes.extend_from_slice(&n.0);
        }
        batch.insert(
            &key_u64(CBMT_NODES, height),
            &place(&bytes, from)?.to_bytes(),
        );
        self.entries.file.write_all_at(&bytes, start)?;
        self.entries.dirty.store(true, Ordering::Release);
        self.entries
            .end
            .store(start + bytes.len() as u64, Ordering::Release);
        Ok(())
    }

    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        Ok(self.tree.get(key)?)
    }

    /// Makes the chunks appended so far durable, then applies one batch atomically and makes it
    /// durable: a batch on disk never refers to entries that are not.
    pub(crate) fn commit(&self, batch: sled::Batch) -> Result<(), StoreError> {
        if self.entries.dirty.swap(false, Ordering::AcqRel) {
            self.entries.file.sync_data()?;
        }
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
            .entries
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
        let head = self.entries.read(place.prefix(header), &what)?;
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
        self.entries.read(entry, &what).map(Some)
    }

    /// The first seqs and entry counts of the chunks stored for seqs `[from, to)`, in order.
    pub fn chunks_in(&self, from: u64, to: u64) -> Result<Vec<(u64, usize)>, StoreError> {
        let mut out = Vec::new();
        for kv in self
            .tree
            .range(key_u64(ENTRY, from).to_vec()..key_u64(ENTRY, to).to_vec())
        {
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
        for kv in self
            .tree
            .range(key_u64(ENTRY, from).to_vec()..key_u64(ENTRY, to).to_vec())
        {
            let (key, value) = kv.map_err(StoreError::from)?;
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
        self.entries.read(place, &what).map(Some)
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
            let bytes = self.entries.read(node, &what)?;
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
        self.db.size_on_disk().unwrap_or(0) + self.entries.end.load(Ordering::Acquire)
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
