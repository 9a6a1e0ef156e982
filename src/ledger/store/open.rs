//! Opening a store: sled (waiting for a lock a closed store in this process may still hold), the
//! storage-layout check, bringing sled in line with the blocks file — the replay of the whole
//! records it lacks, cutting a torn last record, refusing damage — and rebuilding an index that
//! cannot be opened; also the read-only snapshot of the blocks file alone (`docs/LEDGER.md`,
//! "Storage"; `docs/RELIABILITY.md`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::blocks_file::BlocksFile;
use super::index::{lock, Index, Window};
use super::keys::{meta_key, seq_suffix, RECORD};
use super::record::Place;
use super::{Corruption, Store, StoreError, StoredLayout, TailDamage};
use super::{BLOCKS_FILE, LAYOUT, LAYOUT_KEY};
use crate::ledger::position::Height;

/// How often sled's own log is flushed in the background. An append is durable once its block's
/// record is synced in the blocks file; what sled has not flushed at a crash is replayed from
/// there when the store opens.
const SLED_FLUSH_MS: u64 = 1000;

/// Opens sled in `dir/ledger`, waiting up to two seconds for a lock a closed store in this
/// process may still hold.
fn open_sled(dir: &Path) -> Result<sled::Db, StoreError> {
    let config = sled::Config::new()
        .path(dir.join("ledger"))
        .mode(sled::Mode::HighThroughput)
        .flush_every_ms(Some(SLED_FLUSH_MS))
        .cache_capacity(256 * 1024 * 1024);
    let mut tries = 0;
    loop {
        match config.open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(e))
                if e.to_string().contains("could not acquire lock") && tries < 100 =>
            {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                return Err(StoreError::Locked {
                    dir: dir.to_path_buf(),
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether sled failed for want of room (`ENOSPC`, `EDQUOT`), which making room mends.
fn out_of_room(e: &sled::Error) -> bool {
    matches!(e, sled::Error::Io(io) if matches!(io.raw_os_error(), Some(28 | 122)))
}

/// Removes the snapshot files sled leaves half-made when it is stopped (or runs out of room)
/// while writing one: they are never read, and only take room.
fn remove_unfinished_snapshots(folder: &Path) {
    let Ok(dir) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("snap.") && name.ends_with(".generating") {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => tracing::info!(file = %name, "removed an unfinished sled snapshot"),
                Err(e) => {
                    tracing::warn!(file = %name, error = %e, "cannot remove an unfinished sled snapshot")
                }
            }
        }
    }
}

/// Moves every file of `folder` but the blocks file into a new `index-set-aside-<n>` folder
/// inside it (kept for inspection, never read again), and returns that folder.
fn set_index_aside(folder: &Path) -> Result<std::path::PathBuf, StoreError> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let aside = folder.join(format!("index-set-aside-{stamp}"));
    std::fs::create_dir_all(&aside)?;
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let name = entry.file_name();
        let keep = name == BLOCKS_FILE || name.to_string_lossy().starts_with("index-set-aside-");
        if !keep {
            std::fs::rename(entry.path(), aside.join(&name))?;
        }
    }
    if let Ok(d) = std::fs::File::open(folder) {
        let _ = d.sync_all();
    }
    Ok(aside)
}

impl Store {
    /// Opens (or creates) the store in `dir/ledger`.
    ///
    /// sled locks the folder while a database is open and releases the lock from a background
    /// thread after the last handle is dropped, so a store closed a moment ago in this process
    /// may still look locked: wait up to two seconds for it before giving up.
    ///
    /// Then the blocks file is brought in line with sled: records after the last one sled holds
    /// are applied to sled, in order (sled flushes in the background, so a crash can leave it
    /// behind the file), and a torn record at the end — a block whose write never finished, and
    /// so was never answered — is cut off.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        let folder = dir.join("ledger");
        remove_unfinished_snapshots(&folder);
        let (db, rebuilt) = match open_sled(dir) {
            Ok(db) => (db, false),
            Err(StoreError::Sled(e)) if out_of_room(&e) => {
                return Err(StoreError::Io(std::io::Error::other(format!(
                    "the disk is full ({e}): make room and start again; nothing was changed"
                ))))
            }
            Err(StoreError::Sled(e)) if folder.join(BLOCKS_FILE).exists() => {
                // The blocks file is the durable log and sled only its index: an index that
                // cannot be opened (a disk that filled up while sled wrote, say) is set aside and
                // built again from the file, block by block, below.
                let aside = set_index_aside(&folder)?;
                tracing::warn!(
                    error = %e,
                    moved_to = %aside.display(),
                    "the ledger's index (sled) cannot be opened; rebuilding it from the blocks file"
                );
                (open_sled(dir)?, true)
            }
            Err(e) => return Err(e),
        };
        let tree = db.open_tree("ledger-v1")?;
        let layout = meta_key(LAYOUT_KEY);
        match tree.get(&layout)? {
            Some(v) if v.as_ref() == LAYOUT.as_bytes() => {}
            Some(v) => {
                let name = String::from_utf8_lossy(&v).into_owned();
                return Err(StoreError::Layout(StoredLayout::Named(name)));
            }
            None if tree.first()?.is_some() => {
                return Err(StoreError::Layout(StoredLayout::EntriesInSled))
            }
            None => {
                tree.insert(&layout, LAYOUT.as_bytes())?;
                db.flush()?;
            }
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join("ledger").join(BLOCKS_FILE))?;
        let store = Store {
            index: Index::Sled { db, tree },
            blocks: Arc::new(BlocksFile {
                file,
                end: AtomicU64::new(0),
                replayed: AtomicU64::new(0),
            }),
            rebuilt,
        };
        // Where sled's blocks end: after the last record it has a `w` for, and that block's height.
        let (applied, next_height) = match store.last(RECORD)? {
            None => (0, 0),
            Some((k, v)) => {
                let height = seq_suffix(&k).unwrap_or(0);
                let place = Place::parse(&v).ok_or(Corruption::RecordPlace { height })?;
                (place.end(), height + 1)
            }
        };
        let len = store.blocks.file.metadata()?.len();
        if len < applied {
            return Err(Corruption::BlocksFileShort { len, applied }.into());
        }
        store.replay(applied, next_height, len)?;
        Ok(store)
    }

    /// Opens the ledger in `dir/ledger` read-only, from its blocks file alone, for a walk from
    /// the first block ([`Store::advance`] reads each record in turn). Nothing is written and
    /// sled is not opened, so its lock is not needed and a running server may go on appending
    /// (records appended after opening are not read). What is read is the durable log itself,
    /// every block the server ever answered for, not sled's copy of its keys. Memory: one
    /// record's keys at a time.
    pub fn open_snapshot(dir: &Path) -> Result<Store, StoreError> {
        let file = std::fs::File::open(dir.join("ledger").join(BLOCKS_FILE))?;
        let len = file.metadata()?.len();
        Ok(Store {
            index: Index::Snapshot(Arc::new(Mutex::new(Window {
                len,
                ..Window::default()
            }))),
            blocks: Arc::new(BlocksFile {
                file,
                end: AtomicU64::new(0),
                replayed: AtomicU64::new(0),
            }),
            rebuilt: false,
        })
    }

    /// Whether the index was built again from the blocks file when the store was opened (it
    /// could not be opened as it was); its metadata must then be written again.
    pub fn rebuilt(&self) -> bool {
        self.rebuilt
    }

    /// For a snapshot: reads the record of block `height`, the next in the file, in place of
    /// the one before, if it is whole. Returns whether the store holds block `height` — for
    /// sled, always (its keys say). After the last whole record the last one's keys stay.
    pub fn advance(&self, height: Height) -> Result<bool, StoreError> {
        let height = height.get();
        let Index::Snapshot(window) = &self.index else {
            return Ok(true);
        };
        let mut w = lock(window);
        if w.ended || height != w.next_height {
            return Ok(false);
        }
        let (at, len) = (w.next_at, w.len);
        let mut keys = BTreeMap::new();
        let (end, read) = self
            .blocks
            .records(at, height, len, 1, &mut |_, _, pairs| {
                for (k, v) in pairs {
                    keys.insert(sled::IVec::from(k), sled::IVec::from(v));
                }
                Ok(())
            })?;
        if read == 0 {
            w.ended = true;
            return Ok(false);
        }
        w.keys = keys;
        w.next_at = end;
        w.next_height = height + 1;
        self.blocks.end.store(end, Ordering::Release);
        Ok(true)
    }

    /// For a snapshot: the keys of the record read last.
    pub fn record_keys(&self) -> Option<Vec<sled::IVec>> {
        match &self.index {
            Index::Snapshot(window) => Some(lock(window).keys.keys().cloned().collect()),
            Index::Sled { .. } => None,
        }
    }

    /// Applies to sled the whole records of the blocks file from `from` on (the first of them
    /// block `next_height`), and cuts the file at the first record that is not whole.
    fn replay(&self, from: u64, next_height: u64, len: u64) -> Result<(), StoreError> {
        let (at, replayed) =
            self.blocks
                .records(from, next_height, len, u64::MAX, &mut |h, place, pairs| {
                    self.apply(h, place, pairs)
                })?;
        if at < len {
            // Only what a crash leaves is cut; a damaged record with blocks after it — blocks
            // that were answered — is not a reason to drop them.
            if let Some(damage) = self.blocks.tail_damage(at, len)? {
                return Err(Corruption::DamagedRecord { at, damage }.into());
            }
            self.blocks.file.set_len(at)?;
            self.blocks.file.sync_all()?;
        }
        self.blocks.end.store(at, Ordering::Release);
        if replayed > 0 {
            tracing::info!(blocks = replayed, "replayed blocks sled had not flushed");
            self.index.flush()?;
        }
        self.blocks.replayed.store(replayed, Ordering::Release);
        Ok(())
    }

    /// How many blocks [`Store::open`] applied from the blocks file because sled lacked them.
    pub fn replayed(&self) -> u64 {
        self.blocks.replayed.load(Ordering::Acquire)
    }

    /// For a snapshot walked to its end: the bytes after the last whole record, left in place —
    /// a block whose write never finished (or that a running server is writing now). Always 0
    /// for a store opened for writing, which cuts them.
    pub fn unfinished_tail(&self) -> u64 {
        match &self.index {
            Index::Snapshot(window) => {
                let w = lock(window);
                if w.ended {
                    w.len - w.next_at
                } else {
                    0
                }
            }
            Index::Sled { .. } => 0,
        }
    }

    /// For a snapshot walked to its end: the height and byte where the bytes after the last
    /// whole record start, and why they cannot be an unfinished write, if they cannot.
    pub fn tail_damage(&self) -> Result<Option<(Height, u64, TailDamage)>, StoreError> {
        let Index::Snapshot(window) = &self.index else {
            return Ok(None);
        };
        let (at, len, height) = {
            let w = lock(window);
            (w.next_at, w.len, w.next_height)
        };
        Ok(self
            .blocks
            .tail_damage(at, len)?
            .map(|why| (Height::new(height), at, why)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::keys::{key_u64, BLOCK, CBMT_NODES, RECORD};
    use super::*;
    use crate::ledger::hash::Hash;

    /// Commits block `height` with one chunk, its nodes and a header key.
    fn commit_block(store: &Store, height: u64) {
        let mut record = store.begin_block(height);
        let entries = [format!("entry {height}").into_bytes()];
        record
            .put_entries([(height, &entries[..])].into_iter(), &[Hash::digest(b"n")])
            .unwrap();
        record.insert(key_u64(BLOCK, height), b"header".to_vec());
        store.commit(record).unwrap();
    }

    /// A closed store of `blocks` blocks whose sled lacks `lost` (what a crash can leave).
    fn store_losing(blocks: u64, lost: &[[u8; 9]]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for height in 0..blocks {
            commit_block(&store, height);
        }
        let Index::Sled { tree, .. } = &store.index else {
            panic!("Store::open opens sled")
        };
        for key in lost {
            tree.remove(key).unwrap();
        }
        store.flush().unwrap();
        dir
    }

    /// Flips a bit of the blocks file where block `height`'s entry is; returns the new bytes.
    fn damage_entry(dir: &Path, height: u64) -> Vec<u8> {
        let path = dir.join("ledger").join(BLOCKS_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        let entry = format!("entry {height}");
        let at = bytes
            .windows(entry.len())
            .position(|w| w == entry.as_bytes());
        bytes[at.unwrap()] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        bytes
    }

    #[test]
    fn a_block_whose_keys_sled_holds_in_part_is_replayed_whole() {
        // sled recovers a prefix of its log, so block 1's header can be there without its
        // nodes' place and its record's place (written last).
        let dir = store_losing(2, &[key_u64(CBMT_NODES, 1), key_u64(RECORD, 1)]);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.replayed(), 1);
        assert!(store.nodes_place(Height::new(1)).unwrap().is_some());
        assert_eq!(
            store.entry(crate::ledger::position::Seq::new(1)).unwrap(),
            Some(b"entry 1".to_vec())
        );
        assert!(store.get(&key_u64(RECORD, 1)).unwrap().is_some());
    }

    #[test]
    fn a_damaged_record_with_blocks_after_it_is_refused_not_cut() {
        // sled lost blocks 1 and 2 (as after a crash), so opening replays them from the file.
        let dir = store_losing(3, &[key_u64(RECORD, 1), key_u64(RECORD, 2)]);
        let bytes = damage_entry(dir.path(), 1);
        let err = Store::open(dir.path()).err().map(|e| e.to_string());
        let err = err.expect("a damaged record with blocks after it must not be cut");
        assert!(err.contains("CRC-32 fails"), "{err}");
        let path = dir.path().join("ledger").join(BLOCKS_FILE);
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "the file was changed");

        // The same damage to the last record: an unfinished write, cut.
        let dir = store_losing(2, &[key_u64(RECORD, 1)]);
        let bytes = damage_entry(dir.path(), 1);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.replayed(), 0);
        let path = dir.path().join("ledger").join(BLOCKS_FILE);
        assert!(std::fs::read(&path).unwrap().len() < bytes.len());
    }

    #[test]
    fn a_store_of_another_layout_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path().join("ledger")).unwrap();
            let tree = db.open_tree("ledger-v1").unwrap();
            tree.insert(key_u64(BLOCK, 0), b"{}".to_vec()).unwrap();
            db.flush().unwrap();
        }
        let err = Store::open(dir.path()).err().map(|e| e.to_string());
        let err = err.expect("a store without a layout must not open");
        assert!(err.contains("storage layout \"entries in sled\""), "{err}");
        assert!(err.contains("\"blocks-file-1\""), "{err}");
    }
}
