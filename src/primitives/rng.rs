//! The operating system's random number generator.

use getrandom::rand_core::UnwrapErr;

/// The OS generator used by the convenience methods (`Account::new`,
/// `Session::encrypt`, ...). Every such method has a `*_with_rng` twin
/// taking any `CryptoRng`.
///
/// A failure of the OS generator panics: there is no safe way to continue
/// producing keys without randomness.
pub(crate) fn os_rng() -> UnwrapErr<getrandom::SysRng> {
    UnwrapErr(getrandom::SysRng)
}
