//! Reading the audit indexes: the seqs of the entries of one caller, one model (and version), one
//! decision or one rule, in seq order, from a starting seq — each a prefix scan, never a full scan.

use super::entry::Decision;
use super::store::{self, push_str, seq_suffix, Store, StoreError};

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
    pub seqs: Vec<u64>,
    pub next: Option<u64>,
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

    /// Up to `limit` seqs ≥ `from` that match, in seq order, and the seq the next page starts at.
    /// Reads only this filter's posting lists, from the block holding `from` on.
    pub fn scan(&self, store: &Store, from: u64, limit: usize) -> Result<Page, StoreError> {
        let prefix = self.prefix();
        let start_height = store.block_of(from)?.unwrap_or(0);
        let mut start = prefix.clone();
        start.extend_from_slice(&start_height.to_be_bytes());
        let mut seqs = Vec::new();
        for kv in store.scan_from(&prefix, &start) {
            let (k, offsets) = kv?;
            // The key is exactly prefix ‖ height: anything longer belongs to another value.
            if k.len() != prefix.len() + 8 {
                continue;
            }
            let Some(height) = seq_suffix(&k) else {
                continue;
            };
            let first_seq = store.first_seq(height)?;
            for o in offsets.chunks_exact(4) {
                let Some(offset) = super::hash::be_u32(o) else {
                    continue;
                };
                let seq = first_seq + u64::from(offset);
                if seq < from {
                    continue;
                }
                if seqs.len() == limit {
                    return Ok(Page {
                        seqs,
                        next: Some(seq),
                    });
                }
                seqs.push(seq);
            }
        }
        Ok(Page { seqs, next: None })
    }
}
