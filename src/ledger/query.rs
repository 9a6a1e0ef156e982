//! Reading the audit indexes: the seqs of the entries of one caller, one model (and version), one
//! decision or one rule, in seq order, from a starting seq — each a prefix scan, never a full scan.

use super::entry::Decision;
use super::store::{self, push_str, seq_suffix, Store, StoreError};

/// One indexed filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    Caller(String),
    Model { name: String, version: Option<String> },
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
    fn prefix(&self) -> Vec<u8> {
        match self {
            Filter::Caller(c) => {
                let mut k = vec![store::BY_CALLER];
                push_str(&mut k, c);
                k
            }
            Filter::Model { name, version } => {
                let mut k = vec![store::BY_MODEL];
                push_str(&mut k, name);
                if let Some(v) = version {
                    push_str(&mut k, v);
                }
                k
            }
            Filter::Decision(d) => {
                let mut k = vec![store::BY_DECISION];
                push_str(&mut k, d.as_str());
                k
            }
            Filter::Rule(r) => {
                let mut k = vec![store::BY_RULE];
                push_str(&mut k, r);
                k
            }
        }
    }

    /// Up to `limit` seqs ≥ `from` that match, in seq order.
    pub fn scan(&self, store: &Store, from: u64, limit: usize) -> Result<Page, StoreError> {
        let prefix = self.prefix();
        let mut seqs = Vec::new();
        let mut next = None;
        // A model filter without a version spans several versions: seqs are ordered within each
        // version only, so collect and merge.
        if let Filter::Model { version: None, .. } = self {
            let mut all: Vec<u64> = Vec::new();
            for kv in store.scan_from(&prefix, &prefix) {
                let (k, _) = kv?;
                if let Some(s) = seq_suffix(&k).filter(|s| *s >= from) {
                    all.push(s);
                }
            }
            all.sort_unstable();
            if all.len() > limit {
                next = all.get(limit).copied();
                all.truncate(limit);
            }
            return Ok(Page { seqs: all, next });
        }
        let mut start = prefix.clone();
        start.extend_from_slice(&from.to_be_bytes());
        for kv in store.scan_from(&prefix, &start) {
            let (k, _) = kv?;
            let Some(s) = seq_suffix(&k) else { continue };
            if seqs.len() == limit {
                next = Some(s);
                break;
            }
            seqs.push(s);
        }
        Ok(Page { seqs, next })
    }
}
