//! Policy benchmarks: one decision per call (facts built from caller, manifest and context, then
//! Cedar, or the decision memo for a context judged before) before and after inference, and
//! detector throughput on 1 KiB texts with and without personal data. Figures go to
//! `docs/BENCHMARKS.md` (`## Policy`).
//!
//! `cargo bench --bench policy`
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a measurement: a failed assumption stops it, loudly

use std::hint::black_box;

// The allocator the `vouch` binary runs with (src/main.rs), so the figures are the server's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vouch::inference::Manifest;
use vouch::policy::{detect, CallContext, Caller, CallerRecord, ModelFacts, PolicyEngine, Role};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A clinic on the `tier` given: on the free tier a rule reads the input size, so every size is
/// a request shape of its own.
fn caller(tier: &str) -> Caller {
    Caller::from_record(&CallerRecord {
        id: format!("clinic-{tier}"),
        organisation: "Clinic".into(),
        roles: vec![Role::Caller],
        tier: tier.into(),
        jurisdiction: "DE".into(),
        terms_version: "2026-01".into(),
        human_oversight: true,
        licences: vec!["fixture-eula".into()],
        credentials: vec![],
    })
    .unwrap()
}

/// CPU time this thread has run (`CLOCK_THREAD_CPUTIME_ID`). The machine is shared, so besides
/// criterion's wall-clock figures the main cases are also measured in CPU time, which other
/// processes competing for the cores do not inflate.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn cpu_iter<O>(b: &mut criterion::Bencher, mut f: impl FnMut() -> O) {
    b.iter_custom(|iters| {
        let start = thread_cpu();
        for _ in 0..iters {
            black_box(f());
        }
        thread_cpu().saturating_sub(start)
    })
}

fn decisions(c: &mut Criterion) {
    let engine = PolicyEngine::load(&root().join("policies")).unwrap();
    let model =
        Manifest::from_file(&root().join("tests/fixtures/models/clinic-high/manifest.toml"))
            .unwrap();
    let model =
        vouch::server::model_description(&model, model.version(&model.default_version).unwrap());
    let free = caller("free");
    let caller = caller("standard");
    let params = serde_json::json!({
        "purpose": "medical-triage", "data_categories": ["health"], "consent": true, "separate_consent": true
    });
    let params = params.as_object().unwrap().clone();
    let report = detect::scan(["patient note, no identifiers"]);

    let facts = ModelFacts::new(&model).unwrap();

    let mut g = c.benchmark_group("policy/decision");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    // What the server does per call: parse the parameters, build the context, judge.
    // A context the engine has judged before for this caller and model: the decision memo
    // answers. The server sees this for every repeated request shape.
    let ctx_of = |input_bytes: u64| {
        CallContext::from_parameters(black_box(&params))
            .unwrap()
            .with_pii(report.clone())
            .with_input_bytes(input_bytes)
    };
    g.bench_function(
        "pre-inference, repeated context (parameters + context + memo)",
        |b| b.iter(|| black_box(engine.decide_with(&caller, &facts, &ctx_of(4096)).unwrap())),
    );
    // A context not seen before: the input size differs on every call, and for a free-tier
    // caller a rule reads it. Cedar judges the per-call rules that can hold for the pair, and
    // the memo takes the answer. Up to 64 KiB the call is allowed; past it the free-tier limit
    // denies it, and every per-call rule is judged to name the ones that hold.
    let allowed = |n: u64| ctx_of(1 + n % 65_536);
    let denied = |n: u64| ctx_of(65_537 + n);
    assert!(engine
        .decide_with(&free, &facts, &allowed(0))
        .unwrap()
        .is_allowed());
    assert!(!engine
        .decide_with(&free, &facts, &denied(0))
        .unwrap()
        .is_allowed());
    let mut n = 0u64;
    for (name, ctx) in [
        ("allowed", &allowed as &dyn Fn(u64) -> CallContext),
        ("denied", &denied),
    ] {
        g.bench_function(
            format!("pre-inference, new context each call, {name} (parameters + context + Cedar)"),
            |b| {
                b.iter(|| {
                    n += 1;
                    black_box(engine.decide_with(&free, &facts, &ctx(n)).unwrap())
                })
            },
        );
        g.bench_function(
            format!("pre-inference, new context each call, {name}, CPU time"),
            |b| {
                cpu_iter(b, || {
                    n += 1;
                    engine.decide_with(&free, &facts, &ctx(n)).unwrap()
                })
            },
        );
    }
    g.bench_function("pre-inference, repeated context, CPU time", |b| {
        cpu_iter(b, || {
            engine.decide_with(&caller, &facts, &ctx_of(4096)).unwrap()
        })
    });
    g.bench_function(
        "pre-inference, model facts built from the manifest per call (no memo)",
        |b| b.iter(|| black_box(engine.decide(&caller, &model, &ctx_of(4096)).unwrap())),
    );
    let ctx = CallContext::from_parameters(&params)
        .unwrap()
        .with_pii(report.clone());
    g.bench_function("post-inference, low confidence, repeated context", |b| {
        b.iter(|| {
            black_box(
                engine
                    .decide_post_with(&caller, &facts, &ctx, Some(0.61))
                    .unwrap(),
            )
        })
    });
    let pre = engine.decide_with(&caller, &facts, &ctx).unwrap();
    g.bench_function(
        "post-inference, low confidence, only post rules (decide_after)",
        |b| {
            b.iter(|| {
                black_box(
                    engine
                        .decide_after(&pre, &caller, &facts, &ctx, Some(0.61))
                        .unwrap(),
                )
            })
        },
    );
    let denied = serde_json::json!({"purpose": "marketing"});
    let denied = CallContext::from_parameters(denied.as_object().unwrap()).unwrap();
    g.bench_function("denied (purpose limitation)", |b| {
        b.iter(|| black_box(engine.decide_with(&caller, &facts, &denied).unwrap()))
    });
    g.finish();
}

/// 1 KiB of support-ticket prose, optionally with personal data spread through it.
fn text(with_pii: bool) -> String {
    let clean = "Customer reports that the export job failed after the upgrade to release 4.2 on \
        2024-01-15 at 12:30. The dashboard shows 3 retries and a timeout of 30 s; the queue held 1250 items. \
        Steps tried: restart, clear cache, re-run with verbose logging. Expected the report within 5 minutes. ";
    let pii = "Contact jane.doe@example.com or +44 20 7946 0958; card 4111 1111 1111 1111; from 192.168.1.23. ";
    let mut out = String::with_capacity(1024);
    while out.len() < 1024 {
        out.push_str(clean);
        if with_pii {
            out.push_str(pii);
        }
    }
    out.truncate(1024);
    out
}

fn detectors(c: &mut Criterion) {
    let mut g = c.benchmark_group("policy/detect-1KiB");
    g.measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1));
    for (name, with_pii) in [("clean", false), ("with-pii", true)] {
        let t = text(with_pii);
        g.throughput(Throughput::Bytes(t.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| black_box(detect::scan([black_box(t.as_str())])))
        });
        g.bench_function(format!("{name}, CPU time"), |b| {
            cpu_iter(b, || detect::scan([black_box(t.as_str())]))
        });
    }
    g.finish();
}

criterion_group!(benches, decisions, detectors);
criterion_main!(benches);
