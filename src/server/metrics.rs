//! Prometheus metrics at `/metrics`: calls by model, decision and status, call latency, and the
//! ledger's group commit (entries per block, write-and-flush time, entries and blocks so far).

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

use crate::ledger::CommitStats;

/// The service's metrics, registered in their own registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub calls: IntCounterVec,
    pub latency: HistogramVec,
    pub batch_entries: Histogram,
    pub write_seconds: Histogram,
    pub sync_seconds: Histogram,
    pub ledger_entries: IntGauge,
    pub ledger_blocks: IntGauge,
}

impl Metrics {
    pub fn new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(Some("vouch".into()), None)?;
        let calls = IntCounterVec::new(
            Opts::new(
                "calls_total",
                "Inference calls by model and version (as served, else unknown), decision and HTTP status class",
            ),
            &["model", "version", "decision", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "call_seconds",
                "Time from request to response of inference calls",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
            &["model"],
        )?;
        let batch_entries = Histogram::with_opts(
            HistogramOpts::new(
                "ledger_block_entries",
                "Entries per ledger block (group commit size)",
            )
            .buckets(vec![
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
            ]),
        )?;
        let block_buckets = vec![
            0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
        ];
        let write_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "ledger_write_seconds",
                "Time to commit one ledger block: seal, write and sync its record, index it",
            )
            .buckets(block_buckets.clone()),
        )?;
        let sync_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "ledger_sync_seconds",
                "Time the device took to make one ledger block durable (fdatasync)",
            )
            .buckets(block_buckets),
        )?;
        let ledger_entries = IntGauge::new("ledger_entries", "Entries in the ledger")?;
        let ledger_blocks = IntGauge::new("ledger_blocks", "Blocks in the ledger")?;
        registry.register(Box::new(calls.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(batch_entries.clone()))?;
        registry.register(Box::new(write_seconds.clone()))?;
        registry.register(Box::new(sync_seconds.clone()))?;
        registry.register(Box::new(ledger_entries.clone()))?;
        registry.register(Box::new(ledger_blocks.clone()))?;
        Ok(Metrics {
            registry,
            calls,
            latency,
            batch_entries,
            write_seconds,
            sync_seconds,
            ledger_entries,
            ledger_blocks,
        })
    }

    /// Counts one inference call. `model` and `version` must be what the registry serves (or
    /// `unknown`), `decision` one of a fixed few: every label comes from a bounded set.
    pub fn on_call(
        &self,
        model: &str,
        version: &str,
        decision: &'static str,
        status: u16,
        took: std::time::Duration,
    ) {
        let class = match status {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.calls
            .with_label_values(&[model, version, decision, class])
            .inc();
        self.latency
            .with_label_values(&[model])
            .observe(took.as_secs_f64());
    }

    /// Called by the ledger writer after every durable block.
    pub fn on_commit(&self, stats: CommitStats) {
        self.batch_entries.observe(stats.entries as f64);
        self.write_seconds.observe(stats.write.as_secs_f64());
        self.sync_seconds.observe(stats.sync.as_secs_f64());
        self.ledger_entries.add(stats.entries as i64);
        self.ledger_blocks.inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> Vec<u8> {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        buf
    }
}
