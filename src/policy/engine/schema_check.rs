//! The start-up check of the facts vouch provides against the bundle's schema (DESIGN.md,
//! "Policies": validated against a Cedar schema at start-up, so a mismatch stops the service
//! with a clear error instead of failing every call). A sample caller and model — once with
//! every optional attribute, once with none — are built into entities and requests under the
//! schema, and the context calls are judged with is checked to be the one Cedar builds.

use std::path::Path;

use cedar_policy::{Context, Entities, Entity, Request};

use super::reads::ContextReads;
use super::{caller_entity, PolicyEngine, Stage};
use crate::policy::callers::{Caller, CallerRecord, Role};
use crate::policy::context::CallContext;
use crate::policy::error::{CallerProblem, FactsProblem, PolicyError};
use crate::policy::facts::ModelFacts;
use crate::policy::model_description::{ModelDescription, RiskClass, VersionStatus};

impl PolicyEngine {
    /// Builds the facts of a sample call — once with every optional attribute, once with none —
    /// and checks them against the schema, and that the context calls are judged with is the
    /// one Cedar builds from them.
    pub(super) fn check_facts_against_schema(&self, schema_file: &Path) -> Result<(), PolicyError> {
        let mismatch = |problem: FactsProblem| PolicyError::SchemaMismatch {
            file: schema_file.to_owned(),
            problem,
        };
        let entities = |e| mismatch(FactsProblem::Entities(Box::new(e)));
        let request = |e| mismatch(FactsProblem::Request(Box::new(e)));
        let (caller, model) =
            sample_facts().map_err(|e| mismatch(FactsProblem::SampleCaller(e)))?;
        let full = CallContext::sample();
        for (threshold, ctx, stage) in [
            (Some(0.5), full.clone(), Stage::Post(Some(0.5))),
            (None, CallContext::default(), Stage::Pre),
        ] {
            let mut model = model.clone();
            model.confidence_threshold = threshold;
            let principal = caller_entity(&caller)?.clone();
            let facts = ModelFacts::new(&model)?;
            let resource = facts.entity().clone();
            let (p, r) = (principal.uid(), resource.uid());
            Entities::from_entities([principal, resource], Some(&self.schema)).map_err(entities)?;
            let context = self.context(&ctx, &facts, stage)?;
            // Calls are judged with contexts built from values; they must be Cedar's own.
            let built =
                self.cedar_context(self.context_facts(&ctx, &facts, stage), &ContextReads::All)?;
            if built != context {
                return Err(mismatch(FactsProblem::ContextDiffers {
                    built: Box::new(built),
                    cedar: Box::new(context),
                }));
            }
            Request::new(p, self.infer.clone(), r, context, Some(&self.schema)).map_err(request)?;
        }
        let principal = caller_entity(&caller)?.clone();
        let p = principal.uid();
        let ledger = Entity::new_no_attrs(self.ledger.clone(), Default::default());
        Entities::from_entities([principal, ledger], Some(&self.schema)).map_err(entities)?;
        Request::new(
            p,
            self.audit.clone(),
            self.ledger.clone(),
            Context::empty(),
            Some(&self.schema),
        )
        .map_err(request)?;
        Ok(())
    }
}

/// A caller and a model with every attribute set, for the start-up check.
pub(super) fn sample_facts() -> Result<(Caller, ModelDescription), CallerProblem> {
    let caller = Caller::from_record(&CallerRecord {
        id: "sample".into(),
        organisation: "Sample".into(),
        roles: vec![Role::Caller],
        tier: "standard".into(),
        jurisdiction: "DE".into(),
        terms_version: "1".into(),
        human_oversight: false,
        licences: vec!["x".into()],
        credentials: vec![],
    })?;
    let model = ModelDescription {
        name: "sample".into(),
        version: "1".into(),
        licence: "x".into(),
        commercial_use: true,
        attribution: false,
        required_licences: vec!["x".into()],
        purposes: vec!["x".into()],
        risk_class: RiskClass::High,
        data_categories: vec!["health".into()],
        input_categories: vec!["health".into()],
        jurisdictions: vec!["EU".into()],
        status: VersionStatus::Active,
        confidence_threshold: None,
    };
    Ok((caller, model))
}
