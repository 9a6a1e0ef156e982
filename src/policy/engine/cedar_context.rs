//! A call's facts and the Cedar context built from them (DESIGN.md, "Policies": the context —
//! declared purpose, consent, data categories, personal data kinds detected, input size; after
//! inference, the output's confidence as a Cedar `decimal`). Every attribute comes from one
//! list ([`PolicyEngine::context_facts`]), which both the context and the memo key are made
//! from. Calls are judged with contexts built from Cedar values directly; the context Cedar
//! builds from expressions is the reference they are checked against.

use cedar_policy::{Context, RestrictedExpression};

use super::reads::ContextReads;
use super::{PolicyEngine, Stage};
use crate::policy::context::CallContext;
use crate::policy::error::PolicyError;
use crate::policy::facts::{decimal, string, strings};

/// Probabilities are judged at four decimal places: 10 001 possible values.
pub(super) const DECIMAL_STEPS: usize = 10_001;

/// The value of one context attribute, before it becomes a Cedar expression.
pub(super) enum Fact<'c> {
    Bool(bool),
    Long(i64),
    Str(&'c str),
    Set(Vec<&'c str>),
    /// A probability, judged at four decimal places.
    Probability(f64),
}

impl PolicyEngine {
    /// The Cedar context of a call with every attribute, built the way Cedar builds one: each
    /// of [`Self::context_facts`] as a restricted expression, which Cedar then evaluates. The
    /// reference for [`Self::cedar_context`].
    pub(super) fn context(&self, ctx: &CallContext, stage: Stage) -> Result<Context, PolicyError> {
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
    pub(super) fn cedar_context(
        &self,
        facts: Vec<(&'static str, Fact<'_>)>,
        reads: &ContextReads,
    ) -> Result<Context, PolicyError> {
        use cedar_policy_core::ast::{self, Value};
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
        let attrs: std::collections::BTreeMap<smol_str::SmolStr, Value> = values
            .into_iter()
            .map(|(name, value)| (smol_str::SmolStr::new_static(name), value))
            .collect();
        Ok(Context::from(ast::Context::Value(std::sync::Arc::new(
            attrs,
        ))))
    }

    /// Every attribute of a call's Cedar context, by name. The context and the decision memo's
    /// key are both made from this list, so the memo cannot miss an attribute the context has.
    pub(super) fn context_facts<'c>(
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
    pub(super) fn constant_facts(&self) -> Vec<(&'static str, Fact<'_>)> {
        vec![("terms_current", Fact::Str(&self.terms_version))]
    }

    /// The `decimal` value of a probability at four places, from the cache for those in [0, 1]
    /// (constructing one costs Cedar a parse).
    pub(super) fn confidence(&self, p: f64) -> Result<cedar_policy_core::ast::Value, PolicyError> {
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
}

/// A probability at four decimal places, as Cedar judges it.
fn rounded(p: f64) -> f64 {
    (p * 10_000.0).round() / 10_000.0
}

/// The four-decimal step of a probability in [0, 1] (rounds like `{:.4}` up to ties, which do
/// not matter at this precision); `None` outside.
pub(super) fn confidence_step(p: f64) -> Option<usize> {
    let step = (p * 10_000.0).round();
    (0.0..DECIMAL_STEPS as f64)
        .contains(&step)
        .then_some(step as usize)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

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
            .with_pii(crate::policy::detect::scan([
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
}
