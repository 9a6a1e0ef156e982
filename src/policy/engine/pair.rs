//! What one caller and one model version always give (`docs/ARCHITECTURE.md`, "The policy
//! module"): their entity store, the verdict of the rules that read no per-call fact, and the
//! per-call rules whose guard does not rule them out (`Slice`, shared by pairs that keep the
//! same rules). Both are cached (`BoundedCache`); facts built for
//! a single call are judged and not kept.

use std::sync::Arc;

use cedar_policy::{Entities, EntityUid, PolicyId, PolicySet, Request};

use super::reads::{subset_of, ContextReads, DynamicRule};
use super::tally::Tally;
use super::verdict::{evaluation_error, held_or_erred};
use super::{caller_entity, PolicyEngine};
use crate::policy::callers::Caller;
use crate::policy::error::PolicyError;
use crate::policy::facts::{FactsToken, ModelFacts};

/// What one caller and one model version always give: their entity store, which of the rules
/// that read no per-call fact hold for them, and which per-call rules can hold at all.
pub(super) struct Pair {
    /// The memo's key for the pair; `None` for facts built for a single call.
    pub(super) key: Option<(u64, u64)>,
    pub(super) entities: Entities,
    pub(super) principal: EntityUid,
    pub(super) resource: EntityUid,
    pub(super) forbids: Vec<PolicyId>,
    pub(super) permits: Vec<PolicyId>,
    /// The per-call rules whose guard did not rule them out for this pair.
    pub(super) rules: Arc<Slice>,
}

/// Per-call rules, in the forms a call judges them in. Pairs whose guards keep the same rules
/// share one.
pub(super) struct Slice {
    pub(super) dynamic: RuleGroup,
    /// Those of `dynamic` that read post-inference facts.
    pub(super) post: RuleGroup,
    /// The context attributes `dynamic` reads: the call's context and memo key hold only these.
    pub(super) reads: ContextReads,
}

/// Per-call rules as Cedar judges them one by one, and as one [`Tally`] (`None` where some
/// rule's condition cannot be taken out of it).
pub(super) struct RuleGroup {
    pub(super) set: PolicySet,
    pub(super) tally: Option<Tally>,
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
pub(super) const MAX_SLICES: usize = 1024;

/// Most pairs kept; past it the cache starts again (a server has callers × model versions;
/// facts built for a single call are never kept).
pub(super) const MAX_PAIRS: usize = 4096;

impl PolicyEngine {
    /// The entity store of `caller` and `model`, and the static rules' verdict for them, from
    /// the cache or judged now.
    pub(super) fn pair(
        &self,
        caller: &Caller,
        model: &ModelFacts,
    ) -> Result<Arc<Pair>, PolicyError> {
        let key = (caller.token().0, model.token().0);
        let transient = key.1 == FactsToken::TRANSIENT.0;
        if !transient {
            if let Some(p) = self.pairs.get(&key) {
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
        self.pairs.insert(key, Arc::clone(&pair));
        Ok(pair)
    }

    /// The slice of the rules of `dynamic` at `kept`, from the cache or built now (a tally
    /// costs Cedar a parse).
    pub(super) fn slice(&self, kept: Vec<usize>) -> Result<Arc<Slice>, PolicyError> {
        if let Some(s) = self.slices.get(&kept) {
            return Ok(s);
        }
        let rules: Vec<&DynamicRule> = kept.iter().filter_map(|&i| self.dynamic.get(i)).collect();
        let slice = Arc::new(Slice {
            dynamic: RuleGroup::of(rules.iter().copied())?,
            post: RuleGroup::of(rules.iter().copied().filter(|r| r.post))?,
            reads: ContextReads::union(rules.iter().map(|r| &r.reads)),
        });
        self.slices.insert(kept, Arc::clone(&slice));
        Ok(slice)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::super::schema_check::sample_facts;
    use super::*;

    #[test]
    fn a_pair_judges_per_call_only_the_rules_that_can_hold_for_it() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let engine = PolicyEngine::load(&root.join("policies")).unwrap();
        let (caller, model) = sample_facts().unwrap();
        let facts = ModelFacts::new(&model).unwrap();
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
