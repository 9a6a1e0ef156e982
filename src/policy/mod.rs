//! The rules judged before every call: the Cedar bundle in `policies/` (intellectual property,
//! privacy, liability, access), the facts it is judged on (caller registry, model manifest,
//! declared context, personal data detected in the inputs), and decisions with the ids, reasons
//! and obligations of the rules that decided. Knows nothing of HTTP or storage.
//!
//! # Layout
//!
//! - [`bundle`]: reads `policies/`, checks every rule against the schema and its annotations,
//!   computes the bundle hash.
//! - [`engine`]: [`PolicyEngine`] — builds the Cedar entities and context for one call and turns
//!   Cedar's answer into a [`Decision`].
//! - [`model_description`]: [`ModelDescription`], what the rules know of one model version
//!   (built by whoever serves the model; this module knows nothing of manifests).
//! - [`facts`]: the Cedar entities for callers and model versions, built once ([`ModelFacts`]).
//! - [`context`]: [`CallContext`], parsed from the v2 request `parameters`.
//! - [`detect`]: personal-data detectors (regular expressions plus checksums); kinds and counts,
//!   never values.
//! - [`callers`]: the caller registry (`config/callers.toml`) and API-key authentication.
//! - [`error`]: [`PolicyError`], the module's one error type, and [`PolicyErrorKind`].
//!
//! `docs/POLICIES.md` describes the Cedar model, every shipped rule and the file formats.

pub mod bundle;
pub mod callers;
pub mod context;
pub mod detect;
pub mod engine;
pub mod error;
pub mod facts;
mod jurisdiction;
pub mod model_description;
pub mod replay;

use std::fmt;

use serde::Serialize;

pub use bundle::{BundleHash, RuleMeta};
pub use callers::{
    Added, ApiKey, Caller, CallerId, CallerRecord, CallerRegistry, CredentialId, CredentialRecord,
    Role,
};
pub use context::{CallContext, DataCategory, Declarations};
pub use detect::{PiiKind, PiiReport};
pub use engine::PolicyEngine;
pub use error::{
    AnnotationProblem, BundleProblem, CallerProblem, FactsProblem, ParameterProblem, PolicyError,
    PolicyErrorKind, SourcePos,
};
pub use facts::ModelFacts;
pub use model_description::{ModelDescription, RiskClass, VersionStatus};

pub use crate::ids::RuleId;

/// The concern a rule answers, from its `@category("…")` annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    /// Intellectual property: licences, commercial use, model status.
    Ip,
    /// Data privacy: consent, special categories, purpose limitation, transfers.
    Privacy,
    /// Liability: risk class, human oversight, terms of use.
    Liability,
    /// Access: roles, tiers, which action a caller may use.
    Access,
}

impl Category {
    /// Parses the annotation value; `None` for anything but the four categories.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ip" => Some(Self::Ip),
            "privacy" => Some(Self::Privacy),
            "liability" => Some(Self::Liability),
            "access" => Some(Self::Access),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::Privacy => "privacy",
            Self::Liability => "liability",
            Self::Access => "access",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Allow or deny, as recorded in the ledger (`"allow"`, `"deny"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Allow,
    Deny,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Deny => "deny",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule that decided, with what it says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    pub id: RuleId,
    pub category: Category,
    pub reason: String,
    /// The obligation a matching permit rule attaches, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub obligation: Option<String>,
}

/// The answer for one call.
///
/// - `Deny`: `rules` are the forbid rules that matched (empty only if no permit rule matched at
///   all, which the shipped bundle never allows), `obligations` is empty.
/// - `Allow`: `rules` are the permit rules that matched — the base permit plus every obligation
///   rule — and `obligations` the distinct `@obligation` values of those rules.
///
/// `rules` and `obligations` are sorted and free of duplicates; `reasons` follows `rules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub outcome: Outcome,
    pub rules: Vec<RuleId>,
    pub reasons: Vec<RuleInfo>,
    pub obligations: Vec<String>,
}

impl Decision {
    pub fn is_allowed(&self) -> bool {
        self.outcome == Outcome::Allow
    }
}
