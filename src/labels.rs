//! Every domain-separation label dmseal uses, in one place.
//!
//! Each signature and each KDF use has its own label. No label equals or is
//! a prefix of another (checked by a test below), so an input built for one
//! use can never be read as an input for another. The exact bytes are
//! listed in `docs/PROTOCOL.md` §2; change both together.

/// Ed25519 signature by an identity over its own X25519 identity key.
pub(crate) const SIG_IDENTITY_BINDING: &[u8] = b"dmseal:v1:sig:identity-binding";
/// Ed25519 signature by an identity over a signed prekey (id and key).
pub(crate) const SIG_SIGNED_PREKEY: &[u8] = b"dmseal:v1:sig:signed-prekey";
/// Ed25519 signature by an identity over a PQ prekey (kind, id and key).
pub(crate) const SIG_PQ_PREKEY: &[u8] = b"dmseal:v1:sig:pq-prekey";
/// Ed25519 signature by an identity over an identity upload to a prekey
/// directory (everything before the signature).
pub(crate) const SIG_IDENTITY_UPLOAD: &[u8] = b"dmseal:v1:sig:identity-upload";
/// Ed25519 signature by an identity over a batch of one-time prekeys
/// uploaded to a prekey directory (everything before the signature).
pub(crate) const SIG_PREKEY_BATCH: &[u8] = b"dmseal:v1:sig:prekey-batch";
/// Ed25519 signature by an existing device over a device link statement
/// (everything before the signature).
pub(crate) const SIG_DEVICE_LINK: &[u8] = b"dmseal:v1:sig:device-link";
/// HKDF info for the key that seals a link handover to the new device.
pub(crate) const KDF_LINK_KEY: &[u8] = b"dmseal:v1:kdf:link-key";
/// HKDF info expanding an attachment key into its chunk key and key
/// commitment (docs/PROTOCOL.md §14.2).
pub(crate) const KDF_ATTACHMENT: &[u8] = b"dmseal:v1:kdf:attachment";
/// HKDF info for the sealed link handover (a pickle, docs/PROTOCOL.md §8.2).
pub(crate) const KDF_LINK_HANDOVER: &[u8] = b"dmseal:v1:kdf:link-handover";

/// SHA-256 over the whole first-message transcript (X3DH).
pub(crate) const HASH_TRANSCRIPT: &[u8] = b"dmseal:v1:hash:x3dh-transcript";
/// SHA-256 giving the per-session associated data (identities, context).
pub(crate) const HASH_SESSION_AD: &[u8] = b"dmseal:v1:hash:session-ad";
/// Iterated SHA-512 giving one party's half of a safety number.
pub(crate) const HASH_SAFETY_NUMBER: &[u8] = b"dmseal:v1:hash:safety-number";

/// HKDF info for the X3DH shared secret (followed by the transcript hash).
pub(crate) const KDF_X3DH: &[u8] = b"dmseal:v1:kdf:x3dh";
/// HKDF info for the PQXDH shared secret (followed by the transcript
/// hash): distinct from X3DH's, so the setup mode is bound in.
pub(crate) const KDF_PQXDH: &[u8] = b"dmseal:v1:kdf:pqxdh";
/// HKDF info for a root-key step of the Double Ratchet.
pub(crate) const KDF_ROOT: &[u8] = b"dmseal:v1:kdf:root";
/// HKDF info expanding a message-key seed into an AEAD key and nonce.
pub(crate) const KDF_MESSAGE_KEYS: &[u8] = b"dmseal:v1:kdf:message-keys";
/// HKDF info for the key of an encrypted account pickle.
pub(crate) const KDF_PICKLE_ACCOUNT: &[u8] = b"dmseal:v1:kdf:pickle-account";
/// HKDF info for the key of an encrypted session pickle.
pub(crate) const KDF_PICKLE_SESSION: &[u8] = b"dmseal:v1:kdf:pickle-session";

/// Ed25519 signature by a group sender over a group message (its digest).
pub(crate) const SIG_GROUP_MESSAGE: &[u8] = b"dmseal:v1:sig:group-message";
/// Ed25519 signature by a sender state's key over its owner's member id,
/// binding the state to the member that distributes it.
pub(crate) const SIG_GROUP_OWNER: &[u8] = b"dmseal:v1:sig:group-owner";
/// SHA-256 prefix deriving a sender state's id from its signing public
/// key, so that no member can claim another member's state id.
pub(crate) const HASH_GROUP_STATE_ID: &[u8] = b"dmseal:v1:hash:group-state-id";
/// HMAC-SHA256 input deriving a sender-key tree node's left child.
pub(crate) const TREE_LEFT: &[u8] = b"dmseal:v1:group:tree-left";
/// HMAC-SHA256 input deriving a sender-key tree node's right child.
pub(crate) const TREE_RIGHT: &[u8] = b"dmseal:v1:group:tree-right";
/// HKDF info expanding a sender-key tree leaf into a group message key.
pub(crate) const KDF_GROUP_MESSAGE: &[u8] = b"dmseal:v1:kdf:group-message";
/// HKDF info for the key of an encrypted group pickle.
pub(crate) const KDF_PICKLE_GROUP: &[u8] = b"dmseal:v1:kdf:pickle-group";

/// HKDF info for the key of a sealed session record (a conversation
/// store row: the sessions with one address).
pub(crate) const KDF_RECORD_SESSIONS: &[u8] = b"dmseal:v1:kdf:record-sessions";
/// HKDF info for the key of a sealed user record (a conversation store
/// row: one user's devices, identities and trust).
pub(crate) const KDF_RECORD_USER: &[u8] = b"dmseal:v1:kdf:record-user";
/// HKDF info for the key of a sealed device record (a conversation store
/// row: this device's address and account).
pub(crate) const KDF_RECORD_DEVICE: &[u8] = b"dmseal:v1:kdf:record-device";
/// HKDF info for the key of a sealed outbox row (one sent message kept to
/// be sent again, docs/PROTOCOL.md §13.9).
pub(crate) const KDF_RECORD_OUTBOX: &[u8] = b"dmseal:v1:kdf:record-outbox";
/// HKDF info for the key of a sealed group outbox row (one group message
/// kept to be sent again, docs/PROTOCOL.md §13.10).
pub(crate) const KDF_RECORD_GROUP_OUTBOX: &[u8] = b"dmseal:v1:kdf:record-group-outbox";

/// HMAC-SHA256 input deriving a message-key seed from a chain key.
pub(crate) const CHAIN_MESSAGE: &[u8] = b"dmseal:v1:chain:message";
/// HMAC-SHA256 input deriving the next chain key from a chain key.
pub(crate) const CHAIN_NEXT: &[u8] = b"dmseal:v1:chain:next";
/// HKDF info of a root step that mixes a KEM epoch key with the DH output.
pub(crate) const KDF_KEM_ROOT: &[u8] = b"dmseal:v1:kdf:kem-root";
/// HKDF info prefix deriving a KEM epoch's key and confirmation tag.
pub(crate) const KDF_KEM_EPOCH: &[u8] = b"dmseal:v1:kdf:kem-epoch";
/// SHA-256 prefix of the check value sent with a KEM ratchet's
/// encapsulation key.
pub(crate) const HASH_KEM_EK: &[u8] = b"dmseal:v1:hash:kem-ek";

/// Every label, for the uniqueness test and for documentation checks.
#[cfg(test)]
pub(crate) const ALL: &[&[u8]] = &[
    SIG_IDENTITY_BINDING,
    SIG_SIGNED_PREKEY,
    SIG_PQ_PREKEY,
    SIG_IDENTITY_UPLOAD,
    SIG_PREKEY_BATCH,
    SIG_DEVICE_LINK,
    KDF_LINK_KEY,
    KDF_LINK_HANDOVER,
    KDF_ATTACHMENT,
    HASH_TRANSCRIPT,
    HASH_SESSION_AD,
    HASH_SAFETY_NUMBER,
    KDF_X3DH,
    KDF_PQXDH,
    KDF_ROOT,
    KDF_MESSAGE_KEYS,
    KDF_PICKLE_ACCOUNT,
    KDF_PICKLE_SESSION,
    CHAIN_MESSAGE,
    CHAIN_NEXT,
    KDF_KEM_ROOT,
    KDF_KEM_EPOCH,
    HASH_KEM_EK,
    SIG_GROUP_MESSAGE,
    SIG_GROUP_OWNER,
    HASH_GROUP_STATE_ID,
    TREE_LEFT,
    TREE_RIGHT,
    KDF_GROUP_MESSAGE,
    KDF_PICKLE_GROUP,
    KDF_RECORD_SESSIONS,
    KDF_RECORD_USER,
    KDF_RECORD_DEVICE,
    KDF_RECORD_OUTBOX,
    KDF_RECORD_GROUP_OUTBOX,
];

#[cfg(test)]
mod tests {
    use super::ALL;

    #[test]
    fn no_label_equals_or_prefixes_another() {
        for (i, a) in ALL.iter().enumerate() {
            for (j, b) in ALL.iter().enumerate() {
                if i != j {
                    assert!(
                        !b.starts_with(a),
                        "{:?} prefixes {:?}",
                        String::from_utf8_lossy(a),
                        String::from_utf8_lossy(b)
                    );
                }
            }
        }
    }

    #[test]
    fn every_label_is_written_in_the_protocol_document() {
        let doc = include_str!("../docs/PROTOCOL.md");
        for label in ALL {
            let text = core::str::from_utf8(label).unwrap();
            assert!(doc.contains(&format!("`{text}`")), "docs/PROTOCOL.md does not list {text}");
        }
    }
}
