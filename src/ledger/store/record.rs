//! The record format of the blocks file (`docs/LEDGER.md`, "Storage"): one record per block,
//! holding the block's entry chunks and CBMT nodes and every sled key of the block; and the
//! places (offset, length) that the keys give for bytes in the file.
//!
//! A record: payload length (u32), CRC-32 of the payload (u32); the payload: height (u64), data
//! length (u32), the data (the chunks, then the CBMT nodes), the number of keys (u32), then each
//! key's length (u16), key, value's length (u32), value.
//!
//! A chunk: the number of entries (u16), the end offset of each entry in the chunk's data (u32
//! each), then the entries' bytes.

use super::keys::{key_u64, CBMT_NODES, ENTRY};
use super::{Corruption, StoreError};
use crate::ledger::hash::{be_u32, Hash};

/// Encodes one chunk of consecutive entries at the end of `out`.
pub(super) fn encode_chunk_into(out: &mut Vec<u8>, entries: &[Vec<u8>]) {
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
pub(super) fn chunk_ends(head: &[u8], len: usize) -> Option<Vec<usize>> {
    let n = usize::from(u16::from_be_bytes(head.get(..2)?.try_into().ok()?));
    let table = head.get(2..2 + 4 * n)?;
    let ends: Vec<usize> = table
        .chunks_exact(4)
        .filter_map(|b| be_u32(b).map(|e| e as usize))
        .collect();
    let sorted = ends.windows(2).all(|w| w.first() <= w.last());
    if ends.len() != n || !sorted || ends.last().map(|last| 2 + 4 * n + last) != Some(len) {
        return None;
    }
    Some(ends)
}

/// Where bytes are in the blocks file: the value of a `w` or `n` key, and the start of an `e` key's
/// value (which goes on with the chunk's entry count, u16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Place {
    pub(super) offset: u64,
    pub(super) len: u32,
}

impl Place {
    pub(super) const LEN: usize = 12;

    pub(super) fn to_bytes(self) -> [u8; Self::LEN] {
        let mut b = [0u8; Self::LEN];
        b[..8].copy_from_slice(&self.offset.to_be_bytes());
        b[8..].copy_from_slice(&self.len.to_be_bytes());
        b
    }

    /// Reads a place from exactly [`Place::LEN`] bytes.
    pub(super) fn parse(b: &[u8]) -> Option<Place> {
        if b.len() != Self::LEN {
            return None;
        }
        Some(Place {
            offset: u64::from_be_bytes(b.get(..8)?.try_into().ok()?),
            len: be_u32(b.get(8..12)?)?,
        })
    }

    pub(super) fn end(self) -> u64 {
        self.offset + u64::from(self.len)
    }

    /// The first `len` bytes of this place (all of it if it is shorter).
    pub(super) fn prefix(self, len: u32) -> Place {
        Place {
            offset: self.offset,
            len: len.min(self.len),
        }
    }
}

/// A chunk's place and entry count, from its `e` key's value.
pub(super) fn chunk_place(value: &[u8], first: u64) -> Result<(Place, u16), StoreError> {
    let count = value
        .get(Place::LEN..)
        .and_then(|b| b.try_into().ok())
        .map(u16::from_be_bytes);
    match (value.get(..Place::LEN).and_then(Place::parse), count) {
        (Some(place), Some(count)) => Ok((place, count)),
        _ => Err(Corruption::ChunkPlace { first }.into()),
    }
}

/// The bytes before a record's data: payload length (u32), CRC-32 of the payload (u32), height
/// (u64), data length (u32).
pub(super) const RECORD_HEAD: u64 = 20;

/// A block's sled keys and values, in the order the writer put them.
pub(super) type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// One block as the writer builds it: the bytes of its entry chunks and CBMT nodes, and every
/// sled key and value of the block. [`Store::commit`] writes it to the blocks file, syncs it, and
/// applies its keys to sled.
pub(crate) struct BlockRecord {
    pub(super) height: u64,
    /// Where the record will start in the blocks file.
    pub(super) offset: u64,
    /// The record as it is written: its head (length, CRC and data length filled in by
    /// [`BlockRecord::finish`]), then the data as it is added; the keys follow at the end.
    pub(super) bytes: Vec<u8>,
    pub(super) pairs: Pairs,
}

impl BlockRecord {
    pub(crate) fn insert(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.pairs.push((key.into(), value.into()));
    }

    /// Adds the block's chunks and CBMT nodes to its data, and keys saying where each is.
    /// `chunks` are the first seq and the entries of each chunk.
    pub(crate) fn put_entries<'a>(
        &mut self,
        chunks: impl Iterator<Item = (u64, &'a [Vec<u8>])>,
        nodes: &[Hash],
    ) -> Result<(), StoreError> {
        let (offset, height) = (self.offset, self.height);
        let place = |bytes: &Vec<u8>, from: usize| -> Result<Place, StoreError> {
            let len = u32::try_from(bytes.len() - from)
                .map_err(|_| StoreError::Corrupt(Corruption::EntriesTooLarge { height }))?;
            Ok(Place {
                offset: offset + from as u64,
                len,
            })
        };
        for (first, chunk) in chunks {
            let from = self.bytes.len();
            encode_chunk_into(&mut self.bytes, chunk);
            let mut value = place(&self.bytes, from)?.to_bytes().to_vec();
            value.extend_from_slice(&u16::try_from(chunk.len()).unwrap_or(u16::MAX).to_be_bytes());
            self.insert(key_u64(ENTRY, first), value);
        }
        let from = self.bytes.len();
        for n in nodes {
            self.bytes.extend_from_slice(n.as_bytes());
        }
        let nodes = place(&self.bytes, from)?;
        self.insert(key_u64(CBMT_NODES, height), nodes.to_bytes());
        Ok(())
    }

    /// Completes the record where it was built — data length, then the keys and values (a
    /// count, u32; then each key's length, u16, the key, the value's length, u32, the value),
    /// then length and CRC — and hands back its bytes and keys.
    pub(super) fn finish(self) -> Result<(Vec<u8>, Pairs), StoreError> {
        let BlockRecord {
            height,
            mut bytes,
            pairs,
            ..
        } = self;
        let too_big = || StoreError::Corrupt(Corruption::RecordTooLarge { height });
        let head = RECORD_HEAD as usize;
        let data_len = u32::try_from(bytes.len() - head).map_err(|_| too_big())?;
        let pairs_len: usize = pairs.iter().map(|(k, v)| 6 + k.len() + v.len()).sum();
        bytes.reserve(4 + pairs_len);
        bytes.extend_from_slice(
            &u32::try_from(pairs.len())
                .map_err(|_| too_big())?
                .to_be_bytes(),
        );
        for (k, v) in &pairs {
            bytes.extend_from_slice(&u16::try_from(k.len()).map_err(|_| too_big())?.to_be_bytes());
            bytes.extend_from_slice(k);
            bytes.extend_from_slice(&u32::try_from(v.len()).map_err(|_| too_big())?.to_be_bytes());
            bytes.extend_from_slice(v);
        }
        let payload_len = u32::try_from(bytes.len() - 8).map_err(|_| too_big())?;
        let malformed = || StoreError::Corrupt(Corruption::RecordWithoutHead { height });
        bytes
            .get_mut(16..head)
            .ok_or_else(malformed)?
            .copy_from_slice(&data_len.to_be_bytes());
        let crc = crc32fast::hash(bytes.get(8..).ok_or_else(malformed)?);
        bytes
            .get_mut(..4)
            .ok_or_else(malformed)?
            .copy_from_slice(&payload_len.to_be_bytes());
        bytes
            .get_mut(4..8)
            .ok_or_else(malformed)?
            .copy_from_slice(&crc.to_be_bytes());
        Ok((bytes, pairs))
    }

    /// Reads a record's height and keys back from its payload (the bytes after length and
    /// CRC); `None` if they do not parse.
    pub(super) fn parse(payload: &[u8]) -> Option<(u64, Pairs)> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Option<&[u8]> {
            let b = payload.get(at..at.checked_add(n)?)?;
            at += n;
            Some(b)
        };
        let height = u64::from_be_bytes(take(8)?.try_into().ok()?);
        let data_len = be_u32(take(4)?)? as usize;
        take(data_len)?;
        let count = be_u32(take(4)?)?;
        let mut pairs = Vec::new();
        for _ in 0..count {
            let klen = u16::from_be_bytes(take(2)?.try_into().ok()?);
            let key = take(usize::from(klen))?.to_vec();
            let vlen = be_u32(take(4)?)? as usize;
            let value = take(vlen)?.to_vec();
            pairs.push((key, value));
        }
        (at == payload.len()).then_some((height, pairs))
    }
}

/// For the fuzz target `blocks_record` (`src/fuzzing.rs`): reads a record's payload (the bytes
/// after its length and CRC-32) with [`BlockRecord::parse`], as opening the store does, and if it
/// parses writes the record again with the writer's [`BlockRecord::finish`] from what was read —
/// height, data and keys. Returns the height, the keys and the whole record (length, CRC-32,
/// payload).
pub(crate) fn reread_record(payload: &[u8]) -> Option<(u64, Pairs, Vec<u8>)> {
    let (height, pairs) = BlockRecord::parse(payload)?;
    let data_len = be_u32(payload.get(8..12)?)? as usize;
    let mut bytes = vec![0u8; RECORD_HEAD as usize];
    bytes.get_mut(8..16)?.copy_from_slice(&height.to_be_bytes());
    bytes.extend_from_slice(payload.get(12..12 + data_len)?);
    let record = BlockRecord {
        height,
        offset: 0,
        bytes,
        pairs,
    };
    let (bytes, pairs) = record.finish().ok()?;
    Some((height, pairs, bytes))
}

#[cfg(test)]
mod tests {
    use super::super::keys::{key_u64, BLOCK};
    use super::super::Store;
    use super::*;

    #[test]
    fn a_record_reads_back_its_height_and_keys_and_places_its_data_after_its_head() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut record = store.begin_block(0);
        let entries = [b"first".to_vec(), b"second entry".to_vec()];
        record
            .put_entries([(0u64, &entries[..])].into_iter(), &[Hash::digest(b"n")])
            .unwrap();
        record.insert(key_u64(BLOCK, 0), b"header".to_vec());
        let (bytes, written) = record.finish().unwrap();
        let (height, pairs) = BlockRecord::parse(&bytes[8..]).unwrap();
        assert_eq!((height, &pairs), (0, &written));
        // The chunk's place points at its bytes inside the record.
        let (_, value) = &pairs[0];
        let (place, count) = chunk_place(value, 0).unwrap();
        assert_eq!((place.offset, count), (RECORD_HEAD, 2));
        let at = place.offset as usize;
        let chunk = &bytes[at..at + place.len as usize];
        assert_eq!(chunk_ends(chunk, chunk.len()), Some(vec![5, 17]));
        // Any cut or extra byte is not a record.
        assert!(BlockRecord::parse(&bytes[8..bytes.len() - 1]).is_none());
        assert!(BlockRecord::parse(&[&bytes[8..], &[0][..]].concat()).is_none());
    }

    #[test]
    fn a_place_is_exactly_its_bytes() {
        let place = Place { offset: 7, len: 9 };
        let bytes = place.to_bytes();
        assert_eq!(Place::parse(&bytes), Some(place));
        assert_eq!(Place::parse(&bytes[..11]), None);
        assert_eq!(Place::parse(&[&bytes[..], &[0][..]].concat()), None);
        let chunk = [&bytes[..], &3u16.to_be_bytes()[..]].concat();
        assert_eq!(chunk_place(&chunk, 0).unwrap(), (place, 3));
        assert!(chunk_place(&[&chunk[..], &[0][..]].concat(), 0).is_err());
        assert!(chunk_place(&chunk[..13], 0).is_err());
    }
}
