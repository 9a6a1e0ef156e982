//! [`PolicyEngine`]: the loaded bundle, and for each call the Cedar request built from the
//! caller, the model manifest and the [`CallContext`], judged and turned into a [`Decision`].
//!
//! Built once at load: the schema, the policy set (ids = `@id`), each rule's annotations, the
//! action and resource uids. Built per call: two entities (caller, model version) and the
//! context. At load the engine also builds sample facts and checks them against the schema, so
//! a schema that asks for an attribute vouch does not provide stops start-up instead of failing
//! every call.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::str::FromStr;

use cedar_policy::{
    AuthorizationError, Authorizer, Context, Decision as CedarDecision, Entities, Entity, EntityId,
    EntityTypeName, EntityUid, PolicyId, PolicySet, Request, RestrictedExpression, Schema,
};

use super::bundle::{self, BundleHash, RuleMeta};
use super::callers::Caller;
use super::context::CallContext;
use super::error::PolicyError;
use super::jurisdiction;
use super::{Decision, Outcome, RuleInfo};
use crate::inference::{Manifest, RiskClass, Status, VersionManifest};

/// The schema file name used in errors about the facts vouch provides.
const SCHEMA_HINT: &str = "*.cedarschema";

pub struct PolicyEngine {
    schema: Schema,
    policies: PolicySet,
    rules: HashMap<PolicyId, RuleMeta>,
    terms_version: String,
    hash: BundleHash,
    files: Vec<String>,
    authorizer: Authorizer,
    caller_type: EntityTypeName,
    model_type: EntityTypeName,
    infer: EntityUid,
    audit: EntityUid,
    ledger: EntityUid,
}

impl std::fmt::Debug for PolicyEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyEngine")
            .field("hash", &self.hash.to_hex())
            .field("files", &self.files)
            .field("rules", &self.rules.len())
            .finish_non_exhaustive()
    }
}

/// Which stage of the call is judged.
#[derive(Debug, Clone, Copy)]
enum Stage {
    Pre,
    /// After inference, with the top-class probability if the model gave one.
    Post(Option<f64>),
}

fn type_name(s: &str) -> EntityTypeName {
    // PANIC SAFETY: constant, valid Cedar type names (covered by every test that loads a bundle).
    #[allow(clippy::expect_used)]
    EntityTypeName::from_str(s).expect("constant entity type name")
}

fn uid(ty: &EntityTypeName, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(ty.clone(), EntityId::new(id))
}

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> RestrictedExpression {
    RestrictedExpression::new_set(items.into_iter().map(string))
}

/// A probability as a Cedar `decimal` (four decimal places, rounded to nearest).
fn decimal(p: f64) -> RestrictedExpression {
    RestrictedExpression::new_decimal(format!("{p:.4}"))
}

impl PolicyEngine {
    /// Loads and validates the bundle in `policies_dir` (see [`bundle`] for what it contains).
    pub fn load(policies_dir: &Path) -> Result<Self, PolicyError> {
        let b = bundle::load(policies_dir)?;
        let action_type = type_name("Action");
        let engine = Self {
            schema: b.schema,
            policies: b.policies,
            rules: b.rules,
            terms_version: b.settings.terms_version,
            hash: b.hash,
            files: b.files,
            authorizer: Authorizer::new(),
            caller_type: type_name("Caller"),
            model_type: type_name("Model"),
            infer: uid(&action_type, "infer"),
            audit: uid(&action_type, "audit"),
            ledger: uid(&type_name("Ledger"), "ledger"),
        };
        engine.check_facts_against_schema(policies_dir)?;
        Ok(engine)
    }

    /// The bundle hash recorded in every ledger entry (`policy`).
    pub fn bundle_hash(&self) -> BundleHash {
        self.hash
    }

    /// The bundle's files, sorted by name (the files the hash covers).
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// The version of the terms of use in force (`bundle.toml`).
    pub fn terms_version(&self) -> &str {
        &self.terms_version
    }

    /// Every rule of the bundle, sorted by id.
    pub fn rules(&self) -> Vec<&RuleMeta> {
        let mut rules: Vec<&RuleMeta> = self.rules.values().collect();
        rules.sort_by(|a, b| a.id.cmp(&b.id));
        rules
    }

    /// Judges a call before inference.
    pub fn decide(
        &self,
        caller: &Caller,
        model: &Manifest,
        version: &VersionManifest,
        context: &CallContext,
    ) -> Result<Decision, PolicyError> {
        self.judge_infer(caller, model, version, context, Stage::Pre)
    }

    /// Judges a call after inference, with the top-class probability of the answer (`None` when
    /// the model gives none). The decision covers every rule again (the facts are the same, so
    /// the pre-inference rules give the same answer) plus the post-inference ones: it is the
    /// call's final decision.
    pub fn decide_post(
        &self,
        caller: &Caller,
        model: &Manifest,
        version: &VersionManifest,
        context: &CallContext,
        top_probability: Option<f64>,
    ) -> Result<Decision, PolicyError> {
        if let Some(p) = top_probability {
            if !(0.0..=1.0).contains(&p) {
                return Err(PolicyError::Confidence(p));
            }
        }
        self.judge_infer(caller, model, version, context, Stage::Post(top_probability))
    }

    /// Judges whether `caller` may read the ledger (the regulator API's `audit` action).
    pub fn authorize_audit(&self, caller: &Caller) -> Result<Decision, PolicyError> {
        let principal = self.caller_entity(caller)?;
        let principal_uid = principal.uid();
        let ledger = Entity::new_no_attrs(self.ledger.clone(), Default::default());
        let entities = Entities::from_entities([principal, ledger], None)?;
        let request = Request::new(principal_uid, self.audit.clone(), self.ledger.clone(), Context::empty(), None)?;
        self.judge(&request, &entities)
    }

    fn judge_infer(
        &self,
        caller: &Caller,
        model: &Manifest,
        version: &VersionManifest,
        context: &CallContext,
        stage: Stage,
    ) -> Result<Decision, PolicyError> {
        let principal = self.caller_entity(caller)?;
        let resource = self.model_entity(model, version)?;
        let (principal_uid, resource_uid) = (principal.uid(), resource.uid());
        let entities = Entities::from_entities([principal, resource], None)?;
        let context = self.context(context, stage)?;
        let request = Request::new(principal_uid, self.infer.clone(), resource_uid, context, None)?;
        self.judge(&request, &entities)
    }

    fn judge(&self, request: &Request, entities: &Entities) -> Result<Decision, PolicyError> {
        let response = self.authorizer.is_authorized(request, &self.policies, entities);
        if let Some(AuthorizationError::PolicyEvaluationError(err)) = response.diagnostics().errors().next() {
            return Err(PolicyError::Evaluation { rule: err.policy_id().to_string(), message: err.inner().to_string() });
        }
        let outcome = match response.decision() {
            CedarDecision::Allow => Outcome::Allow,
            CedarDecision::Deny => Outcome::Deny,
        };
        let mut reasons: Vec<RuleInfo> = response
            .diagnostics()
            .reason()
            .filter_map(|id| self.rules.get(id))
            .map(|meta| RuleInfo {
                id: meta.id.clone(),
                category: meta.category,
                reason: meta.reason.clone(),
                obligation: meta.obligation.clone(),
            })
            .collect();
        reasons.sort_by(|a, b| a.id.cmp(&b.id));
        reasons.dedup_by(|a, b| a.id == b.id);
        let obligations: Vec<String> = match outcome {
            Outcome::Allow => reasons
                .iter()
                .filter_map(|r| r.obligation.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            Outcome::Deny => Vec::new(),
        };
        Ok(Decision { outcome, rules: reasons.iter().map(|r| r.id.clone()).collect(), reasons, obligations })
    }

    fn caller_entity(&self, caller: &Caller) -> Result<Entity, PolicyError> {
        let attrs = [
            ("organisation", string(caller.organisation())),
            ("roles", strings(caller.roles().iter().map(|r| r.as_str()))),
            ("tier", string(caller.tier())),
            ("jurisdiction", string(caller.jurisdiction())),
            ("regions", strings(jurisdiction::regions(caller.jurisdiction()).iter().map(String::as_str))),
            ("terms_version", string(caller.terms_version())),
            ("human_oversight", RestrictedExpression::new_bool(caller.human_oversight())),
            ("licences", strings(caller.licences().iter().map(String::as_str))),
        ];
        let attrs: HashMap<String, RestrictedExpression> = attrs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        Ok(Entity::new(uid(&self.caller_type, caller.id().as_str()), attrs, Default::default())?)
    }

    fn model_entity(&self, model: &Manifest, version: &VersionManifest) -> Result<Entity, PolicyError> {
        let risk = match model.risk_class {
            RiskClass::Minimal => "minimal",
            RiskClass::Limited => "limited",
            RiskClass::High => "high",
        };
        let status = match version.status {
            Status::Active => "active",
            Status::Deprecated => "deprecated",
            Status::Recalled => "recalled",
        };
        let licence = &model.licence;
        let mut attrs: HashMap<String, RestrictedExpression> = [
            ("name", string(&model.name)),
            ("version", string(&version.version)),
            ("licence", string(&licence.id)),
            ("commercial_use", RestrictedExpression::new_bool(licence.commercial_use)),
            ("attribution", RestrictedExpression::new_bool(licence.attribution)),
            ("required_licences", strings(licence.required_licences.iter().map(String::as_str))),
            ("purposes", strings(model.purposes.iter().map(String::as_str))),
            ("risk_class", string(risk)),
            ("data_categories", strings(model.data_categories.iter().map(String::as_str))),
            ("jurisdictions", strings(model.jurisdictions.iter().map(String::as_str))),
            ("status", string(status)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(t) = model.confidence_threshold {
            attrs.insert("confidence_threshold".to_owned(), decimal(t));
        }
        let id = format!("{}:{}", model.name, version.version);
        Ok(Entity::new(uid(&self.model_type, &id), attrs, Default::default())?)
    }

    fn context(&self, ctx: &CallContext, stage: Stage) -> Result<Context, PolicyError> {
        let categories = ctx.data_categories();
        let mut pairs: Vec<(String, RestrictedExpression)> = vec![
            ("commercial".into(), RestrictedExpression::new_bool(ctx.commercial())),
            ("consent".into(), RestrictedExpression::new_bool(ctx.consent())),
            ("separate_consent".into(), RestrictedExpression::new_bool(ctx.separate_consent())),
            ("data_categories".into(), strings(categories.iter().map(|c| c.as_str()))),
            (
                "special_categories".into(),
                strings(categories.iter().filter(|c| c.is_special()).map(|c| c.as_str())),
            ),
            ("pii".into(), strings(ctx.pii().kinds().map(|k| k.as_str()))),
            ("pii_scan_complete".into(), RestrictedExpression::new_bool(!ctx.pii().truncated())),
            ("input_bytes".into(), RestrictedExpression::new_long(i64::try_from(ctx.input_bytes()).unwrap_or(i64::MAX))),
            ("terms_current".into(), string(&self.terms_version)),
            ("post_inference".into(), RestrictedExpression::new_bool(matches!(stage, Stage::Post(_)))),
        ];
        if let Some(purpose) = ctx.purpose() {
            pairs.push(("purpose".into(), string(purpose)));
        }
        if let Some(terms) = ctx.terms_version() {
            pairs.push(("terms_declared".into(), string(terms)));
        }
        if let Stage::Post(Some(p)) = stage {
            pairs.push(("confidence".into(), decimal(p)));
        }
        Ok(Context::from_pairs(pairs)?)
    }

    /// Builds the facts of a sample call — once with every optional attribute, once with none —
    /// and checks them against the schema.
    fn check_facts_against_schema(&self, dir: &Path) -> Result<(), PolicyError> {
        let mismatch = |message: String| PolicyError::SchemaMismatch { file: dir.join(SCHEMA_HINT), message };
        let (caller, model) = sample_facts().map_err(|e| mismatch(e.to_string()))?;
        let full = CallContext::sample();
        for (threshold, ctx, stage) in
            [(Some(0.5), full.clone(), Stage::Post(Some(0.5))), (None, CallContext::default(), Stage::Pre)]
        {
            let mut model = model.clone();
            model.confidence_threshold = threshold;
            let version = model.versions.first().cloned().ok_or_else(|| mismatch("sample model".into()))?;
            let principal = self.caller_entity(&caller)?;
            let resource = self.model_entity(&model, &version)?;
            let (p, r) = (principal.uid(), resource.uid());
            Entities::from_entities([principal, resource], Some(&self.schema)).map_err(|e| mismatch(e.to_string()))?;
            let context = self.context(&ctx, stage)?;
            Request::new(p, self.infer.clone(), r, context, Some(&self.schema)).map_err(|e| mismatch(e.to_string()))?;
        }
        let principal = self.caller_entity(&caller)?;
        let p = principal.uid();
        let ledger = Entity::new_no_attrs(self.ledger.clone(), Default::default());
        Entities::from_entities([principal, ledger], Some(&self.schema)).map_err(|e| mismatch(e.to_string()))?;
        Request::new(p, self.audit.clone(), self.ledger.clone(), Context::empty(), Some(&self.schema))
            .map_err(|e| mismatch(e.to_string()))?;
        Ok(())
    }
}

/// A caller and a model with every attribute set, for the start-up check.
fn sample_facts() -> Result<(Caller, Manifest), Box<dyn std::error::Error>> {
    let caller = Caller::from_record(&toml::from_str(
        r#"id = "sample"
organisation = "Sample"
roles = ["caller"]
jurisdiction = "DE"
terms_version = "1"
licences = ["x"]"#,
    )?)?;
    let model: Manifest = toml::from_str(
        r#"name = "sample"
owner = "Sample"
description = "Sample"
default_version = "1"
purposes = ["x"]
risk_class = "high"
data_categories = ["health"]
jurisdictions = ["EU"]
[licence]
id = "x"
commercial_use = true
required_licences = ["x"]
[[versions]]
version = "1"
file = "m.onnx"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
status = "active"
inputs = []
outputs = []"#,
    )?;
    Ok((caller, model))
}
