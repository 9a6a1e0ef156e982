//! Where the service takes time and randomness from: the clock that stamps each block, and the
//! source of the nonces that blind each call's commitments. Both are passed in (the ledger's
//! [`crate::ledger::LedgerConfig::clock`], the server's `AppState::nonces`), so that a test can
//! pin them and get the same receipt, byte for byte, from two runs.
//!
//! In production they are the system clock and the operating system's random numbers; a pinned
//! nonce source makes commitments guessable and is for tests only.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use rand::RngCore as _;

/// The time of day, as the ledger stamps blocks with it.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    /// The system's clock.
    pub fn system() -> Clock {
        Clock(Arc::new(Utc::now))
    }

    /// A clock that always says `at`.
    pub fn fixed(at: DateTime<Utc>) -> Clock {
        Clock(Arc::new(move || at))
    }

    /// A clock that asks `now`.
    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Clock {
        Clock(Arc::new(now))
    }

    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Clock")
    }
}

/// Where the nonces of commitments and audit reads come from.
#[derive(Clone)]
pub struct Nonces(Arc<FillFn>);

/// Fills a buffer with the next nonce.
type FillFn = dyn Fn(&mut [u8]) + Send + Sync;

impl Nonces {
    /// Random bytes from a generator seeded by the operating system (`rand::thread_rng`).
    pub fn system() -> Nonces {
        Nonces(Arc::new(|out: &mut [u8]| {
            rand::thread_rng().fill_bytes(out)
        }))
    }

    /// Tests only: the n-th nonce is `n` (from `first`), big-endian in the last 8 bytes, zeros
    /// before. Guessable: never serve real calls with it.
    pub fn counting(first: u64) -> Nonces {
        let next = AtomicU64::new(first);
        Nonces(Arc::new(move |out: &mut [u8]| {
            out.fill(0);
            let n = next.fetch_add(1, Ordering::Relaxed).to_be_bytes();
            // The last bytes of the count, right-aligned.
            for (o, b) in out.iter_mut().rev().zip(n.iter().rev()) {
                *o = *b;
            }
        }))
    }

    /// Fills `out` with the next nonce.
    pub fn fill(&self, out: &mut [u8]) {
        (self.0)(out)
    }

    /// The next 32-byte nonce.
    pub fn next32(&self) -> [u8; 32] {
        let mut n = [0u8; 32];
        self.fill(&mut n);
        n
    }
}

impl Default for Nonces {
    fn default() -> Self {
        Nonces::system()
    }
}

impl fmt::Debug for Nonces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Nonces")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_nonces_count_and_system_ones_differ() {
        let c = Nonces::counting(7);
        let a = c.next32();
        let b = c.next32();
        assert_eq!(a[..24], [0u8; 24]);
        assert_eq!(u64::from_be_bytes(a[24..].try_into().unwrap()), 7);
        assert_eq!(u64::from_be_bytes(b[24..].try_into().unwrap()), 8);
        let mut short = [9u8; 2];
        c.fill(&mut short);
        assert_eq!(short, [0, 9]);
        let s = Nonces::system();
        assert_ne!(s.next32(), s.next32());
    }

    #[test]
    fn a_fixed_clock_stays() {
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05Z")
            .unwrap()
            .with_timezone(&Utc);
        let c = Clock::fixed(at);
        assert_eq!(c.now(), at);
        assert_eq!(c.clone().now(), at);
        assert!(Clock::system().now() > at);
    }
}
