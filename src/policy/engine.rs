//! [`PolicyEngine`]: the loaded bundle, and for each call the Cedar request built from the
//! caller, the model manifest and the [`CallContext`], judged and turned into a [`Decision`].
//!
//! Built once at load: the schema, the policy set (ids = `@id`), each rule's annotations, what
//! each rule reads, the guards of the rules judged per call, the action and resource uids. Built
//! once per caller and model version (`Pair`): the two entities, the verdict of the rules that
//! read nothing of the call, and which per-call rules can hold (`Slice`). Built per call: the
//! context of the attributes those rules read, unless the decision memo already has the answer.
//! At load the engine also builds sample facts and checks them against the schema, so a schema
//! that asks for an attribute vouch does not provide stops start-up instead of failing every
//! call.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, RwLock};

use cedar_policy::{
    eval_expression, ActionConstraint, AuthorizationError, Authorizer, Context,
    Decision as CedarDecision, Entities, Entity, EntityUid, EvalResult, Expression, Policy,
    PolicyId, PolicySet, Request, RestrictedExpression, Schema,
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
    /// The `@id`s of the `infer` rules that read the post-inference facts
    /// (`context.post_inference`, `context.confidence`): the only ones whose answer can change
    /// after inference.
    post_rule_ids: BTreeSet<super::RuleId>,
    /// Every rule that can apply to `infer`.
    infer_policies: PolicySet,
    /// The `infer` rules split by what they read. Rules that read no context attribute but the
    /// constant ones ([`CONSTANT_FACTS`]) give the same answer for every call of one caller to
    /// one model version, so they are judged once per such pair (`pairs`); each call judges
    /// only those of `dynamic` that can hold for its pair.
    static_forbids: PolicySet,
    static_permits: PolicySet,
    dynamic: Vec<DynamicRule>,
    /// One guard per rule of `dynamic`, under the rule's id (see [`guard_of`]).
    guards: PolicySet,
    /// The constant context attributes, the context the per-pair judgements run with.
    constants: Context,
    pairs: RwLock<HashMap<(u64, u64), Arc<Pair>>>,
    /// The slices built so far, by the indices in `dynamic` of the rules they hold.
    slices: RwLock<HashMap<Vec<usize>, Arc<Slice>>>,
    /// Decisions already made, by pair and the values of the attributes the pair's per-call
    /// rules read: a decision is a function of those alone, so a repeated call costs one lookup.
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
    confidences: Box<[OnceLock<cedar_policy_core::ast::Value>]>,
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

/// What one caller and one model version always give: their entity store, which of the rules
/// that read no per-call fact hold for them, and which per-call rules can hold at all.
struct Pair {
    /// The memo's key for the pair; `None` for facts built for a single call.
    key: Option<(u64, u64)>,
    entities: Entities,
    principal: EntityUid,
    resource: EntityUid,
    forbids: Vec<PolicyId>,
    permits: Vec<PolicyId>,
    /// The per-call rules whose guard did not rule them out for this pair.
    rules: Arc<Slice>,
}

/// Per-call rules, in the forms a call judges them in. Pairs whose guards keep the same rules
/// share one.
struct Slice {
    dynamic: RuleGroup,
    /// Those of `dynamic` that read post-inference facts.
    post: RuleGroup,
    /// The context attributes `dynamic` reads: the call's context and memo key hold only these.
    reads: ContextReads,
}

/// Per-call rules as Cedar judges them one by one, and as one [`Tally`] (`None` where some
/// rule's condition cannot be taken out of it).
struct RuleGroup {
    set: PolicySet,
    tally: Option<Tally>,
}

impl RuleGroup {
    fn of<'r>(rules: impl IntoIterator<Item = &'r DynamicRule>) -> Result<Self, PolicyError> {
        let rules: Vec<&DynamicRule> = rules.into_iter().collect();
        Ok(Self {
            set: subset_of(rules.iter().map(|r| &r.policy))?,
            tally: Tally::of(&rules),
        })
    }
}

/// Most slices kept; past it the cache starts again.
const MAX_SLICES: usize = 1024;

/// A rule judged on every call, with the context attributes it reads.
struct DynamicRule {
    policy: Policy,
    reads: ContextReads,
    post: bool,
    /// Its condition as Cedar text, for a [`Tally`] ([`condition_text`]), built at load:
    /// getting a rule's JSON form costs Cedar a parse.
    condition: Option<String>,
}

/// Context attributes whose value is the same for every call (they come from the bundle).
const CONSTANT_FACTS: [&str; 1] = ["terms_current"];

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
        let (static_forbids, static_permits, dynamic) = split_by_reads(&infer_policies, &infer)?;
        let post_rule_ids = dynamic
            .iter()
            .filter(|r| r.post)
            .filter_map(|r| b.rules.get(r.policy.id()).map(|m| m.id.clone()))
            .collect();
        let mut guards = PolicySet::new();
        for rule in &dynamic {
            if let Some(guard) = guard_of(&rule.policy) {
                guards.add(guard).map_err(|e| PolicyError::Evaluation {
                    rule: rule.policy.id().to_string(),
                    message: e.to_string(),
                })?;
            }
        }
        let mut engine = Self {
            schema: b.schema,
            post_rule_ids,
            infer_policies,
            static_forbids,
            static_permits,
            dynamic,
            guards,
            constants: Context::empty(),
            pairs: RwLock::new(HashMap::new()),
            slices: RwLock::new(HashMap::new()),
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
        engine.constants = engine.cedar_context(engine.constant_facts(), &ContextReads::All)?;
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
        check_probability(top_probability)?;
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
        check_probability(top_probability)?;
        // The same decision as `decide_post_with` (the scenario table checks it), so the memo
        // holds and gives it under the same key.
        let pair = self.pair(caller, model)?;
        let facts = self.context_facts(context, Stage::Post(top_probability));
        self.memoised(&pair, facts, |facts| self.after(pre, &pair, facts))
    }

    /// [`Self::decide_after`] judged: the post-inference rules, joined to `pre`'s other rules.
    fn after(
        &self,
        pre: &Decision,
        pair: &Pair,
        facts: Vec<(&'static str, Fact<'_>)>,
    ) -> Result<Decision, PolicyError> {
        let request = self.call_request(pair, facts)?;
        let (forbids, permits) = self.held(&request, &pair.entities, &pair.rules.post)?;
        let post = self.verdict(forbids, permits);
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

    /// Judges a call as one Cedar request over every `infer` rule with the whole context, and
    /// none of the engine's shortcuts (the per-pair split, the guards, the memo): the reference
    /// the tests hold the other paths to. `post` is `None` before inference, else the top-class
    /// probability after it.
    #[doc(hidden)]
    pub fn decide_reference(
        &self,
        caller: &Caller,
        model: &Manifest,
        version: &VersionManifest,
        context: &CallContext,
        post: Option<Option<f64>>,
    ) -> Result<Decision, PolicyError> {
        check_probability(post.flatten())?;
        let stage = post.map_or(Stage::Pre, Stage::Post);
        let principal = caller_entity(caller)?;
        let resource = ModelFacts::transient(model, version)?.entity().clone();
        let request = Request::new(
            principal.uid(),
            self.infer.clone(),
            resource.uid(),
            self.context(context, stage)?,
            None,
        )?;
        let entities = Entities::from_entities([principal.clone(), resource], None)?;
        self.judge(&self.infer_policies, &request, &entities)
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
        let facts = self.context_facts(context, stage);
        self.memoised(&pair, facts, |facts| self.judge_dynamic(&pair, facts))
    }

    /// `judge(facts)`, or the memo's answer for the same pair and the same values of the facts
    /// the pair's rules read. Facts built for a single call are judged and not kept.
    fn memoised<'c>(
        &self,
        pair: &Pair,
        facts: Vec<(&'static str, Fact<'c>)>,
        judge: impl FnOnce(Vec<(&'static str, Fact<'c>)>) -> Result<Decision, PolicyError>,
    ) -> Result<Decision, PolicyError> {
        let Some(pair_key) = pair.key else {
            return judge(facts);
        };
        let key = memo_key(pair_key, &pair.rules.reads, &facts);
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

    /// Judges the pair's per-call rules, and joins their answer to the pair's static one.
    fn judge_dynamic(
        &self,
        pair: &Pair,
        facts: Vec<(&'static str, Fact<'_>)>,
    ) -> Result<Decision, PolicyError> {
        if pair.rules.dynamic.set.is_empty() {
            return Ok(self.join(pair, vec![], vec![]));
        }
        let request = self.call_request(pair, facts)?;
        let (forbids, permits) = self.held(&request, &pair.entities, &pair.rules.dynamic)?;
        Ok(self.join(pair, forbids, permits))
    }

    /// The forbids and the permits of `rules` that hold for `request`: from one evaluation of
    /// their tally, or, where there is none or it errs, from Cedar judging each rule (which
    /// then names the rule that erred).
    fn held<'r>(
        &self,
        request: &Request,
        entities: &Entities,
        rules: &'r RuleGroup,
    ) -> Result<(Vec<&'r PolicyId>, Vec<&'r PolicyId>), PolicyError> {
        if let Some(held) = rules.tally.as_ref().and_then(|t| t.held(request, entities)) {
            return Ok(held);
        }
        let rules = &rules.set;
        // Cedar: any forbid that holds denies, and the forbids that hold are the reasons; else
        // the permits that hold allow, and are the reasons; else deny with no reason.
        let response = self.authorizer.is_authorized(request, rules, entities);
        evaluation_error(&response)?;
        let matched = response
            .diagnostics()
            .reason()
            .filter_map(|id| rules.policy(id).map(Policy::id));
        Ok(match response.decision() {
            CedarDecision::Deny => (matched.collect(), vec![]),
            CedarDecision::Allow => (vec![], matched.collect()),
        })
    }

    /// The `infer` request of one call of `pair`, its context the facts the pair's rules read.
    fn call_request(
        &self,
        pair: &Pair,
        facts: Vec<(&'static str, Fact<'_>)>,
    ) -> Result<Request, PolicyError> {
        Ok(Request::new(
            pair.principal.clone(),
            self.infer.clone(),
            pair.resource.clone(),
            self.cedar_context(facts, &pair.rules.reads)?,
            None,
        )?)
    }

    /// The decision from the per-call forbids and permits that hold, and the pair's static ones.
    fn join(&self, pair: &Pair, forbids: Vec<&PolicyId>, permits: Vec<&PolicyId>) -> Decision {
        self.verdict(
            forbids.into_iter().chain(&pair.forbids).collect(),
            permits.into_iter().chain(&pair.permits).collect(),
        )
    }

    /// Cedar's verdict from the forbids and the permits that hold: any forbid denies, with the
    /// forbids as reasons; else the permits allow, with the permits as reasons; else deny with
    /// no reason.
    fn verdict(&self, forbids: Vec<&PolicyId>, permits: Vec<&PolicyId>) -> Decision {
        match (forbids.is_empty(), permits.is_empty()) {
            (false, _) => self.decision(Outcome::Deny, forbids),
            (true, false) => self.decision(Outcome::Allow, permits),
            (true, true) => self.decision(Outcome::Deny, []),
        }
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
            self.constants.clone(),
            None,
        )?;
        let holds = |set: &PolicySet| -> Result<Vec<PolicyId>, PolicyError> {
            let response = self.authorizer.is_authorized(&request, set, &entities);
            evaluation_error(&response)?;
            Ok(response.diagnostics().reason().cloned().collect())
        };
        // A per-call rule stays unless its guard evaluated to false: then the rule itself stops
        // at the same point, false, on every call of this pair. A guard that errs keeps its
        // rule, which then errs the same way when judged.
        let guards = self
            .authorizer
            .is_authorized(&request, &self.guards, &entities);
        let possible = held_or_erred(&guards);
        let kept: Vec<usize> = (self.dynamic.iter().enumerate())
            .filter(|(_, r)| {
                let id = r.policy.id();
                self.guards.policy(id).is_none() || possible.contains(id)
            })
            .map(|(i, _)| i)
            .collect();
        let pair = Arc::new(Pair {
            key: (!transient).then_some(key),
            forbids: holds(&self.static_forbids)?,
            permits: holds(&self.static_permits)?,
            rules: self.slice(kept)?,
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

    /// The slice of the rules of `dynamic` at `kept`, from the cache or built now (a tally
    /// costs Cedar a parse).
    fn slice(&self, kept: Vec<usize>) -> Result<Arc<Slice>, PolicyError> {
        if let Some(s) = self.slices.read().ok().and_then(|m| m.get(&kept).cloned()) {
            return Ok(s);
        }
        let rules: Vec<&DynamicRule> = kept.iter().filter_map(|&i| self.dynamic.get(i)).collect();
        let slice = Arc::new(Slice {
            dynamic: RuleGroup::of(rules.iter().copied())?,
            post: RuleGroup::of(rules.iter().copied().filter(|r| r.post))?,
            reads: ContextReads::union(rules.iter().map(|r| &r.reads)),
        });
        if let Ok(mut m) = self.slices.write() {
            if m.len() >= MAX_SLICES {
                m.clear();
            }
            m.insert(kept, Arc::clone(&slice));
        }
        Ok(slice)
    }

    /// The Cedar context of a call with every attribute, built the way Cedar builds one: each
    /// of [`Self::context_facts`] as a restricted expression, which Cedar then evaluates. The
    /// reference for [`Self::cedar_context`].
    fn context(&self, ctx: &CallContext, stage: Stage) -> Result<Context, PolicyError> {
        let pairs = self
            .context_facts(ctx, stage)
            .into_iter()
            .map(|(name, fact)| {
                let value = match fact {
                    Fact::Bool(b) => RestrictedExpression::new_bool(b),
                    Fact::Long(n) => RestrictedExpression::new_long(n),
                    Fact::Str(s) => string(s),
                    Fact::Set(items) => strings(items),
                    Fact::Probability(p) => decimal(rounded(p)),
                };
                (name.to_owned(), value)
            });
        Ok(Context::from_pairs(pairs)?)
    }

    /// The Cedar context of the facts that `reads` covers, built from values: the same context
    /// as Cedar's (`Self::context`, checked at load and by the tests) without building an
    /// expression per attribute and evaluating it, which was most of the cost of a new call.
    fn cedar_context(
        &self,
        facts: Vec<(&'static str, Fact<'_>)>,
        reads: &ContextReads,
    ) -> Result<Context, PolicyError> {
        use cedar_policy_core::ast::{self, Value, ValueKind};
        let mut values = Vec::with_capacity(facts.len());
        for (name, fact) in facts.into_iter().filter(|(name, _)| reads.covers(name)) {
            let value = match fact {
                Fact::Bool(b) => Value::from(b),
                Fact::Long(n) => Value::from(n),
                Fact::Str(s) => Value::from(s),
                Fact::Set(items) => Value::set(items.into_iter().map(Value::from), None),
                Fact::Probability(p) => self.confidence(p)?,
            };
            values.push((name, value));
        }
        match ValueKind::record(values) {
            ValueKind::Record(attrs) => Ok(Context::from(ast::Context::Value(attrs))),
            _ => unreachable!("a record"),
        }
    }

    /// Every attribute of a call's Cedar context, by name. The context and the decision memo's
    /// key are both made from this list, so the memo cannot miss an attribute the context has.
    fn context_facts<'c>(
        &'c self,
        ctx: &'c CallContext,
        stage: Stage,
    ) -> Vec<(&'static str, Fact<'c>)> {
        let categories = ctx.data_categories();
        let mut facts = self.constant_facts();
        facts.extend([
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
            (
                "post_inference",
                Fact::Bool(matches!(stage, Stage::Post(_))),
            ),
        ]);
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

    /// The context attributes whose value is the same for every call ([`CONSTANT_FACTS`]).
    fn constant_facts(&self) -> Vec<(&'static str, Fact<'_>)> {
        vec![("terms_current", Fact::Str(&self.terms_version))]
    }

    /// The `decimal` value of a probability at four places, from the cache for those in [0, 1]
    /// (constructing one costs Cedar a parse).
    fn confidence(&self, p: f64) -> Result<cedar_policy_core::ast::Value, PolicyError> {
        use cedar_policy_core::ast::Context as Values;
        let build = || {
            let context = Context::from_pairs([("p".to_owned(), decimal(rounded(p)))])?;
            match context.as_ref() {
                Values::Value(attrs) => attrs.get("p").cloned(),
                Values::RestrictedResidual(_) => None,
            }
            .ok_or(PolicyError::Confidence(p))
        };
        let Some(cell) = confidence_step(p).and_then(|step| self.confidences.get(step)) else {
            return build();
        };
        if let Some(v) = cell.get() {
            return Ok(v.clone());
        }
        let v = build()?;
        Ok(cell.get_or_init(|| v).clone())
    }

    /// Builds the facts of a sample call — once with every optional attribute, once with none —
    /// and checks them against the schema, and that the context calls are judged with is the
    /// one Cedar builds from them.
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
            // Calls are judged with contexts built from values; they must be Cedar's own.
            let built = self.cedar_context(self.context_facts(&ctx, stage), &ContextReads::All)?;
            if built != context {
                return Err(mismatch(format!(
                    "the context built for a call, {built}, is not Cedar's, {context}"
                )));
            }
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

/// A probability at four decimal places, as Cedar judges it.
fn rounded(p: f64) -> f64 {
    (p * 10_000.0).round() / 10_000.0
}

/// A probability outside [0, 1] (or NaN) is [`PolicyError::Confidence`].
fn check_probability(p: Option<f64>) -> Result<(), PolicyError> {
    match p {
        Some(p) if !(0.0..=1.0).contains(&p) => Err(PolicyError::Confidence(p)),
        _ => Ok(()),
    }
}

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

/// Which context attributes a rule, or a set of rules, reads.
#[derive(Debug, Clone)]
enum ContextReads {
    /// Only these, each through `context.name` or `context has name`.
    Only(BTreeSet<String>),
    /// Some rule uses `context` as a whole: every attribute counts.
    All,
}

impl ContextReads {
    /// What `policy` reads; a rule whose JSON form cannot be had counts as reading everything.
    fn of(policy: &Policy) -> Self {
        match policy.to_json() {
            Ok(json) => Self::of_json(&json),
            Err(_) => Self::All,
        }
    }

    /// What an expression (or a whole rule) in Cedar's JSON form reads.
    fn of_json(json: &serde_json::Value) -> Self {
        let mut names = BTreeSet::new();
        if reads_of(json, &mut names) {
            Self::Only(names)
        } else {
            Self::All
        }
    }

    fn union<'r>(all: impl IntoIterator<Item = &'r ContextReads>) -> Self {
        let mut names = BTreeSet::new();
        for reads in all {
            match reads {
                Self::Only(n) => names.extend(n.iter().cloned()),
                Self::All => return Self::All,
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

    /// Whether every attribute read is one of [`CONSTANT_FACTS`].
    fn only_constants(&self) -> bool {
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

/// A decision memo entry's key: the caller's and the model's fact tokens, and the encoded values
/// of the context attributes the per-call rules read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MemoKey {
    caller: u64,
    model: u64,
    context: Box<[u8]>,
}

/// The memo key of a call: the pair, and the value of every context attribute that `reads`
/// covers (present or absent), in a fixed order.
fn memo_key(pair: (u64, u64), reads: &ContextReads, facts: &[(&'static str, Fact<'_>)]) -> MemoKey {
    let mut bytes = Vec::with_capacity(128);
    for (name, fact) in facts {
        if !reads.covers(name) {
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

/// The rules of `all` for which `keep` holds, as a set of their own.
fn subset(all: &PolicySet, keep: impl Fn(&Policy) -> bool) -> Result<PolicySet, PolicyError> {
    subset_of(all.policies().filter(|p| keep(p)))
}

fn subset_of<'p>(policies: impl Iterator<Item = &'p Policy>) -> Result<PolicySet, PolicyError> {
    let mut out = PolicySet::new();
    for policy in policies {
        out.add(policy.clone())
            .map_err(|_| PolicyError::DuplicateRuleId {
                id: policy.id().to_string(),
                first: PathBuf::new(),
                second: PathBuf::new(),
            })?;
    }
    Ok(out)
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

/// Splits the `infer` rules into the forbids and permits that read no context attribute but
/// the constant ones, and the rest, judged on every call. What a rule reads comes from its JSON
/// form (`ContextReads`): a rule that uses `context` in any other way is judged every call.
/// Among those, the rules that read a post-inference fact are marked: they are the only ones
/// whose answer can differ before and after inference, because the facts differ only there.
fn split_by_reads(
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

/// A rule's guard: a permit with the rule's scope and the longest leading part of its
/// conditions that reads no per-call fact — whole `when`/`unless` clauses, then the leading
/// `&&` operands of the first `when` clause that reads one. Cedar judges a rule as its scope
/// `&&` its clauses in order, left to right, stopping at the first false operand; so where the
/// guard is false without error, the rule is false at the same point, whatever the call.
/// `None` when the rule's JSON form cannot be had or read back.
fn guard_of(policy: &Policy) -> Option<Policy> {
    use serde_json::{json, Value};
    let mut rule = policy.to_json().ok()?;
    let obj = rule.as_object_mut()?;
    let conditions = obj.remove("conditions")?;
    let per_call = |e: &Value| !ContextReads::of_json(e).only_constants();
    let mut kept = Vec::new();
    for clause in conditions.as_array()? {
        let body = clause.get("body")?;
        if !per_call(body) {
            kept.push(clause.clone());
            continue;
        }
        if clause.get("kind")?.as_str()? == "when" {
            let lead: Vec<Value> = conjuncts(body)
                .into_iter()
                .take_while(|c| !per_call(c))
                .collect();
            if let Some(body) = lead
                .into_iter()
                .reduce(|l, r| json!({"&&": {"left": l, "right": r}}))
            {
                kept.push(json!({"kind": "when", "body": body}));
            }
        }
        break;
    }
    obj.insert("conditions".into(), Value::Array(kept));
    obj.insert("effect".into(), json!("permit"));
    obj.remove("annotations");
    Policy::from_json(Some(policy.id().clone()), rule).ok()
}

/// The rules of a response that held, and those whose evaluation erred.
fn held_or_erred(response: &cedar_policy::Response) -> BTreeSet<&PolicyId> {
    let d = response.diagnostics();
    d.reason()
        .chain(d.errors().map(|e| match e {
            AuthorizationError::PolicyEvaluationError(e) => e.policy_id(),
        }))
        .collect()
}

fn is_permit(p: &Policy) -> bool {
    p.effect() == cedar_policy::Effect::Permit
}

/// A rule's condition as one expression in Cedar's JSON form ([`condition_text`]): its clauses
/// joined by `&&` (an `unless` negated), in order. Only for a rule whose scope leaves principal
/// and resource open, and the action open or `== action`; `None` for any other, or when the
/// JSON form cannot be had.
fn condition_of(policy: &Policy, action: &EntityUid) -> Option<serde_json::Value> {
    use serde_json::{json, Value};
    let open = matches!(
        policy.principal_constraint(),
        cedar_policy::PrincipalConstraint::Any
    ) && matches!(
        policy.resource_constraint(),
        cedar_policy::ResourceConstraint::Any
    ) && match policy.action_constraint() {
        ActionConstraint::Any => true,
        ActionConstraint::Eq(a) => &a == action,
        ActionConstraint::In(_) => false,
    };
    if !open {
        return None;
    }
    let json = policy.to_json().ok()?;
    let mut all: Option<Value> = None;
    for clause in json.get("conditions")?.as_array()? {
        let body = clause.get("body")?.clone();
        let term = match clause.get("kind")?.as_str()? {
            "when" => body,
            "unless" => json!({"!": {"arg": body}}),
            _ => return None,
        };
        all = Some(match all {
            Some(l) => json!({"&&": {"left": l, "right": term}}),
            None => term,
        });
    }
    Some(all.unwrap_or(json!({"Value": true})))
}

/// Rules whose scope matches every `infer` request, judged in one evaluation instead of one
/// each: a Cedar expression per [`TALLY_WIDTH`] rules, `(if c0 then 1 else 0) + (if c1 then 2
/// else 0) + …`, whose value is the sum of 2^i over the rules i whose condition
/// ([`condition_text`]) holds. Cedar's cost is mostly per rule (it builds each rule's condition and
/// diagnostics anew), so a tally of a dozen rules costs about what two rules do. Each condition
/// is evaluated as Cedar evaluates its rule, left to right, so it holds, is false or errs in the
/// tally exactly where the rule does; an error anywhere errs the whole tally, and the caller
/// then judges rule by rule, which names the rule.
struct Tally {
    /// Each expression, with the ids of its rules in bit order and whether each is a permit.
    parts: Vec<(Expression, Vec<(PolicyId, bool)>)>,
}

/// Most rules in one tally expression: their bits must fit a Cedar `Long` (63 bits and sign).
const TALLY_WIDTH: usize = 62;

impl Tally {
    /// The tally of `rules`; `None` if some rule's condition cannot be taken out of it (its
    /// scope narrows principal, action or resource).
    fn of(rules: &[&DynamicRule]) -> Option<Self> {
        use std::fmt::Write;
        let mut parts = Vec::new();
        for chunk in rules.chunks(TALLY_WIDTH) {
            let mut text = String::new();
            for (i, rule) in chunk.iter().enumerate() {
                let condition = rule.condition.as_deref()?;
                let plus = if i == 0 { "" } else { " + " };
                write!(text, "{plus}(if ({condition}) then {} else 0)", 1i64 << i).ok()?;
            }
            let ids = chunk
                .iter()
                .map(|r| (r.policy.id().clone(), is_permit(&r.policy)))
                .collect();
            parts.push((text.parse().ok()?, ids));
        }
        Some(Self { parts })
    }

    /// The forbids and the permits that hold for `request`; `None` if a condition erred.
    fn held(
        &self,
        request: &Request,
        entities: &Entities,
    ) -> Option<(Vec<&PolicyId>, Vec<&PolicyId>)> {
        let (mut forbids, mut permits) = (Vec::new(), Vec::new());
        for (expression, ids) in &self.parts {
            let Ok(EvalResult::Long(sum)) = eval_expression(request, entities, expression) else {
                return None;
            };
            for (i, (id, permit)) in ids.iter().enumerate() {
                if sum & (1 << i) != 0 {
                    if *permit {
                        permits.push(id);
                    } else {
                        forbids.push(id);
                    }
                }
            }
        }
        Some((forbids, permits))
    }
}

/// A rule's condition ([`condition_of`]) as Cedar text, for a [`Tally`]: printed from its JSON
/// form, and kept only if Cedar parses the text back to the very same JSON, so that the tally
/// judges exactly the rule's condition. `None` otherwise: then no slice holding the rule has a
/// tally, and its rules are judged as policies.
fn condition_text(policy: &Policy, action: &EntityUid) -> Option<String> {
    let condition = condition_of(policy, action)?;
    let expr: cedar_policy_core::est::Expr = serde_json::from_value(condition.clone()).ok()?;
    let text = expr.to_string();
    let back = Policy::parse(
        None,
        format!("permit (principal, action, resource) when {{ {text} }};"),
    )
    .ok()?
    .to_json()
    .ok()?;
    let body = back.get("conditions")?.get(0)?.get("body")?;
    (body == &condition).then_some(text)
}

/// The operands of a chain of `&&`, left to right.
fn conjuncts(e: &serde_json::Value) -> Vec<serde_json::Value> {
    match e.get("&&") {
        Some(and) => match (and.get("left"), and.get("right")) {
            (Some(l), Some(r)) => {
                let mut out = conjuncts(l);
                out.extend(conjuncts(r));
                out
            }
            _ => vec![e.clone()],
        },
        None => vec![e.clone()],
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A per-call rule of `text`, named `id`.
    fn dynamic_rule(id: &str, text: &str) -> DynamicRule {
        let policy = Policy::parse(Some(PolicyId::new(id)), text).unwrap();
        DynamicRule {
            condition: condition_text(&policy, &uid(&facts::ACTION, "infer")),
            reads: ContextReads::of(&policy),
            post: false,
            policy,
        }
    }

    /// An `infer` request with the context `attrs`.
    fn infer_request<const N: usize>(attrs: [(&str, RestrictedExpression); N]) -> Request {
        let context = Context::from_pairs(attrs.map(|(k, v)| (k.to_owned(), v))).unwrap();
        Request::new(
            uid(&facts::CALLER, "c"),
            uid(&facts::ACTION, "infer"),
            uid(&facts::MODEL, "m"),
            context,
            None,
        )
        .unwrap()
    }

    fn guard(rule: &str) -> serde_json::Value {
        let policy = Policy::parse(None, rule).unwrap();
        guard_of(&policy).unwrap().to_json().unwrap()
    }

    #[test]
    fn guards_keep_the_leading_conditions_that_read_no_per_call_fact() {
        let scope = r#"(principal, action == Action::"infer", resource)"#;
        for (rule, want) in [
            (
                "forbid SCOPE when { principal.tier == \"free\" && context.input_bytes > 65536 };",
                "permit SCOPE when { principal.tier == \"free\" };",
            ),
            // A per-call fact first: nothing after it can be taken.
            (
                "forbid SCOPE when { context.post_inference && resource.risk_class == \"high\" };",
                "permit SCOPE;",
            ),
            ("forbid SCOPE unless { context has purpose };", "permit SCOPE;"),
            // Whole clauses, then the leading operands of the first `when` that reads one.
            (
                "permit SCOPE when { principal.a } unless { resource.b } \
                 when { principal.c && resource.d && context.e && principal.f } when { principal.g };",
                "permit SCOPE when { principal.a } unless { resource.b } \
                 when { principal.c && resource.d };",
            ),
            // An `unless` that reads one ends the guard: its negation is no conjunction.
            (
                "forbid SCOPE unless { principal.a && context.b } when { principal.c };",
                "permit SCOPE;",
            ),
            // The constant attributes count as read once per pair.
            (
                "forbid SCOPE when { principal.t != context.terms_current && context.x };",
                "permit SCOPE when { principal.t != context.terms_current };",
            ),
        ] {
            let got = guard(&rule.replace("SCOPE", scope));
            let want = Policy::parse(None, want.replace("SCOPE", scope)).unwrap();
            assert_eq!(got, want.to_json().unwrap(), "{rule}");
        }
    }

    #[test]
    fn a_tally_names_the_rules_whose_conditions_hold() {
        let rule = |text: &str| dynamic_rule(text, text);
        let rules = [
            rule(
                r#"forbid (principal, action == Action::"infer", resource) when { context.a } unless { context.b };"#,
            ),
            rule(r#"forbid (principal, action, resource) when { context.n > 2 && context.a };"#),
            rule(r#"permit (principal, action == Action::"infer", resource);"#),
            rule(r#"permit (principal, action, resource) when { context.n + 1 > 4 };"#),
        ];
        let tally = Tally::of(&rules.iter().collect::<Vec<_>>()).unwrap();
        let entities = Entities::empty();
        let request = |a: bool, b: bool, n: i64| {
            infer_request([
                ("a", RestrictedExpression::new_bool(a)),
                ("b", RestrictedExpression::new_bool(b)),
                ("n", RestrictedExpression::new_long(n)),
            ])
        };
        let mut all = PolicySet::new();
        for r in &rules {
            all.add(r.policy.clone()).unwrap();
        }
        let authorizer = Authorizer::new();
        for (a, b, n) in [
            (true, false, 3),
            (true, true, 3),
            (false, false, 9),
            (true, false, 0),
        ] {
            let req = request(a, b, n);
            let (forbids, permits) = tally.held(&req, &entities).unwrap();
            // Each rule judged alone holds exactly where the tally says it does.
            for (r, _) in rules.iter().zip(0..) {
                let mut one = PolicySet::new();
                one.add(r.policy.clone()).unwrap();
                let holds = authorizer
                    .is_authorized(&req, &one, &entities)
                    .diagnostics()
                    .reason()
                    .next()
                    .is_some();
                let id = r.policy.id();
                let named = forbids.contains(&id) || permits.contains(&id);
                assert_eq!(holds, named, "{id} at a={a} b={b} n={n}");
            }
            assert!(permits.iter().all(|id| is_permit(all.policy(id).unwrap())));
            assert!(forbids.iter().all(|id| !is_permit(all.policy(id).unwrap())));
        }
        // A condition that errs (overflow) errs the whole tally: the caller judges rule by rule.
        assert!(tally
            .held(&request(false, false, i64::MAX), &entities)
            .is_none());
        // A scope that narrows principal, resource or action gives no tally.
        for narrow in [
            r#"forbid (principal == Caller::"x", action == Action::"infer", resource);"#,
            r#"forbid (principal, action == Action::"infer", resource is Model);"#,
            r#"forbid (principal, action == Action::"audit", resource);"#,
            r#"forbid (principal, action in [Action::"infer"], resource);"#,
        ] {
            let narrow = rule(narrow);
            assert!(narrow.condition.is_none(), "{}", narrow.policy);
            assert!(Tally::of(&[&rules[0], &narrow]).is_none());
        }
    }

    #[test]
    fn a_tally_holds_more_rules_than_one_long_has_bits() {
        let rules: Vec<DynamicRule> = (0..130)
            .map(|i| {
                let text = format!(
                    r#"forbid (principal, action == Action::"infer", resource) when {{ context.n == {} }};"#,
                    i % 70
                );
                dynamic_rule(&format!("r{i}"), &text)
            })
            .collect();
        let tally = Tally::of(&rules.iter().collect::<Vec<_>>()).unwrap();
        assert_eq!(tally.parts.len(), 3);
        let held = |n: i64| {
            let request = infer_request([("n", RestrictedExpression::new_long(n))]);
            let (forbids, permits) = tally.held(&request, &Entities::empty()).unwrap();
            assert!(permits.is_empty());
            forbids.iter().map(|id| id.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(held(61), ["r61"]);
        assert_eq!(held(5), ["r5", "r75"]);
    }

    #[test]
    fn contexts_built_from_values_are_cedars_own() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let engine = PolicyEngine::load(&root.join("policies")).unwrap();
        let params = serde_json::json!({
            "purpose": "medical-triage", "data_categories": ["health", "children", "personal"],
            "consent": true, "terms_version": "2026-01"
        });
        let with_params = CallContext::from_parameters(params.as_object().unwrap())
            .unwrap()
            .with_pii(super::super::detect::scan([
                "a@b.example, 4111 1111 1111 1111",
            ]))
            .with_input_bytes(70_000);
        for ctx in [CallContext::default(), CallContext::sample(), with_params] {
            for stage in [
                Stage::Pre,
                Stage::Post(None),
                Stage::Post(Some(0.0)),
                Stage::Post(Some(0.61)),
                Stage::Post(Some(0.123_456)),
                Stage::Post(Some(1.0)),
            ] {
                let reference = engine.context(&ctx, stage).unwrap();
                // Twice: the second time the probability comes from the cache.
                for _ in 0..2 {
                    let facts = engine.context_facts(&ctx, stage);
                    let built = engine.cedar_context(facts, &ContextReads::All).unwrap();
                    assert_eq!(built, reference, "{stage:?}");
                }
            }
        }
    }

    #[test]
    fn a_pair_judges_per_call_only_the_rules_that_can_hold_for_it() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let engine = PolicyEngine::load(&root.join("policies")).unwrap();
        let (caller, model) = sample_facts().unwrap();
        let version = model.versions[0].clone();
        let facts = ModelFacts::new(&model, &version).unwrap();
        let pair = engine.pair(&caller, &facts).unwrap();
        let ids: BTreeSet<String> = pair
            .rules
            .dynamic
            .set
            .policies()
            .map(|p| p.id().to_string())
            .collect();
        // The sample caller is not on the free tier, and the sample model allows commercial use.
        assert!(!ids.contains("access.free-tier-input-limit"), "{ids:?}");
        assert!(!ids.contains("ip.commercial-use-forbidden"), "{ids:?}");
        assert!(ids.contains("privacy.consent-required"), "{ids:?}");
        assert!(!pair.rules.reads.covers("input_bytes") && !pair.rules.reads.covers("commercial"));
        // The sample model sets no confidence threshold, so neither human-review permit can
        // hold; every rule kept is in the tally, and none is post-inference.
        assert!(!ids.contains("liability.human-review"), "{ids:?}");
        // Every shipped per-call rule prints as Cedar text that parses back to itself.
        assert!(engine.dynamic.iter().all(|r| r.condition.is_some()));
        let tally = pair.rules.dynamic.tally.as_ref().unwrap();
        assert_eq!(
            tally.parts.iter().map(|(_, ids)| ids.len()).sum::<usize>(),
            ids.len()
        );
        assert!(pair.rules.post.tally.as_ref().unwrap().parts.is_empty());
        // Terms of use: judged once per pair, with the constant context.
        assert!(engine
            .static_forbids
            .policy(&PolicyId::new("liability.terms-not-accepted"))
            .is_some());
    }
}
