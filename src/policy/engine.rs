//! [`PolicyEngine`]: the loaded bundle, and for each call the Cedar request built from the
//! caller, the model manifest and the [`CallContext`], judged and turned into a [`Decision`].
//!
//! Built once at load: the schema, the policy set (ids = `@id`), each rule's annotations, the
//! action and resource uids. Built per call: two entities (caller, model version) and the
//! context. At load the engine also builds sample facts and checks them against the schema, so
//! a schema that asks for an attribute vouch does not provide stops start-up instead of failing
//! every call.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

use cedar_policy::{
    ActionConstraint, AuthorizationError, Authorizer, Context, Decision as CedarDecision, Entities,
    Entity, EntityUid, Policy, PolicyId, PolicySet, Request, RestrictedExpression, Schema,
};

use super::bundle::{self, BundleHash, RuleMeta};
use super::callers::Caller;
use super::context::CallContext;
use super::error::PolicyError;
use super::facts::{self, decimal, string, strings, uid, FactsToken, ModelFacts};
use super::{Decision, Outcome, RuleInfo};
use crate::inference::{Manifest, VersionManifest};

/// Probabilities are judged at four decimal places: 10 001 possible values.
const DECIMAL_STEPS: usize = 10_001;

pub struct PolicyEngine {
    schema: Schema,
    /// The `infer` rules that read the post-inference facts (`context.post_inference`,
    /// `context.confidence`): the only ones whose answer can change after inference.
    post_policies: PolicySet,
    /// The `@id`s of `post_policies`.
    post_rule_ids: BTreeSet<super::RuleId>,
    /// The `infer` rules split by what they read. Rules that read neither the context nor the
    /// stage give the same answer for every call of one caller to one model version, so they are
    /// judged once per such pair (`pairs`); each call judges only `dynamic`.
    static_forbids: PolicySet,
    static_permits: PolicySet,
    dynamic: PolicySet,
    pairs: RwLock<HashMap<(u64, u64), Arc<Pair>>>,
    /// The rules that can apply to `audit`.
    audit_policies: PolicySet,
    rules: HashMap<PolicyId, RuleMeta>,
    terms_version: String,
    hash: BundleHash,
    files: Vec<String>,
    authorizer: Authorizer,
    infer: EntityUid,
    audit: EntityUid,
    ledger: EntityUid,
    /// `decimal("0.xxxx")` expressions, built on first use: constructing one costs Cedar a parse.
    confidences: Box<[OnceLock<RestrictedExpression>]>,
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

/// What one caller and one model version always give: their entity store, and which of the rules
/// that read neither context nor stage hold for them.
struct Pair {
    entities: Entities,
    principal: EntityUid,
    resource: EntityUid,
    forbids: Vec<PolicyId>,
    permits: Vec<PolicyId>,
}

/// Most pairs kept; past it the cache starts again (a server has callers × model versions;
/// facts built for a single call are never kept).
const MAX_PAIRS: usize = 4096;

/// Which stage of the call is judged.
#[derive(Debug, Clone, Copy)]
enum Stage {
    Pre,
    /// After inference, with the top-class probability if the model gave one.
    Post(Option<f64>),
}

impl PolicyEngine {
    /// Loads and validates the bundle in `policies_dir` (see [`bundle`] for what it contains).
    pub fn load(policies_dir: &Path) -> Result<Self, PolicyError> {
        let b = bundle::load(policies_dir)?;
        let schema_file = b.schema_file.clone();
        let infer = uid(&facts::ACTION, "infer");
        let audit = uid(&facts::ACTION, "audit");
        let infer_policies = for_action(&b.policies, &infer)?;
        let audit_policies = for_action(&b.policies, &audit)?;
        let post_policies = post_inference_rules(&infer_policies)?;
        let (static_forbids, static_permits, dynamic) = split_by_reads(&infer_policies)?;
        let post_rule_ids = post_policies
            .policies()
            .filter_map(|p| b.rules.get(p.id()).map(|m| m.id.clone()))
            .collect();
        let engine = Self {
            schema: b.schema,
            post_policies,
            post_rule_ids,
            static_forbids,
            static_permits,
            dynamic,
            pairs: RwLock::new(HashMap::new()),
            audit_policies,
            rules: b.rules,
            terms_version: b.settings.terms_version,
            hash: b.hash,
            files: b.files,
            authorizer: Authorizer::new(),
            infer,
            audit,
            ledger: uid(&facts::LEDGER, "ledger"),
            confidences: (0..DECIMAL_STEPS).map(|_| OnceLock::new()).collect(),
        };
        engine.check_facts_against_schema(&schema_file)?;
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

    /// Judges a call before inference. Builds the model's facts on every call; a server judging
    /// many calls builds [`ModelFacts`] once per model version and calls [`Self::decide_with`].
    pub fn decide(
        &self,
        caller: &Caller,
        model: &Manifest,
        version: &VersionManifest,
        context: &CallContext,
    ) -> Result<Decision, PolicyError> {
        self.decide_with(caller, &ModelFacts::transient(model, version)?, context)
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
        self.decide_post_with(
            caller,
            &ModelFacts::transient(model, version)?,
            context,
            top_probability,
        )
    }

    /// [`Self::decide`] with the model's facts built beforehand.
    pub fn decide_with(
        &self,
        caller: &Caller,
        model: &ModelFacts,
        context: &CallContext,
    ) -> Result<Decision, PolicyError> {
        self.judge_infer(caller, model, context, Stage::Pre)
    }

    /// [`Self::decide_post`] with the model's facts built beforehand. A probability outside
    /// [0, 1] (or NaN) is [`PolicyError::Confidence`].
    pub fn decide_post_with(
        &self,
        caller: &Caller,
        model: &ModelFacts,
        context: &CallContext,
        top_probability: Option<f64>,
    ) -> Result<Decision, PolicyError> {
        if let Some(p) = top_probability {
            if !(0.0..=1.0).contains(&p) {
                return Err(PolicyError::Confidence(p));
            }
        }
        self.judge_infer(caller, model, context, Stage::Post(top_probability))
    }

    /// The call's final decision after inference, given its pre-inference decision `pre`:
    /// judges again only the rules that read post-inference facts, and keeps `pre`'s answer for
    /// the others (their facts have not changed). Gives the same decision as
    /// [`PolicyEngine::decide_post_with`] at a fraction of the cost; the scenario table checks
    /// that on every post-inference case.
    pub fn decide_after(
        &self,
        pre: &Decision,
        caller: &Caller,
        model: &ModelFacts,
        context: &CallContext,
        top_probability: Option<f64>,
    ) -> Result<Decision, PolicyError> {
        if pre.outcome == Outcome::Deny {
            return Ok(pre.clone());
        }
        if let Some(p) = top_probability {
            if !(0.0..=1.0).contains(&p) {
                return Err(PolicyError::Confidence(p));
            }
        }
        let pair = self.pair(caller, model)?;
        let request = Request::new(
            pair.principal.clone(),
            self.infer.clone(),
            pair.resource.clone(),
            self.context(context, Stage::Post(top_probability))?,
            None,
        )?;
        let post = self.judge(&self.post_policies, &request, &pair.entities)?;
        let is_post = |id: &super::RuleId| self.post_rule_ids.contains(id);
        if post.outcome == Outcome::Deny && !post.rules.is_empty() {
            // A post-inference forbid rule matched.
            return Ok(post);
        }
        let mut reasons: Vec<RuleInfo> = pre
            .reasons
            .iter()
            .filter(|r| !is_post(&r.id))
            .cloned()
            .collect();
        if post.outcome == Outcome::Allow {
            reasons.extend(post.reasons);
        }
        reasons.sort_by(|a, b| a.id.cmp(&b.id));
        reasons.dedup_by(|a, b| a.id == b.id);
        let obligations: Vec<String> = reasons
            .iter()
            .filter_map(|r| r.obligation.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // Allowed only if some permit rule still matches (every matched rule of an allow is one).
        let outcome = if reasons.is_empty() {
            Outcome::Deny
        } else {
            Outcome::Allow
        };
        Ok(Decision {
            outcome,
            rules: reasons.iter().map(|r| r.id.clone()).collect(),
            reasons,
            obligations: if outcome == Outcome::Allow {
                obligations
            } else {
                Vec::new()
            },
        })
    }

    /// Judges whether `caller` may read the ledger (the regulator API's `audit` action).
    pub fn authorize_audit(&self, caller: &Caller) -> Result<Decision, PolicyError> {
        let principal = caller_entity(caller)?;
        let principal_uid = principal.uid();
        let ledger = Entity::new_no_attrs(self.ledger.clone(), Default::default());
        let entities = Entities::from_entities([principal.clone(), ledger], None)?;
        let request = Request::new(
            principal_uid,
            self.audit.clone(),
            self.ledger.clone(),
            Context::empty(),
            None,
        )?;
        self.judge(&self.audit_policies, &request, &entities)
    }

    fn judge_infer(
        &self,
        caller: &Caller,
        model: &ModelFacts,
        context: &CallContext,
        stage: Stage,
    ) -> Result<Decision, PolicyError> {
        let pair = self.pair(caller, model)?;
        let request = Request::new(
            pair.principal.clone(),
            self.infer.clone(),
            pair.resource.clone(),
            self.context(context, stage)?,
            None,
        )?;
        let response = self
            .authorizer
            .is_authorized(&request, &self.dynamic, &pair.entities);
        evaluation_error(&response)?;
        let matched = response.diagnostics().reason();
        // Cedar: any forbid that holds denies, and the forbids that hold are the reasons; else
        // the permits that hold allow, and are the reasons; else deny with no reason.
        let (forbids, permits): (Vec<&PolicyId>, Vec<&PolicyId>) = match response.decision() {
            CedarDecision::Deny => (matched.collect(), vec![]),
            CedarDecision::Allow => (vec![], matched.collect()),
        };
        if !forbids.is_empty() || !pair.forbids.is_empty() {
            let ids = forbids.into_iter().chain(&pair.forbids);
            return Ok(self.decision(Outcome::Deny, ids));
        }
        let ids: Vec<&PolicyId> = permits.into_iter().chain(&pair.permits).collect();
        let outcome = if ids.is_empty() {
            Outcome::Deny
        } else {
            Outcome::Allow
        };
        Ok(self.decision(outcome, ids))
    }

    /// The entity store of `caller` and `model`, and the static rules' verdict for them, from
    /// the cache or judged now.
    fn pair(&self, caller: &Caller, model: &ModelFacts) -> Result<Arc<Pair>, PolicyError> {
        let key = (caller.token().0, model.token().0);
        let transient = key.1 == FactsToken::TRANSIENT.0;
        if !transient {
            if let Some(p) = self.pairs.read().ok().and_then(|m| m.get(&key).cloned()) {
                return Ok(p);
            }
        }
        let principal = caller_entity(caller)?;
        let resource = model.entity();
        let entities = Entities::from_entities([principal.clone(), resource.clone()], None)?;
        let request = Request::new(
            principal.uid(),
            self.infer.clone(),
            resource.uid(),
            Context::empty(),
            None,
        )?;
        let holds = |set: &PolicySet| -> Result<Vec<PolicyId>, PolicyError> {
            let response = self.authorizer.is_authorized(&request, set, &entities);
            evaluation_error(&response)?;
            Ok(response.diagnostics().reason().cloned().collect())
        };
        let pair = Arc::new(Pair {
            forbids: holds(&self.static_forbids)?,
            permits: holds(&self.static_permits)?,
            entities,
            principal: principal.uid(),
            resource: resource.uid(),
        });
        if transient {
            return Ok(pair);
        }
        if let Ok(mut m) = self.pairs.write() {
            if m.len() >= MAX_PAIRS {
                m.clear();
            }
            m.insert(key, Arc::clone(&pair));
        }
        Ok(pair)
    }

    /// A decision with the rules `ids` as its reasons (sorted, each once); obligations of an allow.
    fn decision<'i>(
        &self,
        outcome: Outcome,
        ids: impl IntoIterator<Item = &'i PolicyId>,
    ) -> Decision {
        let mut reasons: Vec<RuleInfo> = ids
            .into_iter()
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
        Decision {
            outcome,
            rules: reasons.iter().map(|r| r.id.clone()).collect(),
            reasons,
            obligations,
        }
    }

    fn judge(
        &self,
        policies: &PolicySet,
        request: &Request,
        entities: &Entities,
    ) -> Result<Decision, PolicyError> {
        let response = self.authorizer.is_authorized(request, policies, entities);
        evaluation_error(&response)?;
        let outcome = match response.decision() {
            CedarDecision::Allow => Outcome::Allow,
            CedarDecision::Deny => Outcome::Deny,
        };
        Ok(self.decision(outcome, response.diagnostics().reason()))
    }

    fn context(&self, ctx: &CallContext, stage: Stage) -> Result<Context, PolicyError> {
        let categories = ctx.data_categories();
        let mut pairs: Vec<(String, RestrictedExpression)> = vec![
            (
                "commercial".into(),
                RestrictedExpression::new_bool(ctx.commercial()),
            ),
            (
                "consent".into(),
                RestrictedExpression::new_bool(ctx.consent()),
            ),
            (
                "separate_consent".into(),
                RestrictedExpression::new_bool(ctx.separate_consent()),
            ),
            (
                "data_categories".into(),
                strings(categories.iter().map(|c| c.as_str())),
            ),
            (
                "special_categories".into(),
                strings(
                    categories
                        .iter()
                        .filter(|c| c.is_special())
                        .map(|c| c.as_str()),
                ),
            ),
            ("pii".into(), strings(ctx.pii().kinds().map(|k| k.as_str()))),
            (
                "pii_scan_complete".into(),
                RestrictedExpression::new_bool(!ctx.pii().truncated()),
            ),
            (
                "input_bytes".into(),
                RestrictedExpression::new_long(
                    i64::try_from(ctx.input_bytes()).unwrap_or(i64::MAX),
                ),
            ),
            ("terms_current".into(), string(&self.terms_version)),
            (
                "post_inference".into(),
                RestrictedExpression::new_bool(matches!(stage, Stage::Post(_))),
            ),
        ];
        if let Some(purpose) = ctx.purpose() {
            pairs.push(("purpose".into(), string(purpose)));
        }
        if let Some(terms) = ctx.terms_version() {
            pairs.push(("terms_declared".into(), string(terms)));
        }
        if let Stage::Post(Some(p)) = stage {
            pairs.push(("confidence".into(), self.confidence(p)));
        }
        Ok(Context::from_pairs(pairs)?)
    }

    /// `decimal` of a probability in [0, 1], from the cache.
    fn confidence(&self, p: f64) -> RestrictedExpression {
        // Rounds like `{:.4}` up to ties, which do not matter at this precision.
        let step = (p * 10_000.0).round();
        let slot = if (0.0..DECIMAL_STEPS as f64).contains(&step) {
            self.confidences.get(step as usize)
        } else {
            None
        };
        match slot {
            Some(cell) => cell.get_or_init(|| decimal(step / 10_000.0)).clone(),
            None => decimal(p),
        }
    }

    /// Builds the facts of a sample call — once with every optional attribute, once with none —
    /// and checks them against the schema.
    fn check_facts_against_schema(&self, schema_file: &Path) -> Result<(), PolicyError> {
        let mismatch = |message: String| PolicyError::SchemaMismatch {
            file: schema_file.to_owned(),
            message,
        };
        let (caller, model) = sample_facts().map_err(|e| mismatch(chain(e.as_ref())))?;
        let full = CallContext::sample();
        for (threshold, ctx, stage) in [
            (Some(0.5), full.clone(), Stage::Post(Some(0.5))),
            (None, CallContext::default(), Stage::Pre),
        ] {
            let mut model = model.clone();
            model.confidence_threshold = threshold;
            let version = model
                .versions
                .first()
                .cloned()
                .ok_or_else(|| mismatch("sample model".into()))?;
            let principal = caller_entity(&caller)?.clone();
            let resource = ModelFacts::new(&model, &version)?.entity().clone();
            let (p, r) = (principal.uid(), resource.uid());
            Entities::from_entities([principal, resource], Some(&self.schema))
                .map_err(|e| mismatch(chain(&e)))?;
            let context = self.context(&ctx, stage)?;
            Request::new(p, self.infer.clone(), r, context, Some(&self.schema))
                .map_err(|e| mismatch(chain(&e)))?;
        }
        let principal = caller_entity(&caller)?.clone();
        let p = principal.uid();
        let ledger = Entity::new_no_attrs(self.ledger.clone(), Default::default());
        Entities::from_entities([principal, ledger], Some(&self.schema))
            .map_err(|e| mismatch(chain(&e)))?;
        Request::new(
            p,
            self.audit.clone(),
            self.ledger.clone(),
            Context::empty(),
            Some(&self.schema),
        )
        .map_err(|e| mismatch(chain(&e)))?;
        Ok(())
    }
}

/// The rules of `all` for which `keep` holds, as a set of their own.
fn subset(all: &PolicySet, keep: impl Fn(&Policy) -> bool) -> Result<PolicySet, PolicyError> {
    let mut out = PolicySet::new();
    for policy in all.policies().filter(|p| keep(p)) {
        out.add(policy.clone())
            .map_err(|_| PolicyError::DuplicateRuleId {
                id: policy.id().to_string(),
                first: PathBuf::new(),
                second: PathBuf::new(),
            })?;
    }
    Ok(out)
}

/// The rules that mention a post-inference fact; every other rule answers the same before and
/// after inference, because the facts differ only in those.
fn post_inference_rules(infer: &PolicySet) -> Result<PolicySet, PolicyError> {
    subset(infer, |p| {
        let text = p.to_string();
        text.contains("post_inference") || text.contains("confidence")
    })
}

/// The first evaluation error of a response, as Cedar skips an erroring rule but vouch refuses
/// to judge a call on a rule it could not evaluate.
fn evaluation_error(response: &cedar_policy::Response) -> Result<(), PolicyError> {
    if let Some(AuthorizationError::PolicyEvaluationError(err)) =
        response.diagnostics().errors().next()
    {
        return Err(PolicyError::Evaluation {
            rule: err.policy_id().to_string(),
            message: err.inner().to_string(),
        });
    }
    Ok(())
}

/// Splits the `infer` rules into the forbids and permits that read neither `context` nor the
/// stage, and the rest. A rule's text naming `context` anywhere (even in an annotation) puts it
/// with the rest: a rule wrongly taken as static would be judged once for every call, so any
/// doubt goes the slow, always-right way.
fn split_by_reads(infer: &PolicySet) -> Result<(PolicySet, PolicySet, PolicySet), PolicyError> {
    let reads_context = |p: &Policy| p.to_string().contains("context");
    let forbid = |p: &Policy| p.effect() == cedar_policy::Effect::Forbid;
    Ok((
        subset(infer, |p| !reads_context(p) && forbid(p))?,
        subset(infer, |p| !reads_context(p) && !forbid(p))?,
        subset(infer, reads_context)?,
    ))
}

/// The rules whose scope can match `action`: those constrained to it (`action == …`), and every
/// rule with no action constraint or an `in` constraint (an action group in the schema may hold
/// it). A rule scoped `==` to another action cannot match, so leaving it out changes no decision.
fn for_action(all: &PolicySet, action: &EntityUid) -> Result<PolicySet, PolicyError> {
    subset(all, |p| match p.action_constraint() {
        ActionConstraint::Any | ActionConstraint::In(_) => true,
        ActionConstraint::Eq(a) => &a == action,
    })
}

/// An error and its sources, `: `-separated (Cedar puts the detail in the sources).
fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        out.push_str(": ");
        out.push_str(&e.to_string());
        source = e.source();
    }
    out
}

fn caller_entity(caller: &Caller) -> Result<&Entity, PolicyError> {
    caller
        .entity()
        .ok_or_else(|| PolicyError::CallerWithoutFacts(caller.id().to_string()))
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
