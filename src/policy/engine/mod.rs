//! [`PolicyEngine`]: the loaded bundle, and for each call the Cedar request built from the
//! caller, the model's facts and the [`CallContext`](super::CallContext), judged and turned
//! into a [`Decision`] (DESIGN.md, "Policies"; `docs/ARCHITECTURE.md`, "The policy module").
//!
//! Built once at load: the schema, the policy set (ids = `@id`), each rule's annotations, what
//! each rule reads, the guards of the rules judged per call, the action and resource uids. Built
//! once per caller and model version (`Pair`): the two entities, the verdict of the rules that
//! read nothing of the call, and which per-call rules can hold (`Slice`). Built per call: the
//! context of the attributes those rules read, unless the decision memo already has the answer.
//! At load the engine also builds sample facts and checks them against the schema, so a schema
//! that asks for an attribute vouch does not provide stops start-up instead of failing every
//! call.
//!
//! # Layout
//!
//! - this file: the engine's state, [`PolicyEngine::load`] and what it tells of the bundle.
//! - `decide`: the entry points, `decide*` and `authorize_audit`.
//! - `reads`: which context attributes each rule reads; the split into rules judged once per
//!   pair and rules judged per call.
//! - `guard`: each per-call rule's guard, the part of it settled once per pair.
//! - `pair`: what one caller and one model version always give (`Pair`, `Slice`).
//! - `tally`: per-call rules judged in one Cedar evaluation.
//! - `verdict`: Cedar's answer turned into a [`Decision`].
//! - `cedar_context`: a call's facts and the Cedar context built from them.
//! - `memo`: the decision memo and its key.
//! - `cache`: `BoundedCache`, the one cache type behind the pairs, the
//!   slices and the memo.
//! - `schema_check`: the start-up check of sample facts against the schema.

mod cache;
mod cedar_context;
mod decide;
mod guard;
mod memo;
mod pair;
mod reads;
mod schema_check;
mod tally;
mod verdict;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::OnceLock;

use cedar_policy::{Authorizer, Context, Entity, EntityUid, PolicyId, PolicySet, Schema};

use super::bundle::{self, BundleHash, RuleMeta};
use super::callers::Caller;
use super::error::PolicyError;
use super::facts::{self, uid};
use super::Decision;
use cache::BoundedCache;
use cedar_context::DECIMAL_STEPS;
use guard::guard_of;
use memo::{MemoKey, MAX_DECISIONS};
use pair::{Pair, Slice, MAX_PAIRS, MAX_SLICES};
use reads::{for_action, split_by_reads, ContextReads, DynamicRule};

pub struct PolicyEngine {
    schema: Schema,
    /// The `@id`s of the `infer` rules that read the post-inference facts
    /// (`context.post_inference`, `context.confidence`): the only ones whose answer can change
    /// after inference.
    post_rule_ids: BTreeSet<super::RuleId>,
    /// Every rule that can apply to `infer`.
    infer_policies: PolicySet,
    /// The `infer` rules split by what they read. Rules that read no context attribute but the
    /// constant ones ([`reads::CONSTANT_FACTS`]) give the same answer for every call of one caller to
    /// one model version, so they are judged once per such pair (`pairs`); each call judges
    /// only those of `dynamic` that can hold for its pair.
    static_forbids: PolicySet,
    static_permits: PolicySet,
    dynamic: Vec<DynamicRule>,
    /// One guard per rule of `dynamic`, under the rule's id (see [`guard_of`]).
    guards: PolicySet,
    /// The constant context attributes, the context the per-pair judgements run with.
    constants: Context,
    /// What each caller and model version always give, by their facts' tokens.
    pairs: BoundedCache<(u64, u64), Pair>,
    /// The slices built so far, by the indices in `dynamic` of the rules they hold.
    slices: BoundedCache<Vec<usize>, Slice>,
    /// Decisions already made, by pair and the values of the attributes the pair's per-call
    /// rules read: a decision is a function of those alone, so a repeated call costs one lookup.
    memo: BoundedCache<MemoKey, Decision>,
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
                guards.add(guard).map_err(|e| PolicyError::RuleSet {
                    rule: rule.policy.id().to_string(),
                    source: Box::new(e),
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
            pairs: BoundedCache::new(MAX_PAIRS),
            slices: BoundedCache::new(MAX_SLICES),
            memo: BoundedCache::new(MAX_DECISIONS),
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

    /// The ids of the rules that read what only inference gives (`context.post_inference`,
    /// `context.confidence`): the only rules whose answer can change after inference.
    pub fn post_rules(&self) -> &BTreeSet<super::RuleId> {
        &self.post_rule_ids
    }

    /// Every rule of the bundle, sorted by id.
    pub fn rules(&self) -> Vec<&RuleMeta> {
        let mut rules: Vec<&RuleMeta> = self.rules.values().collect();
        rules.sort_by(|a, b| a.id.cmp(&b.id));
        rules
    }
}

fn caller_entity(caller: &Caller) -> Result<&Entity, PolicyError> {
    caller
        .entity()
        .ok_or_else(|| PolicyError::CallerWithoutFacts(caller.id().to_string()))
}
