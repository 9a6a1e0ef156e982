//! [`CallContext`]: what a request declares about itself in its v2 `parameters` (purpose,
//! consent, data categories, terms version) plus what the server measured (personal data
//! detected, input size). Parsed once, with a precise error for each wrong parameter.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;
use serde_json::{Map, Value};

use super::detect::PiiReport;
use super::error::{ParameterProblem, PolicyError};

/// The `parameters` keys read here; every other string parameter is free text for the detectors.
pub const POLICY_PARAMETERS: [&str; 6] = [
    "purpose",
    "commercial",
    "consent",
    "separate_consent",
    "data_categories",
    "terms_version",
];

const MAX_TOKEN: usize = 64;

/// A declared data category. `Personal` is ordinary personal data; the others are special
/// categories (GDPR Art. 9, PIPL Art. 28) a model must be approved for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataCategory {
    Personal,
    Health,
    Genetic,
    Biometric,
    Children,
    Financial,
    GovernmentId,
    Location,
}

impl DataCategory {
    /// Every category, in the order of their bits in [`CategorySet`].
    pub const ALL: [DataCategory; 8] = [
        Self::Personal,
        Self::Health,
        Self::Genetic,
        Self::Biometric,
        Self::Children,
        Self::Financial,
        Self::GovernmentId,
        Self::Location,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "personal" => Self::Personal,
            "health" => Self::Health,
            "genetic" => Self::Genetic,
            "biometric" => Self::Biometric,
            "children" => Self::Children,
            "financial" => Self::Financial,
            "government-id" => Self::GovernmentId,
            "location" => Self::Location,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Personal => "personal",
            Self::Health => "health",
            Self::Genetic => "genetic",
            Self::Biometric => "biometric",
            Self::Children => "children",
            Self::Financial => "financial",
            Self::GovernmentId => "government-id",
            Self::Location => "location",
        }
    }

    /// Whether the category is special (everything but `personal`).
    pub fn is_special(self) -> bool {
        self != Self::Personal
    }
}

/// A set of data categories, one bit each: what a call's input holds, gathered from what the
/// caller declared, what the detectors found and what the model's inputs are by nature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CategorySet(u16);

impl CategorySet {
    pub fn insert(&mut self, c: DataCategory) {
        self.0 |= 1 << c as u16;
    }

    pub fn contains(self, c: DataCategory) -> bool {
        self.0 & (1 << c as u16) != 0
    }

    /// The categories in the set, in [`DataCategory::ALL`]'s order.
    pub fn iter(self) -> impl Iterator<Item = DataCategory> {
        DataCategory::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

impl<'a> Extend<&'a DataCategory> for CategorySet {
    fn extend<I: IntoIterator<Item = &'a DataCategory>>(&mut self, items: I) {
        for c in items {
            self.insert(*c);
        }
    }
}

impl fmt::Display for DataCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a call declares about itself, as [`CallContext::from_parameters`] reads it from a request
/// (defaults applied) and as a ledger entry of version 2 records it: for judging a recorded call
/// again ([`CallContext::from_declarations`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Declarations {
    pub purpose: Option<String>,
    pub commercial: bool,
    pub consent: bool,
    pub separate_consent: bool,
    pub data_categories: BTreeSet<DataCategory>,
    pub terms_version: Option<String>,
}

/// The facts of one call that come from the request, not from the registries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallContext {
    purpose: Option<String>,
    commercial: bool,
    consent: bool,
    separate_consent: bool,
    data_categories: BTreeSet<DataCategory>,
    terms_version: Option<String>,
    pii: PiiReport,
    input_bytes: u64,
}

impl CallContext {
    /// Reads the v2 request `parameters`. Every key is optional; defaults: no purpose,
    /// `commercial` true, no consent, no data categories, no terms version. Unknown keys are left
    /// to others (they are free text for the detectors, see [`super::detect::parameter_texts`]).
    pub fn from_parameters(parameters: &Map<String, Value>) -> Result<Self, PolicyError> {
        let flag = |name: &str, default: bool| -> Result<bool, PolicyError> {
            match parameters.get(name) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(PolicyError::parameter(
                    name,
                    ParameterProblem::WrongType("boolean"),
                )),
            }
        };
        let token = |name: &str| -> Result<Option<String>, PolicyError> {
            match parameters.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => check_token(name, s).map(Some),
                Some(_) => Err(PolicyError::parameter(
                    name,
                    ParameterProblem::WrongType("string"),
                )),
            }
        };
        let data_categories = match parameters.get("data_categories") {
            None | Some(Value::Null) => BTreeSet::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(s) => DataCategory::parse(s).ok_or_else(|| {
                        PolicyError::parameter(
                            "data_categories",
                            ParameterProblem::UnknownCategory(s.clone()),
                        )
                    }),
                    _ => Err(PolicyError::parameter(
                        "data_categories",
                        ParameterProblem::WrongType("array of strings"),
                    )),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(PolicyError::parameter(
                    "data_categories",
                    ParameterProblem::WrongType("array of strings"),
                ))
            }
        };
        Ok(Self {
            purpose: token("purpose")?,
            commercial: flag("commercial", true)?,
            consent: flag("consent", false)?,
            separate_consent: flag("separate_consent", false)?,
            data_categories,
            terms_version: token("terms_version")?,
            pii: PiiReport::default(),
            input_bytes: 0,
        })
    }

    /// The context of a call whose declarations, detected kinds and input size were recorded.
    pub fn from_declarations(d: Declarations, pii: PiiReport, input_bytes: u64) -> Self {
        Self {
            purpose: d.purpose,
            commercial: d.commercial,
            consent: d.consent,
            separate_consent: d.separate_consent,
            data_categories: d.data_categories,
            terms_version: d.terms_version,
            pii,
            input_bytes,
        }
    }

    /// Adds what the detectors found in the inputs and free-text parameters.
    pub fn with_pii(mut self, report: PiiReport) -> Self {
        self.pii = report;
        self
    }

    /// Adds the size of the request's inputs in bytes.
    pub fn with_input_bytes(mut self, bytes: u64) -> Self {
        self.input_bytes = bytes;
        self
    }

    /// A context with every optional fact present, for the engine's start-up check.
    pub(crate) fn sample() -> Self {
        Self {
            purpose: Some("x".into()),
            commercial: true,
            consent: true,
            separate_consent: true,
            data_categories: [DataCategory::Personal, DataCategory::Health].into(),
            terms_version: Some("1".into()),
            pii: super::detect::scan(["a@example.com"]),
            input_bytes: 1,
        }
    }

    pub fn purpose(&self) -> Option<&str> {
        self.purpose.as_deref()
    }

    pub fn commercial(&self) -> bool {
        self.commercial
    }

    pub fn consent(&self) -> bool {
        self.consent
    }

    pub fn separate_consent(&self) -> bool {
        self.separate_consent
    }

    /// Declared data categories, sorted (as recorded in the ledger's `context.data_categories`).
    pub fn data_categories(&self) -> &BTreeSet<DataCategory> {
        &self.data_categories
    }

    pub fn terms_version(&self) -> Option<&str> {
        self.terms_version.as_deref()
    }

    pub fn pii(&self) -> &PiiReport {
        &self.pii
    }

    /// What the input holds: the declared categories, the category of every kind of personal
    /// data detected ([`super::detect::PiiKind::category`]), and `inherent`, the categories the
    /// model's inputs are by nature. A declaration can add to what was found, never take from
    /// it.
    pub fn categories(&self, inherent: CategorySet) -> CategorySet {
        let mut set = inherent;
        set.extend(&self.data_categories);
        for kind in self.pii.kinds() {
            set.insert(kind.category());
        }
        set
    }

    pub fn input_bytes(&self) -> u64 {
        self.input_bytes
    }
}

/// Purposes and terms versions are short tokens: `[a-z0-9][a-z0-9.-]*`, at most 64 characters.
fn check_token(name: &str, s: &str) -> Result<String, PolicyError> {
    if s.chars().count() > MAX_TOKEN {
        return Err(PolicyError::parameter(
            name,
            ParameterProblem::TooLong(MAX_TOKEN),
        ));
    }
    if !is_token_form(s) {
        return Err(PolicyError::parameter(name, ParameterProblem::BadToken));
    }
    Ok(s.to_owned())
}

/// `[a-z0-9][a-z0-9.-]*` (any length).
fn is_token_form(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().enumerate().all(|(i, b)| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || (i > 0 && (b == b'-' || b == b'.'))
        })
}

/// Whether `s` is a token as a call's `purpose` and `terms_version` parameters must be: the
/// caller registry holds terms versions to the same form, so the rules compare like with like.
pub(crate) fn is_token(s: &str) -> bool {
    s.chars().count() <= MAX_TOKEN && is_token_form(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn defaults() {
        let c = CallContext::from_parameters(&Map::new()).unwrap();
        assert_eq!(c.purpose(), None);
        assert!(c.commercial());
        assert!(!c.consent());
        assert!(c.data_categories().is_empty());
    }

    #[test]
    fn reads_every_parameter() {
        let c = CallContext::from_parameters(&params(json!({
            "purpose": "medical-triage", "commercial": false, "consent": true,
            "separate_consent": true, "data_categories": ["health", "personal"],
            "terms_version": "2026-01", "other": 3
        })))
        .unwrap();
        assert_eq!(c.purpose(), Some("medical-triage"));
        assert!(!c.commercial() && c.consent() && c.separate_consent());
        assert_eq!(
            c.data_categories()
                .iter()
                .map(|d| d.as_str())
                .collect::<Vec<_>>(),
            ["personal", "health"]
        );
        assert_eq!(c.terms_version(), Some("2026-01"));
    }

    #[test]
    fn wrong_types_name_the_parameter() {
        let err = |v: Value| {
            CallContext::from_parameters(&params(v))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(json!({"consent": "yes"})),
            "parameter \"consent\" must be a boolean"
        );
        assert_eq!(
            err(json!({"purpose": 1})),
            "parameter \"purpose\" must be a string"
        );
        assert!(err(json!({"purpose": "Medical Triage"})).contains("lowercase"));
        assert!(err(json!({"data_categories": "health"})).contains("array of strings"));
        assert!(err(json!({"data_categories": ["helth"]}))
            .contains("\"helth\" is not a known data category"));
        assert!(err(json!({"terms_version": "x".repeat(65)})).contains("at most 64"));
    }
}
