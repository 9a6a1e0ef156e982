//! The append-only, Merkle-chained, signed ledger (format v1, `docs/LEDGER.md`).
