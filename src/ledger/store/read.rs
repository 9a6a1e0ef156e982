//! The read API of a store: entries (two positioned reads each, or whole chunks in order), block
//! headers, checkpoints, CBMT nodes and entry proofs read node by node, the seq → block index,
//! metadata, and the history-tree nodes the proofs are built from (`docs/LEDGER.md`).

use std::sync::atomic::Ordering;

use super::index::Index;
use super::keys::{
    key_history, key_u64, meta_key, seq_suffix, BLOCK, CBMT_NODES, CHECKPOINT, ENTRY, SEQ_BLOCK,
};
use super::record::{chunk_ends, chunk_place, Place};
use super::{Corruption, Store, StoreError, Stored};
use crate::ledger::block::{self, BlockHeader, EntryProof};
use crate::ledger::hash::Hash;
use crate::ledger::history::NodeSource;
use crate::ledger::position::{Height, Seq};

/// Reads a header this store wrote, without the canonical-form check a verifier makes (the
/// walker checks every header; readers serving proofs need only its fields).
pub(crate) fn trusted_header(bytes: &[u8], height: Height) -> Result<BlockHeader, StoreError> {
    serde_json::from_slice(bytes).map_err(|e| {
        StoreError::Corrupt(Corruption::Header {
            height,
            error: e.into(),
        })
    })
}

fn nodes_malformed(height: Height) -> StoreError {
    StoreError::Corrupt(Corruption::CbmtNodes { height })
}

fn malformed(first: u64) -> StoreError {
    StoreError::Corrupt(Corruption::Chunk { first })
}

impl Store {
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
        let bytes = self.blocks.read(place, Stored::Chunk { first })?;
        match chunk_ends(&bytes, bytes.len()) {
            Some(ends) if ends.len() == usize::from(count) => Ok((bytes, ends)),
            _ => Err(malformed(first)),
        }
    }

    /// The entry bytes at `seq`: two positioned reads, the chunk's offset table and the entry.
    pub fn entry(&self, seq: Seq) -> Result<Option<Vec<u8>>, StoreError> {
        let seq = seq.get();
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
        let what = Stored::Chunk { first };
        let header = 2 + 4 * u32::from(count);
        let head = self.blocks.read(place.prefix(header), what)?;
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
        self.blocks.read(entry, what).map(Some)
    }

    /// The `e` keys and values of the chunks that start at seqs `[from, to)`, in order.
    fn chunk_keys(
        &self,
        from: u64,
        to: u64,
    ) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>> + use<> {
        let end = key_u64(ENTRY, to);
        self.scan_from(&[ENTRY], &key_u64(ENTRY, from))
            .take_while(move |r| r.as_ref().map_or(true, |(k, _)| k.as_ref() < &end[..]))
    }

    /// The first seqs and entry counts of the chunks stored for seqs `[from, to)`, in order.
    pub fn chunks_in(&self, from: Seq, to: Seq) -> Result<Vec<(Seq, usize)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.chunk_keys(from.get(), to.get()) {
            let (key, value) = kv?;
            let (first, _, count) = Self::place(&key, &value)?;
            out.push((Seq::new(first), usize::from(count)));
        }
        Ok(out)
    }

    /// Calls `f` with the bytes of each stored entry of seqs `[from, to)`, in seq order, reading
    /// whole chunks (`from` must be the first seq of a chunk, as a block's first seq is). Stops at
    /// the first gap; the caller counts the calls.
    pub fn for_each_entry<E: From<StoreError>>(
        &self,
        from: Seq,
        to: Seq,
        f: &mut dyn FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let (from, to) = (from.get(), to.get());
        let mut next = from;
        for kv in self.chunk_keys(from, to) {
            let (key, value) = kv?;
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
    pub fn last_seq(&self) -> Result<Option<Seq>, StoreError> {
        match self.last(ENTRY)? {
            None => Ok(None),
            Some((key, value)) => {
                let (first, _, count) = Self::place(&key, &value)?;
                Ok(Some(Seq::new(first + u64::from(count.max(1)) - 1)))
            }
        }
    }

    /// The header bytes of the block at `height`.
    pub fn header(&self, height: Height) -> Result<Option<sled::IVec>, StoreError> {
        self.get(&key_u64(BLOCK, height.get()))
    }

    /// The signed checkpoint stored with the block at `height` (tree size height + 1).
    pub fn checkpoint(&self, height: Height) -> Result<Option<String>, StoreError> {
        match self.get(&key_u64(CHECKPOINT, height.get()))? {
            None => Ok(None),
            Some(v) => String::from_utf8(v.to_vec())
                .map(Some)
                .map_err(|_| StoreError::Corrupt(Corruption::CheckpointNotUtf8 { height })),
        }
    }

    /// Where the CBMT nodes of the block at `height` are.
    pub(super) fn nodes_place(&self, height: Height) -> Result<Option<Place>, StoreError> {
        match self.get(&key_u64(CBMT_NODES, height.get()))? {
            None => Ok(None),
            Some(v) => Place::parse(&v)
                .filter(|p| block::stored_leaf_count(p.len as usize).is_some())
                .map(Some)
                .ok_or_else(|| nodes_malformed(height)),
        }
    }

    /// The CBMT of the block at `height` in array form, 32 bytes a node.
    pub fn cbmt_bytes(&self, height: Height) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(place) = self.nodes_place(height)? else {
            return Ok(None);
        };
        self.blocks
            .read(place, Stored::CbmtNodes { height })
            .map(Some)
    }

    /// The CBMT node array of the block at `height`.
    pub fn cbmt_nodes(&self, height: Height) -> Result<Option<Vec<Hash>>, StoreError> {
        Ok(self
            .cbmt_bytes(height)?
            .map(|v| v.chunks_exact(32).filter_map(Hash::from_slice).collect()))
    }

    /// The proof of the entry at `index` in the block at `height`, reading only the O(log c)
    /// nodes on its path. `None` if the block has no stored nodes or no such entry.
    pub fn entry_proof(
        &self,
        height: Height,
        index: u64,
    ) -> Result<Option<EntryProof>, StoreError> {
        let Some(place) = self.nodes_place(height)? else {
            return Ok(None);
        };
        let count = block::stored_leaf_count(place.len as usize).unwrap_or(0);
        if index >= count {
            return Ok(None);
        }
        let what = Stored::CbmtNodes { height };
        let mut path = Vec::new();
        for k in block::sibling_indexes(count, index) {
            let node = Place {
                offset: place.offset + k * 32,
                len: 32,
            };
            let bytes = self.blocks.read(node, what)?;
            path.push(Hash::from_slice(&bytes).ok_or_else(|| nodes_malformed(height))?);
        }
        Ok(Some(EntryProof { index, count, path }))
    }

    /// The height of the block holding `seq` (the caller checks that seq is below the log size).
    pub fn block_of(&self, seq: Seq) -> Result<Option<Height>, StoreError> {
        match self.floor(SEQ_BLOCK, &key_u64(SEQ_BLOCK, seq.get()))? {
            None => Ok(None),
            Some((_, v)) => {
                let height = v
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt(Corruption::SeqBlock { seq }))?;
                Ok(Some(Height::new(u64::from_be_bytes(height))))
            }
        }
    }

    /// The first seq of the block at `height`.
    pub fn first_seq(&self, height: Height) -> Result<Seq, StoreError> {
        let bytes = self
            .header(height)?
            .ok_or(Corruption::MissingBlock { height })?;
        Ok(trusted_header(&bytes, height)?.first_seq)
    }

    pub(crate) fn meta(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .get(&meta_key(name))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Size of the store on disk, in bytes.
    pub fn size_on_disk(&self) -> u64 {
        let index = match &self.index {
            Index::Sled { db, .. } => db.size_on_disk().unwrap_or(0),
            Index::Snapshot(_) => 0,
        };
        index + self.blocks.end.load(Ordering::Acquire)
    }
}

impl NodeSource for Store {
    type Error = StoreError;
    fn node(&self, level: u8, index: u64) -> Result<Hash, StoreError> {
        let v = self
            .get(&key_history(level, index))?
            .ok_or_else(|| StoreError::Corrupt(Corruption::MissingHistoryNode { level, index }))?;
        Hash::from_slice(&v)
            .ok_or_else(|| StoreError::Corrupt(Corruption::HistoryNodeSize { level, index }))
    }
}
