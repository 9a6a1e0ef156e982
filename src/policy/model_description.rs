//! [`ModelDescription`]: one model version as the rules know it — the facts of the Cedar
//! resource `Model` (DESIGN.md, "Policies": licence, commercial use allowed, allowed purposes,
//! risk class, data categories it is approved for, jurisdictions, status), and nothing else of
//! a model. The policy module owns this description so that it knows nothing of how models are
//! stored or loaded; whoever serves models builds one per version (the server does it from the
//! inference manifest, in `server::model_description`).

use std::fmt;

/// One model version, with every fact the rules read of it (`policies/schema.cedarschema`,
/// entity `Model`; `docs/POLICIES.md`).
#[derive(Debug, Clone, PartialEq)]
pub struct ModelDescription {
    /// The model's name.
    pub name: String,
    /// The version described.
    pub version: String,
    /// The licence's id (an SPDX id or the name of the model's own terms).
    pub licence: String,
    /// Whether the licence allows commercial use.
    pub commercial_use: bool,
    /// Whether answers must credit the owner.
    pub attribution: bool,
    /// Licences a caller must hold to use the model (ids as in the caller registry).
    pub required_licences: Vec<String>,
    /// Purposes the model may be used for.
    pub purposes: Vec<String>,
    pub risk_class: RiskClass,
    /// Special data categories the model is approved to process.
    pub data_categories: Vec<String>,
    /// The data categories every input of the model is by its nature, counted as declared on
    /// every call (`context.data_categories`).
    pub input_categories: Vec<String>,
    /// Jurisdictions whose callers the model is cleared for.
    pub jurisdictions: Vec<String>,
    /// The version's status.
    pub status: VersionStatus,
    /// A top-class probability below this asks for human review.
    pub confidence_threshold: Option<f64>,
}

/// A model's risk class, as the rules see it (`resource.risk_class`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RiskClass {
    Minimal,
    Limited,
    High,
}

impl RiskClass {
    /// The attribute's value: `minimal`, `limited` or `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Minimal => "minimal",
            Self::Limited => "limited",
            Self::High => "high",
        }
    }
}

impl fmt::Display for RiskClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A model version's status, as the rules see it (`resource.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionStatus {
    Active,
    Deprecated,
    Recalled,
}

impl VersionStatus {
    /// The attribute's value: `active`, `deprecated` or `recalled`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deprecated => "deprecated",
            Self::Recalled => "recalled",
        }
    }
}

impl fmt::Display for VersionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
