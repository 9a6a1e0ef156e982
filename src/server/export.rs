//! `GET /v1/export`: the blocks of a range as JSON lines (the format of `docs/LEDGER.md`),
//! streamed from a thread of its own through a bounded channel, at most `--max-exports` at once.
//! Judged and recorded like every audit read that reveals entries (`audit.rs`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::audit::{admit, query, snapshot, Recording};
use super::auth::authenticate;
use super::error::{ApiError, Internal, NotFound, QueryError};
use super::AppState;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportParams {
    from_seq: Option<u64>,
    to_seq: Option<u64>,
    from_height: Option<u64>,
    to_height: Option<u64>,
}

/// A `Write` that hands the export to the HTTP response in chunks, through a bounded channel: the
/// store is read only as fast as the client takes the lines, so memory does not grow with the
/// range. A client that goes away ends the export.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<web::Bytes>,
    buf: Vec<u8>,
}

const EXPORT_CHUNK: usize = 64 * 1024;

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= EXPORT_CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = web::Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(EXPORT_CHUNK),
        ));
        self.tx.blocking_send(chunk).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

/// `GET /v1/export?from_seq=&to_seq=` (or `from_height=&to_height=`): the blocks covering the
/// range — whole blocks, since a block's root covers all its entries — as JSON lines (the format
/// of `docs/LEDGER.md`), streamed. `from_*` is inclusive, `to_*` exclusive; the default is the
/// whole log at its latest checkpoint.
pub(super) async fn export(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let p: ExportParams = query(&req)?;
    if (p.from_seq.is_some() || p.to_seq.is_some())
        && (p.from_height.is_some() || p.to_height.is_some())
    {
        return Err(QueryError::SeqAndHeight.into());
    }
    if let (Some(f), Some(t)) = (p.from_seq, p.to_seq) {
        if f >= t {
            return Err(QueryError::SeqOrder { from: f, to: t }.into());
        }
    }
    // The cap is checked before the read is recorded: a refused export reveals nothing.
    authenticate(&req, &state)?;
    let permit = std::sync::Arc::clone(&state.exports)
        .try_acquire_owned()
        .map_err(|_| ApiError::Busy {
            what: "as many exports as the server allows are streaming",
            retry_after: 2,
        })?;
    let admitted = match admit(&req, &state, Recording::All).await {
        Ok(a) => a,
        Err(Ok(denied)) => return Ok(denied),
        Err(Err(e)) => return Err(e),
    };
    let (extent, _) = snapshot(&state)?;
    let store = state.ledger.store();
    let internal = |e: crate::ledger::StoreError| ApiError::from(Internal::from(e));
    let height_of = |seq: u64| -> Result<u64, ApiError> {
        if seq >= extent.entries {
            return Err(NotFound::EntryPastEnd {
                seq,
                entries: extent.entries,
            }
            .into());
        }
        store
            .block_of(crate::ledger::Seq::new(seq))
            .map_err(internal)?
            .map(crate::ledger::Height::get)
            .ok_or(ApiError::Internal(Internal::NoBlockFor(seq)))
    };
    let from = match (p.from_seq, p.from_height) {
        (Some(seq), _) => height_of(seq)?,
        (_, Some(h)) => h,
        _ => 0,
    };
    let to = match (p.to_seq, p.to_height) {
        (Some(0), _) => 0,
        (Some(seq), _) => height_of(seq.min(extent.entries) - 1)? + 1,
        (_, Some(h)) => h,
        _ => extent.blocks,
    };
    if from > to {
        return Err(QueryError::HeightOrder { from, to }.into());
    }
    if to > extent.blocks {
        return Err(QueryError::PastEnd {
            to,
            blocks: extent.blocks,
        }
        .into());
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<web::Bytes>(4);
    let ledger = state.ledger.clone();
    std::thread::Builder::new()
        .name("export".into())
        .spawn(move || {
            let mut out = ChannelWriter {
                tx,
                buf: Vec::with_capacity(EXPORT_CHUNK),
            };
            let result = crate::ledger::write_export(ledger.store(), from, to, &mut out)
                .map_err(|e| e.to_string())
                .and_then(|_| std::io::Write::flush(&mut out).map_err(|e| e.to_string()));
            if let Err(e) = result {
                // The stream stops before its `end` line, so a verifier sees it is incomplete.
                tracing::warn!(error = %e, from, to, "export stopped");
            }
        })
        .map_err(|e| ApiError::Internal(Internal::ExportStart(e)))?;
    // The permit goes with the stream: the export counts until the client has taken its last
    // line, or gone away.
    let body = futures_util::stream::unfold((rx, permit), |(mut rx, permit)| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(chunk), (rx, permit)))
    });
    let mut response = admitted.response();
    response.content_type("application/x-ndjson");
    Ok(response.streaming(body))
}
