//! Pickles: versioned snapshots of live state, plain or encrypted
//! (docs/PROTOCOL.md §8).
//!
//! Live types are not `Serialize`; only these snapshots are, so plaintext
//! state is never written by accident. Plain pickle bytes are a header
//! (magic, type, version) and the postcard encoding. Encrypted pickles
//! never use the caller's key directly:
//!
//! ```text
//! header = "DMSP" || type (1) || version (u32 BE) || salt (32, fresh)
//! key || nonce = HKDF(salt, caller_key, info = label || context), 44 bytes
//! pickle = header || ChaCha20-Poly1305(key, nonce, ad = header, postcard)
//! ```
//!
//! The label is the pickle kind's; the context is empty for the public
//! pickles (accounts, sessions, groups) and names the owning device for the
//! records a [`crate::Conversations`] seals (docs/PROTOCOL.md §13.2).

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::PickleError;
use crate::labels;
use crate::primitives::aead::{AeadKey, TAG_LEN};
use crate::primitives::kdf::hkdf_sha256;

/// The pickle format version this crate writes. It reads this one and
/// every version back to [`MIN_PICKLE_VERSION`], migrating older pickles
/// as it reads them (docs/PROTOCOL.md §8.4).
pub const PICKLE_VERSION: u32 = 2;

/// The oldest pickle format version this crate reads: version 1, from
/// before the KEM ratchet. Its sessions restore without the KEM ratchet.
pub const MIN_PICKLE_VERSION: u32 = 1;

/// Refuses a pickle version this crate does not read.
pub(crate) fn check_version(found: u32) -> Result<(), PickleError> {
    if (MIN_PICKLE_VERSION..=PICKLE_VERSION).contains(&found) {
        Ok(())
    } else {
        Err(PickleError::UnsupportedVersion { found, supported: PICKLE_VERSION })
    }
}

const MAGIC: &[u8; 4] = b"DMSP";
const TYPE_ACCOUNT: u8 = 1;
const TYPE_SESSION: u8 = 2;
pub(crate) const TYPE_GROUP: u8 = 3;
pub(crate) const TYPE_SESSION_RECORD: u8 = 4;
pub(crate) const TYPE_USER_RECORD: u8 = 5;
pub(crate) const TYPE_DEVICE_RECORD: u8 = 6;
pub(crate) const TYPE_OUTBOX_ROW: u8 = 7;
pub(crate) const TYPE_GROUP_OUTBOX_ROW: u8 = 8;
pub(crate) const TYPE_LINK_HANDOVER: u8 = 9;
const HEADER_LEN: usize = 4 + 1 + 4;
const SALT_LEN: usize = 32;

/// A pickle kind: its type byte and KDF label.
pub(crate) trait PickleKind: Serialize + for<'de> Deserialize<'de> {
    const TYPE: u8;
    const LABEL: &'static [u8];
    fn version(&self) -> u32;
}

fn header(kind: u8) -> [u8; HEADER_LEN] {
    let mut h = [0u8; HEADER_LEN];
    let (m, rest) = h.split_at_mut(4);
    m.copy_from_slice(MAGIC);
    let (t, v) = rest.split_at_mut(1);
    t.copy_from_slice(&[kind]);
    v.copy_from_slice(&PICKLE_VERSION.to_be_bytes());
    h
}

/// Checks a header and returns what follows it.
fn check_header(bytes: &[u8], kind: u8) -> Result<&[u8], PickleError> {
    let (head, rest) = bytes.split_at_checked(HEADER_LEN).ok_or(PickleError::Malformed)?;
    let (magic, tail) = head.split_at(4);
    if magic != MAGIC {
        return Err(PickleError::Malformed);
    }
    let (found, version) = tail.split_at(1);
    let found = found.first().copied().unwrap_or_default();
    if found != kind {
        return Err(PickleError::WrongType { found, expected: kind });
    }
    let mut v = [0u8; 4];
    v.copy_from_slice(version);
    check_version(u32::from_be_bytes(v))?;
    Ok(rest)
}

/// The AEAD key and nonce of one pickle: HKDF info is the kind's label
/// followed by `context`.
fn pickle_key(kind_label: &[u8], context: &[u8], key: &[u8; 32], salt: &[u8]) -> AeadKey {
    AeadKey::from_okm(&hkdf_sha256::<44>(salt, key, &[kind_label, context]))
}

/// `prefix || postcard(pickle)` in a buffer sized up front, so no partial
/// copy of the secrets is left behind by a reallocation.
fn serialize<P: PickleKind>(prefix: &[u8], pickle: &P) -> Zeroizing<Vec<u8>> {
    let size = postcard::serialize_with_flavor(pickle, postcard::ser_flavors::Size::default()).unwrap_or_default();
    let mut out = Zeroizing::new(Vec::with_capacity(prefix.len() + size));
    out.extend_from_slice(prefix);
    // Serializing plain data into a Vec cannot fail.
    if let Ok(filled) = postcard::to_extend(pickle, core::mem::take(&mut *out)) {
        *out = filled;
    }
    out
}

pub(crate) fn to_bytes<P: PickleKind>(pickle: &P) -> Zeroizing<Vec<u8>> {
    serialize(&header(P::TYPE), pickle)
}

pub(crate) fn from_bytes<P: PickleKind>(bytes: &[u8]) -> Result<P, PickleError> {
    let body = check_header(bytes, P::TYPE)?;
    let (pickle, rest): (P, &[u8]) = postcard::take_from_bytes(body).map_err(|_| PickleError::Malformed)?;
    if !rest.is_empty() {
        return Err(PickleError::Malformed);
    }
    check_version(pickle.version())?;
    Ok(pickle)
}

/// Seals `pickle` under `key`, bound to `context` (empty for a standalone
/// pickle): it opens only with the same key and context.
pub(crate) fn encrypt<P: PickleKind, R: CryptoRng + ?Sized>(
    pickle: &P,
    key: &[u8; 32],
    context: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    let mut head = header(P::TYPE).to_vec();
    head.extend_from_slice(&salt);
    let body = serialize(&[], pickle);
    let ciphertext = pickle_key(P::LABEL, context, key, &salt).seal(&head, &body);
    head.extend_from_slice(&ciphertext);
    head
}

/// Opens a pickle sealed by [`encrypt`] under `key` and `context`; any
/// other key or context fails as [`PickleError::WrongKeyOrCorrupted`].
pub(crate) fn decrypt<P: PickleKind>(bytes: &[u8], key: &[u8; 32], context: &[u8]) -> Result<P, PickleError> {
    let rest = check_header(bytes, P::TYPE)?;
    let (salt, ciphertext) = rest.split_at_checked(SALT_LEN).ok_or(PickleError::Malformed)?;
    if ciphertext.len() < TAG_LEN {
        return Err(PickleError::Malformed);
    }
    let ad = bytes.get(..HEADER_LEN + SALT_LEN).ok_or(PickleError::Malformed)?;
    let body = Zeroizing::new(
        pickle_key(P::LABEL, context, key, salt).open(ad, ciphertext).map_err(|_| PickleError::WrongKeyOrCorrupted)?,
    );
    let (pickle, rest): (P, &[u8]) = postcard::take_from_bytes(&body).map_err(|_| PickleError::Malformed)?;
    if !rest.is_empty() {
        return Err(PickleError::Malformed);
    }
    check_version(pickle.version())?;
    Ok(pickle)
}

/// Implements the pickle API (bytes, encryption) for a pickle type.
macro_rules! pickle_api_impl {
    ($ty:ident, $kind:expr, $label:expr) => {
        $crate::pickle::pickle_api!($ty, $kind, $label, version);
    };
    ($ty:ident, $kind:expr, $label:expr, $($version:ident).+) => {
        impl $crate::pickle::PickleKind for $ty {
            const TYPE: u8 = $kind;
            const LABEL: &'static [u8] = $label;
            fn version(&self) -> u32 {
                self.$($version).+
            }
        }

        impl $ty {
            /// The plain (unencrypted) bytes: header and postcard encoding.
            /// They hold private keys: store them only somewhere as safe as
            /// the keys themselves, or use [`Self::encrypt`].
            pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
                $crate::pickle::to_bytes(self)
            }

            /// Reads plain bytes written by [`Self::to_bytes`].
            ///
            /// # Errors
            ///
            /// A [`PickleError`] for a wrong header or malformed body.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, $crate::PickleError> {
                $crate::pickle::from_bytes(bytes)
            }

            /// Encrypts under a 32-byte key, with a fresh salt from the OS RNG.
            ///
            /// ```
            /// use dmseal::{Account, AccountPickle};
            /// // Shown for an account; sessions and groups are sealed the same way.
            /// let key = [7u8; 32]; // the app's storage key, from the keychain
            /// let account = Account::new();
            /// let sealed = account.pickle().encrypt(&key);
            /// // A fresh salt each time: the same state never gives the same bytes.
            /// assert_ne!(sealed, account.pickle().encrypt(&key));
            /// let restored = Account::from_pickle(&AccountPickle::from_encrypted(&sealed, &key)?)?;
            /// assert_eq!(restored.identity(), account.identity());
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            pub fn encrypt(&self, key: &[u8; 32]) -> Vec<u8> {
                $crate::pickle::encrypt(self, key, &[], &mut $crate::primitives::rng::os_rng())
            }

            /// [`Self::encrypt`] with a caller-supplied RNG.
            pub fn encrypt_with_rng<R: rand_core::CryptoRng + ?Sized>(&self, rng: &mut R, key: &[u8; 32]) -> Vec<u8> {
                $crate::pickle::encrypt(self, key, &[], rng)
            }

            /// Decrypts bytes written by [`Self::encrypt`].
            ///
            /// ```
            /// use dmseal::{Account, AccountPickle, PickleError, SessionPickle};
            /// // Shown for an account; sessions and groups open the same way.
            /// let sealed = Account::new().pickle().encrypt(&[7; 32]);
            /// assert!(AccountPickle::from_encrypted(&sealed, &[7; 32]).is_ok());
            /// // Another key, or any change to the bytes, fails.
            /// let wrong_key = AccountPickle::from_encrypted(&sealed, &[8; 32]);
            /// assert_eq!(wrong_key.err(), Some(PickleError::WrongKeyOrCorrupted));
            /// // So does reading it as a pickle of another kind.
            /// assert!(SessionPickle::from_encrypted(&sealed, &[7; 32]).is_err());
            /// # Ok::<(), Box<dyn std::error::Error>>(())
            /// ```
            ///
            /// # Errors
            ///
            /// [`PickleError::WrongKeyOrCorrupted`] for a wrong key or any
            /// change to the bytes; `WrongType` or `UnsupportedVersion` for
            /// a pickle of another kind or version.
            pub fn from_encrypted(bytes: &[u8], key: &[u8; 32]) -> Result<Self, $crate::PickleError> {
                $crate::pickle::decrypt(bytes, key, &[])
            }
        }

        impl core::fmt::Debug for $ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($ty)).field("version", &self.$($version).+).finish_non_exhaustive()
            }
        }
    };
}

pub(crate) use pickle_api_impl as pickle_api;

/// A chain key in a pickle.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct ChainKeyPickle {
    pub(crate) key: [u8; 32],
    pub(crate) index: u32,
}

/// A skipped message key in a pickle.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct SkippedKeyPickle {
    pub(crate) index: u32,
    pub(crate) seed: [u8; 32],
    /// When it was skipped (seconds since the Unix epoch; `0` unknown).
    pub(crate) at: u64,
}

/// A receiving chain in a pickle.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct ReceiverChainPickle {
    pub(crate) ratchet_key: [u8; 32],
    pub(crate) chain_key: Option<ChainKeyPickle>,
    pub(crate) skipped: Vec<SkippedKeyPickle>,
}

/// The fields of a session pickle from version 1 on.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct SessionCorePickle {
    pub(crate) version: u32,
    pub(crate) initiator: bool,
    pub(crate) post_quantum: bool,
    pub(crate) peer_identity: Vec<u8>,
    pub(crate) base_key: [u8; 32],
    pub(crate) session_ad: [u8; 32],
    pub(crate) pending_prefix: Option<Vec<u8>>,
    pub(crate) root_key: [u8; 32],
    pub(crate) our_ratchet: Option<[u8; 32]>,
    pub(crate) sending: Option<ChainKeyPickle>,
    pub(crate) previous_counter: u32,
    pub(crate) receiving: Vec<ReceiverChainPickle>,
    pub(crate) expecting_new_chain: bool,
    pub(crate) evicted_chains: Vec<[u8; 8]>,
}

/// One decoder chunk of a KEM ratchet pickle.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct KemChunkPickle {
    pub(crate) index: u8,
    #[serde(with = "byte_string")]
    pub(crate) data: Vec<u8>,
}

/// A session's KEM ratchet (docs/PROTOCOL.md §8.3): the epochs mixed,
/// then the state of the epoch in progress. `state` is 0 (`EkPending`),
/// 1 (`SendingEk`: `secret` is the key pair's 64-byte seed), 2
/// (`Decapsulated`: `secret` is the epoch key), 3 (`ReceivingEk`), 4
/// (`EkReceived`: `secret` is the peer's encapsulation key) or 5
/// (`SendingCt`: `secret` is the epoch key, `payload` the ciphertext
/// payload); `chunks` holds the decoder's chunks in states 1 and 3;
/// `peer_seen` whether the peer is known to run the KEM ratchet.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct KemRatchetPickle {
    pub(crate) mixed: u32,
    pub(crate) state: u8,
    #[serde(with = "byte_string")]
    pub(crate) secret: Vec<u8>,
    #[serde(with = "byte_string")]
    pub(crate) payload: Vec<u8>,
    pub(crate) next: u8,
    pub(crate) delivered: bool,
    pub(crate) chunks: Vec<KemChunkPickle>,
    pub(crate) peer_seen: bool,
}

/// A versioned snapshot of a [`crate::Session`], from
/// [`crate::Session::pickle`]. Holds private keys: zeroized on drop, and
/// its `Debug` shows only the version.
///
/// Version 2 adds the KEM ratchet after the fields of version 1; a
/// version-1 pickle reads as a session without it.
#[derive(Serialize, Zeroize, ZeroizeOnDrop, Clone)]
pub struct SessionPickle {
    pub(crate) core: SessionCorePickle,
    /// Written from version 2 on.
    pub(crate) kem: Option<KemRatchetPickle>,
}

impl SessionPickle {
    /// A pickle read in an older version, brought to the current one (the
    /// same session, without the KEM ratchet when it predates it), so that
    /// writing it again gives a pickle of the current version.
    fn migrated(mut core: SessionCorePickle, kem: Option<KemRatchetPickle>) -> Self {
        if (MIN_PICKLE_VERSION..PICKLE_VERSION).contains(&core.version) {
            core.version = PICKLE_VERSION;
        }
        Self { core, kem }
    }
}

impl<'de> Deserialize<'de> for SessionPickle {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = SessionPickle;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a session pickle")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<SessionPickle, A::Error> {
                use serde::de::Error;
                let core: SessionCorePickle = seq.next_element()?.ok_or_else(|| A::Error::invalid_length(0, &self))?;
                // Version 1 ends here; version 2 adds the KEM ratchet.
                let kem = if core.version >= 2 {
                    seq.next_element()?.ok_or_else(|| A::Error::invalid_length(1, &self))?
                } else {
                    None
                };
                Ok(SessionPickle::migrated(core, kem))
            }
            // Self-describing formats name the fields.
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<SessionPickle, A::Error> {
                use serde::de::Error;
                let (mut core, mut kem) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "core" if core.is_none() => core = Some(map.next_value::<SessionCorePickle>()?),
                        "kem" if kem.is_none() => kem = Some(map.next_value::<Option<KemRatchetPickle>>()?),
                        "core" | "kem" => return Err(A::Error::duplicate_field("core or kem")),
                        other => return Err(A::Error::unknown_field(other, &["core", "kem"])),
                    }
                }
                let core: SessionCorePickle = core.ok_or_else(|| A::Error::missing_field("core"))?;
                // The KEM ratchet exists from version 2 on.
                if core.version < 2 && kem.is_some() {
                    return Err(A::Error::unknown_field("kem", &["core"]));
                }
                Ok(SessionPickle::migrated(core, kem.flatten()))
            }
        }
        d.deserialize_struct("SessionPickle", &["core", "kem"], Fields)
    }
}

pickle_api_impl!(SessionPickle, TYPE_SESSION, labels::KDF_PICKLE_SESSION, core.version);

/// A replay-record entry in a pickle.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct ReplayEntryPickle {
    pub(crate) pq_prekey_id: Option<u32>,
    pub(crate) base_key: [u8; 32],
}

/// A signed prekey in a pickle.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct SignedPreKeyPickle {
    pub(crate) id: u32,
    pub(crate) secret: [u8; 32],
    pub(crate) signature: Vec<u8>,
    /// The capability bits signed with it (docs/PROTOCOL.md §3.3).
    pub(crate) capabilities: u8,
    pub(crate) expires_at: Option<u64>,
    pub(crate) replay_record: Vec<ReplayEntryPickle>,
}

/// A PQ prekey in a pickle: the 64-byte ML-KEM seed `d || z`; the public
/// key is recomputed on restore.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct PqPreKeyPickle {
    pub(crate) id: u32,
    pub(crate) seed: Vec<u8>,
    pub(crate) signature: Vec<u8>,
    pub(crate) published: bool,
    pub(crate) expires_at: Option<u64>,
}

/// A one-time prekey in a pickle.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub(crate) struct OneTimePreKeyPickle {
    pub(crate) id: u32,
    pub(crate) secret: [u8; 32],
    pub(crate) published: bool,
}

/// A versioned snapshot of an [`crate::Account`], from
/// [`crate::Account::pickle`]. Holds private keys: zeroized on drop, and
/// its `Debug` shows only the version.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop, Clone)]
pub struct AccountPickle {
    pub(crate) version: u32,
    pub(crate) signing_key: [u8; 32],
    pub(crate) agreement_key: [u8; 32],
    /// The current signed prekey first, then the retired ones, oldest first.
    pub(crate) signed_prekeys: Vec<SignedPreKeyPickle>,
    pub(crate) next_signed_prekey_id: u32,
    pub(crate) one_time_prekeys: Vec<OneTimePreKeyPickle>,
    pub(crate) next_one_time_prekey_id: u32,
    /// The current last-resort PQ prekey first, then the retired ones.
    pub(crate) last_resort_pq_prekeys: Vec<PqPreKeyPickle>,
    pub(crate) next_last_resort_pq_prekey_id: u32,
    pub(crate) one_time_pq_prekeys: Vec<PqPreKeyPickle>,
    pub(crate) next_one_time_pq_prekey_id: u32,
    /// [`crate::ClassicX3dh`] as a byte: 0 refuse, 1 accept, 2 accept and
    /// initiate.
    pub(crate) classic_x3dh: u8,
    /// When the current signed prekey became current, if known
    /// ([`crate::Account::signed_prekey_since`]).
    pub(crate) signed_prekey_since: Option<u64>,
    /// The statement of the device that linked this one, if it was linked
    /// ([`crate::Account::device_link`]): a `DeviceLink` encoding.
    pub(crate) device_link: Option<Vec<u8>>,
}

pickle_api_impl!(AccountPickle, TYPE_ACCOUNT, labels::KDF_PICKLE_ACCOUNT);

/// `#[serde(with = "crate::pickle::byte_string")]` for a `Vec<u8>` field:
/// the same postcard bytes as the default (a varint length, then the
/// bytes), written and read as one slice instead of byte by byte, which
/// for kilobytes of content is several times faster.
pub(crate) mod byte_string {
    use serde::de::{Error, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        d.deserialize_bytes(Bytes)
    }

    struct Bytes;

    impl<'de> Visitor<'de> for Bytes {
        type Value = Vec<u8>;

        fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            f.write_str("a byte string")
        }

        fn visit_bytes<E: Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            // Bounded by the input: each element is at least one byte.
            let mut out = Vec::new();
            while let Some(b) = seq.next_element::<u8>()? {
                out.push(b);
            }
            Ok(out)
        }
    }

    #[cfg(test)]
    mod tests {
        #![allow(clippy::unwrap_used)]

        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Fast(#[serde(with = "super")] Vec<u8>);

        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct Plain(Vec<u8>);

        #[test]
        fn a_byte_string_encodes_as_the_default_would() {
            for len in [0usize, 1, 127, 128, 5000] {
                let v: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let fast = postcard::to_allocvec(&Fast(v.clone())).unwrap();
                assert_eq!(fast, postcard::to_allocvec(&Plain(v.clone())).unwrap());
                assert_eq!(postcard::from_bytes::<Fast>(&fast).unwrap(), Fast(v));
            }
            assert!(postcard::from_bytes::<Fast>(&[5, 1, 2]).is_err(), "cut short");
        }
    }
}
