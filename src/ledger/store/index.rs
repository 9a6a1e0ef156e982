//! Where a store's keys are looked up: sled (the server's index), or a read-only window on the
//! keys of one record of the blocks file at a time (a snapshot, for a walk that must not take
//! sled's lock); the lookups and forward scans both answer.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex};

use super::{Store, StoreError};

/// Where a store's keys are looked up.
#[derive(Clone)]
pub(super) enum Index {
    /// The server's index ([`Store::open`]).
    Sled { db: sled::Db, tree: sled::Tree },
    /// The keys of one record of the blocks file at a time, read without writing anything
    /// ([`Store::open_snapshot`]).
    Snapshot(Arc<Mutex<Window>>),
}

/// A read-only walk through the blocks file, one record at a time.
#[derive(Default)]
pub(super) struct Window {
    /// The keys and values of the record read last.
    pub(super) keys: BTreeMap<sled::IVec, sled::IVec>,
    /// Where the next record starts, and its height.
    pub(super) next_at: u64,
    pub(super) next_height: u64,
    /// The file's length when it was opened: records appended since are not read.
    pub(super) len: u64,
    /// Whether a record that is not whole was met at `next_at`.
    pub(super) ended: bool,
}

impl Index {
    pub(super) fn flush(&self) -> Result<(), StoreError> {
        if let Index::Sled { db, .. } = self {
            db.flush()?;
        }
        Ok(())
    }
}

/// The window's keys stay consistent while a walk reads them (it is the only user); a panic
/// elsewhere cannot leave them half-replaced, so a poisoned lock is used as is.
pub(super) fn lock(window: &Mutex<Window>) -> std::sync::MutexGuard<'_, Window> {
    window
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A forward scan of either index, from a start key.
enum Scan {
    Sled(Box<sled::Iter>),
    /// The next key to look up at or after; `None` once past the end.
    Snapshot {
        window: Arc<Mutex<Window>>,
        next: Option<Vec<u8>>,
    },
}

impl Iterator for Scan {
    type Item = Result<(sled::IVec, sled::IVec), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Scan::Sled(iter) => iter.next().map(|r| r.map_err(StoreError::from)),
            Scan::Snapshot { window, next } => {
                let from = next.take()?;
                let window = lock(window);
                let (k, v) = window
                    .keys
                    .range::<[u8], _>((Bound::Included(&from[..]), Bound::Unbounded))
                    .next()?;
                // The least key after `k`: `k` followed by a zero byte.
                let mut after = k.to_vec();
                after.push(0);
                *next = Some(after);
                Some(Ok((k.clone(), v.clone())))
            }
        }
    }
}

impl Store {
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        match &self.index {
            Index::Sled { tree, .. } => Ok(tree.get(key)?),
            Index::Snapshot(window) => Ok(lock(window).keys.get(key).cloned()),
        }
    }

    /// The last key/value under `prefix`.
    pub(crate) fn last(&self, prefix: u8) -> Result<Option<(sled::IVec, sled::IVec)>, StoreError> {
        match &self.index {
            Index::Sled { tree, .. } => Ok(tree.scan_prefix([prefix]).next_back().transpose()?),
            Index::Snapshot(window) => {
                let from = [prefix];
                let to = prefix.checked_add(1).map(|p| [p]);
                let upper = to
                    .as_ref()
                    .map_or(Bound::Unbounded, |t| Bound::Excluded(&t[..]));
                Ok(lock(window)
                    .keys
                    .range::<[u8], _>((Bound::Included(&from[..]), upper))
                    .next_back()
                    .map(|(k, v)| (k.clone(), v.clone())))
            }
        }
    }

    /// Keys and values from `start` (inclusive) while they share `prefix`.
    pub(crate) fn scan_from(
        &self,
        prefix: &[u8],
        start: &[u8],
    ) -> impl Iterator<Item = Result<(sled::IVec, sled::IVec), StoreError>> + use<> {
        let prefix = prefix.to_vec();
        let scan = match &self.index {
            Index::Sled { tree, .. } => Scan::Sled(Box::new(tree.range(start.to_vec()..))),
            Index::Snapshot(window) => Scan::Snapshot {
                window: Arc::clone(window),
                next: Some(start.to_vec()),
            },
        };
        scan.take_while(move |r| match r {
            Ok((k, _)) => k.starts_with(&prefix),
            Err(_) => true,
        })
    }

    /// The last key at or below `key`, if it shares `prefix`.
    pub(crate) fn floor(
        &self,
        prefix: u8,
        key: &[u8],
    ) -> Result<Option<(sled::IVec, sled::IVec)>, StoreError> {
        let found = match &self.index {
            Index::Sled { tree, .. } => tree.range(..=key.to_vec()).next_back().transpose()?,
            Index::Snapshot(window) => lock(window)
                .keys
                .range::<[u8], _>((Bound::Unbounded, Bound::Included(key)))
                .next_back()
                .map(|(k, v)| (k.clone(), v.clone())),
        };
        match found {
            Some((k, v)) if k.first() == Some(&prefix) => Ok(Some((k, v))),
            _ => Ok(None),
        }
    }
}
