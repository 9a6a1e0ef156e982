//! The append-only blocks file: positioned reads within what has been appended (readers never
//! move a shared cursor), the walk over its whole records, and telling a torn last record (an
//! unfinished write) from damage to an answered one (`docs/LEDGER.md`, "Storage").

use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};

use super::record::{BlockRecord, Pairs, Place, RECORD_HEAD};
use super::{Corruption, StoreError, Stored, TailDamage};

/// The append-only blocks file. Only the ledger's one writer appends; readers use positioned
/// reads, so they never move a shared cursor.
pub(super) struct BlocksFile {
    pub(super) file: std::fs::File,
    /// The end of the last whole record (the next record's offset).
    pub(super) end: AtomicU64,
    /// Blocks applied from the file when the store was opened.
    pub(super) replayed: AtomicU64,
}

impl BlocksFile {
    /// The bytes at `place`, which must lie within what has been appended; `what` names them in
    /// the error if not.
    pub(super) fn read(&self, place: Place, what: Stored) -> Result<Vec<u8>, StoreError> {
        if place
            .offset
            .checked_add(u64::from(place.len))
            .is_none_or(|end| end > self.end.load(Ordering::Acquire))
        {
            return Err(Corruption::PastTheEnd(what).into());
        }
        let mut buf = vec![0u8; place.len as usize];
        self.file.read_exact_at(&mut buf, place.offset)?;
        Ok(buf)
    }

    /// Hands each whole record from byte `from` on (the first of them block `next_height`), in
    /// order, to `apply`, at most `most` of them; returns where the first record not read
    /// starts (the first that is not whole, or `len`) and how many records were read.
    pub(super) fn records(
        &self,
        from: u64,
        mut next_height: u64,
        len: u64,
        most: u64,
        apply: &mut dyn FnMut(u64, Place, Pairs) -> Result<(), StoreError>,
    ) -> Result<(u64, u64), StoreError> {
        let mut at = from;
        let mut read = 0u64;
        while read < most {
            let Some(payload) = self.whole_record(at, len)? else {
                break;
            };
            let (height, pairs) =
                BlockRecord::parse(&payload).ok_or(Corruption::RecordUnparsable { at })?;
            if height != next_height {
                return Err(Corruption::RecordHeight {
                    at,
                    height,
                    expected: next_height,
                }
                .into());
            }
            let place = Place {
                offset: at,
                len: u32::try_from(payload.len() + 8).unwrap_or(u32::MAX),
            };
            apply(height, place, pairs)?;
            at = place.end();
            next_height += 1;
            read += 1;
        }
        Ok((at, read))
    }

    /// Why the bytes from `at` (where the first record that is not whole starts) to `len` are
    /// not what an unfinished write leaves, if they are not. The writer appends one record at a
    /// time with one write and syncs it before the next, so a crash leaves at most the last
    /// record torn, and nothing after it: a record whose head claims a length that fits, with
    /// bytes after it, yet is not whole, was damaged after it was written. A head that is cut,
    /// or claims too little or more than is there, cannot say where the next record would be:
    /// that is taken for a torn write (the file system may persist a write's pages in any
    /// order).
    pub(super) fn tail_damage(&self, at: u64, len: u64) -> Result<Option<TailDamage>, StoreError> {
        let Some((payload_len, _)) = self.record_head(at, len)? else {
            return Ok(None);
        };
        let after = len.saturating_sub(at + 8 + payload_len);
        if payload_len < RECORD_HEAD - 8 || at + 8 + payload_len > len || after == 0 {
            return Ok(None);
        }
        Ok(Some(TailDamage {
            len: 8 + payload_len,
            after,
        }))
    }

    /// The payload length and CRC-32 a record at `at` claims, if the file holds its 8 bytes.
    fn record_head(&self, at: u64, len: u64) -> Result<Option<(u64, u32)>, StoreError> {
        if len.saturating_sub(at) < 8 {
            return Ok(None);
        }
        let mut head = [0u8; 8];
        self.file.read_exact_at(&mut head, at)?;
        let payload_len = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        Ok(Some((
            payload_len,
            u32::from_be_bytes([head[4], head[5], head[6], head[7]]),
        )))
    }

    /// The payload of the record at `at` if it is whole: its length fits the file and its CRC
    /// holds.
    fn whole_record(&self, at: u64, len: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some((payload_len, crc)) = self.record_head(at, len)? else {
            return Ok(None);
        };
        if payload_len < RECORD_HEAD - 8 || len - at - 8 < payload_len {
            return Ok(None);
        }
        let mut payload = vec![0u8; payload_len as usize];
        self.file.read_exact_at(&mut payload, at + 8)?;
        Ok((crc32fast::hash(&payload) == crc).then_some(payload))
    }
}
