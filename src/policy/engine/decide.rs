//! The engine's entry points (DESIGN.md, "Policies"; "The path of one call": the judgement
//! before inference and the post-inference rules after it): `decide` and `decide_post` for one
//! call from a model description, `decide_with` and `decide_post_with` from facts built once,
//! `decide_after` for the server's post-inference step, `decide_reference` for the tests, and
//! `authorize_audit` for the regulator API.

use std::collections::BTreeSet;

use cedar_policy::{Context, Entities, Entity, Request};

use super::cedar_context::Fact;
use super::pair::Pair;
use super::{caller_entity, PolicyEngine, Stage};
use crate::policy::callers::Caller;
use crate::policy::context::CallContext;
use crate::policy::error::PolicyError;
use crate::policy::facts::ModelFacts;
use crate::policy::model_description::ModelDescription;
use crate::policy::{Decision, Outcome, RuleId, RuleInfo};

impl PolicyEngine {
    /// Judges a call before inference. Builds the model's facts on every call; a server judging
    /// many calls builds [`ModelFacts`] once per model version and calls [`Self::decide_with`].
    pub fn decide(
        &self,
        caller: &Caller,
        model: &ModelDescription,
        context: &CallContext,
    ) -> Result<Decision, PolicyError> {
        self.decide_with(caller, &ModelFacts::transient(model)?, context)
    }

    /// Judges a call after inference, with the top-class probability of the answer (`None` when
    /// the model gives none). The decision covers every rule again (the facts are the same, so
    /// the pre-inference rules give the same answer) plus the post-inference ones: it is the
    /// call's final decision.
    pub fn decide_post(
        &self,
        caller: &Caller,
        model: &ModelDescription,
        context: &CallContext,
        top_probability: Option<f64>,
    ) -> Result<Decision, PolicyError> {
        self.decide_post_with(
            caller,
            &ModelFacts::transient(model)?,
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
        let facts = self.context_facts(context, model, Stage::Post(top_probability));
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
        let is_post = |id: &RuleId| self.post_rule_ids.contains(id);
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
        model: &ModelDescription,
        context: &CallContext,
        post: Option<Option<f64>>,
    ) -> Result<Decision, PolicyError> {
        check_probability(post.flatten())?;
        let stage = post.map_or(Stage::Pre, Stage::Post);
        let principal = caller_entity(caller)?;
        let facts = ModelFacts::transient(model)?;
        let resource = facts.entity().clone();
        let request = Request::new(
            principal.uid(),
            self.infer.clone(),
            resource.uid(),
            self.context(context, &facts, stage)?,
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
        let facts = self.context_facts(context, model, stage);
        self.memoised(&pair, facts, |facts| self.judge_dynamic(&pair, facts))
    }
}

/// A probability outside [0, 1] (or NaN) is [`PolicyError::Confidence`].
fn check_probability(p: Option<f64>) -> Result<(), PolicyError> {
    match p {
        Some(p) if !(0.0..=1.0).contains(&p) => Err(PolicyError::Confidence(p)),
        _ => Ok(()),
    }
}
