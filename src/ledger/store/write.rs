//! Committing a block: its record written at the end of the blocks file and synced (what makes
//! it durable), then its keys applied to sled, the record's place last; the probe for room after
//! a failed write; metadata (`docs/LEDGER.md`, "Storage").

use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::index::Index;
use super::keys::{key_u64, meta_key, RECORD};
use super::record::{BlockRecord, Pairs, Place, RECORD_HEAD};
use super::{Corruption, Store, StoreError};

impl Store {
    /// A new record for the block at `height`, to be written at the end of the blocks file.
    pub(crate) fn begin_block(&self, height: u64) -> BlockRecord {
        let mut bytes = Vec::with_capacity(RECORD_HEAD as usize);
        bytes.extend_from_slice(&[0u8; 8]);
        bytes.extend_from_slice(&height.to_be_bytes());
        bytes.extend_from_slice(&[0u8; 4]);
        BlockRecord {
            height,
            offset: self.blocks.end.load(Ordering::Acquire),
            bytes,
            pairs: Vec::new(),
        }
    }

    /// Makes a block durable — its record written at the end of the blocks file and synced —
    /// then applies its keys to sled, `w` last. sled's own log is flushed in the
    /// background; after a crash [`Store::open`] replays what it lacks from the file.
    /// Returns how long the sync took.
    pub(crate) fn commit(&self, record: BlockRecord) -> Result<Duration, StoreError> {
        let (height, offset) = (record.height, record.offset);
        if offset != self.blocks.end.load(Ordering::Acquire) {
            return Err(Corruption::BlocksFileMoved { height, offset }.into());
        }
        let (bytes, pairs) = record.finish()?;
        let started = Instant::now();
        let written = self
            .blocks
            .file
            .write_all_at(&bytes, offset)
            .and_then(|()| self.blocks.file.sync_data());
        if let Err(e) = written {
            // Nothing after `offset` is part of the log yet: cut what reached the file, so
            // that neither a retry at the same height nor the next open meets a stale tail.
            let _ = self.blocks.file.set_len(offset);
            let _ = self.blocks.file.sync_all();
            return Err(StoreError::Unwritten(e));
        }
        let synced = started.elapsed();
        let place = Place {
            offset,
            len: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
        };
        self.blocks.end.store(place.end(), Ordering::Release);
        self.apply(height, place, pairs)?;
        Ok(synced)
    }

    /// Applies one block's keys to sled, then where its record is. Not as one sled batch: a
    /// batch makes sled write out its log buffer at once (one write and one writeback request
    /// per block, on sled's I/O threads), and the block is already durable in the blocks file.
    /// sled recovers a prefix of its log, so after a crash the block's `w` key is there only if
    /// all its other keys are; [`Store::open`] replays from the last `w`, and a block's keys
    /// put again are the same keys with the same values. Readers see a block only once the
    /// ledger's head moves past it, after this returns.
    pub(super) fn apply(&self, height: u64, place: Place, pairs: Pairs) -> Result<(), StoreError> {
        let Index::Sled { tree, .. } = &self.index else {
            return Err(StoreError::ReadOnly);
        };
        for (k, v) in pairs {
            tree.insert(k, v)?;
        }
        tree.insert(key_u64(RECORD, height), &place.to_bytes())?;
        Ok(())
    }

    /// Whether a record of `bytes` could be written now: writes that many zeros after the last
    /// record, syncs them, and cuts them off again. Only the writer calls it, between blocks;
    /// what a crash in the middle leaves is a torn tail, which the next open cuts.
    pub(crate) fn probe_room(&self, bytes: usize) -> Result<(), StoreError> {
        let end = self.blocks.end.load(Ordering::Acquire);
        let written = self
            .blocks
            .file
            .write_all_at(&vec![0u8; bytes], end)
            .and_then(|()| self.blocks.file.sync_data());
        let cut = self
            .blocks
            .file
            .set_len(end)
            .and_then(|()| self.blocks.file.sync_all());
        written.and(cut).map_err(StoreError::Unwritten)
    }

    /// Flushes sled's log (the blocks are durable without it; this only spares a replay).
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        self.index.flush()
    }

    pub(crate) fn set_meta(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let Index::Sled { db, tree } = &self.index else {
            return Err(StoreError::ReadOnly);
        };
        tree.insert(meta_key(name), value.as_bytes())?;
        db.flush()?;
        Ok(())
    }
}
