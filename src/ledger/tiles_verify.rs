//! Verifying a log through its C2SP `tlog-tiles` API alone (`vouch verify --tiles`;
//! `docs/LEDGER.md`, "Tiles"): the checkpoint, then every header bundle in order, each header
//! checked and its block's entries fetched and checked as a walk of the store checks them, the
//! history tree rebuilt from the headers, every hash tile the tree implies compared with what the
//! server serves (full tiles as they fill, the partial ones of the checkpoint's size at the end),
//! and the tree's root compared with the checkpoint's. Memory: one header bundle, one block's
//! entries and one tile per level.

use std::time::Instant;

use super::hash::Hash;
use super::note::{Checkpoint, VerifierKey};
use super::position::Height;
use super::tiles::{split_bundle, TilePath, TILE_WIDTH};
use super::verifier::{fault, Chain, Place, VerifyError, VerifySummary};

/// Why a log could not be verified through its tiles.
#[derive(Debug, thiserror::Error)]
pub enum TilesError {
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// A resource could not be fetched (not a fault of the log: it did not arrive).
    #[error("fetching {path}: {why}")]
    Fetch { path: String, why: String },
}

/// A resource of the tiles API: its bytes, `Ok(None)` when the server says it has none (404).
pub type Fetched = Result<Option<Vec<u8>>, String>;

/// Verifies the log whose tiles `fetch` reads (given a path from the prefix: `checkpoint`,
/// `tile/…`, `vouch/entries/…`), with the log's key. `progress` is called after each block with
/// the number of entries verified so far. The summary's checkpoint is the one served.
pub fn verify_tiles(
    fetch: &mut dyn FnMut(&str) -> Fetched,
    key: &VerifierKey,
    progress: &mut dyn FnMut(u64),
) -> Result<VerifySummary, TilesError> {
    let started = Instant::now();
    let mut get = |path: &str| -> Result<Vec<u8>, TilesError> {
        match fetch(path) {
            Ok(Some(b)) => Ok(b),
            Ok(None) => Err(TilesError::Fetch {
                path: path.to_string(),
                why: "the server has no such resource (404)".into(),
            }),
            Err(why) => Err(TilesError::Fetch {
                path: path.to_string(),
                why,
            }),
        }
    };
    let at_top = Place::Height(Height::new(0));
    let note = String::from_utf8(get("checkpoint")?)
        .map_err(|_| VerifyError::from(fault(at_top, "checkpoint", "UTF-8 text", "other bytes")))?;
    let cp = Checkpoint::open(&note, key).map_err(|e| {
        VerifyError::from(fault(
            at_top,
            "checkpoint",
            "a checkpoint signed by the log's key",
            e,
        ))
    })?;
    let mut chain = Chain::genesis(key);
    // Per tile level, the hashes of the tile being filled (level k: history nodes of level 8k).
    let mut pending: Vec<Vec<Hash>> = Vec::new();
    let check_tile = |level: usize,
                      hashes: &[Hash],
                      get: &mut dyn FnMut(&str) -> Result<Vec<u8>, TilesError>,
                      index: u64|
     -> Result<(), TilesError> {
        let width = u16::try_from(hashes.len()).unwrap_or(u16::MAX);
        let tile = TilePath::Hashes {
            level: u8::try_from(level).unwrap_or(u8::MAX),
            index,
            width,
        };
        let path = tile.path();
        let served = get(&path)?;
        let expected: Vec<u8> = hashes.iter().flat_map(|h| *h.as_bytes()).collect();
        if served != expected {
            let at = Place::Height(Height::new(
                index * TILE_WIDTH.pow(u32::try_from(level + 1).unwrap_or(0)),
            ));
            return Err(VerifyError::from(fault(
                at,
                path,
                "the hashes of the headers served",
                "other hashes",
            ))
            .into());
        }
        Ok(())
    };
    let size = cp.size;
    let bundles = size.div_ceil(TILE_WIDTH);
    for b in 0..bundles {
        let width = u16::try_from((size - b * TILE_WIDTH).min(TILE_WIDTH)).unwrap_or(256);
        let path = TilePath::Headers { index: b, width }.path();
        let bundle = get(&path)?;
        let headers = split_bundle(&bundle).ok_or_else(|| {
            VerifyError::from(fault(
                Place::Height(chain.height()),
                path.clone(),
                "a bundle of headers",
                "other bytes",
            ))
        })?;
        if headers.len() != usize::from(width) {
            return Err(VerifyError::from(fault(
                Place::Height(chain.height()),
                path,
                format!("{width} headers"),
                headers.len(),
            ))
            .into());
        }
        for bytes in headers {
            let header = chain.header(bytes).map_err(VerifyError::from)?;
            let path = TilePath::BlockEntries {
                height: header.height.get(),
            }
            .path();
            let bundle = get(&path)?;
            let entries = split_bundle(&bundle).ok_or_else(|| {
                VerifyError::from(fault(
                    Place::Height(header.height),
                    path.clone(),
                    "a bundle of entries",
                    "other bytes",
                ))
            })?;
            chain
                .entries(&header, &entries)
                .map_err(VerifyError::from)?;
            for (level, index, hash) in chain.append(bytes) {
                if level % 8 != 0 {
                    continue;
                }
                let k = usize::from(level / 8);
                if pending.len() <= k {
                    pending.resize_with(k + 1, Vec::new);
                }
                if let Some(p) = pending.get_mut(k) {
                    p.push(hash);
                    if p.len() as u64 == TILE_WIDTH {
                        let full = std::mem::take(p);
                        check_tile(k, &full, &mut get, index / TILE_WIDTH)?;
                    }
                }
            }
            chain.advance(&header, bytes);
            progress(chain.summary.entries);
        }
    }
    // The partial tiles of the checkpoint's size.
    for (k, p) in pending.iter().enumerate() {
        if !p.is_empty() {
            let span = TILE_WIDTH.pow(u32::try_from(k + 1).unwrap_or(0));
            check_tile(k, p, &mut get, size / span)?;
        }
    }
    let root = chain.root().map(|r| r.hash()).unwrap_or_default();
    if chain.height().get() != size || root != cp.root {
        return Err(VerifyError::from(fault(
            Place::Height(Height::new(size.saturating_sub(1))),
            "checkpoint root",
            cp.root,
            root,
        ))
        .into());
    }
    let mut summary = chain.summary;
    summary.checkpoint = Some(note);
    summary.checkpoints = 1;
    summary.elapsed = started.elapsed();
    Ok(summary)
}
