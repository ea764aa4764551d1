//! Test-only counters of expensive operations, so tests can show that a
//! forged or oversized input is refused after bounded work without timing
//! anything. Thread-local: parallel tests do not disturb each other.
//! Compiled only under `cfg(test)`; no public feature exposes it.

use std::cell::Cell;

thread_local! {
    static DH: Cell<u64> = const { Cell::new(0) };
    static HMAC: Cell<u64> = const { Cell::new(0) };
    static KDF: Cell<u64> = const { Cell::new(0) };
    static SIG: Cell<u64> = const { Cell::new(0) };
    static AEAD: Cell<u64> = const { Cell::new(0) };
    static SESSIONS: Cell<u64> = const { Cell::new(0) };
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Work {
    pub(crate) dh: u64,
    pub(crate) hmac: u64,
    pub(crate) kdf: u64,
    pub(crate) signature_checks: u64,
    pub(crate) aead_opens: u64,
    /// Sessions a conversation message was tried on.
    pub(crate) sessions_tried: u64,
}

pub(crate) fn count_dh() {
    DH.with(|c| c.set(c.get() + 1));
}
pub(crate) fn count_hmac() {
    HMAC.with(|c| c.set(c.get() + 1));
}
pub(crate) fn count_kdf() {
    KDF.with(|c| c.set(c.get() + 1));
}
pub(crate) fn count_signature_check() {
    SIG.with(|c| c.set(c.get() + 1));
}
pub(crate) fn count_session_attempt() {
    SESSIONS.with(|c| c.set(c.get() + 1));
}
pub(crate) fn count_aead() {
    AEAD.with(|c| c.set(c.get() + 1));
}

/// Runs `f` and returns what it did, with its result.
pub(crate) fn measure<T>(f: impl FnOnce() -> T) -> (T, Work) {
    let before = snapshot();
    let out = f();
    let after = snapshot();
    (
        out,
        Work {
            dh: after.dh - before.dh,
            hmac: after.hmac - before.hmac,
            kdf: after.kdf - before.kdf,
            signature_checks: after.signature_checks - before.signature_checks,
            aead_opens: after.aead_opens - before.aead_opens,
            sessions_tried: after.sessions_tried - before.sessions_tried,
        },
    )
}

fn snapshot() -> Work {
    Work {
        dh: DH.with(Cell::get),
        hmac: HMAC.with(Cell::get),
        kdf: KDF.with(Cell::get),
        signature_checks: SIG.with(Cell::get),
        aead_opens: AEAD.with(Cell::get),
        sessions_tried: SESSIONS.with(Cell::get),
    }
}
