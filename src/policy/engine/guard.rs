//! Each per-call rule's guard (`docs/ARCHITECTURE.md`, "The policy module"): a permit with the
//! rule's scope and the longest leading part of its conditions that reads no per-call fact.
//! Judged once per pair, a guard that is false without error leaves its rule out of every call
//! of the pair, since Cedar would find the rule false at the same point.

use cedar_policy::Policy;

use super::reads::ContextReads;

/// A rule's guard: a permit with the rule's scope and the longest leading part of its
/// conditions that reads no per-call fact — whole `when`/`unless` clauses, then the leading
/// `&&` operands of the first `when` clause that reads one. Cedar judges a rule as its scope
/// `&&` its clauses in order, left to right, stopping at the first false operand; so where the
/// guard is false without error, the rule is false at the same point, whatever the call.
/// `None` when the rule's JSON form cannot be had or read back.
pub(super) fn guard_of(policy: &Policy) -> Option<Policy> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
