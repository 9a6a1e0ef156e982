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
use crate::policy::facts::{decimal, string, strings, ModelFacts};
/// Probabilities are judged at four decimal places, cut down (never rounded up, so no value is
/// lifted across a threshold): 10 001 possible values.
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
    pub(super) fn context(
        &self,
        ctx: &CallContext,
        model: &ModelFacts,
        stage: Stage,
    ) -> Result<Context, PolicyError> {
        let pairs = self
            .context_facts(ctx, model, stage)
            .into_iter()
            .map(|(name, fact)| {
                let value = match fact {
                    Fact::Bool(b) => RestrictedExpression::new_bool(b),
                    Fact::Long(n) => RestrictedExpression::new_long(n),
                    Fact::Str(s) => string(s),
                    Fact::Set(items) => strings(items),
                    Fact::Probability(p) => probability(p),
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
    /// `data_categories` is what the input holds: declared, detected, or what the model's inputs
    /// are by nature ([`CallContext::categories`]).
    pub(super) fn context_facts<'c>(
        &'c self,
        ctx: &'c CallContext,
        model: &ModelFacts,
        stage: Stage,
    ) -> Vec<(&'static str, Fact<'c>)> {
        let categories = ctx.categories(model.input_categories());
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
                "declared_categories",
                Fact::Set(ctx.data_categories().iter().map(|c| c.as_str()).collect()),
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
            let context = Context::from_pairs([("p".to_owned(), probability(p))])?;
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

/// A probability as the Cedar `decimal` it is judged as: its four-place step ([`steps`]),
/// or for a value outside [0, 1] (refused before any rule sees it) its `{:.4}` form.
fn probability(p: f64) -> cedar_policy::RestrictedExpression {
    match steps(p) {
        Some(n) => cedar_policy::RestrictedExpression::new_decimal(format!(
            "{}.{:04}",
            n / 10_000,
            n % 10_000
        )),
        None => decimal(p),
    }
}

/// The largest whole number of ten-thousandths not above `p`, exactly: the product `p × 10 000`
/// is rounded once in floating point, and can round up to a whole number the exact product is
/// just below; the fused `p × 10 000 − n` has the exact product's sign, and says so. Cutting down
/// keeps every comparison with a four-place threshold `t` exact: `p < t` exactly when the cut
/// value is below `t`. `None` for a value that is not finite or not in [0, 1].
pub(super) fn steps(p: f64) -> Option<u64> {
    if !(0.0..=1.0).contains(&p) {
        return None;
    }
    let mut n = (p * 10_000.0).floor();
    if p.mul_add(10_000.0, -n) < 0.0 {
        n -= 1.0;
    }
    // In [0, 10 000] by the range check above.
    Some(n as u64)
}

/// The four-place step of a probability in [0, 1] ([`steps`]); `None` outside.
pub(super) fn confidence_step(p: f64) -> Option<usize> {
    steps(p).and_then(|n| usize::try_from(n).ok())
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
        let mut description = crate::policy::engine::schema_check::sample_facts()
            .unwrap()
            .1;
        let plain = ModelFacts::new(&description).unwrap();
        description.input_categories = vec!["genetic".into()];
        let genetic = ModelFacts::new(&description).unwrap();
        for (ctx, model) in [
            (CallContext::default(), &plain),
            (CallContext::default(), &genetic),
            (CallContext::sample(), &plain),
            (with_params.clone(), &plain),
            (with_params, &genetic),
        ] {
            for stage in [
                Stage::Pre,
                Stage::Post(None),
                Stage::Post(Some(0.0)),
                Stage::Post(Some(0.61)),
                Stage::Post(Some(0.123_456)),
                Stage::Post(Some(0.899_96)),
                Stage::Post(Some(1.0)),
            ] {
                let reference = engine.context(&ctx, model, stage).unwrap();
                // Twice: the second time the probability comes from the cache.
                for _ in 0..2 {
                    let facts = engine.context_facts(&ctx, model, stage);
                    let built = engine.cedar_context(facts, &ContextReads::All).unwrap();
                    assert_eq!(built, reference, "{stage:?}");
                }
            }
        }
    }

    #[test]
    fn probabilities_are_cut_down_to_four_places_never_rounded_up() {
        assert_eq!(steps(0.899_96), Some(8_999));
        assert_eq!(steps(0.9), Some(9_000));
        assert_eq!(steps(0.0), Some(0));
        assert_eq!(steps(1.0), Some(10_000));
        assert_eq!(steps(0.123_456), Some(1_234));
        assert_eq!(steps(f64::NAN), None);
        assert_eq!(steps(-0.1), None);
        // The double just below 0.9: its product with 10 000 rounds to 9 000 in floating point.
        let below = f64::from_bits(0.9f64.to_bits() - 1);
        assert!(below < 0.9);
        assert_eq!(steps(below), Some(8_999));
        // Every double within a few ulps of each step lands on the side of it that exact
        // integer arithmetic puts it on.
        for n in 1..=10_000u64 {
            let mut x = n as f64 / 10_000.0;
            for _ in 0..3 {
                x = f64::from_bits(x.to_bits() + 1);
            }
            for _ in 0..6 {
                let want = if exactly_at_least(x, n) { n } else { n - 1 };
                if x <= 1.0 {
                    assert_eq!(steps(x), Some(want), "{x:e} near step {n}");
                }
                x = f64::from_bits(x.to_bits() - 1);
            }
        }
    }

    /// Whether `x × 10 000 ≥ n` in exact arithmetic, for a normal positive `x`: with
    /// `x = m × 2^-k`, whether `m × 10 000 ≥ n × 2^k`.
    fn exactly_at_least(x: f64, n: u64) -> bool {
        let bits = x.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as u32;
        let m = u128::from((bits & ((1 << 52) - 1)) | (1 << 52));
        let k = 1075 - exponent;
        m * 10_000 >= u128::from(n) << k
    }
}
