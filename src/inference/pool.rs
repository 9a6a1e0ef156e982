//! A pool of ONNX Runtime sessions for one model version.
//!
//! `Session::run` takes `&mut self`, so a session serves one call at a time. The pool holds up to
//! `size` sessions (by default one per CPU): a call first awaits a permit on the async side — so
//! waiting never occupies a thread — then, on a blocking thread, takes an idle session or builds
//! one from the verified model bytes. The session goes back to the pool when the lease drops.

use std::sync::{Arc, Mutex};

use ort::environment::Environment;
use ort::session::Session;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub(crate) struct SessionPool {
    environment: Environment,
    /// The model file exactly as hashed at load time: sessions are built from these bytes, never
    /// from the file again.
    model: Arc<[u8]>,
    intra_threads: usize,
    idle: Mutex<Vec<Session>>,
    permits: Arc<Semaphore>,
}

impl SessionPool {
    /// A pool of `size` sessions (at least one), seeded with `first`.
    pub(crate) fn new(
        environment: Environment,
        model: Arc<[u8]>,
        size: usize,
        intra_threads: usize,
        first: Session,
    ) -> Self {
        SessionPool {
            environment,
            model,
            intra_threads,
            idle: Mutex::new(vec![first]),
            permits: Arc::new(Semaphore::new(size.max(1))),
        }
    }

    /// Builds a session on these bytes.
    pub(crate) fn build(
        environment: &Environment,
        model: &[u8],
        intra_threads: usize,
    ) -> ort::Result<Session> {
        Session::builder(environment)?
            .with_intra_threads(intra_threads.max(1))?
            .with_inter_threads(1)?
            .commit_from_memory(model)
    }

    /// Waits for a free slot. `None` only if the pool was closed, which never happens while the
    /// pool lives.
    pub(crate) async fn acquire(self: &Arc<Self>) -> Option<Lease> {
        let permit = Arc::clone(&self.permits).acquire_owned().await.ok()?;
        Some(Lease {
            pool: Arc::clone(self),
            session: None,
            permit: Some(permit),
        })
    }

    /// Without waiting: a pooled slot if one is free, else a lease outside the pool's bound whose
    /// session (built on first use) is dropped afterwards. For callers that are not async (the
    /// command line, batch jobs); the service uses [`SessionPool::acquire`].
    pub(crate) fn lease_now(self: &Arc<Self>) -> Lease {
        let permit = Arc::clone(&self.permits).try_acquire_owned().ok();
        Lease {
            pool: Arc::clone(self),
            session: None,
            permit,
        }
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Session>> {
        // A panic while holding the lock leaves the Vec intact; keep using it.
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The right to use one session of the pool; give it to a blocking thread.
pub(crate) struct Lease {
    pool: Arc<SessionPool>,
    session: Option<Session>,
    /// `None` for a lease outside the pool's bound.
    permit: Option<OwnedSemaphorePermit>,
}

impl Lease {
    /// The leased session: an idle one, or a new one if every existing one is busy (or if the
    /// lease is outside the pool's bound). Blocks while building, so call it on a blocking thread.
    pub(crate) fn session(&mut self) -> ort::Result<&mut Session> {
        if self.session.is_none() && self.permit.is_some() {
            self.session = self.pool.idle().pop();
        }
        let session = match self.session.take() {
            Some(s) => s,
            None => SessionPool::build(
                &self.pool.environment,
                &self.pool.model,
                self.pool.intra_threads,
            )?,
        };
        Ok(self.session.insert(session))
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let (Some(session), Some(_)) = (self.session.take(), &self.permit) {
            self.pool.idle().push(session);
        }
        // The permit is released after this, once the session is back.
    }
}
