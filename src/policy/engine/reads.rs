//! Which context attributes each rule reads, found by walking its JSON form (`context.name`
//! and `context has name`; a rule that uses `context` any other way reads every attribute), and
//! the `infer` rules split by it (`docs/ARCHITECTURE.md`, "The policy module"): those that read
//! only the constant attributes are judged once per pair, the rest on every call.

use std::collections::BTreeSet;

use cedar_policy::{ActionConstraint, EntityUid, Policy, PolicySet};

use super::tally::condition_text;
use crate::policy::error::PolicyError;

/// Context attributes whose value is the same for every call (they come from the bundle).
pub(super) const CONSTANT_FACTS: [&str; 1] = ["terms_current"];

/// A rule judged on every call, with the context attributes it reads.
pub(super) struct DynamicRule {
    pub(super) policy: Policy,
    pub(super) reads: ContextReads,
    pub(super) post: bool,
    /// Its condition as Cedar text, for a [`Tally`](super::tally::Tally) ([`condition_text`]), built at load:
    /// getting a rule's JSON form costs Cedar a parse.
    pub(super) condition: Option<String>,
}

/// Which context attributes a rule, or a set of rules, reads.
#[derive(Debug, Clone)]
pub(super) enum ContextReads {
    /// Only these, each through `context.name` or `context has name`.
    Only(BTreeSet<String>),
    /// Some rule uses `context` as a whole: every attribute counts.
    All,
}

impl ContextReads {
    /// What `policy` reads; a rule whose JSON form cannot be had counts as reading everything.
    pub(super) fn of(policy: &Policy) -> Self {
        match policy.to_json() {
            Ok(json) => Self::of_json(&json),
            Err(_) => Self::All,
        }
    }

    /// What an expression (or a whole rule) in Cedar's JSON form reads.
    pub(super) fn of_json(json: &serde_json::Value) -> Self {
        let mut names = BTreeSet::new();
        if reads_of(json, &mut names) {
            Self::Only(names)
        } else {
            Self::All
        }
    }

    pub(super) fn union<'r>(all: impl IntoIterator<Item = &'r ContextReads>) -> Self {
        let mut names = BTreeSet::new();
        for reads in all {
            match reads {
                Self::Only(n) => names.extend(n.iter().cloned()),
                Self::All => return Self::All,
            }
        }
        Self::Only(names)
    }

    pub(super) fn covers(&self, name: &str) -> bool {
        match self {
            Self::Only(names) => names.contains(name),
            Self::All => true,
        }
    }

    /// Whether every attribute read is one of [`CONSTANT_FACTS`].
    pub(super) fn only_constants(&self) -> bool {
        match self {
            Self::Only(names) => names.iter().all(|n| CONSTANT_FACTS.contains(&n.as_str())),
            Self::All => false,
        }
    }
}

/// Collects into `names` the context attributes the rule's JSON form reads; false when it uses
/// `context` in any other way.
fn reads_of(json: &serde_json::Value, names: &mut BTreeSet<String>) -> bool {
    use serde_json::Value;
    let is_context = |v: &Value| v.get("Var").and_then(Value::as_str) == Some("context");
    match json {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "Var" && value.as_str() == Some("context") {
                    return false;
                }
                if key == "." || key == "has" {
                    let left = value.get("left");
                    let attr = value.get("attr").and_then(Value::as_str);
                    if let (Some(left), Some(attr)) = (left, attr) {
                        if is_context(left) {
                            names.insert(attr.to_owned());
                            continue;
                        }
                    }
                }
                if !reads_of(value, names) {
                    return false;
                }
            }
            true
        }
        Value::Array(items) => items.iter().all(|v| reads_of(v, names)),
        _ => true,
    }
}

/// Splits the `infer` rules into the forbids and permits that read no context attribute but
/// the constant ones, and the rest, judged on every call. What a rule reads comes from its JSON
/// form (`ContextReads`): a rule that uses `context` in any other way is judged every call.
/// Among those, the rules that read a post-inference fact are marked: they are the only ones
/// whose answer can differ before and after inference, because the facts differ only there.
pub(super) fn split_by_reads(
    infer: &PolicySet,
    action: &EntityUid,
) -> Result<(PolicySet, PolicySet, Vec<DynamicRule>), PolicyError> {
    let mut dynamic = Vec::new();
    let (mut forbids, mut permits) = (Vec::new(), Vec::new());
    for policy in infer.policies() {
        let reads = ContextReads::of(policy);
        if reads.only_constants() {
            match policy.effect() {
                cedar_policy::Effect::Forbid => forbids.push(policy),
                cedar_policy::Effect::Permit => permits.push(policy),
            }
        } else {
            dynamic.push(DynamicRule {
                policy: policy.clone(),
                post: reads.covers("post_inference") || reads.covers("confidence"),
                reads,
                condition: condition_text(policy, action),
            });
        }
    }
    Ok((
        subset_of(forbids.into_iter())?,
        subset_of(permits.into_iter())?,
        dynamic,
    ))
}

/// The rules whose scope can match `action`: those constrained to it (`action == …`), and every
/// rule with no action constraint or an `in` constraint (an action group in the schema may hold
/// it). A rule scoped `==` to another action cannot match, so leaving it out changes no decision.
pub(super) fn for_action(all: &PolicySet, action: &EntityUid) -> Result<PolicySet, PolicyError> {
    subset(all, |p| match p.action_constraint() {
        ActionConstraint::Any | ActionConstraint::In(_) => true,
        ActionConstraint::Eq(a) => &a == action,
    })
}

/// The rules of `all` for which `keep` holds, as a set of their own.
pub(super) fn subset(
    all: &PolicySet,
    keep: impl Fn(&Policy) -> bool,
) -> Result<PolicySet, PolicyError> {
    subset_of(all.policies().filter(|p| keep(p)))
}

pub(super) fn subset_of<'p>(
    policies: impl Iterator<Item = &'p Policy>,
) -> Result<PolicySet, PolicyError> {
    let mut out = PolicySet::new();
    for policy in policies {
        out.add(policy.clone()).map_err(|e| PolicyError::RuleSet {
            rule: policy.id().to_string(),
            source: Box::new(e),
        })?;
    }
    Ok(out)
}
