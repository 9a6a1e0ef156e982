//! Builds a ledger of N entries (default 1,000,000) with the library and writes its whole export,
//! for timing `vouch verify --export` (`docs/BENCHMARKS.md`).
//!
//! Run: `cargo run --release --example export_bench -- OUT_DIR [N]` — writes `OUT_DIR/export.jsonl`
//! and `OUT_DIR/log.pub`; the ledger itself is built in `OUT_DIR/data`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::unreachable
)] // a measurement: a failed assumption stops it, loudly

use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "../benches/common/mod.rs"]
mod common;

use common::{draft, signer};
use vouch::ledger::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = std::path::PathBuf::from(args.next().ok_or("usage: export_bench OUT_DIR [N]")?);
    let n: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    std::fs::create_dir_all(&out)?;
    let signer = signer();
    write_verifier_key(&signer.verifier(), &out.join("log.pub"))?;
    let ledger = Ledger::open(&out.join("data"), signer, LedgerConfig::default())?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    rt.block_on(async {
        let chunk = 4096u64;
        let mut i = ledger.head().entries;
        while i < n {
            let tasks: Vec<_> = (i..(i + chunk).min(n))
                .map(|j| {
                    let l = ledger.clone();
                    tokio::spawn(async move { l.append(draft(j)).await.map(|_| ()) })
                })
                .collect();
            for t in tasks {
                t.await??;
            }
            i += chunk;
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })?;
    let head = ledger.head();
    eprintln!(
        "ledger: {} entries in {} blocks, built in {:.1?}",
        head.entries,
        head.blocks,
        started.elapsed()
    );
    let started = Instant::now();
    let file = std::fs::File::create(out.join("export.jsonl"))?;
    let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
    let s = write_export(ledger.store(), 0, head.blocks, &mut w)?;
    eprintln!(
        "export: {} blocks, {} entries written in {:.1?}",
        s.blocks,
        s.entries,
        started.elapsed()
    );
    ledger.close();
    Ok(())
}
