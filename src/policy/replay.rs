//! Judging recorded calls again (`vouch policy replay`; `docs/POLICIES.md`, "Replaying the
//! ledger"): the context of a call is rebuilt from what its ledger entry recorded (entry version
//! 2: the declarations, the kinds detected, the input's size, whether the scan was complete), the
//! caller and the model from today's registries, and the call judged by a bundle, so that the
//! decision it gives can be set beside the one recorded.
//!
//! What an entry cannot give is not replayed: the rules that read what only inference gives
//! (`context.post_inference`, `context.confidence`) are left out of both sides, since the ledger
//! holds no output data; a call denied by such a rule alone is reported as decided after
//! inference.

use std::collections::BTreeSet;

use super::callers::Caller;
use super::context::{CallContext, DataCategory, Declarations};
use super::detect::{PiiKind, PiiReport};
use super::engine::PolicyEngine;
use super::facts::ModelFacts;
use super::RuleId;
use crate::ledger::{Decision as Recorded, Entry};

/// Why a recorded entry was not judged again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReplayed {
    /// The entry records an audit read, not a call.
    AuditRead,
    /// The entry names no model (and is not an audit read): nothing to judge it against.
    NoModel,
    /// An entry of version 1 does not record the declarations a decision relied on.
    Version1,
    /// The caller is not in the registry given.
    UnknownCaller,
    /// The model version is not among the manifests given.
    UnknownModel,
    /// Denied by post-inference rules alone, whose facts the ledger does not hold.
    AfterInference,
    /// The entry records a fact this vouch does not know (a category or kind of a newer one), or
    /// the engine could not judge the call; the reason.
    Unjudged(String),
}

impl NotReplayed {
    /// The name of the reason in reports.
    pub fn as_str(&self) -> &'static str {
        match self {
            NotReplayed::AuditRead => "audit-read",
            NotReplayed::NoModel => "no-model",
            NotReplayed::Version1 => "version-1-entry",
            NotReplayed::UnknownCaller => "unknown-caller",
            NotReplayed::UnknownModel => "unknown-model",
            NotReplayed::AfterInference => "decided-after-inference",
            NotReplayed::Unjudged(_) => "unjudged",
        }
    }
}

/// A decision as replay compares them: whether the call was allowed to run (a recorded `error`
/// was: it failed after), the rules that decided and the obligations — both without those of
/// post-inference rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub allowed: bool,
    pub rules: Vec<RuleId>,
    pub obligations: Vec<String>,
}

/// How a decision judged again differs from the recorded one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    Unchanged,
    /// Allowed when recorded, denied now.
    AllowToDeny,
    /// Denied when recorded, allowed now.
    DenyToAllow,
    /// The same answer, decided by other rules or with other obligations.
    OtherRules,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Unchanged => "unchanged",
            Change::AllowToDeny => "allow-to-deny",
            Change::DenyToAllow => "deny-to-allow",
            Change::OtherRules => "other-rules",
        }
    }
}

/// A recorded call judged again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replayed {
    pub recorded: Verdict,
    pub now: Verdict,
}

impl Replayed {
    pub fn change(&self) -> Change {
        match (self.recorded.allowed, self.now.allowed) {
            (true, false) => Change::AllowToDeny,
            (false, true) => Change::DenyToAllow,
            _ if self.recorded == self.now => Change::Unchanged,
            _ => Change::OtherRules,
        }
    }
}

/// The context a recorded call was judged in, rebuilt from its entry.
pub fn recorded_context(entry: &Entry) -> Result<CallContext, NotReplayed> {
    let c = entry.context();
    if entry.model().is_none() {
        return Err(match c.purpose.as_deref() {
            Some("audit") => NotReplayed::AuditRead,
            _ => NotReplayed::NoModel,
        });
    }
    let (Some(declared), Some(input_bytes), Some(complete)) =
        (&c.declared, c.input_bytes, c.pii_scan_complete)
    else {
        return Err(NotReplayed::Version1);
    };
    let data_categories = declared
        .categories
        .iter()
        .map(|s| {
            DataCategory::parse(s)
                .ok_or_else(|| NotReplayed::Unjudged(format!("unknown data category {s:?}")))
        })
        .collect::<Result<_, _>>()?;
    let kinds = c
        .pii
        .iter()
        .map(|s| {
            PiiKind::parse(s).ok_or_else(|| {
                NotReplayed::Unjudged(format!("unknown kind of personal data {s:?}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let declarations = Declarations {
        purpose: c.purpose.clone(),
        commercial: declared.commercial,
        consent: declared.consent,
        separate_consent: declared.separate_consent,
        data_categories,
        terms_version: declared.terms_version.clone(),
    };
    Ok(CallContext::from_declarations(
        declarations,
        PiiReport::recorded(kinds, complete),
        input_bytes,
    ))
}

/// Judges the call `entry` records again with `engine`, its caller and its model's facts as
/// given, and returns both decisions.
pub fn replay(
    engine: &PolicyEngine,
    caller: &Caller,
    model: &ModelFacts,
    entry: &Entry,
) -> Result<Replayed, NotReplayed> {
    let context = recorded_context(entry)?;
    let post = engine.post_rules();
    let post_obligations: BTreeSet<&str> = engine
        .rules()
        .into_iter()
        .filter(|r| post.contains(&r.id))
        .filter_map(|r| r.obligation.as_deref())
        .collect();
    let before = |rules: &[RuleId]| -> Vec<RuleId> {
        rules
            .iter()
            .filter(|r| !post.contains(*r))
            .cloned()
            .collect()
    };
    let kept = |obligations: &[String]| -> Vec<String> {
        obligations
            .iter()
            .filter(|o| !post_obligations.contains(o.as_str()))
            .cloned()
            .collect()
    };
    let decision = entry.decision();
    if decision == Recorded::Deny
        && !entry.rules().is_empty()
        && entry.rules().iter().all(|r| post.contains(r))
    {
        return Err(NotReplayed::AfterInference);
    }
    let recorded = Verdict {
        allowed: decision != Recorded::Deny,
        rules: before(entry.rules()),
        obligations: kept(entry.obligations()),
    };
    let judged = engine
        .decide_with(caller, model, &context)
        .map_err(|e| NotReplayed::Unjudged(e.to_string()))?;
    let now = Verdict {
        allowed: judged.is_allowed(),
        rules: before(&judged.rules),
        // A call that failed after it was allowed has no obligations recorded: it gave no
        // answer to attach them to.
        obligations: if decision == Recorded::Error {
            vec![]
        } else {
            kept(&judged.obligations)
        },
    };
    Ok(Replayed { recorded, now })
}
