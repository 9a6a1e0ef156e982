//! Reading the audit indexes: the seqs of the entries of one caller, one model (and version), one
//! decision or one rule, in seq order, from a starting seq — each a prefix scan, never a full scan.

use super::entry::Decision;
use super::position::{Height, Seq};
use super::store::{self, push_str, seq_suffix, Corruption, Store, StoreError};

/// One indexed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Caller(String),
    Model {
        name: String,
        version: Option<String>,
    },
    Decision(Decision),
    Rule(String),
}

/// A page of seqs and where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub seqs: Vec<Seq>,
    pub next: Option<Seq>,
}

impl Filter {
    /// The index key prefix of this filter (without the height).
    fn prefix(&self) -> Vec<u8> {
        let mut k;
        match self {
            Filter::Caller(c) => {
                k = vec![store::BY_CALLER];
                push_str(&mut k, c);
            }
            Filter::Model {
                name,
                version: None,
            } => {
                k = vec![store::BY_MODEL];
                push_str(&mut k, name);
            }
            Filter::Model {
                name,
                version: Some(v),
            } => {
                k = vec![store::BY_VERSION];
                push_str(&mut k, name);
                push_str(&mut k, v);
            }
            Filter::Decision(d) => {
                k = vec![store::BY_DECISION];
                push_str(&mut k, d.as_str());
            }
            Filter::Rule(r) => {
                k = vec![store::BY_RULE];
                push_str(&mut k, r);
            }
        }
        k
    }

    /// Up to `limit` seqs ≥ `from` that match, in seq order, over the whole store, and the seq
    /// the next page starts at: a [`Query`] of this one filter.
    pub fn scan(&self, store: &Store, from: Seq, limit: usize) -> Result<Page, StoreError> {
        let blocks = match store.last(store::BLOCK)? {
            Some((k, _)) => seq_suffix(&k).map_or(0, |h| h + 1),
            None => 0,
        };
        let entries = store.last_seq()?.map_or(0, |s| s.get() + 1);
        Query {
            filters: vec![self.clone()],
            ..Query::default()
        }
        .scan(store, from, Extent { blocks, entries }, limit)
    }
}

/// A regulator's query: any combination of indexed filters (all must match) and a time range,
/// answered from the indexes alone — the posting lists of one filter drive the scan and the
/// others are intersected block by block, so no entry is read to decide whether it matches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    pub filters: Vec<Filter>,
    /// Entries at or after this time (µs since 1970-01-01 UTC).
    pub from_micros: Option<u64>,
    /// Entries before this time (µs since 1970-01-01 UTC).
    pub to_micros: Option<u64>,
}

/// The part of the log a query reads: the first `blocks` blocks, holding `entries` entries (a
/// snapshot of the head, so that a page matches the one checkpoint returned with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub blocks: u64,
    pub entries: u64,
}

/// What the audit statistics count by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Caller,
    Model,
    Decision,
    Rule,
}

impl Dimension {
    fn prefix(self) -> u8 {
        match self {
            Dimension::Caller => store::BY_CALLER,
            Dimension::Model => store::BY_MODEL,
            Dimension::Decision => store::BY_DECISION,
            Dimension::Rule => store::BY_RULE,
        }
    }
}

/// How selective a filter usually is: the rarest drives the scan.
fn selectivity(f: &Filter) -> u8 {
    match f {
        Filter::Rule(_) => 0,
        Filter::Caller(_) => 1,
        Filter::Model {
            version: Some(_), ..
        } => 2,
        Filter::Model { version: None, .. } => 3,
        Filter::Decision(_) => 4,
    }
}

/// The offsets of a posting list (u32 each, ascending).
fn offsets(list: &[u8]) -> impl Iterator<Item = u32> + '_ {
    list.chunks_exact(4).filter_map(super::hash::be_u32)
}

/// The heights `[lo, hi)` of the blocks whose time lies in the range. Block times never go
/// backwards with height, so the matching blocks are contiguous.
pub fn heights_in_time(
    store: &Store,
    from_micros: Option<u64>,
    to_micros: Option<u64>,
    blocks: u64,
) -> Result<(u64, u64), StoreError> {
    let first_at = |micros: u64| -> Result<Option<u64>, StoreError> {
        let start = store::key_u64(store::TIME, micros);
        match store.scan_from(&[store::TIME], &start).next() {
            None => Ok(None),
            Some(kv) => Ok(seq_suffix(&kv?.0)),
        }
    };
    let lo = match from_micros {
        None => 0,
        Some(t) => first_at(t)?.unwrap_or(blocks),
    };
    let hi = match to_micros {
        None => blocks,
        Some(t) => first_at(t)?.unwrap_or(blocks),
    };
    Ok((lo.min(blocks), hi.clamp(lo.min(blocks), blocks)))
}

impl Query {
    /// Up to `limit` seqs ≥ `cursor` that match, in seq order, within `extent`, and the seq the
    /// next page starts at.
    pub fn scan(
        &self,
        store: &Store,
        cursor: Seq,
        extent: Extent,
        limit: usize,
    ) -> Result<Page, StoreError> {
        let cursor = cursor.get();
        let (h_lo, h_hi) = heights_in_time(store, self.from_micros, self.to_micros, extent.blocks)?;
        if h_lo >= h_hi {
            return Ok(Page {
                seqs: vec![],
                next: None,
            });
        }
        let seq_lo = cursor.max(store.first_seq(Height::new(h_lo))?.get());
        let seq_hi = if h_hi == extent.blocks {
            extent.entries
        } else {
            store.first_seq(Height::new(h_hi))?.get()
        };
        if seq_lo >= seq_hi {
            return Ok(Page {
                seqs: vec![],
                next: None,
            });
        }
        let mut filters: Vec<&Filter> = self.filters.iter().collect();
        filters.sort_by_key(|f| selectivity(f));
        let Some((driver, others)) = filters.split_first() else {
            let end = seq_hi.min(seq_lo.saturating_add(limit as u64));
            return Ok(Page {
                seqs: (seq_lo..end).map(Seq::new).collect(),
                next: (end < seq_hi).then_some(Seq::new(end)),
            });
        };
        let other_prefixes: Vec<Vec<u8>> = others.iter().map(|f| f.prefix()).collect();
        let prefix = driver.prefix();
        let start_height = store
            .block_of(Seq::new(seq_lo))?
            .map_or(0, Height::get)
            .max(h_lo);
        let mut start = prefix.clone();
        start.extend_from_slice(&start_height.to_be_bytes());
        let mut seqs = Vec::new();
        'blocks: for kv in store.scan_from(&prefix, &start) {
            let (k, list) = kv?;
            if k.len() != prefix.len() + 8 {
                continue;
            }
            let Some(height) = seq_suffix(&k) else {
                continue;
            };
            if height >= h_hi {
                break;
            }
            let mut matched: Vec<u32> = offsets(&list).collect();
            for p in &other_prefixes {
                let mut key = p.clone();
                key.extend_from_slice(&height.to_be_bytes());
                let Some(other) = store.get(&key)? else {
                    continue 'blocks;
                };
                let other: Vec<u32> = offsets(&other).collect();
                matched.retain(|o| other.binary_search(o).is_ok());
                if matched.is_empty() {
                    continue 'blocks;
                }
            }
            let first_seq = store.first_seq(Height::new(height))?.get();
            for o in matched {
                let seq = first_seq + u64::from(o);
                if seq < seq_lo {
                    continue;
                }
                if seq >= seq_hi {
                    break 'blocks;
                }
                if seqs.len() == limit {
                    return Ok(Page {
                        seqs,
                        next: Some(Seq::new(seq)),
                    });
                }
                seqs.push(Seq::new(seq));
            }
        }
        Ok(Page { seqs, next: None })
    }
}

/// Counts of entries by `dimension` in the blocks `[h_lo, h_hi)`: one range read per distinct
/// value, straight from the posting lists (an entry decided by two rules counts for each).
pub fn stats(
    store: &Store,
    dimension: Dimension,
    h_lo: u64,
    h_hi: u64,
) -> Result<std::collections::BTreeMap<String, u64>, StoreError> {
    let mut counts = std::collections::BTreeMap::new();
    let p = dimension.prefix();
    let mut seek = vec![p];
    loop {
        let Some(kv) = store.scan_from(&[p], &seek).next() else {
            break;
        };
        let (k, _) = kv?;
        // key = prefix ‖ len (u16) ‖ value ‖ height (u64)
        let len = k
            .get(1..3)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map(|b| usize::from(u16::from_be_bytes(b)))
            .ok_or(StoreError::Corrupt(Corruption::IndexKey))?;
        let value_key = k
            .get(..3 + len)
            .ok_or(StoreError::Corrupt(Corruption::IndexKey))?
            .to_vec();
        let value = String::from_utf8_lossy(value_key.get(3..).unwrap_or(&[])).into_owned();
        let mut from = value_key.clone();
        from.extend_from_slice(&h_lo.to_be_bytes());
        let mut n = 0u64;
        for kv in store.scan_from(&value_key, &from) {
            let (k, list) = kv?;
            match seq_suffix(&k) {
                Some(h) if k.len() == value_key.len() + 8 && h < h_hi => {
                    n += (list.len() / 4) as u64;
                }
                _ => break,
            }
        }
        if n > 0 {
            counts.insert(value, n);
        }
        // Past every height of this value.
        seek = value_key;
        seek.extend_from_slice(&[0xff; 9]);
    }
    Ok(counts)
}
