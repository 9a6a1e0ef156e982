//! One audited inference call, whichever transport carried it (REST in `infer.rs`, gRPC in
//! `grpc/`): facts (declared context, personal data detected) → policy → run the model →
//! post-inference rules → append one ledger entry (allowed, denied or failed alike). The transport
//! authenticates, resolves the model, decodes its request and the canonical bytes its input
//! commitment covers, and writes the [`Outcome`] in its own form; the output commitment is the
//! transport's too, computed by the `encode` step it passes in.
//!
//! It knows nothing of HTTP or gRPC.

use serde_json::{Map, Value};

use super::auth::Authenticated;
use super::error::{ApiError, Internal};
use super::AppState;
use crate::ids::{CallerId, CredentialId};
use crate::inference::{top_probability, InferRequest, InferResponse, Manifest, VersionManifest};
use crate::ledger::{
    commit_parts, Appended, Decision as Entered, Declared, EntryContext, EntryDraft, Hash,
    ModelRef, Receipt,
};
use crate::policy::{detect, CallContext, Decision, ModelFacts};

/// A decoded call, as the transport hands it over.
pub(super) struct CallRequest<'a> {
    /// The request with its `parameters` taken out (they are in `parameters`).
    pub request: InferRequest,
    /// The request's `parameters`, in their v2 JSON form.
    pub parameters: Map<String, Value>,
    /// What the input commitment covers, in order: H(nonce ‖ parts…).
    pub input_parts: &'a [&'a [u8]],
    /// The size of the request as it arrived, for the rules (`context.input_bytes`).
    pub input_bytes: u64,
}

/// A recorded call: its ledger entry, and the nonce its commitments and receipt use.
pub(super) struct RecordedCall {
    pub appended: Appended,
    pub nonce: [u8; 32],
}

impl RecordedCall {
    /// The receipt as JSON, with the nonce: what the caller keeps.
    pub fn receipt_json(&self) -> Result<Vec<u8>, ApiError> {
        let mut out = Vec::with_capacity(1024);
        self.appended
            .write_receipt_json(Some(&self.nonce), &mut out)
            .map_err(Internal::from)?;
        Ok(out)
    }
}

/// How a call ended. `T` is the transport's encoded answer, made by its `encode` step.
pub(super) enum Outcome<T> {
    /// Bench only (`Limits::bare`, in a `bench-bare` build): run without policy and ledger.
    Bare(InferResponse),
    /// Allowed and answered; `obligations` go back with the answer.
    Allowed {
        answer: T,
        recorded: RecordedCall,
        obligations: Vec<String>,
    },
    /// Denied by the rules, before or after inference.
    Denied {
        request_id: Option<String>,
        decision: Decision,
        recorded: RecordedCall,
    },
    /// Allowed, but the model failed or overran its time: recorded as an error.
    Failed {
        request_id: Option<String>,
        error: ApiError,
        recorded: RecordedCall,
    },
}

impl<T> Outcome<T> {
    /// The decision as the metrics and the log name it.
    pub fn decision(&self) -> &'static str {
        match self {
            Outcome::Bare(_) => "bare",
            Outcome::Allowed { .. } => Entered::Allow.as_str(),
            Outcome::Denied { .. } => Entered::Deny.as_str(),
            Outcome::Failed { .. } => Entered::Error.as_str(),
        }
    }
}

/// What the ledger records of one call, before its decision and output, and the nonce its
/// commitments and receipt use.
struct Facts {
    request_id: Option<String>,
    caller: CallerId,
    credential: CredentialId,
    model: ModelRef,
    input: Hash,
    context: EntryContext,
    policy: Hash,
    nonce: [u8; 32],
}

impl Facts {
    fn draft(&self, decision: Entered, judged: &Decision, output: Option<Hash>) -> EntryDraft {
        EntryDraft {
            request_id: self.request_id.clone(),
            caller: Some(self.caller.clone()),
            credential: Some(self.credential.clone()),
            model: Some(self.model.clone()),
            input: Some(self.input),
            output,
            decision,
            rules: judged.rules.clone(),
            obligations: if decision == Entered::Allow {
                judged.obligations.clone()
            } else {
                vec![]
            },
            context: self.context.clone(),
            policy: Some(self.policy),
        }
    }
}

pub(super) async fn append(state: &AppState, draft: EntryDraft) -> Result<Appended, ApiError> {
    state
        .ledger
        .append(draft)
        .await
        .map_err(ApiError::Unrecorded)
}

pub(super) async fn record(
    state: &AppState,
    draft: EntryDraft,
    nonce: [u8; 32],
) -> Result<Receipt, ApiError> {
    let mut receipt = append(state, draft).await?.receipt();
    receipt.nonce = Some(nonce);
    Ok(receipt)
}

/// Judges, runs and records one call. `encode` turns the model's response into the transport's
/// answer and returns the output commitment over it (under the nonce it is given); it runs only
/// for an allowed call, before the entry is appended.
pub(super) async fn run<T>(
    state: &AppState,
    auth: &Authenticated,
    model: (&Manifest, &VersionManifest),
    call: CallRequest<'_>,
    encode: impl FnOnce(InferResponse, &[u8; 32]) -> Result<(Hash, T), ApiError>,
) -> Result<Outcome<T>, ApiError> {
    let (manifest, vmanifest) = model;
    let CallRequest {
        request,
        parameters,
        input_parts,
        input_bytes,
    } = call;
    let name = manifest.name.as_str();
    let version = Some(vmanifest.version.as_str());
    let request_id = request.id.clone();
    let context = CallContext::from_parameters(&parameters)?;
    if !state.limits.bare() {
        super::body::check_recorded_texts(request_id.as_deref(), context.purpose())?;
    }
    let prepared = state.registry.prepare(name, version, request)?;

    if state.limits.bare() {
        return Ok(Outcome::Bare(prepared.run().await?));
    }

    let pii = {
        let mut texts: Vec<&str> = prepared.text_inputs().collect();
        texts.extend(detect::parameter_texts(&parameters));
        detect::scan(texts)
    };
    let context = context.with_pii(pii).with_input_bytes(input_bytes);
    // The nonce hides the commitments: it must be unpredictable, not fresh from the kernel.
    // `Nonces::system` is the thread's generator, a CSPRNG seeded (and reseeded) from the OS;
    // drawing from it spares a system call per call. Keys are still drawn from the OS directly.
    let built;
    let model_facts = match state
        .facts
        .get(&manifest.name)
        .and_then(|v| v.get(&vmanifest.version))
    {
        Some(f) => f,
        None => {
            built = ModelFacts::new(&super::model_description(manifest, vmanifest))?;
            &built
        }
    };
    let nonce = state.nonces.next32();
    let sha256 = Hash::from_hex(prepared.sha256()).map_err(Internal::from)?;
    let facts = Facts {
        request_id: request_id.clone(),
        caller: auth.caller.id().clone(),
        credential: auth.credential.clone(),
        model: ModelRef {
            name: prepared.model().to_string(),
            version: prepared.version().to_string(),
            sha256,
        },
        // The caller opens it from exactly what it sent (docs/LEDGER.md, "Commitments").
        input: commit_parts(&nonce, input_parts),
        context: EntryContext {
            purpose: context.purpose().map(str::to_string),
            // What the input holds, as the rules saw it: declared, detected or in the nature
            // of the model's inputs.
            data_categories: context
                .categories(model_facts.input_categories())
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
            pii: context
                .pii()
                .kind_names()
                .into_iter()
                .map(str::to_string)
                .collect(),
            // What the decision relied on beyond that, so a disputed call can be judged again
            // (docs/LEDGER.md, "Entry versions").
            declared: Some(Declared {
                categories: context
                    .data_categories()
                    .iter()
                    .map(|c| c.as_str().to_string())
                    .collect(),
                commercial: context.commercial(),
                consent: context.consent(),
                separate_consent: context.separate_consent(),
                terms_version: context.terms_version().map(str::to_string),
            }),
            input_bytes: Some(context.input_bytes()),
            pii_scan_complete: Some(!context.pii().truncated()),
        },
        policy: Hash::from_bytes(*state.policy.bundle_hash().as_bytes()),
        nonce,
    };

    let decision = state
        .policy
        .decide_with(&auth.caller, model_facts, &context)?;
    if !decision.is_allowed() {
        return deny(state, &facts, decision).await;
    }

    // The deadline holds to the nanosecond: an answer that comes after it (the timer only ticks
    // every millisecond, and a busy worker may look at it late) is an overrun all the same.
    let deadline = tokio::time::Instant::now() + state.limits.call_timeout;
    let ran = tokio::time::timeout_at(deadline, prepared.run())
        .await
        .ok()
        .filter(|_| tokio::time::Instant::now() <= deadline);
    let response = match ran {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            tracing::warn!(model = name, request_id = ?request_id, error = %e, "inference failed");
            return failed(state, &facts, &decision, ApiError::from(e)).await;
        }
        None => {
            let ms = u64::try_from(state.limits.call_timeout.as_millis()).unwrap_or(u64::MAX);
            return failed(state, &facts, &decision, ApiError::Timeout(ms)).await;
        }
    };

    let top = top_probability(vmanifest, &response);
    // The call reached the model: whatever happens now is recorded, a judgement that cannot be
    // made (an output that is not a probability, say) as an error.
    let post = match state
        .policy
        .decide_after(&decision, &auth.caller, model_facts, &context, top)
    {
        Ok(post) => post,
        Err(e) => {
            tracing::warn!(model = name, error = %e, "the model's output could not be judged");
            return failed(state, &facts, &decision, ApiError::from(e)).await;
        }
    };
    if !post.is_allowed() {
        return deny(state, &facts, post).await;
    }
    let (output, answer) = encode(response, &nonce)?;
    let appended = append(state, facts.draft(Entered::Allow, &post, Some(output))).await?;
    Ok(Outcome::Allowed {
        answer,
        recorded: RecordedCall { appended, nonce },
        obligations: post.obligations,
    })
}

async fn deny<T>(
    state: &AppState,
    facts: &Facts,
    decision: Decision,
) -> Result<Outcome<T>, ApiError> {
    let appended = append(state, facts.draft(Entered::Deny, &decision, None)).await?;
    Ok(Outcome::Denied {
        request_id: facts.request_id.clone(),
        decision,
        recorded: RecordedCall {
            appended,
            nonce: facts.nonce,
        },
    })
}

async fn failed<T>(
    state: &AppState,
    facts: &Facts,
    decision: &Decision,
    error: ApiError,
) -> Result<Outcome<T>, ApiError> {
    let appended = append(state, facts.draft(Entered::Error, decision, None)).await?;
    Ok(Outcome::Failed {
        request_id: facts.request_id.clone(),
        error,
        recorded: RecordedCall {
            appended,
            nonce: facts.nonce,
        },
    })
}
