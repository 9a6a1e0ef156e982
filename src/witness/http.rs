//! The witness's HTTP service: `POST /add-checkpoint` (C2SP `tlog-witness`) and an open
//! liveness probe. The protocol authenticates a request by the log's signature on its
//! checkpoint alone, so no API key is asked; the body is capped before it is read, and what a
//! request can make the witness keep is one state per log it already follows.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use actix_web::http::header::{ContentType, HeaderValue, CONTENT_TYPE};
use actix_web::{web, App, HttpResponse, HttpServer};

use super::{Refusal, Witness, MAX_REQUEST_BYTES};

/// Serves `witness` on `listener` with `workers` threads.
pub fn serve(
    witness: Arc<Witness>,
    listener: TcpListener,
    workers: usize,
) -> std::io::Result<actix_web::dev::Server> {
    let data = web::Data::from(witness);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(MAX_REQUEST_BYTES))
            .route("/add-checkpoint", web::post().to(add_checkpoint))
            .route(
                "/health/live",
                web::get().to(|| async { HttpResponse::Ok().body("live\n") }),
            )
    })
    .workers(workers.max(1))
    .disable_signals()
    .listen(listener)?
    .run())
}

async fn add_checkpoint(witness: web::Data<Witness>, body: web::Bytes) -> HttpResponse {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // The state is read, swapped and flushed to disk: off the async workers.
    let result = web::block(move || witness.add_checkpoint(&body, now)).await;
    match result {
        Ok(Ok(line)) => HttpResponse::Ok()
            .content_type(ContentType::plaintext())
            .body(line),
        Ok(Err(Refusal::Conflict(size))) => HttpResponse::Conflict()
            .insert_header((CONTENT_TYPE, HeaderValue::from_static("text/x.tlog.size")))
            .body(format!("{size}\n")),
        Ok(Err(refusal)) => {
            let status = actix_web::http::StatusCode::from_u16(refusal.status())
                .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
            HttpResponse::build(status)
                .content_type(ContentType::plaintext())
                .body(format!("{refusal}\n"))
        }
        Err(_) => HttpResponse::InternalServerError()
            .content_type(ContentType::plaintext())
            .body("the witness could not handle the request\n"),
    }
}
