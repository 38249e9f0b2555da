//! Small cross-cutting pieces every layer may use and that use nothing of the crate: the
//! error-chain formatter (`error_chain`), liveness promises for awaited steps
//! (`liveness`), the one backoff builder (`retry`) and process hardening at start
//! (`hardening`).

pub(crate) mod error_chain;
pub mod hardening;
pub(crate) mod liveness;
pub(crate) mod retry;
