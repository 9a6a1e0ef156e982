//! Cedar's answer turned into a [`Decision`] (DESIGN.md, "Policies": the decision recorded is
//! the set of rule ids that determined it, with their reasons, and the obligations of an
//! allow): the per-call rules judged for a call of a pair, through their tally or Cedar rule by
//! rule, joined to the pair's static verdict; and a whole request judged by Cedar. A rule Cedar
//! could not evaluate makes an error, never a skipped rule.

use std::collections::BTreeSet;

use cedar_policy::{
    AuthorizationError, Decision as CedarDecision, Entities, Policy, PolicyId, PolicySet, Request,
};

use super::cedar_context::Fact;
use super::pair::{Pair, RuleGroup};
use super::PolicyEngine;
use crate::policy::error::PolicyError;
use crate::policy::{Decision, Outcome, RuleInfo};

impl PolicyEngine {
    /// Judges the pair's per-call rules, and joins their answer to the pair's static one.
    pub(super) fn judge_dynamic(
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
    pub(super) fn held<'r>(
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
    pub(super) fn call_request(
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
    pub(super) fn join(
        &self,
        pair: &Pair,
        forbids: Vec<&PolicyId>,
        permits: Vec<&PolicyId>,
    ) -> Decision {
        self.verdict(
            forbids.into_iter().chain(&pair.forbids).collect(),
            permits.into_iter().chain(&pair.permits).collect(),
        )
    }

    /// Cedar's verdict from the forbids and the permits that hold: any forbid denies, with the
    /// forbids as reasons; else the permits allow, with the permits as reasons; else deny with
    /// no reason.
    pub(super) fn verdict(&self, forbids: Vec<&PolicyId>, permits: Vec<&PolicyId>) -> Decision {
        match (forbids.is_empty(), permits.is_empty()) {
            (false, _) => self.decision(Outcome::Deny, forbids),
            (true, false) => self.decision(Outcome::Allow, permits),
            (true, true) => self.decision(Outcome::Deny, []),
        }
    }

    /// A decision with the rules `ids` as its reasons (sorted, each once); obligations of an allow.
    pub(super) fn decision<'i>(
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

    pub(super) fn judge(
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
}

/// The first evaluation error of a response, as Cedar skips an erroring rule but vouch refuses
/// to judge a call on a rule it could not evaluate.
pub(super) fn evaluation_error(response: &cedar_policy::Response) -> Result<(), PolicyError> {
    if let Some(AuthorizationError::PolicyEvaluationError(err)) =
        response.diagnostics().errors().next()
    {
        return Err(PolicyError::Evaluation {
            rule: err.policy_id().to_string(),
            source: Box::new(err.inner().clone()),
        });
    }
    Ok(())
}

/// The rules of a response that held, and those whose evaluation erred.
pub(super) fn held_or_erred(response: &cedar_policy::Response) -> BTreeSet<&PolicyId> {
    let d = response.diagnostics();
    d.reason()
        .chain(d.errors().map(|e| match e {
            AuthorizationError::PolicyEvaluationError(e) => e.policy_id(),
        }))
        .collect()
}
