//! C2SP `tlog-tiles` (`docs/LEDGER.md`, "Tiles"; `docs/API.md`): the latest checkpoint, the hash
//! tiles and header bundles of the history tree, and each block's entries, as static,
//! cacheable resources. Tiles and header bundles reveal block headers only: with
//! `--public-tiles` anyone may read them, else the `audit` action (denials recorded). A block's
//! entries always need `audit`, and reading them is recorded like every read that reveals an
//! entry.

use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use actix_web::{web, HttpRequest, HttpResponse};

use super::audit::{admit, Recording};
use super::error::{ApiError, Internal, NotFound};
use super::AppState;
use crate::ledger::{hash_tile, push_bundled, Height, Seq, StoreError, TilePath};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(super::routes::get("/checkpoint").to(checkpoint))
        .service(super::routes::get("/tile/{rest:.+}").to(tile))
        .service(super::routes::get("/vouch/entries/{rest:.+}").to(block_entries));
}

/// Immutable resources: a tile or bundle never changes once it exists.
const IMMUTABLE: &str = "max-age=31536000, immutable";

/// Lets the read through: without a key when tiles are public (and `public` says whether it is
/// open), else by the `audit` action; `Err` carries the answer for a refused read.
async fn admit_read(
    req: &HttpRequest,
    state: &AppState,
    open: bool,
    recording: Recording,
) -> Result<&'static str, Result<HttpResponse, ApiError>> {
    if open && state.public_tiles {
        return Ok("public");
    }
    admit(req, state, recording).await.map(|_| "private")
}

/// `GET /checkpoint`: the newest checkpoint the witnesses cosigned, or with none the log's
/// latest, as its note (`text/plain`); cached a second at most.
async fn checkpoint(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let scope = match admit_read(&req, &state, true, Recording::DenialsOnly).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let note = if state.witnessing.is_enabled() {
        state.witnessing.latest().map(|c| c.checkpoint.clone())
    } else {
        state.ledger.head().checkpoint
    };
    let note = note.ok_or(NotFound::NoCheckpoint)?;
    Ok(HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "text/plain; charset=utf-8"))
        .insert_header((CACHE_CONTROL, format!("{scope}, max-age=1")))
        .body(note))
}

/// `GET /tile/<L>/<N>[.p/<W>]` and `GET /tile/entries/<N>[.p/<W>]`.
async fn tile(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let scope = match admit_read(&req, &state, true, Recording::DenialsOnly).await {
        Ok(s) => s,
        Err(answer) => return answer,
    };
    let tile = TilePath::parse_tile(&path).ok_or_else(|| NotFound::Tile(path.to_string()))?;
    let st = state.clone();
    let body = web::block(move || read_tile(&st, tile))
        .await
        .map_err(Internal::from)?
        .map_err(Internal::from)?;
    let body = body.ok_or_else(|| NotFound::Tile(path.to_string()))?;
    Ok(immutable(scope, body))
}

/// `GET /vouch/entries/<H>`: the entries of block H, bundled.
async fn block_entries(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let admitted = match admit(&req, &state, Recording::All).await {
        Ok(a) => a,
        Err(answer) => return answer,
    };
    let tile =
        TilePath::parse_block_entries(&path).ok_or_else(|| NotFound::Tile(path.to_string()))?;
    let st = state.clone();
    let body = web::block(move || read_tile(&st, tile))
        .await
        .map_err(Internal::from)?
        .map_err(Internal::from)?;
    let body = body.ok_or_else(|| NotFound::Tile(path.to_string()))?;
    Ok(admitted
        .response()
        .insert_header((CONTENT_TYPE, "application/octet-stream"))
        .insert_header((CACHE_CONTROL, format!("private, {IMMUTABLE}")))
        .body(body))
}

fn immutable(scope: &str, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((CONTENT_TYPE, "application/octet-stream"))
        .insert_header((CACHE_CONTROL, format!("{scope}, {IMMUTABLE}")))
        .body(body)
}

/// The bytes of a tile or bundle in the log as it is now; `None` when it does not (yet) exist.
fn read_tile(state: &AppState, tile: TilePath) -> Result<Option<Vec<u8>>, StoreError> {
    let size = state.ledger.head().blocks;
    let store = state.ledger.store();
    match tile {
        TilePath::Hashes {
            level,
            index,
            width,
        } => hash_tile(store, level, index, width, size),
        TilePath::Headers { .. } => {
            let Some((start, end)) = tile.covers(size) else {
                return Ok(None);
            };
            let mut out = Vec::with_capacity(256 * 600);
            for h in start..end {
                let Some(header) = store.header(Height::new(h))? else {
                    return Ok(None);
                };
                if !push_bundled(&mut out, &header) {
                    return Ok(None);
                }
            }
            Ok(Some(out))
        }
        TilePath::BlockEntries { height } => {
            if tile.covers(size).is_none() {
                return Ok(None);
            }
            let first = store.first_seq(Height::new(height))?;
            let next = if height + 1 < size {
                store.first_seq(Height::new(height + 1))?
            } else {
                Seq::new(state.ledger.head().entries)
            };
            let mut out = Vec::new();
            let mut fits = true;
            store.for_each_entry(first, next, &mut |e| {
                fits &= push_bundled(&mut out, e);
                Ok::<(), StoreError>(())
            })?;
            Ok(fits.then_some(out))
        }
    }
}
