//! The regulator audit API (`docs/API.md`): queries over the ledger's indexes, each answer proven
//! against one signed checkpoint; blocks, checkpoints and proofs; the export that offline
//! verification reads; usage statistics.
//!
//! Every route is judged by the Cedar action `audit` (regulators only in the shipped bundle).
//! The regulator's own reads are recorded in the ledger itself, as entries with purpose `audit`:
//! a denied attempt on any audit route, and every allowed read that reveals entries (entries,
//! one entry, export, statistics). Reads that reveal only hashes — checkpoints, block headers,
//! proofs — are not, so that a witness polling the checkpoint does not grow the log it watches.
//! The entry's `input` commits to the request target (`GET /v1/entries?caller=…`) with a nonce
//! that only the regulator receives (in `audit_receipt`, or the `Vouch-Audit-Seq` header of the
//! export): who asked and when is public to every auditor, what was asked stays with the asker
//! until it chooses to open the commitment.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::auth::{authenticate, Authenticated};
use super::error::{ApiError, Internal, NotFound, QueryError};
use super::infer::{reasons, record};
use super::AppState;
use crate::ledger::{
    commit_parts, heights_in_time, stats, Decision as Recorded, Dimension, EntryContext,
    EntryDraft, Extent, Filter, Hash, Height, LedgerError, ProvenEntry, Query, Receipt, Seq,
};
use crate::policy::RuleId;

/// Most entries on one page.
pub const MAX_PAGE: usize = 1000;
/// Entries on a page when `limit` is not given.
pub const DEFAULT_PAGE: usize = 100;

pub fn configure(cfg: &mut web::ServiceConfig) {
    use super::routes::get;
    cfg.service(get("/v1/entries").to(entries))
        .service(get("/v1/entries/{seq}").to(entry))
        .service(get("/v1/blocks/{height}").to(block))
        .service(get("/v1/checkpoint").to(latest_checkpoint))
        .service(get("/v1/checkpoints/{size}").to(checkpoint))
        .service(get("/v1/proofs/inclusion").to(inclusion))
        .service(get("/v1/proofs/consistency").to(consistency))
        .service(get("/v1/stats").to(usage))
        .service(get("/v1/export").to(super::export::export));
}

/// Which requests of an audit route are recorded in the ledger.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Recording {
    /// Allowed reads and denials (routes that reveal entries).
    All,
    /// Denials only (routes that reveal hashes only).
    DenialsOnly,
}

/// An allowed audit request: who, and the receipt of its ledger entry if it was recorded.
pub struct Admitted {
    pub audit_receipt: Option<Receipt>,
}

impl Admitted {
    /// A `200` whose headers say where the read was recorded — `Vouch-Audit-Seq` and the
    /// `Vouch-Audit-Nonce` that opens its commitment — for answers whose body has no room for
    /// an `audit_receipt` (an export stream, a receipt).
    pub fn response(&self) -> actix_web::HttpResponseBuilder {
        let mut response = HttpResponse::Ok();
        if let Some(r) = &self.audit_receipt {
            use base64::Engine as _;
            if let (Ok(entry), Some(nonce)) = (crate::ledger::Entry::from_bytes(&r.entry), r.nonce)
            {
                response.insert_header(("Vouch-Audit-Seq", entry.seq().to_string()));
                response.insert_header((
                    "Vouch-Audit-Nonce",
                    base64::engine::general_purpose::STANDARD.encode(nonce),
                ));
            }
        }
        response
    }
}

/// Authenticates, judges the `audit` action and records what must be recorded. A denial answers
/// 403 with the deciding rules, their reasons and the receipt of the recorded denial.
pub async fn admit(
    req: &HttpRequest,
    state: &AppState,
    recording: Recording,
) -> Result<Admitted, Result<HttpResponse, ApiError>> {
    let auth = authenticate(req, state).map_err(Err)?;
    let decision = state
        .policy
        .authorize_audit(&auth.caller)
        .map_err(|e| Err(ApiError::Policy(e)))?;
    let allowed = decision.is_allowed();
    if allowed && recording == Recording::DenialsOnly {
        return Ok(Admitted {
            audit_receipt: None,
        });
    }
    let nonce = state.nonces.next32();
    let target = format!("{} {}", req.method(), req.uri());
    let draft = audit_draft(
        req,
        state,
        &auth,
        if allowed {
            Recorded::Allow
        } else {
            Recorded::Deny
        },
        decision.rules.clone(),
        commit_parts(&nonce, &[target.as_bytes()]),
    );
    let receipt = record(state, draft, nonce).await.map_err(Err)?;
    if allowed {
        return Ok(Admitted {
            audit_receipt: Some(receipt),
        });
    }
    let why: Vec<String> = decision
        .reasons
        .iter()
        .map(|r| format!("{} ({})", r.id, r.reason))
        .collect();
    Err(Ok(HttpResponse::Forbidden().json(json!({
        "error": format!("denied by policy: {}", why.join("; ")),
        "rules": decision.rules.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        "reasons": reasons(&decision),
        "receipt": receipt,
    }))))
}

fn audit_draft(
    req: &HttpRequest,
    state: &AppState,
    auth: &Authenticated,
    decision: Recorded,
    rules: Vec<RuleId>,
    input: Hash,
) -> EntryDraft {
    EntryDraft {
        request_id: req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            // Kept verbatim, so only an opaque token without personal data is kept at all.
            .filter(|v| v.len() <= 128 && super::body::check_recorded_texts(Some(v), None).is_ok())
            .map(str::to_string),
        caller: Some(auth.caller.id().clone()),
        credential: Some(auth.credential.clone()),
        model: None,
        input: Some(input),
        output: None,
        decision,
        rules,
        obligations: vec![],
        context: EntryContext {
            purpose: Some("audit".into()),
            data_categories: vec![],
            pii: vec![],
            // An audit read is not judged on a caller's declarations.
            ..EntryContext::default()
        },
        policy: Some(Hash::from_bytes(*state.policy.bundle_hash().as_bytes())),
    }
}

/// Runs `admit`, turning its two failure forms into the handler's result.
macro_rules! admit_or_answer {
    ($req:expr, $state:expr, $mode:expr) => {
        match admit($req, $state, $mode).await {
            Ok(a) => a,
            Err(Ok(denied)) => return Ok(denied),
            Err(Err(e)) => return Err(e),
        }
    };
}

/// Parses the query string into `T`, refusing unknown parameters (a misspelt filter must not
/// silently widen a query).
pub(super) fn query<T: serde::de::DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| QueryError::QueryString(e).into())
}

fn parse_time(name: &'static str, value: Option<&str>) -> Result<Option<u64>, ApiError> {
    let Some(v) = value else { return Ok(None) };
    let t = chrono::DateTime::parse_from_rfc3339(v).map_err(|source| QueryError::NotTime {
        name,
        value: v.to_string(),
        source,
    })?;
    Ok(Some(u64::try_from(t.timestamp_micros()).unwrap_or(0)))
}

pub(super) fn snapshot(state: &AppState) -> Result<(Extent, String), ApiError> {
    state
        .ledger
        .snapshot()
        .ok_or(ApiError::NotFound(NotFound::NoCheckpoint))
}

/// The extent and checkpoint of the tree of `size` blocks (the latest when `None`): a client
/// paging through a query pins the size of its first page, so that every page is proven against
/// the same checkpoint and the walk ends even while the log grows.
fn extent_at(state: &AppState, size: Option<u64>) -> Result<(Extent, String), ApiError> {
    let (latest, note) = snapshot(state)?;
    if size == Some(0) {
        return Err(ledger_error(LedgerError::SizeZero));
    }
    let Some(blocks) = size.filter(|s| *s != latest.blocks) else {
        return Ok((latest, note));
    };
    let checkpoint = state.ledger.checkpoint(blocks).map_err(ledger_error)?;
    let entries = state
        .ledger
        .store()
        .first_seq(Height::new(blocks))
        .map_err(Internal::from)?
        .get();
    Ok((Extent { blocks, entries }, checkpoint))
}

fn ledger_error(e: LedgerError) -> ApiError {
    ApiError::Ledger(e)
}

/// Runs blocking store reads off the HTTP worker.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    web::block(f).await.map_err(Internal::from)?
}

/// Entry `seq` with its proofs against the tree of `extent.blocks` blocks.
async fn prove_one(state: &AppState, seq: u64, extent: Extent) -> Result<ProvenEntry, ApiError> {
    let ledger = state.ledger.clone();
    blocking(move || {
        ledger
            .proven_at(&[Seq::new(seq)], extent)
            .map_err(ledger_error)?
            .pop()
            .ok_or(ApiError::NotFound(NotFound::Entry(seq)))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EntriesParams {
    caller: Option<String>,
    model: Option<String>,
    version: Option<String>,
    decision: Option<String>,
    rule: Option<String>,
    from: Option<String>,
    to: Option<String>,
    cursor: Option<u64>,
    limit: Option<usize>,
    size: Option<u64>,
}

impl EntriesParams {
    fn to_query(&self) -> Result<Query, ApiError> {
        let mut filters = vec![];
        if let Some(c) = &self.caller {
            filters.push(Filter::Caller(c.clone()));
        }
        match (&self.model, &self.version) {
            (Some(m), v) => filters.push(Filter::Model {
                name: m.clone(),
                version: v.clone(),
            }),
            (None, Some(_)) => return Err(QueryError::VersionWithoutModel.into()),
            (None, None) => {}
        }
        if let Some(d) = &self.decision {
            let d = match d.as_str() {
                "allow" => Recorded::Allow,
                "deny" => Recorded::Deny,
                "error" => Recorded::Error,
                other => return Err(QueryError::Decision(other.to_string()).into()),
            };
            filters.push(Filter::Decision(d));
        }
        if let Some(r) = &self.rule {
            filters.push(Filter::Rule(r.clone()));
        }
        Ok(Query {
            filters,
            from_micros: parse_time("from", self.from.as_deref())?,
            to_micros: parse_time("to", self.to.as_deref())?,
        })
    }
}

/// `GET /v1/entries?caller=&model=&version=&decision=&rule=&from=&to=&cursor=&limit=`.
async fn entries(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let params: EntriesParams = query(&req)?;
    let q = params.to_query()?;
    let limit = params.limit.unwrap_or(DEFAULT_PAGE);
    if limit == 0 || limit > MAX_PAGE {
        return Err(QueryError::Limit {
            limit,
            max: MAX_PAGE,
        }
        .into());
    }
    let admitted = admit_or_answer!(&req, &state, Recording::All);
    let (extent, checkpoint) = extent_at(&state, params.size)?;
    let ledger = state.ledger.clone();
    let cursor = params.cursor.unwrap_or(0);
    let (items, next) = blocking(move || entries_page(&ledger, &q, cursor, extent, limit)).await?;
    Ok(HttpResponse::Ok().json(json!({
        "checkpoint": checkpoint,
        "size": extent.blocks,
        "entries": items,
        "next_cursor": next,
        "audit_receipt": admitted.audit_receipt,
    })))
}

/// One page of a query: up to `limit` matching entries from seq `cursor` on, each with its proofs
/// against the tree of `extent.blocks` blocks (the page's one checkpoint completes them), and the
/// cursor of the next page.
pub fn entries_page(
    ledger: &crate::ledger::Ledger,
    q: &Query,
    cursor: u64,
    extent: Extent,
    limit: usize,
) -> Result<(Vec<ProvenEntry>, Option<u64>), ApiError> {
    let page = q
        .scan(ledger.store(), Seq::new(cursor), extent, limit)
        .map_err(Internal::from)?;
    let items = ledger.proven_at(&page.seqs, extent).map_err(ledger_error)?;
    Ok((items, page.next.map(Seq::get)))
}

fn parse_u64(what: &'static str, s: &str) -> Result<u64, ApiError> {
    s.parse().map_err(|_| {
        QueryError::NotInteger {
            what,
            value: s.to_string(),
        }
        .into()
    })
}

/// `GET /v1/entries/{seq}`: one entry with its proofs against the latest checkpoint.
async fn entry(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let seq = parse_u64("seq", &path)?;
    let admitted = admit_or_answer!(&req, &state, Recording::All);
    let (extent, checkpoint) = snapshot(&state)?;
    let proven = prove_one(&state, seq, extent).await?;
    Ok(HttpResponse::Ok().json(json!({
        "checkpoint": checkpoint,
        "size": extent.blocks,
        "entry": proven,
        "audit_receipt": admitted.audit_receipt,
    })))
}

/// `GET /v1/blocks/{height}`: the header (bytes and fields) and the checkpoint signed with it.
async fn block(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let height = parse_u64("height", &path)?;
    admit_or_answer!(&req, &state, Recording::DenialsOnly);
    let (extent, _) = snapshot(&state)?;
    if height >= extent.blocks {
        return Err(NotFound::Block {
            height,
            blocks: extent.blocks,
        }
        .into());
    }
    let store = state.ledger.store();
    let internal = |e: crate::ledger::StoreError| ApiError::from(Internal::from(e));
    let header = store
        .header(Height::new(height))
        .map_err(internal)?
        .ok_or(ApiError::Internal(Internal::MissingBlock(height)))?;
    let fields: serde_json::Value = serde_json::from_slice(&header).map_err(Internal::from)?;
    let checkpoint = store.checkpoint(Height::new(height)).map_err(internal)?;
    use base64::Engine as _;
    Ok(HttpResponse::Ok().json(json!({
        "height": height,
        "header": base64::engine::general_purpose::STANDARD.encode(&header),
        "fields": fields,
        "checkpoint": checkpoint,
    })))
}

/// `GET /v1/checkpoint`: the latest signed checkpoint.
async fn latest_checkpoint(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    admit_or_answer!(&req, &state, Recording::DenialsOnly);
    let (extent, checkpoint) = snapshot(&state)?;
    // With witnesses, also the newest checkpoint a quorum of them cosigned (`null` until one
    // is); it may trail the log's own by the witnessing interval.
    let cosigned = state.witnessing.latest();
    Ok(HttpResponse::Ok().json(json!({
        "checkpoint": checkpoint,
        "size": extent.blocks,
        "entries": extent.entries,
        "cosigned": cosigned.as_deref(),
    })))
}

/// `GET /v1/checkpoints/{size}`: the checkpoint signed when the log had `size` blocks.
async fn checkpoint(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let size = parse_u64("size", &path)?;
    admit_or_answer!(&req, &state, Recording::DenialsOnly);
    let note = state.ledger.checkpoint(size).map_err(ledger_error)?;
    Ok(HttpResponse::Ok().json(json!({ "checkpoint": note, "size": size })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InclusionParams {
    seq: u64,
    size: Option<u64>,
}

/// `GET /v1/proofs/inclusion?seq=&size=`: the entry's proofs against the checkpoint of `size`
/// blocks (default: the latest) — the receipt form, without nonce.
async fn inclusion(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let p: InclusionParams = query(&req)?;
    // The proof carries the whole entry: a read that reveals an entry is recorded.
    let admitted = admit_or_answer!(&req, &state, Recording::All);
    let (extent, checkpoint) = extent_at(&state, p.size)?;
    let proven = prove_one(&state, p.seq, extent).await?;
    Ok(admitted.response().json(proven.into_receipt(checkpoint)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsistencyParams {
    from: u64,
    to: Option<u64>,
}

/// `GET /v1/proofs/consistency?from=&to=`: RFC 9162 consistency proof between the trees of
/// `from` and `to` blocks (default: the latest).
async fn consistency(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let p: ConsistencyParams = query(&req)?;
    admit_or_answer!(&req, &state, Recording::DenialsOnly);
    let (latest, _) = snapshot(&state)?;
    let to = p.to.unwrap_or(latest.blocks);
    if p.from == 0 || p.from > to {
        return Err(QueryError::Consistency { from: p.from, to }.into());
    }
    let proof = state
        .ledger
        .consistency_proof(p.from, to)
        .map_err(ledger_error)?;
    Ok(HttpResponse::Ok().json(proof))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsParams {
    by: String,
    from: Option<String>,
    to: Option<String>,
    size: Option<u64>,
}

/// `GET /v1/stats?by=model|caller|decision|rule&from=&to=`: entry counts, from the indexes.
async fn usage(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let p: StatsParams = query(&req)?;
    let dimension = match p.by.as_str() {
        "model" => Dimension::Model,
        "caller" => Dimension::Caller,
        "decision" => Dimension::Decision,
        "rule" => Dimension::Rule,
        other => return Err(QueryError::Dimension(other.to_string()).into()),
    };
    let from = parse_time("from", p.from.as_deref())?;
    let to = parse_time("to", p.to.as_deref())?;
    let admitted = admit_or_answer!(&req, &state, Recording::All);
    let (extent, checkpoint) = extent_at(&state, p.size)?;
    let ledger = state.ledger.clone();
    let counts = blocking(move || {
        let store = ledger.store();
        let internal = |e: crate::ledger::StoreError| ApiError::from(Internal::from(e));
        let (lo, hi) = heights_in_time(store, from, to, extent.blocks).map_err(internal)?;
        stats(store, dimension, lo, hi).map_err(internal)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({
        "by": p.by,
        "from": p.from,
        "to": p.to,
        "counts": counts,
        "checkpoint": checkpoint,
        "size": extent.blocks,
        "audit_receipt": admitted.audit_receipt,
    })))
}
