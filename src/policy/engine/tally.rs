//! The tally (`docs/ARCHITECTURE.md`, "The policy module"): the per-call rules of a pair
//! whose scope matches every `infer` request, judged in one Cedar evaluation instead of one
//! each. Each rule's condition is printed as Cedar text at load and kept only if Cedar parses
//! it back to the same rule, so the tally judges exactly what the rules say.

use cedar_policy::{
    eval_expression, ActionConstraint, Entities, EntityUid, EvalResult, Expression, Policy,
    PolicyId, Request,
};

use super::reads::DynamicRule;

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
pub(super) struct Tally {
    /// Each expression, with the ids of its rules in bit order and whether each is a permit.
    pub(super) parts: Vec<(Expression, Vec<(PolicyId, bool)>)>,
}

/// Most rules in one tally expression: their bits must fit a Cedar `Long` (63 bits and sign).
const TALLY_WIDTH: usize = 62;

impl Tally {
    /// The tally of `rules`; `None` if some rule's condition cannot be taken out of it (its
    /// scope narrows principal, action or resource).
    pub(super) fn of(rules: &[&DynamicRule]) -> Option<Self> {
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
    pub(super) fn held(
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
pub(super) fn condition_text(policy: &Policy, action: &EntityUid) -> Option<String> {
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

fn is_permit(p: &Policy) -> bool {
    p.effect() == cedar_policy::Effect::Permit
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::engine::reads::ContextReads;
    use crate::policy::facts::{self, uid};
    use cedar_policy::{Authorizer, Context, PolicySet, RestrictedExpression};

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
}
