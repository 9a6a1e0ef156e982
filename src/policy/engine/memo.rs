//! The decision memo (`docs/ARCHITECTURE.md`, "The policy module"): a decision is a function
//! of the pair (caller, model version) and of the values of the context attributes the pair's
//! per-call rules read, so a repeated request shape is answered by one lookup. The key is
//! encoded from the same list of facts the Cedar context is built from, so an attribute cannot
//! be in the context and missing from the key.

use std::sync::Arc;

use super::cedar_context::{confidence_step, Fact};
use super::pair::Pair;
use super::reads::ContextReads;
use super::PolicyEngine;
use crate::policy::error::PolicyError;
use crate::policy::Decision;

/// Most decisions kept; past it the memo starts again.
pub(super) const MAX_DECISIONS: usize = 4096;

impl PolicyEngine {
    /// `judge(facts)`, or the memo's answer for the same pair and the same values of the facts
    /// the pair's rules read. Facts built for a single call are judged and not kept.
    pub(super) fn memoised<'c>(
        &self,
        pair: &Pair,
        facts: Vec<(&'static str, Fact<'c>)>,
        judge: impl FnOnce(Vec<(&'static str, Fact<'c>)>) -> Result<Decision, PolicyError>,
    ) -> Result<Decision, PolicyError> {
        let Some(pair_key) = pair.key else {
            return judge(facts);
        };
        let key = memo_key(pair_key, &pair.rules.reads, &facts);
        if let Some(d) = self.memo.get(&key) {
            return Ok(Decision::clone(&d));
        }
        let decision = judge(facts)?;
        self.memo.insert(key, Arc::new(decision.clone()));
        Ok(decision)
    }
}

/// A decision memo entry's key: the caller's and the model's fact tokens, and the encoded values
/// of the context attributes the per-call rules read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct MemoKey {
    caller: u64,
    model: u64,
    context: Box<[u8]>,
}

/// The memo key of a call: the pair, and the value of every context attribute that `reads`
/// covers (present or absent), in a fixed order.
pub(super) fn memo_key(
    pair: (u64, u64),
    reads: &ContextReads,
    facts: &[(&'static str, Fact<'_>)],
) -> MemoKey {
    let mut bytes = Vec::with_capacity(128);
    for (name, fact) in facts {
        if !reads.covers(name) {
            continue;
        }
        bytes.extend_from_slice(name.as_bytes());
        bytes.push(0);
        fact.encode(&mut bytes);
    }
    MemoKey {
        caller: pair.0,
        model: pair.1,
        context: bytes.into_boxed_slice(),
    }
}

impl Fact<'_> {
    /// An unambiguous encoding: a type tag, then the value with lengths in front.
    fn encode(&self, out: &mut Vec<u8>) {
        let put_str = |out: &mut Vec<u8>, s: &str| {
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        };
        match self {
            Fact::Bool(b) => out.extend_from_slice(&[b'b', u8::from(*b)]),
            Fact::Long(n) => {
                out.push(b'l');
                out.extend_from_slice(&n.to_le_bytes());
            }
            Fact::Str(s) => {
                out.push(b's');
                put_str(out, s);
            }
            Fact::Set(items) => {
                out.push(b'S');
                out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                for s in items {
                    put_str(out, s);
                }
            }
            Fact::Probability(p) => {
                // The same step gives the same `decimal`; outside the steps, the exact value.
                match confidence_step(*p) {
                    Some(step) => {
                        out.push(b'p');
                        out.extend_from_slice(&(step as u64).to_le_bytes());
                    }
                    None => {
                        out.push(b'P');
                        out.extend_from_slice(&p.to_bits().to_le_bytes());
                    }
                }
            }
        }
    }
}
