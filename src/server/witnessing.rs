//! The log asks its witnesses (C2SP `tlog-witness`, client side; `docs/LEDGER.md`,
//! "Witnesses"): a background task offers the newest checkpoint to every witness configured,
//! with a consistency proof from the size each last cosigned, at most once per interval, and
//! keeps the newest checkpoint that carries valid cosignatures of at least the quorum. Calls
//! never wait for it: a receipt carries the log's own checkpoint, as without witnesses.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde::Serialize;

use crate::ledger::{CosignatureVerifier, Ledger};

/// One witness: where its `add-checkpoint` is and the key its cosignatures verify with.
#[derive(Debug, Clone)]
pub struct WitnessEndpoint {
    /// The submission prefix: `POST <url>/add-checkpoint`.
    pub url: String,
    pub key: CosignatureVerifier,
}

/// The witnesses of a log and how it asks them.
#[derive(Debug, Clone)]
pub struct WitnessSettings {
    pub witnesses: Vec<WitnessEndpoint>,
    /// How many valid cosignatures make a checkpoint cosigned (1 to the number of witnesses).
    pub quorum: usize,
    /// Shortest time between two rounds of asking.
    pub interval: Duration,
}

impl Default for WitnessSettings {
    fn default() -> Self {
        WitnessSettings {
            witnesses: vec![],
            quorum: 0,
            interval: Duration::from_millis(1000),
        }
    }
}

/// The newest checkpoint cosigned by a quorum: the log's signed note with the witnesses' lines
/// appended.
#[derive(Debug, Clone, Serialize)]
pub struct Cosigned {
    pub size: u64,
    pub checkpoint: String,
    /// The names of the witnesses whose cosignature it carries.
    pub witnesses: Vec<String>,
}

/// How long one witness may take to answer.
const WITNESS_TIMEOUT: Duration = Duration::from_secs(5);

/// The witnessing state of a log.
#[derive(Debug)]
pub struct Witnessing {
    settings: WitnessSettings,
    /// The size each witness is believed to hold (0 until it says).
    known: Mutex<Vec<u64>>,
    latest: arc_swap::ArcSwapOption<Cosigned>,
    agent: ureq::Agent,
}

impl Witnessing {
    pub fn new(settings: WitnessSettings) -> Witnessing {
        let n = settings.witnesses.len();
        Witnessing {
            settings,
            known: Mutex::new(vec![0; n]),
            latest: arc_swap::ArcSwapOption::empty(),
            agent: ureq::AgentBuilder::new().timeout(WITNESS_TIMEOUT).build(),
        }
    }

    /// Whether any witness is configured.
    pub fn is_enabled(&self) -> bool {
        !self.settings.witnesses.is_empty()
    }

    /// The shortest time between two rounds.
    pub fn interval(&self) -> Duration {
        self.settings.interval
    }

    pub fn quorum(&self) -> usize {
        self.settings.quorum
    }

    /// The newest checkpoint cosigned by the quorum, if one is yet.
    pub fn latest(&self) -> Option<Arc<Cosigned>> {
        self.latest.load_full()
    }

    /// Asks the witnesses every interval until `stopped` turns true.
    pub async fn run(
        self: Arc<Self>,
        ledger: Ledger,
        mut stopped: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            let me = Arc::clone(&self);
            let l = ledger.clone();
            let _ = tokio::task::spawn_blocking(move || me.round(&l)).await;
            tokio::select! {
                _ = tokio::time::sleep(self.settings.interval) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
        }
    }

    /// One round: the newest checkpoint offered to each witness, the cosignatures kept if they
    /// reach the quorum.
    pub fn round(&self, ledger: &Ledger) {
        let head = ledger.head();
        let Some(note) = head.checkpoint else {
            return;
        };
        if self.latest().is_some_and(|c| c.size >= head.blocks) {
            return;
        }
        let mut lines = String::new();
        let mut names = Vec::new();
        for (i, w) in self.settings.witnesses.iter().enumerate() {
            if let Some(line) = self.ask(i, w, ledger, &note, head.blocks) {
                lines.push_str(&line);
                names.push(w.key.name().to_string());
            }
        }
        if names.len() >= self.settings.quorum && !names.is_empty() {
            self.latest.store(Some(Arc::new(Cosigned {
                size: head.blocks,
                checkpoint: format!("{note}{lines}"),
                witnesses: names,
            })));
        }
    }

    /// Offers the checkpoint of `size` blocks to witness `i`; its verified cosignature line.
    /// A `409` says which size the witness holds: the request is made again from there, once.
    fn ask(
        &self,
        i: usize,
        w: &WitnessEndpoint,
        ledger: &Ledger,
        note: &str,
        size: u64,
    ) -> Option<String> {
        for _ in 0..2 {
            let old = self.known.lock().ok()?.get(i).copied().unwrap_or(0);
            if old > size {
                tracing::error!(witness = %w.url, holds = old, size, "the witness holds a larger tree than this log: another history was shown to it");
                return None;
            }
            let proof = if old == 0 || old == size {
                vec![]
            } else {
                match ledger.consistency_proof(old, size) {
                    Ok(p) => p.path,
                    Err(e) => {
                        tracing::warn!(witness = %w.url, error = %e, "no consistency proof for the witness");
                        return None;
                    }
                }
            };
            let mut body = format!("old {old}\n");
            for h in &proof {
                body.push_str(&B64.encode(h.as_bytes()));
                body.push('\n');
            }
            body.push('\n');
            body.push_str(note);
            let url = format!("{}/add-checkpoint", w.url.trim_end_matches('/'));
            match self.agent.post(&url).send_string(&body) {
                Ok(resp) => {
                    let text = resp.into_string().ok()?;
                    let line = text.lines().find_map(|l| {
                        let line = format!("{l}\n");
                        w.key.verify(&format!("{note}{line}")).ok().map(|_| line)
                    });
                    match line {
                        Some(line) => {
                            if let Some(k) = self.known.lock().ok()?.get_mut(i) {
                                *k = size;
                            }
                            return Some(line);
                        }
                        None => {
                            tracing::warn!(witness = %w.url, "the witness answered without a valid cosignature by its key");
                            return None;
                        }
                    }
                }
                Err(ureq::Error::Status(409, resp)) => {
                    let held = resp.into_string().ok()?.trim().parse::<u64>().ok()?;
                    if let Some(k) = self.known.lock().ok()?.get_mut(i) {
                        *k = held;
                    }
                }
                Err(ureq::Error::Status(code, resp)) => {
                    let said = resp.into_string().unwrap_or_default();
                    tracing::warn!(witness = %w.url, status = code, said = %said.trim(), "the witness refused the checkpoint");
                    return None;
                }
                Err(e) => {
                    tracing::warn!(witness = %w.url, error = %e, "the witness could not be reached");
                    return None;
                }
            }
        }
        None
    }
}
