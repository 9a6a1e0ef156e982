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
    /// The context attributes `dynamic` reads.
    context_reads: ContextReads,
    /// Decisions already made, by pair and the values of the attributes in `context_reads`:
    /// a decision is a function of those alone, so a repeated call costs one lookup.
    memo: RwLock<HashMap<MemoKey, Arc<Decision>>>,
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

/// Most decisions kept; past it the memo starts again.
const MAX_DECISIONS: usize = 4096;

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
            context_reads: ContextReads::of(&dynamic),
            dynamic,
            pairs: RwLock::new(HashMap::new()),
            memo: RwLock::new(HashMap::new()),
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
        // The same decision as `decide_post_with` (the scenario table checks it), so the memo
        // holds and gives it under the same key.
        let facts = self.context_facts(context, Stage::Post(top_probability));
        self.memoised(caller, model, facts, |facts| {
            self.after(pre, caller, model, facts)
        })
    }

    /// [`Self::decide_after`] judged: the post-inference rules, joined to `pre`'s other rules.
    fn after(
        &self,
        pre: &Decision,
        caller: &Caller,
        model: &ModelFacts,
        facts: Vec<(&'static str, Fact<'_>)>,
    ) -> Result<Decision, PolicyError> {
        let pair = self.pair(caller, model)?;
        let request = Request::new(
            pair.principal.clone(),
            self.infer.clone(),
            pair.resource.clone(),
            self.cedar_context(facts)?,
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
        let facts = self.context_facts(context, stage);
        self.memoised(caller, model, facts, |facts| {
            self.judge_dynamic(caller, model, facts)
        })
    }

    /// `judge(facts)`, or the memo's answer for the same pair and the same values of the facts
    /// the rules read. Facts built for a single call are judged and not kept.
    fn memoised<'c>(
        &self,
        caller: &Caller,
        model: &ModelFacts,
        facts: Vec<(&'static str, Fact<'c>)>,
        judge: impl FnOnce(Vec<(&'static str, Fact<'c>)>) -> Result<Decision, PolicyError>,
    ) -> Result<Decision, PolicyError> {
        let pair_key = (caller.token().0, model.token().0);
        if pair_key.1 == FactsToken::TRANSIENT.0 {
            return judge(facts);
        }
        let key = self.memo_key(pair_key, &facts);
        if let Some(d) = self.memo_get(&key) {
            return Ok(d);
        }
        let decision = judge(facts)?;
        self.memo_put(key, &decision);
        Ok(decision)
    }

    fn memo_get(&self, key: &MemoKey) -> Option<Decision> {
        let memo = self.memo.read().ok()?;
        memo.get(key).map(|d| Decision::clone(d))
    }

    fn memo_put(&self, key: MemoKey, decision: &Decision) {
        if let Ok(mut m) = self.memo.write() {
            if m.len() >= MAX_DECISIONS {
                m.clear();
            }
            m.insert(key, Arc::new(decision.clone()));
        }
    }

    /// Judges the rules that read the context, and joins their answer to the pair's static one.
    fn judge_dynamic(
        &self,
        caller: &Caller,
        model: &ModelFacts,
        facts: Vec<(&'static str, Fact<'_>)>,
    ) -> Result<Decision, PolicyError> {
        let pair = self.pair(caller, model)?;
        let request = Request::new(
            pair.principal.clone(),
            self.infer.clone(),
            pair.resource.clone(),
            self.cedar_context(facts)?,
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

    /// The Cedar context of a call: [`Self::context_facts`] as restricted expressions.
    fn context(&self, ctx: &CallContext, stage: Stage) -> Result<Context, PolicyError> {
        self.cedar_context(self.context_facts(ctx, stage))
    }

    fn cedar_context(&self, facts: Vec<(&'static str, Fact<'_>)>) -> Result<Context, PolicyError> {
        let pairs = facts.into_iter().map(|(name, fact)| {
            let value = match fact {
                Fact::Bool(b) => RestrictedExpression::new_bool(b),
                Fact::Long(n) => RestrictedExpression::new_long(n),
                Fact::Str(s) => string(s),
                Fact::Set(items) => strings(items),
                Fact::Probability(p) => self.confidence(p),
            };
            (name.to_owned(), value)
        });
        Ok(Context::from_pairs(pairs)?)
    }

    /// Every attribute of a call's Cedar context, by name. The context and the decision memo's
    /// key are both made from this list, so the memo cannot miss an attribute the context has.
    fn context_facts<'c>(
        &'c self,
        ctx: &'c CallContext,
        stage: Stage,
    ) -> Vec<(&'static str, Fact<'c>)> {
        let categories = ctx.data_categories();
        let mut facts = vec![
            ("commercial", Fact::Bool(ctx.commercial())),
            ("consent", Fact::Bool(ctx.consent())),
            ("separate_consent", Fact::Bool(ctx.separate_consent())),
            (
                "data_categories",
                Fact::Set(categories.iter().map(|c| c.as_str()).collect()),
            ),
            (
                "special_categories",
                Fact::Set(
                    categories
                        .iter()
                        .filter(|c| c.is_special())
                        .map(|c| c.as_str())
                        .collect(),
                ),
            ),
            (
                "pii",
                Fact::Set(ctx.pii().kinds().map(|k| k.as_str()).collect()),
            ),
            ("pii_scan_complete", Fact::Bool(!ctx.pii().truncated())),
            (
                "input_bytes",
                Fact::Long(i64::try_from(ctx.input_bytes()).unwrap_or(i64::MAX)),
            ),
            ("terms_current", Fact::Str(&self.terms_version)),
            (
                "post_inference",
                Fact::Bool(matches!(stage, Stage::Post(_))),
            ),
        ];
        if let Some(purpose) = ctx.purpose() {
            facts.push(("purpose", Fact::Str(purpose)));
        }
        if let Some(terms) = ctx.terms_version() {
            facts.push(("terms_declared", Fact::Str(terms)));
        }
        if let Stage::Post(Some(p)) = stage {
            facts.push(("confidence", Fact::Probability(p)));
        }
        facts
    }

    /// The memo key of a call: the pair, and the value of every context attribute the per-call
    /// rules read (present or absent), in a fixed order.
    fn memo_key(&self, pair: (u64, u64), facts: &[(&'static str, Fact<'_>)]) -> MemoKey {
        let mut bytes = Vec::with_capacity(128);
        for (name, fact) in facts {
            if !self.context_reads.covers(name) {
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

    /// `decimal` of a probability in [0, 1], from the cache.
    fn confidence(&self, p: f64) -> RestrictedExpression {
        match confidence_step(p).and_then(|step| self.confidences.get(step)) {
            Some(cell) => cell
                .get_or_init(|| decimal((p * 10_000.0).round() / 10_000.0))
                .clone(),
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
/// The four-decimal step of a probability in [0, 1] (rounds like `{:.4}` up to ties, which do
/// not matter at this precision); `None` outside.
fn confidence_step(p: f64) -> Option<usize> {
    let step = (p * 10_000.0).round();
    (0.0..DECIMAL_STEPS as f64)
        .contains(&step)
        .then_some(step as usize)
}

/// The value of one context attribute, before it becomes a Cedar expression.
enum Fact<'c> {
    Bool(bool),
    Long(i64),
    Str(&'c str),
    Set(Vec<&'c str>),
    /// A probability, judged at four decimal places.
    Probability(f64),
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

/// Which context attributes a set of rules reads.
#[derive(Debug)]
enum ContextReads {
    /// Only these, each through `context.name` or `context has name`.
    Only(BTreeSet<String>),
    /// Some rule uses `context` as a whole: every attribute counts.
    All,
}

impl ContextReads {
    /// A rule whose JSON form cannot be had counts as reading everything.
    fn of(policies: &PolicySet) -> Self {
        let mut names = BTreeSet::new();
        for policy in policies.policies() {
            match policy.to_json() {
                Ok(json) if reads_of(&json, &mut names) => {}
                _ => return Self::All,
            }
        }
        Self::Only(names)
    }

    fn covers(&self, name: &str) -> bool {
        match self {
            Self::Only(names) => names.contains(name),
            Self::All => true,
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

/// A decision memo entry's key: the caller's and the model's fact tokens, and the encoded values
/// of the context attributes the per-call rules read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MemoKey {
    caller: u64,
    model: u64,
    context: Box<[u8]>,
}

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
