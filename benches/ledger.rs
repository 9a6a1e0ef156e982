//! Ledger benchmarks: durable appends per second with 1, 64 and 1,024 concurrent appenders
//! (each append returns only once its block is flushed and its checkpoint signed), and proof
//! generation in a ledger of 1,000,000 entries.
//!
//! Run: `cargo bench --bench ledger` (set VOUCH_BENCH_ENTRIES to change the size of the proof
//! ledger).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a measurement: a failed assumption stops it, loudly

use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
mod common;

use common::{draft, signer};
use vouch::ledger::*;
use vouch::server::entries_page;

fn appends(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), signer(), LedgerConfig::default()).unwrap();
    let mut group = c.benchmark_group("durable_appends");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(2));
    for appenders in [1usize, 64, 1024] {
        // Each appender appends `per` entries one after the other.
        let per = if appenders == 1 { 64 } else { 8 };
        group.throughput(Throughput::Elements((appenders * per) as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(appenders),
            &appenders,
            |b, &appenders| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let start = Instant::now();
                        rt.block_on(async {
                            let tasks: Vec<_> = (0..appenders)
                                .map(|t| {
                                    let l = ledger.clone();
                                    tokio::spawn(async move {
                                        for i in 0..per {
                                            l.append(draft((t * per + i) as u64)).await.unwrap();
                                        }
                                    })
                                })
                                .collect();
                            for t in tasks {
                                t.await.unwrap();
                            }
                        });
                        total += start.elapsed();
                    }
                    total
                });
            },
        );
    }
    group.finish();
    ledger.close();
}

fn proofs(c: &mut Criterion) {
    let n: u64 = std::env::var("VOUCH_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let ledger = Ledger::open(dir.path(), signer(), LedgerConfig::default()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    rt.block_on(async {
        let chunk = 4096u64;
        let mut i = 0;
        while i < n {
            let tasks: Vec<_> = (i..(i + chunk).min(n))
                .map(|j| {
                    let l = ledger.clone();
                    tokio::spawn(async move { l.append(draft(j)).await.unwrap() })
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
            i += chunk;
        }
    });
    let head = ledger.head();
    eprintln!(
        "built a ledger of {} entries in {} blocks in {:.1?} ({:.0} MB on disk)",
        head.entries,
        head.blocks,
        started.elapsed(),
        ledger.store().size_on_disk() as f64 / 1e6
    );

    let mut group = c.benchmark_group(format!("proofs_at_{n}_entries"));
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(5));
    let mut seq = 0u64;
    group.bench_function("receipt (entry + block proof, from the store)", |b| {
        b.iter(|| {
            seq = (seq + 7_919) % n;
            ledger.receipt(Seq::new(seq)).unwrap()
        })
    });
    let blocks = head.blocks;
    let mut h = 0u64;
    group.bench_function(
        "block inclusion proof (history tree, from the store)",
        |b| {
            b.iter(|| {
                h = (h + 31) % blocks;
                ledger.inclusion_proof(Height::new(h), blocks).unwrap()
            })
        },
    );
    // The regulator's query: one page of 1,000 entries of one caller (1 % of the log), each
    // with its proofs against one checkpoint, as the server builds it (index scan, proofs, JSON).
    let (extent, _) = ledger.snapshot().unwrap();
    for (name, filters) in [
        ("caller", vec![Filter::Caller("caller-42".into())]),
        (
            "caller + decision",
            vec![
                Filter::Caller("caller-40".into()),
                Filter::Decision(Decision::Deny),
            ],
        ),
    ] {
        let q = Query {
            filters,
            ..Query::default()
        };
        let mut cursor = 0u64;
        group.bench_function(format!("audit page of 1,000 entries ({name})"), |b| {
            b.iter(|| {
                let (items, next) = entries_page(&ledger, &q, cursor, extent, 1000).unwrap();
                assert!(!items.is_empty());
                let body = serde_json::to_vec(&items).unwrap();
                cursor = next.unwrap_or(0);
                body.len()
            })
        });
    }
    let key = ledger.verifier().clone();
    let receipt = ledger.receipt(Seq::new(n / 2)).unwrap();
    group.bench_function("verify a receipt", |b| {
        b.iter(|| receipt.verify(&key).unwrap())
    });
    group.finish();

    // The history tree itself at 1M leaves (as if every block held one entry), nodes in memory.
    let leaves: Vec<LeafHash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
    let nodes = MemoryNodes::from_leaves(&leaves);
    let mut group = c.benchmark_group(format!("history_tree_of_{n}_leaves"));
    group
        .sample_size(50)
        .measurement_time(Duration::from_secs(3));
    let mut i = 0u64;
    group.bench_function("inclusion proof", |b| {
        b.iter(|| {
            i = (i + 104_729) % n;
            inclusion_proof(&nodes, i, n).unwrap()
        })
    });
    group.bench_function("consistency proof", |b| {
        b.iter(|| {
            i = (i + 104_729) % n;
            consistency_proof(&nodes, i.max(1), n).unwrap()
        })
    });
    group.finish();
    ledger.close();
}

criterion_group!(benches, appends, proofs);
criterion_main!(benches);
