//! The shipped policy bundle, judged on a table of scenarios (caller × model × context →
//! decision, rule ids, obligations) that makes every shipped rule match and not match; and
//! bundles broken on purpose, which must stop loading with the file and position.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a test: a failed assumption is a failed test

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use vouch::inference::Manifest;
use vouch::policy::{
    detect, CallContext, Caller, CallerRecord, ModelDescription, Outcome, PolicyEngine,
    PolicyError, Role,
};
use vouch::server::model_description;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn engine() -> PolicyEngine {
    PolicyEngine::load(&root().join("policies")).unwrap()
}

fn manifest(name: &str) -> Manifest {
    Manifest::from_file(
        &root()
            .join("tests/fixtures/models")
            .join(name)
            .join("manifest.toml"),
    )
    .unwrap()
}

fn caller(id: &str) -> Caller {
    let mut r = CallerRecord {
        id: id.into(),
        organisation: format!("{id} org"),
        roles: vec![Role::Caller],
        tier: "standard".into(),
        jurisdiction: "DE".into(),
        terms_version: "2026-01".into(),
        human_oversight: true,
        licences: vec![],
        credentials: vec![],
    };
    match id {
        "clinic" => {}
        "clinic-solo" => r.human_oversight = false,
        "startup" => {
            r.jurisdiction = "US".into();
            r.tier = "free".into();
            r.human_oversight = false;
            r.licences = vec!["fixture-eula".into()];
        }
        "lab-cn" => r.jurisdiction = "CN".into(),
        "lab-no" => r.jurisdiction = "NO".into(),
        "lab-ch" => r.jurisdiction = "CH".into(),
        "stale" => r.terms_version = "2025-06".into(),
        "regulator" => r.roles = vec![Role::Regulator],
        "admin" => r.roles = vec![Role::Admin],
        other => panic!("no test caller {other}"),
    }
    Caller::from_record(&r).unwrap()
}

#[derive(Clone, Copy)]
enum Stage {
    Pre,
    Post(Option<f64>),
}

struct Scenario {
    name: &'static str,
    caller: &'static str,
    /// `name` or `name:version`.
    model: &'static str,
    params: Value,
    text: &'static str,
    input_bytes: u64,
    stage: Stage,
    allow: bool,
    rules: &'static [&'static str],
    obligations: &'static [&'static str],
    /// The article, licence clause or term the expected decision follows.
    cites: &'static str,
}

const fn s(name: &'static str, caller: &'static str, model: &'static str) -> Scenario {
    Scenario {
        name,
        caller,
        model,
        params: Value::Null,
        text: "",
        input_bytes: 100,
        stage: Stage::Pre,
        allow: true,
        rules: &["access.infer"],
        obligations: &[],
        cites: "",
    }
}

impl Scenario {
    fn cites(mut self, c: &'static str) -> Self {
        self.cites = c;
        self
    }
    fn params(mut self, p: Value) -> Self {
        self.params = p;
        self
    }
    fn text(mut self, t: &'static str) -> Self {
        self.text = t;
        self
    }
    fn bytes(mut self, n: u64) -> Self {
        self.input_bytes = n;
        self
    }
    fn post(mut self, p: Option<f64>) -> Self {
        self.stage = Stage::Post(p);
        self
    }
    fn deny(mut self, rules: &'static [&'static str]) -> Self {
        self.allow = false;
        self.rules = rules;
        self
    }
    fn allow(
        mut self,
        rules: &'static [&'static str],
        obligations: &'static [&'static str],
    ) -> Self {
        self.allow = true;
        self.rules = rules;
        self.obligations = obligations;
        self
    }
}

fn research() -> Value {
    json!({"purpose": "research"})
}

fn triage_ok() -> Value {
    json!({"purpose": "medical-triage", "data_categories": ["health"], "consent": true, "separate_consent": true})
}

fn scenarios() -> Vec<Scenario> {
    const AI: &[&str] = &["access.infer", "liability.ai-disclosure"];
    vec![
        // access
        s("baseline allow", "clinic", "open-minimal").cites("operator terms: the caller role may run models (access.cedar)").params(research()),
        s("admin cannot infer", "admin", "open-minimal").cites("operator terms: only the caller role runs models, duties kept apart (ISO/IEC 27001 A.5.3)").params(research()).deny(&["access.caller-role-required"]),
        s("regulator cannot infer", "regulator", "open-minimal").cites("operator terms: only the caller role runs models, duties kept apart (ISO/IEC 27001 A.5.3)").params(research()).deny(&["access.caller-role-required"]),
        s("free tier over 64 KiB", "startup", "open-minimal").cites("operator terms: free-tier inputs up to 64 KiB").params(research()).bytes(70_000).deny(&["access.free-tier-input-limit"]),
        s("free tier at 64 KiB", "startup", "open-minimal").cites("operator terms: free-tier inputs up to 64 KiB").params(research()).bytes(65_536),
        s("standard tier over 64 KiB", "clinic", "open-minimal").cites("operator terms: the limit binds the free tier only").params(research()).bytes(70_000),
        // ip
        s("non-commercial licence, commercial by default", "clinic", "nc-research").cites("CC BY-NC 4.0 §2(a)(1): NonCommercial purposes only").params(research()).deny(&["ip.commercial-use-forbidden"]),
        s("non-commercial licence, declared non-commercial", "clinic", "nc-research").cites("CC BY-NC 4.0 §2(a)(1), §3(a)(1): attribution")
            .params(json!({"purpose": "research", "commercial": false}))
            .allow(&["access.infer", "ip.attribution"], &["attribution"]),
        s("commercial use of an open licence", "clinic", "open-minimal").cites("Apache-2.0 §2: a licence for any purpose").params(json!({"purpose": "research", "commercial": true})),
        s("licence required, not held", "clinic", "licensed-model").cites("model EULA: use by licensees only").params(json!({"purpose": "support-triage"})).deny(&["ip.licence-required"]),
        s("licence required, held", "startup", "licensed-model").cites("model EULA: use by licensees; EU AI Act Art. 50(1)").params(json!({"purpose": "support-triage"})).allow(AI, &["ai-disclosure"]),
        s("recalled version", "clinic", "open-minimal:0.8").cites("EU AI Act Art. 20(1): a recalled system is withdrawn").params(research()).deny(&["ip.model-recalled"]),
        s("deprecated version", "clinic", "open-minimal:0.9").cites("EU AI Act Art. 13(3)(e): changes and expected lifetime made known")
            .params(research())
            .allow(&["access.infer", "ip.deprecated-model"], &["deprecation-notice"]),
        s("active version named", "clinic", "open-minimal:1.0").cites("EU AI Act Art. 12(1): the version used is identifiable").params(research()),
        // privacy: consent
        s("declared personal data without consent", "clinic", "open-minimal").cites("GDPR Art. 6(1)(a); PIPL Art. 13(1)")
            .params(json!({"purpose": "research", "data_categories": ["personal"]}))
            .deny(&["privacy.consent-required"]),
        s("declared personal data with consent", "clinic", "open-minimal").cites("GDPR Art. 6(1)(a); PIPL Art. 13(1)")
            .params(json!({"purpose": "research", "data_categories": ["personal"], "consent": true})),
        s("detected e-mail without consent", "clinic", "open-minimal").cites("GDPR Art. 4(1), 6(1)(a)")
            .params(research())
            .text("please write to jane.doe@example.com")
            .deny(&["privacy.consent-required"]),
        s("detected e-mail with consent", "clinic", "open-minimal").cites("GDPR Art. 6(1)(a)")
            .params(json!({"purpose": "research", "consent": true}))
            .text("please write to jane.doe@example.com"),
        s("phone in a free-text parameter", "clinic", "open-minimal").cites("GDPR Art. 4(1), 6(1)(a)")
            .params(json!({"purpose": "research", "note": "call me on +44 20 7946 0958"}))
            .deny(&["privacy.consent-required"]),
        s("dates and versions are no personal data", "clinic", "open-minimal").cites("GDPR Art. 4(1), Recital 26: only data about a person")
            .params(research())
            .text("release 1.2.3.4 built 2024-01-15 12:30:45, build 20240115123045"),
        // privacy: special categories
        s("health data, model not approved", "clinic", "open-minimal").cites("GDPR Art. 9(1); the model's approved categories")
            .params(json!({"purpose": "research", "data_categories": ["health"], "consent": true, "separate_consent": true}))
            .deny(&["privacy.special-category-not-approved"]),
        s("health data, model approved", "clinic", "clinic-high").cites("GDPR Art. 9(2)(a); EU AI Act Art. 50(1)").params(triage_ok()).allow(AI, &["ai-disclosure"]),
        s("health data without explicit consent", "clinic", "clinic-high").cites("GDPR Art. 9(2)(a)")
            .params(json!({"purpose": "medical-triage", "data_categories": ["health"], "consent": true}))
            .deny(&["privacy.special-category-explicit-consent"]),
        s("health data without any consent", "clinic", "clinic-high").cites("GDPR Art. 6(1)(a), 9(2)(a)")
            .params(json!({"purpose": "medical-triage", "data_categories": ["health"]}))
            .deny(&["privacy.consent-required", "privacy.special-category-explicit-consent"]),
        s("children's data on a health-only model", "clinic", "clinic-high").cites("GDPR Art. 8, 9(1); PIPL Art. 28, 31")
            .params(json!({"purpose": "medical-triage", "data_categories": ["health", "children"], "consent": true, "separate_consent": true}))
            .deny(&["privacy.special-category-not-approved"]),
        // privacy: PIPL
        s("Chinese resident ID without separate consent", "clinic", "open-minimal").cites("PIPL Art. 28-29")
            .params(json!({"purpose": "research", "consent": true}))
            .text("身份证号 11010519491231002X")
            .deny(&["privacy.special-category-explicit-consent", "privacy.special-category-not-approved"]),
        s("Chinese resident ID with separate consent", "clinic", "open-minimal").cites("PIPL Art. 28; the model's approved categories")
            .params(json!({"purpose": "research", "consent": true, "separate_consent": true}))
            .text("身份证号 11010519491231002X")
            .deny(&["privacy.special-category-not-approved"]),
        s("ID-like number failing the check digit", "clinic", "open-minimal").cites("GB 11643-1999 check digit; GDPR Art. 4(1)").params(research()).text("编号 110105194912310021"),
        // privacy: purpose and transfer
        s("no purpose", "clinic", "open-minimal").cites("GDPR Art. 5(1)(b); PIPL Art. 6").deny(&["privacy.purpose-required"]),
        s("purpose outside the model's purposes", "clinic", "open-minimal").cites("GDPR Art. 5(1)(b); PIPL Art. 6")
            .params(json!({"purpose": "marketing"}))
            .deny(&["privacy.purpose-limitation"]),
        s("caller jurisdiction not cleared", "lab-cn", "nc-research").cites("PIPL Art. 38-39; GDPR Art. 44")
            .params(json!({"purpose": "research", "commercial": false}))
            .deny(&["privacy.cross-border-transfer"]),
        s("caller jurisdiction cleared", "lab-cn", "open-minimal").cites("PIPL Art. 38(1)").params(research()),
        s("EU member state cleared through EU", "clinic", "nc-research").cites("GDPR Art. 1(3): free movement within the Union")
            .params(json!({"purpose": "research", "commercial": false}))
            .allow(&["access.infer", "ip.attribution"], &["attribution"]),
        // liability
        s("high risk without human oversight", "clinic-solo", "clinic-high").cites("EU AI Act Art. 14(1), 26(2)").params(triage_ok()).deny(&["liability.high-risk-oversight"]),
        s("minimal risk without human oversight", "clinic-solo", "open-minimal").cites("EU AI Act Art. 14(1): high-risk systems only").params(research()),
        s("terms accepted in an old version", "stale", "open-minimal").cites("operator terms of use in force (bundle.toml)").params(research()).deny(&["liability.terms-not-accepted"]),
        s("request names outdated terms", "clinic", "open-minimal").cites("operator terms of use in force (bundle.toml)")
            .params(json!({"purpose": "research", "terms_version": "2025-06"}))
            .deny(&["liability.terms-declared-outdated"]),
        s("request names current terms", "clinic", "open-minimal").cites("operator terms of use in force (bundle.toml)").params(json!({"purpose": "research", "terms_version": "2026-01"})),
        s("post: high risk, low confidence", "clinic", "clinic-high").cites("EU AI Act Art. 14(4)(b), (d)")
            .params(triage_ok())
            .post(Some(0.62))
            .allow(&["access.infer", "liability.ai-disclosure", "liability.human-review"], &["ai-disclosure", "human-review"]),
        s("post: high risk, confident", "clinic", "clinic-high").cites("EU AI Act Art. 14(4); Art. 50(1)").params(triage_ok()).post(Some(0.93)).allow(AI, &["ai-disclosure"]),
        s("post: high risk, exactly at threshold", "clinic", "clinic-high").cites("EU AI Act Art. 14(4)(d): below the threshold only").params(triage_ok()).post(Some(0.8)).allow(AI, &["ai-disclosure"]),
        s("post: high risk, no probability", "clinic", "clinic-high").cites("EU AI Act Art. 14(4)(d)")
            .params(triage_ok())
            .post(None)
            .allow(&["access.infer", "liability.ai-disclosure", "liability.human-review-no-confidence"], &["ai-disclosure", "human-review"]),
        s("post: minimal risk, low confidence", "clinic", "open-minimal").cites("EU AI Act Art. 6: not a high-risk system").params(research()).post(Some(0.1)),
        s("post: deny rules still hold", "stale", "clinic-high").cites("operator terms of use in force (bundle.toml)").params(triage_ok()).post(Some(0.5)).deny(&["liability.terms-not-accepted"]),
        // several rules at once
        s("several denials", "stale", "nc-research").cites("CC BY-NC 4.0 §2(a)(1); GDPR Art. 5(1)(b); operator terms").deny(&[
            "ip.commercial-use-forbidden",
            "liability.terms-not-accepted",
            "privacy.purpose-required",
        ]),
        // detected data counts as its category, whatever the caller declares
        s("detected US SSN on a model approved for no identity numbers", "clinic", "open-minimal")
            .cites("GDPR Art. 87; PIPL Art. 28: identity numbers")
            .params(json!({"purpose": "research", "consent": true, "separate_consent": true}))
            .text("SSN 536-22-8475")
            .deny(&["privacy.special-category-not-approved"]),
        s("detected payment card on a model approved for no financial data", "clinic", "open-minimal")
            .cites("PIPL Art. 28: financial accounts")
            .params(json!({"purpose": "research", "consent": true, "separate_consent": true}))
            .text("card 4111 1111 1111 1111")
            .deny(&["privacy.special-category-not-approved"]),
        s("detected IBAN while declaring only personal data", "clinic", "open-minimal")
            .cites("PIPL Art. 28: a declaration cannot lower what was found")
            .params(json!({"purpose": "research", "consent": true, "separate_consent": true, "data_categories": ["personal"]}))
            .text("IBAN DE89 3704 0044 0532 0130 00")
            .deny(&["privacy.special-category-not-approved"]),
        s("Chinese resident ID, approved model, separate consent", "clinic", "kyc-check")
            .cites("PIPL Art. 28-29")
            .params(json!({"purpose": "identity-verification", "consent": true, "separate_consent": true}))
            .text("身份证号 11010519491231002X"),
        s("Chinese resident ID, approved model, no separate consent", "clinic", "kyc-check")
            .cites("PIPL Art. 29")
            .params(json!({"purpose": "identity-verification", "consent": true}))
            .text("身份证号 11010519491231002X")
            .deny(&["privacy.special-category-explicit-consent"]),
        // every PIPL-sensitive kind needs separate consent, declared or detected
        s("detected payment card without separate consent", "clinic", "kyc-check")
            .cites("PIPL Art. 28-29: financial accounts")
            .params(json!({"purpose": "identity-verification", "consent": true}))
            .text("card 4111 1111 1111 1111")
            .deny(&["privacy.special-category-explicit-consent"]),
        s("detected IBAN with separate consent", "clinic", "kyc-check")
            .cites("PIPL Art. 29")
            .params(json!({"purpose": "identity-verification", "consent": true, "separate_consent": true}))
            .text("IBAN DE89 3704 0044 0532 0130 00"),
        s("detected US SSN without any consent", "clinic", "kyc-check")
            .cites("GDPR Art. 6(1)(a); PIPL Art. 13, 29")
            .params(json!({"purpose": "identity-verification"}))
            .text("SSN 536-22-8475")
            .deny(&["privacy.consent-required", "privacy.special-category-explicit-consent"]),
        s("declared financial data without separate consent", "clinic", "kyc-check")
            .cites("PIPL Art. 28-29")
            .params(json!({"purpose": "identity-verification", "consent": true, "data_categories": ["financial"]}))
            .deny(&["privacy.special-category-explicit-consent"]),
        s("detected e-mail needs consent, not separate consent", "clinic", "kyc-check")
            .cites("GDPR Art. 6(1)(a); PIPL Art. 13(1)")
            .params(json!({"purpose": "identity-verification", "consent": true}))
            .text("write to jane.doe@example.com"),
        // what a model's inputs are by nature
        s("inputs that are health data, nothing declared", "clinic", "tumour-features")
            .cites("GDPR Art. 4(15), 9(1): health data whatever is declared")
            .params(json!({"purpose": "medical-triage"}))
            .deny(&["privacy.consent-required", "privacy.special-category-explicit-consent"]),
        s("inputs that are health data, consent only", "clinic", "tumour-features")
            .cites("GDPR Art. 9(2)(a)")
            .params(json!({"purpose": "medical-triage", "consent": true}))
            .deny(&["privacy.special-category-explicit-consent"]),
        s("inputs that are health data, declared only personal", "clinic", "tumour-features")
            .cites("GDPR Art. 9(2)(a): a declaration cannot lower the category")
            .params(json!({"purpose": "medical-triage", "consent": true, "data_categories": ["personal"]}))
            .deny(&["privacy.special-category-explicit-consent"]),
        s("inputs that are health data, explicit consent, nothing declared", "clinic", "tumour-features")
            .cites("GDPR Art. 9(2)(a)")
            .params(json!({"purpose": "medical-triage", "consent": true, "separate_consent": true})),
        // regions
        s("Norwegian caller on a model cleared for the EU", "lab-no", "tumour-features")
            .cites("EEA Agreement Annex XI; GDPR Art. 44: not a transfer")
            .params(json!({"purpose": "research", "consent": true, "separate_consent": true})),
        s("Norwegian caller on a high-risk model cleared for the EU", "lab-no", "clinic-high")
            .cites("EEA Agreement Annex XI; EU AI Act Art. 50(1)")
            .params(triage_ok())
            .allow(AI, &["ai-disclosure"]),
        s("Swiss caller on a model cleared for the EU", "lab-ch", "tumour-features")
            .cites("GDPR Art. 44-45: Switzerland is a third country")
            .params(json!({"purpose": "research", "consent": true, "separate_consent": true}))
            .deny(&["privacy.cross-border-transfer"]),
        // thresholds: no rounding lifts a value across one
        s("post: just under the threshold asks for review", "clinic", "clinic-high")
            .cites("EU AI Act Art. 14(4)(d): 0.79996 is below 0.8")
            .params(triage_ok())
            .post(Some(0.799_96))
            .allow(&["access.infer", "liability.ai-disclosure", "liability.human-review"], &["ai-disclosure", "human-review"]),
        s("post: far under the last place still asks for review", "clinic", "clinic-high")
            .cites("EU AI Act Art. 14(4)(d)")
            .params(triage_ok())
            .post(Some(0.799_999_999))
            .allow(&["access.infer", "liability.ai-disclosure", "liability.human-review"], &["ai-disclosure", "human-review"]),
        s("post: just over the threshold", "clinic", "clinic-high")
            .cites("EU AI Act Art. 14(4)(d): below the threshold only")
            .params(triage_ok())
            .post(Some(0.800_04))
            .allow(AI, &["ai-disclosure"]),
    ]
}

fn run(engine: &PolicyEngine, sc: &Scenario) -> Result<vouch::policy::Decision, PolicyError> {
    let (name, version) = sc.model.split_once(':').unwrap_or((sc.model, ""));
    let m = manifest(name);
    let version = if version.is_empty() {
        m.default_version.clone()
    } else {
        version.to_owned()
    };
    let m = model_description(&m, m.version(&version).unwrap());
    let params = match &sc.params {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    let mut texts: Vec<&str> = detect::parameter_texts(&params);
    texts.push(sc.text);
    let ctx = CallContext::from_parameters(&params)?
        .with_pii(detect::scan(texts))
        .with_input_bytes(sc.input_bytes);
    let c = caller(sc.caller);
    // The same caller and model objects across scenarios: the engine's per-pair cache of the
    // rules that read no context must give what judging afresh gives.
    let shared = SHARED.with(|cache| {
        let mut cache = cache.borrow_mut();
        let (callers, models) = &mut *cache;
        let sc_caller = callers
            .entry(sc.caller.to_string())
            .or_insert_with(|| caller(sc.caller));
        let facts = models
            .entry(sc.model.to_string())
            .or_insert_with(|| vouch::policy::ModelFacts::new(&m).unwrap());
        match sc.stage {
            Stage::Pre => engine.decide_with(sc_caller, facts, &ctx),
            Stage::Post(p) => engine.decide_post_with(sc_caller, facts, &ctx, p),
        }
    });
    let fresh = run_fresh(engine, sc, &c, &m, &ctx);
    same(&shared, &fresh, sc.name, "the cached pair differs");
    fresh
}

/// Two paths gave the same decision (or both failed).
fn same(a: &DecisionResult, b: &DecisionResult, scenario: &str, what: &str) {
    assert_eq!(a.as_ref().ok(), b.as_ref().ok(), "{scenario}: {what}");
}

type DecisionResult = Result<vouch::policy::Decision, PolicyError>;

thread_local! {
    /// One caller object per caller and one facts object per model, as a server keeps them.
    static SHARED: std::cell::RefCell<(
        std::collections::HashMap<String, Caller>,
        std::collections::HashMap<String, vouch::policy::ModelFacts>,
    )> = Default::default();
}

fn run_fresh(
    engine: &PolicyEngine,
    sc: &Scenario,
    c: &Caller,
    m: &ModelDescription,
    ctx: &CallContext,
) -> Result<vouch::policy::Decision, PolicyError> {
    // One Cedar request over every rule with the whole context: none of the engine's
    // shortcuts (the per-pair split, the guards, the memo).
    let post = match sc.stage {
        Stage::Pre => None,
        Stage::Post(p) => Some(p),
    };
    let reference = engine.decide_reference(c, m, ctx, post);
    let fresh = run_transient(engine, sc, c, m, ctx);
    same(
        &fresh,
        &reference,
        sc.name,
        "differs from judging every rule in one request",
    );
    fresh
}

fn run_transient(
    engine: &PolicyEngine,
    sc: &Scenario,
    c: &Caller,
    m: &ModelDescription,
    ctx: &CallContext,
) -> Result<vouch::policy::Decision, PolicyError> {
    match sc.stage {
        Stage::Pre => engine.decide(c, m, ctx),
        Stage::Post(p) => {
            let full = engine.decide_post(c, m, ctx, p);
            // The server's shortcut gives the same decision as judging every rule again.
            let facts = vouch::policy::ModelFacts::new(m).unwrap();
            let pre = engine.decide_with(c, &facts, ctx)?;
            if pre.is_allowed() {
                let after = engine.decide_after(&pre, c, &facts, ctx, p);
                same(&after, &full, sc.name, "decide_after differs");
            }
            full
        }
    }
}

#[test]
fn scenario_table() {
    let engine = engine();
    let table = scenarios();
    assert!(table.len() >= 60, "{} scenarios", table.len());
    for sc in &table {
        assert!(!sc.cites.is_empty(), "{}: cites nothing", sc.name);
    }
    let names: BTreeSet<&str> = table.iter().map(|sc| sc.name).collect();
    assert_eq!(names.len(), table.len(), "scenario names repeat");
    let mut failures = Vec::new();
    // Twice: the second pass answers every scenario from the engine's decision memo, and `run`
    // checks each answer against judging afresh.
    for sc in table.iter().chain(&table) {
        let d = run(&engine, sc).unwrap_or_else(|e| panic!("{}: {e}", sc.name));
        let rules: Vec<&str> = d.rules.iter().map(|r| r.as_str()).collect();
        let outcome = if sc.allow {
            Outcome::Allow
        } else {
            Outcome::Deny
        };
        if d.outcome != outcome || rules != sc.rules || d.obligations != sc.obligations {
            failures.push(format!(
                "{}: got {} {:?} {:?}, want {} {:?} {:?}",
                sc.name, d.outcome, rules, d.obligations, outcome, sc.rules, sc.obligations
            ));
        }
        assert_eq!(d.reasons.len(), d.rules.len());
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The decision memo keys on every context attribute a rule reads: calls of one caller to one
/// model that differ in a single such attribute, interleaved, each get what judging afresh gives.
#[test]
fn decision_memo_tells_apart_every_attribute_the_rules_read() {
    let engine = engine();
    /// Caller, model, parameters, input bytes, and the top probability of a post-inference call.
    type Case = (&'static str, &'static str, Value, u64, Option<Option<f64>>);
    let cases: Vec<Case> = vec![
        ("startup", "open-minimal", research(), 100, None),
        ("startup", "open-minimal", research(), 70_000, None),
        ("startup", "open-minimal", json!({}), 100, None),
        (
            "startup",
            "open-minimal",
            json!({"purpose": "marketing"}),
            100,
            None,
        ),
        (
            "startup",
            "open-minimal",
            json!({"purpose": "research", "terms_version": "2025-06"}),
            100,
            None,
        ),
        (
            "startup",
            "open-minimal",
            json!({"purpose": "research", "data_categories": ["personal"]}),
            100,
            None,
        ),
        (
            "startup",
            "open-minimal",
            json!({"purpose": "research", "data_categories": ["personal"], "consent": true}),
            100,
            None,
        ),
        ("startup", "open-minimal", research(), 100, None),
        (
            "startup",
            "nc-research",
            json!({"purpose": "research", "commercial": false}),
            100,
            None,
        ),
        (
            "startup",
            "nc-research",
            json!({"purpose": "research", "commercial": true}),
            100,
            None,
        ),
        ("clinic", "clinic-high", triage_ok(), 100, None),
        (
            "clinic",
            "clinic-high",
            json!({"purpose": "medical-triage", "data_categories": ["health"], "consent": true}),
            100,
            None,
        ),
        (
            "clinic",
            "clinic-high",
            json!({"purpose": "medical-triage", "data_categories": ["children"], "consent": true, "separate_consent": true}),
            100,
            None,
        ),
        ("clinic", "clinic-high", triage_ok(), 100, Some(Some(0.61))),
        ("clinic", "clinic-high", triage_ok(), 100, Some(Some(0.93))),
        ("clinic", "clinic-high", triage_ok(), 100, Some(None)),
    ];
    let mut callers = std::collections::HashMap::new();
    let mut models = std::collections::HashMap::new();
    let mut outcomes = BTreeSet::new();
    for round in 0..3 {
        for (i, (who, model, params, bytes, post)) in cases.iter().enumerate() {
            let m = manifest(model);
            let m = model_description(&m, m.version(&m.default_version).unwrap());
            let c = callers.entry(*who).or_insert_with(|| caller(who));
            let facts = models
                .entry(*model)
                .or_insert_with(|| vouch::policy::ModelFacts::new(&m).unwrap());
            // Case 7 differs from case 0 only in the personal data detected.
            let text = if i == 7 {
                "write to ana@example.org"
            } else {
                ""
            };
            let ctx = CallContext::from_parameters(params.as_object().unwrap())
                .unwrap()
                .with_pii(detect::scan([text]))
                .with_input_bytes(*bytes);
            let (memo, fresh) = match post {
                None => (
                    engine.decide_with(c, facts, &ctx).unwrap(),
                    engine.decide(c, &m, &ctx).unwrap(),
                ),
                Some(p) => {
                    let fresh = engine.decide_post(c, &m, &ctx, *p).unwrap();
                    // The server's path (judge before, then only the post rules) shares the memo.
                    let pre = engine.decide_with(c, facts, &ctx).unwrap();
                    let after = engine.decide_after(&pre, c, facts, &ctx, *p).unwrap();
                    assert_eq!(after, fresh, "round {round}, case {i}: decide_after");
                    (engine.decide_post_with(c, facts, &ctx, *p).unwrap(), fresh)
                }
            };
            assert_eq!(memo, fresh, "round {round}, case {i}");
            let post = post.as_ref().map(|p| *p);
            let reference = engine.decide_reference(c, &m, &ctx, post).unwrap();
            assert_eq!(fresh, reference, "round {round}, case {i}: one request");
            outcomes.insert(format!("{:?}", fresh.rules));
        }
    }
    // The cases really do differ in their answers (else the test could not catch a mix-up).
    assert!(outcomes.len() >= 8, "{outcomes:?}");
}

/// Every shipped rule is seen to match in some scenario and to not match in another.
#[test]
fn every_rule_is_covered_both_ways() {
    let engine = engine();
    let table = scenarios();
    let mut matched = BTreeSet::new();
    for sc in &table {
        matched.extend(sc.rules.iter().copied());
    }
    for rule in engine.rules() {
        let id = rule.id.as_str();
        if id.starts_with("access.audit") || id == "privacy.unscanned-input-without-consent" {
            continue; // covered by `audit_needs_the_regulator_role`, `large_unscanned_input_needs_consent`
        }
        assert!(matched.contains(id), "no scenario where {id} matches");
        assert!(
            table.iter().any(|sc| !sc.rules.contains(&id)),
            "no scenario where {id} does not match"
        );
    }
}

#[test]
fn audit_needs_the_regulator_role() {
    let engine = engine();
    let d = engine.authorize_audit(&caller("regulator")).unwrap();
    assert_eq!(d.outcome, Outcome::Allow);
    assert_eq!(
        d.rules.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        ["access.audit"]
    );
    let d = engine.authorize_audit(&caller("clinic")).unwrap();
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(
        d.rules.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        ["access.audit-regulator-only"]
    );
}

#[test]
fn reasons_carry_category_and_text() {
    let engine = engine();
    let sc = s("x", "clinic", "nc-research").params(research());
    let d = run(&engine, &sc).unwrap();
    let info = &d.reasons[0];
    assert_eq!(info.id.as_str(), "ip.commercial-use-forbidden");
    assert_eq!(info.category.as_str(), "ip");
    assert!(info.reason.contains("commercial"));
}

#[test]
fn out_of_range_probability_is_an_error() {
    let engine = engine();
    let sc = s("x", "clinic", "clinic-high")
        .params(triage_ok())
        .post(Some(1.5));
    assert!(matches!(run(&engine, &sc), Err(PolicyError::Confidence(_))));
    let sc = s("x", "clinic", "clinic-high")
        .params(triage_ok())
        .post(Some(f64::NAN));
    assert!(matches!(run(&engine, &sc), Err(PolicyError::Confidence(_))));
}

#[test]
fn large_unscanned_input_needs_consent() {
    let engine = engine();
    let big = "x".repeat(detect::MAX_SCAN_BYTES + 1);
    let m = manifest("open-minimal");
    let m = model_description(&m, m.version("1.0").unwrap());
    let report = detect::scan([big.as_str()]);
    let deny = CallContext::from_parameters(research().as_object().unwrap())
        .unwrap()
        .with_pii(report.clone());
    let d = engine.decide(&caller("clinic"), &m, &deny).unwrap();
    assert_eq!(
        d.rules.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        ["privacy.unscanned-input-without-consent"]
    );
    let ok = CallContext::from_parameters(
        json!({"purpose": "research", "consent": true})
            .as_object()
            .unwrap(),
    )
    .unwrap()
    .with_pii(report);
    assert!(engine
        .decide(&caller("clinic"), &m, &ok)
        .unwrap()
        .is_allowed());
}

#[test]
fn bundle_hash_follows_the_documented_layout() {
    use sha2::{Digest, Sha256};
    let dir = root().join("policies");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".cedar") || n.ends_with(".cedarschema") || n == "bundle.toml")
        .collect();
    names.sort();
    let mut h = Sha256::new();
    for n in &names {
        h.update(n.as_bytes());
        h.update([0]);
        h.update(Sha256::digest(std::fs::read(dir.join(n)).unwrap()));
    }
    assert_eq!(engine().bundle_hash().to_hex(), hex::encode(h.finalize()));
    assert_eq!(engine().files(), names.as_slice());
}

// ---- broken bundles ---------------------------------------------------------------------------

/// A copy of the shipped bundle in a temporary folder, with `edit` applied to one file.
fn broken(file: &str, edit: impl FnOnce(String) -> String) -> (tempfile::TempDir, PolicyError) {
    let tmp = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root().join("policies")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), tmp.path().join(entry.file_name())).unwrap();
    }
    let path = tmp.path().join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    std::fs::write(&path, edit(text)).unwrap();
    let err = PolicyEngine::load(tmp.path()).unwrap_err();
    (tmp, err)
}

fn names(err: &PolicyError, dir: &Path, file: &str) -> bool {
    err.to_string()
        .contains(&dir.join(file).display().to_string())
}

#[test]
fn syntax_error_names_file_and_position() {
    let (tmp, err) = broken("ip.cedar", |t| {
        format!("{t}\n@id(\"ip.broken\")\npermit (principal, action resource);\n")
    });
    let lines = std::fs::read_to_string(tmp.path().join("ip.cedar"))
        .unwrap()
        .lines()
        .count();
    assert!(matches!(err, PolicyError::Syntax { .. }), "{err}");
    assert!(names(&err, tmp.path(), "ip.cedar"), "{err}");
    let PolicyError::Syntax { pos: Some(pos), .. } = &err else {
        panic!("no position: {err}")
    };
    assert_eq!(pos.line, lines, "{err}");
}

#[test]
fn unknown_attribute_names_file_and_rule() {
    let (tmp, err) = broken("privacy.cedar", |t| {
        format!(
            "{t}\n@id(\"privacy.typo\")\n@category(\"privacy\")\n@reason(\"r\")\nforbid (principal, action == Action::\"infer\", resource)\nwhen {{ resource.licnce == \"x\" }};\n"
        )
    });
    assert!(matches!(err, PolicyError::Validation { .. }), "{err}");
    assert!(names(&err, tmp.path(), "privacy.cedar"), "{err}");
    assert!(err.to_string().contains("privacy.typo"), "{err}");
    assert!(err.to_string().contains("licnce"), "{err}");
}

#[test]
fn missing_annotation_names_file_and_position() {
    let (tmp, err) = broken("liability.cedar", |t| {
        format!("{t}\n@id(\"liability.x\")\n@category(\"liability\")\nforbid (principal, action, resource);\n")
    });
    assert!(matches!(err, PolicyError::Annotation { .. }), "{err}");
    assert!(names(&err, tmp.path(), "liability.cedar"), "{err}");
    assert!(err.to_string().contains("@reason"), "{err}");
    let PolicyError::Annotation { pos: Some(pos), .. } = &err else {
        panic!("no position: {err}")
    };
    let text = std::fs::read_to_string(tmp.path().join("liability.cedar")).unwrap();
    assert_eq!(pos.line, text.lines().count() - 2, "{err}");
}

#[test]
fn bad_category_obligation_on_forbid_and_duplicate_ids_are_refused() {
    let (_t, err) = broken("ip.cedar", |t| {
        t.replacen("@category(\"ip\")", "@category(\"legal\")", 1)
    });
    assert!(err.to_string().contains("\"legal\""), "{err}");
    let (_t, err) = broken("ip.cedar", |t| {
        t.replacen(
            "@category(\"ip\")",
            "@category(\"ip\")\n@obligation(\"x\")",
            1,
        )
    });
    assert!(err.to_string().contains("only allowed on permit"), "{err}");
    let (_t, err) = broken("ip.cedar", |t| {
        t.replace("ip.licence-required", "privacy.consent-required")
    });
    assert!(matches!(err, PolicyError::DuplicateRuleId { .. }), "{err}");
}

#[test]
fn schema_error_and_missing_files_are_refused() {
    let (tmp, err) = broken("schema.cedarschema", |t| {
        t.replacen("entity Ledger;", "entity Ledger", 1)
    });
    assert!(matches!(err, PolicyError::Schema { .. }), "{err}");
    assert!(names(&err, tmp.path(), "schema.cedarschema"), "{err}");
    let (_t, err) = broken("bundle.toml", |_| "terms = 1\n".into());
    assert!(matches!(err, PolicyError::BundleConfig { .. }), "{err}");
    let tmp = tempfile::tempdir().unwrap();
    assert!(matches!(
        PolicyEngine::load(tmp.path()),
        Err(PolicyError::BundleIncomplete { .. })
    ));
}

#[test]
fn schema_asking_for_facts_vouch_lacks_is_refused() {
    let (_t, err) = broken("schema.cedarschema", |t| {
        t.replacen(
            "entity Caller = {",
            "entity Caller = {\n  credit_score: Long,",
            1,
        )
    });
    assert!(matches!(err, PolicyError::SchemaMismatch { .. }), "{err}");
    assert!(err.to_string().contains("schema.cedarschema"), "{err}");
    assert!(err.to_string().contains("credit_score"), "{err}");
}

#[test]
fn shipped_caller_registry_loads() {
    let registry =
        vouch::policy::CallerRegistry::load(&root().join("config/callers.toml")).unwrap();
    assert!(registry.get("demo-clinic").is_some());
    assert!(registry
        .get("demo-regulator")
        .unwrap()
        .has_role(Role::Regulator));
}

/// The server shares these between worker threads.
#[test]
fn shared_types_are_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<PolicyEngine>();
    shared::<vouch::policy::CallerRegistry>();
    shared::<vouch::policy::ModelFacts>();
    shared::<CallContext>();
    shared::<vouch::policy::Decision>();
}

/// Random calls — any test caller, any fixture model, parameters drawn from the values the rules
/// test (and some they do not), personal data in the text or not, input sizes either side of the
/// free-tier limit, before or after inference — get from the engine's shortcuts (the per-pair
/// rules, the guards, the tally, the context built from values, the memo, `decide_after`) what
/// one Cedar request over every rule with Cedar's own context gives (`run` checks every path).
#[test]
fn random_calls_get_the_reference_decision() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    use std::cell::Cell;
    const CALLERS: [&str; 5] = ["clinic", "clinic-solo", "startup", "lab-cn", "stale"];
    const MODELS: [&str; 6] = [
        "clinic-high",
        "licensed-model",
        "nc-research",
        "open-minimal",
        "open-minimal:0.9",
        "open-minimal:0.8",
    ];
    const PURPOSES: [Option<&str>; 5] = [
        Some("medical-triage"),
        None,
        Some("research"),
        Some("support-triage"),
        Some("marketing"),
    ];
    const CATEGORIES: [&str; 7] = [
        "personal",
        "health",
        "genetic",
        "biometric",
        "children",
        "financial",
        "government-id",
    ];
    const TEXTS: [&str; 5] = [
        "patient note, no identifiers",
        "",
        "write to jane.doe@example.com",
        "ID 11010519491231002X on file",
        "card 4111 1111 1111 1111",
    ];
    let engine = engine();
    // Each draw leans towards the first choice (a clinic triaging health data with consent on
    // the high-risk model), so that many calls are allowed before inference and reach the
    // post-inference rules; the rest of the time any value is drawn.
    let pick = |n: usize| prop_oneof![3 => Just(0usize), 1 => 0..n];
    let flag = || prop_oneof![1 => Just(None), 1 => Just(Some(false)), 6 => Just(Some(true))];
    let health = BTreeSet::from([1usize]);
    let call = (
        (
            pick(CALLERS.len()),
            pick(MODELS.len()),
            pick(PURPOSES.len()),
        ),
        (flag(), flag(), flag()),
        (
            prop_oneof![
                3 => Just(health),
                1 => proptest::collection::btree_set(0..CATEGORIES.len(), 0..3)
            ],
            prop_oneof![Just(None), Just(Some("2026-01")), Just(Some("2025-06"))],
            pick(TEXTS.len()),
        ),
        prop_oneof![
            3 => Just(100u64),
            1 => Just(65_536),
            1 => Just(65_537),
            1 => 0..200_000u64
        ],
        prop_oneof![
            Just(None),
            Just(Some(None)),
            (0.0..=1.0f64).prop_map(|p| Some(Some(p))),
            Just(Some(Some(0.8))),
        ],
    );
    let (denied, allowed, obliged) = (Cell::new(0), Cell::new(0), Cell::new(0));
    let mut runner = TestRunner::new(Config {
        cases: 400,
        ..Config::default()
    });
    runner
        .run(
            &call,
            |((c, m, p), (commercial, consent, separate), (cats, terms, t), bytes, stage)| {
                let mut params = serde_json::Map::new();
                if let Some(p) = PURPOSES[p] {
                    params.insert("purpose".into(), json!(p));
                }
                for (name, v) in [
                    ("commercial", commercial),
                    ("consent", consent),
                    ("separate_consent", separate),
                ] {
                    if let Some(v) = v {
                        params.insert(name.into(), json!(v));
                    }
                }
                if !cats.is_empty() {
                    let cats: Vec<&str> = cats.iter().map(|&i| CATEGORIES[i]).collect();
                    params.insert("data_categories".into(), json!(cats));
                }
                if let Some(terms) = terms {
                    params.insert("terms_version".into(), json!(terms));
                }
                let mut sc = s("random call", CALLERS[c], MODELS[m])
                    .params(Value::Object(params))
                    .text(TEXTS[t])
                    .bytes(bytes);
                if let Some(p) = stage {
                    sc = sc.post(p);
                }
                // Twice: the second answer comes from the memo.
                for _ in 0..2 {
                    let d = run(&engine, &sc).map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let seen = if d.is_allowed() { &allowed } else { &denied };
                    seen.set(seen.get() + 1);
                    if !d.obligations.is_empty() {
                        obliged.set(obliged.get() + 1);
                    }
                }
                Ok(())
            },
        )
        .unwrap();
    // The draws reached every kind of answer, obligations included.
    let counts = (denied.get(), allowed.get(), obliged.get());
    assert!(counts.0 > 0 && counts.1 > 0 && counts.2 > 0, "{counts:?}");
    println!("denied, allowed, of those with obligations: {counts:?}");
}

#[test]
fn a_model_whose_inputs_name_an_unknown_category_is_refused() {
    let m = manifest("tumour-features");
    let mut d = model_description(&m, m.version("1").unwrap());
    assert!(vouch::policy::ModelFacts::new(&d).is_ok());
    d.input_categories = vec!["helth".into()];
    let err = vouch::policy::ModelFacts::new(&d).unwrap_err();
    assert_eq!(err.kind(), vouch::policy::PolicyErrorKind::InvalidConfig);
    assert!(err.to_string().contains("\"helth\""), "{err}");
}
