//! Session setup: PQXDH (Signal's PQXDH specification, revision 3) and
//! classic X3DH (Signal's X3DH specification, revision 1), with a
//! transcript hash in the KDF input (docs/PROTOCOL.md §5).
//!
//! ```text
//! DH1 = DH(IK_A, SPK_B)   DH2 = DH(EK_A, IK_B)   DH3 = DH(EK_A, SPK_B)
//! DH4 = DH(EK_A, OPK_B)   (only with a one-time prekey)
//! (CT, SS) = ML-KEM-768.Encaps(PQPK_B)            (PQXDH only)
//! T   = SHA-256(HASH_TRANSCRIPT || prefix || IK_B || SPK_B || [OPK_B]   (IK_B: 64 key bytes)
//!               || [0x02 || PQPK_B] || u16(len(context)) || context)
//! RK0 || CK0 = HKDF(salt = 0^32, ikm = 0xFF^32 || DH1 || DH2 || DH3 || [DH4] || [SS],
//!                   info = (KDF_PQXDH or KDF_X3DH) || T)
//! ```
//!
//! `prefix` is the prekey message up to its inner message: version, type,
//! flags, the initiator's whole identity encoding, the signed prekey id,
//! the base key, the one-time prekey id and, for PQXDH, the PQ prekey kind,
//! id and KEM ciphertext. Any change to any of those
//! bytes, or to the responder's keys or the context, changes RK0 and CK0.

use zeroize::Zeroizing;

use crate::error::KeyError;
use crate::identity::{IdentityKeyPair, PublicIdentity};
use crate::labels;
use crate::primitives::dh::{SharedSecret, X25519KeyPair, X25519PublicKey};
use crate::primitives::kdf::{hkdf_sha256, sha256};
use crate::primitives::kem::MlKemPublicKey;
use crate::ratchet::{ChainKey, RootKey, split_root_and_chain};
use crate::wire::KEY_TYPE_ML_KEM_768;

/// The longest context accepted, in bytes. Context is what the app binds
/// a conversation to (both parties' user and device ids, say); 1 KiB is
/// far more than that needs.
pub const MAX_CONTEXT_LEN: usize = 1024;

/// Builds the context for a conversation from the two parties' addresses
/// (for instance `b"user-id/device-id"`), initiator first:
/// `u16(len(initiator)) || initiator || u16(len(responder)) || responder`.
///
/// Both sides know who initiated (the responder learns it from the first
/// message), so both build the same bytes, and the length prefixes keep
/// distinct address pairs from producing the same context. Addresses
/// longer than `MAX_CONTEXT_LEN` together make a context that session
/// setup refuses with `ContextTooLong`.
pub fn conversation_context(initiator: &[u8], responder: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + initiator.len() + responder.len());
    for part in [initiator, responder] {
        match u16::try_from(part.len()) {
            Ok(len) => out.extend_from_slice(&len.to_be_bytes()),
            // Longer than any accepted context: make sure it is refused.
            Err(_) => out.resize(MAX_CONTEXT_LEN + 1, 0),
        }
        out.extend_from_slice(part);
    }
    out
}

/// `u16` length prefix of the context; callers check `MAX_CONTEXT_LEN`
/// first, so the conversion cannot saturate.
fn context_len(context: &[u8]) -> [u8; 2] {
    u16::try_from(context.len()).unwrap_or(u16::MAX).to_be_bytes()
}

/// The transcript hash `T` above.
pub(crate) fn transcript_hash(
    prefix: &[u8],
    responder: &PublicIdentity,
    signed_prekey: &X25519PublicKey,
    one_time_prekey: Option<&X25519PublicKey>,
    pq_prekey: Option<&MlKemPublicKey>,
    context: &[u8],
) -> [u8; 32] {
    let responder = responder.key_bytes();
    let otk = one_time_prekey.map(|k| k.as_bytes().as_slice()).unwrap_or_default();
    let (pq_type, pq_key): (&[u8], &[u8]) = match pq_prekey {
        Some(k) => (&[KEY_TYPE_ML_KEM_768], k.as_bytes().as_slice()),
        None => (&[], &[]),
    };
    sha256(&[
        labels::HASH_TRANSCRIPT,
        prefix,
        &responder,
        signed_prekey.as_bytes(),
        otk,
        pq_type,
        pq_key,
        &context_len(context),
        context,
    ])
}

/// Which key agreement set a session up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum SessionSetup {
    /// PQXDH: X3DH plus an ML-KEM-768 shared secret. Confidential against
    /// a future quantum adversary who recorded the traffic.
    Pqxdh,
    /// Classic X3DH only, allowed only where the account opted in with
    /// [`crate::Account::set_classic_x3dh`].
    ClassicX3dh,
}

/// Whether an account takes part in **weaker** classic X3DH session setup,
/// without a post-quantum KEM (docs/PROTOCOL.md §5.7). A session set up
/// classically is open to "harvest now, decrypt later" by a future quantum
/// adversary. Accepting and starting are separate, so an account that
/// accepts first messages from legacy peers does not also let a server
/// downgrade the sessions it starts.
///
/// Whatever the setting, a bundle whose owner signed that it publishes PQ
/// prekeys is refused without one ([`crate::StartError::PqPreKeyStripped`]),
/// and an account always starts PQXDH when the bundle has a PQ prekey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ClassicX3dh {
    /// Neither start nor accept classic setups (the default).
    #[default]
    Refuse,
    /// Accept first messages without PQ fields (from peers that cannot do
    /// PQXDH), but start sessions only with PQXDH.
    Accept,
    /// Accept them, and also start a classic session from a bundle without
    /// a PQ prekey whose owner did not sign that it publishes them.
    AcceptAndInitiate,
}

impl ClassicX3dh {
    pub(crate) fn accepts(self) -> bool {
        matches!(self, Self::Accept | Self::AcceptAndInitiate)
    }

    pub(crate) fn initiates(self) -> bool {
        matches!(self, Self::AcceptAndInitiate)
    }

    /// The byte a pickle stores (docs/PROTOCOL.md §8.3).
    pub(crate) fn to_byte(self) -> u8 {
        match self {
            Self::Refuse => 0,
            Self::Accept => 1,
            Self::AcceptAndInitiate => 2,
        }
    }

    pub(crate) fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            0 => Some(Self::Refuse),
            1 => Some(Self::Accept),
            2 => Some(Self::AcceptAndInitiate),
            _ => None,
        }
    }
}

/// The associated-data prefix of every message of a session:
/// `SHA-256(HASH_SESSION_AD || IK_A || IK_B || u16(len(context)) || context)`
/// with both identities as their 64 key bytes, initiator first.
pub(crate) fn session_ad(initiator: &PublicIdentity, responder: &PublicIdentity, context: &[u8]) -> [u8; 32] {
    sha256(&[labels::HASH_SESSION_AD, &initiator.key_bytes(), &responder.key_bytes(), &context_len(context), context])
}

/// The KEM shared secret appended after the DH outputs (PQXDH §3.3).
fn derive(secrets: &[SharedSecret], kem_secret: Option<&[u8; 32]>, transcript: &[u8; 32]) -> (RootKey, ChainKey) {
    let mut ikm = Zeroizing::new(Vec::with_capacity(32 * 6));
    ikm.extend_from_slice(&[0xff; 32]);
    for s in secrets {
        ikm.extend_from_slice(s.as_bytes());
    }
    let label = match kem_secret {
        Some(ss) => {
            ikm.extend_from_slice(ss);
            labels::KDF_PQXDH
        }
        None => labels::KDF_X3DH,
    };
    let okm = hkdf_sha256::<64>(&[0u8; 32], &ikm, &[label, transcript]);
    split_root_and_chain(&okm)
}

/// The initiator's side: `ours` and `base` against the bundle's keys.
pub(crate) fn initiator(
    ours: &IdentityKeyPair,
    base: &X25519KeyPair,
    responder: &PublicIdentity,
    signed_prekey: &X25519PublicKey,
    one_time_prekey: Option<&X25519PublicKey>,
    kem_secret: Option<&[u8; 32]>,
    transcript: &[u8; 32],
) -> Result<(RootKey, ChainKey), KeyError> {
    let mut secrets = vec![
        ours.agreement().diffie_hellman(signed_prekey)?,
        base.diffie_hellman(&responder.agreement_key())?,
        base.diffie_hellman(signed_prekey)?,
    ];
    if let Some(otk) = one_time_prekey {
        secrets.push(base.diffie_hellman(otk)?);
    }
    Ok(derive(&secrets, kem_secret, transcript))
}

/// The responder's side, mirroring [`initiator`].
pub(crate) fn responder(
    ours: &IdentityKeyPair,
    signed_prekey: &X25519KeyPair,
    one_time_prekey: Option<&X25519KeyPair>,
    initiator: &PublicIdentity,
    base_key: &X25519PublicKey,
    kem_secret: Option<&[u8; 32]>,
    transcript: &[u8; 32],
) -> Result<(RootKey, ChainKey), KeyError> {
    let mut secrets = vec![
        signed_prekey.diffie_hellman(&initiator.agreement_key())?,
        ours.agreement().diffie_hellman(base_key)?,
        signed_prekey.diffie_hellman(base_key)?,
    ];
    if let Some(otk) = one_time_prekey {
        secrets.push(otk.diffie_hellman(base_key)?);
    }
    Ok(derive(&secrets, kem_secret, transcript))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_setup_settings_say_what_they_allow_and_store_as_their_byte() {
        let all = [ClassicX3dh::Refuse, ClassicX3dh::Accept, ClassicX3dh::AcceptAndInitiate];
        assert_eq!(all.map(ClassicX3dh::accepts), [false, true, true]);
        assert_eq!(all.map(ClassicX3dh::initiates), [false, false, true]);
        assert_eq!(all.map(ClassicX3dh::to_byte), [0, 1, 2]);
        for setting in all {
            assert_eq!(ClassicX3dh::from_byte(setting.to_byte()), Some(setting));
        }
        assert_eq!(ClassicX3dh::from_byte(3), None);
    }

    #[test]
    fn conversation_contexts_of_different_address_pairs_differ() {
        assert_ne!(conversation_context(b"ab", b"c"), conversation_context(b"a", b"bc"));
        assert_ne!(conversation_context(b"a", b"b"), conversation_context(b"b", b"a"));
        assert_eq!(conversation_context(b"alice/1", b"bob/2"), b"\x00\x07alice/1\x00\x05bob/2");
        // An oversized part is longer than u16::MAX bytes by itself, so the
        // padding to MAX_CONTEXT_LEN + 1 before it is belt and braces: no
        // other padding length could make the context acceptable (the
        // mutants `+ 1` -> `- 1` / `* 1` there are equivalent).
        assert!(conversation_context(&[0; 70_000], b"b").len() > MAX_CONTEXT_LEN);
        assert!(conversation_context(&[0; 2_000], &[0; 70_000]).len() > MAX_CONTEXT_LEN);
    }
}
