//! The Cedar entities the rules are judged on, built from the caller registry and the
//! descriptions of the models ([`ModelDescription`]; attribute by attribute as in
//! `policies/schema.cedarschema` and `docs/POLICIES.md`; DESIGN.md, "Policies").
//!
//! They are built once — a caller's when the registry is loaded, a model version's when the
//! server calls [`ModelFacts::new`] on loading the model — because building them costs more than
//! judging a call (Cedar parses the `decimal` extension name on every construction).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::LazyLock;

use cedar_policy::{
    Entity, EntityAttrEvaluationError, EntityId, EntityTypeName, EntityUid, RestrictedExpression,
};

use super::callers::Caller;
use super::context::{CategorySet, DataCategory};
use super::error::PolicyError;
use super::jurisdiction;
use super::model_description::ModelDescription;

fn type_name(s: &str) -> EntityTypeName {
    // PANIC SAFETY: constant, valid Cedar type names (every test that builds facts covers them).
    #[allow(clippy::expect_used)]
    EntityTypeName::from_str(s).expect("constant entity type name")
}

pub(crate) static CALLER: LazyLock<EntityTypeName> = LazyLock::new(|| type_name("Caller"));
pub(crate) static MODEL: LazyLock<EntityTypeName> = LazyLock::new(|| type_name("Model"));
pub(crate) static LEDGER: LazyLock<EntityTypeName> = LazyLock::new(|| type_name("Ledger"));
pub(crate) static ACTION: LazyLock<EntityTypeName> = LazyLock::new(|| type_name("Action"));

pub(crate) fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
}

pub(crate) fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

pub(crate) fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> RestrictedExpression {
    RestrictedExpression::new_set(items.into_iter().map(string))
}

/// A probability as a Cedar `decimal` (four decimal places, rounded to nearest).
pub(crate) fn decimal(p: f64) -> RestrictedExpression {
    RestrictedExpression::new_decimal(format!("{p:.4}"))
}

fn entity(
    uid: EntityUid,
    attrs: Vec<(&str, RestrictedExpression)>,
) -> Result<Entity, Box<EntityAttrEvaluationError>> {
    let attrs: HashMap<String, RestrictedExpression> =
        attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    Entity::new(uid, attrs, Default::default()).map_err(Box::new)
}

/// `Caller::"<id>"` with the caller's attributes.
pub(crate) fn caller_entity(caller: &Caller) -> Result<Entity, Box<EntityAttrEvaluationError>> {
    let regions = jurisdiction::regions(caller.jurisdiction());
    entity(
        uid(&CALLER, caller.id().as_str()),
        vec![
            ("organisation", string(caller.organisation())),
            ("roles", strings(caller.roles().iter().map(|r| r.as_str()))),
            ("tier", string(caller.tier())),
            ("jurisdiction", string(caller.jurisdiction())),
            ("regions", strings(regions.iter().map(String::as_str))),
            ("terms_version", string(caller.terms_version())),
            (
                "human_oversight",
                RestrictedExpression::new_bool(caller.human_oversight()),
            ),
            (
                "licences",
                strings(caller.licences().iter().map(String::as_str)),
            ),
        ],
    )
}

/// One model version as the rules see it (`Model::"<name>:<version>"`). Build it once per
/// loaded model version and pass it to [`super::PolicyEngine::decide_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFacts {
    entity: Entity,
    /// What every input of the model is by its nature, counted as declared on every call.
    input_categories: CategorySet,
    token: FactsToken,
}

/// Names one constructed set of facts (a caller, a model version): facts never change after
/// construction, so the engine caches per pair of tokens what depends only on them. Clones share
/// the token; it takes no part in equality.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FactsToken(pub(crate) u64);

impl FactsToken {
    /// Facts built for one call only: never worth remembering.
    pub(crate) const TRANSIENT: FactsToken = FactsToken(u64::MAX);

    pub(crate) fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        FactsToken(NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

impl PartialEq for FactsToken {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for FactsToken {}

impl ModelFacts {
    /// The entity of the model version `model` describes, with a token of its own.
    pub fn new(model: &ModelDescription) -> Result<Self, PolicyError> {
        let mut attrs = vec![
            ("name", string(&model.name)),
            ("version", string(&model.version)),
            ("licence", string(&model.licence)),
            (
                "commercial_use",
                RestrictedExpression::new_bool(model.commercial_use),
            ),
            (
                "attribution",
                RestrictedExpression::new_bool(model.attribution),
            ),
            (
                "required_licences",
                strings(model.required_licences.iter().map(String::as_str)),
            ),
            (
                "purposes",
                strings(model.purposes.iter().map(String::as_str)),
            ),
            ("risk_class", string(model.risk_class.as_str())),
            (
                "data_categories",
                strings(model.data_categories.iter().map(String::as_str)),
            ),
            (
                "jurisdictions",
                strings(model.jurisdictions.iter().map(String::as_str)),
            ),
            ("status", string(model.status.as_str())),
        ];
        if let Some(t) = model.confidence_threshold {
            attrs.push(("confidence_threshold", decimal(t)));
        }
        let mut input_categories = CategorySet::default();
        for c in &model.input_categories {
            input_categories.insert(DataCategory::parse(c).ok_or_else(|| {
                PolicyError::InputCategory {
                    model: model.name.clone(),
                    category: c.clone(),
                }
            })?);
        }
        let id = format!("{}:{}", model.name, model.version);
        Ok(Self {
            entity: entity(uid(&MODEL, &id), attrs).map_err(PolicyError::Entity)?,
            input_categories,
            token: FactsToken::new(),
        })
    }

    pub(crate) fn entity(&self) -> &Entity {
        &self.entity
    }

    /// The categories every input of the model is by its nature.
    pub(crate) fn input_categories(&self) -> CategorySet {
        self.input_categories
    }

    pub(crate) fn token(&self) -> FactsToken {
        self.token
    }

    /// Facts for one call (the engine does not cache what it derives from them).
    pub(crate) fn transient(model: &ModelDescription) -> Result<Self, PolicyError> {
        Ok(Self {
            token: FactsToken::TRANSIENT,
            ..Self::new(model)?
        })
    }
}
