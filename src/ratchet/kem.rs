//! The KEM ratchet beside the Double Ratchet (docs/PROTOCOL.md §6.9).
//!
//! The two sides run ML-KEM-768 exchanges one after another, in
//! *epochs* `1, 2, 3, …`. In each epoch one side (the *ek sender*: the
//! initiator in odd epochs, the responder in even ones) makes a fresh key
//! pair and sends its encapsulation key; the other encapsulates to it and
//! sends the ciphertext back. Both travel as erasure-coded chunks of 64
//! bytes, one per message ([`super::erasure`]), so lost or reordered
//! messages only delay an epoch.
//!
//! The epoch's key enters the root chain once: the ek sender, who learns
//! it last (on decapsulating), mixes it into its next DH ratchet step, and
//! every message header names the number of epochs mixed into its
//! chain's root, so the receiver mixes the same key at the same step.
//! From then on every root, chain and message key depends on both the
//! X25519 outputs and the epoch's ML-KEM secret.
//!
//! Which epoch is in progress follows from the number mixed (`mixed + 1`),
//! and a chunk's epoch from its message's header, so chunks carry only
//! their index.

use rand_core::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::erasure::{self, CHUNK_LEN, Decoder, MAX_CHUNK_INDEX};
use crate::error::{DecryptError, PickleError};
use crate::labels;
use crate::pickle::{KemChunkPickle, KemRatchetPickle};
use crate::primitives::kdf::{hkdf_sha256, sha256};
use crate::primitives::kem::{
    ML_KEM_768_CIPHERTEXT_LEN, ML_KEM_768_PUBLIC_KEY_LEN, MlKemKeyPair, MlKemPublicKey, SEED_LEN,
};

/// Length of the encapsulation-key payload: the key, then
/// `SHA-256("dmseal:v1:hash:kem-ek" || key)`.
pub(crate) const EK_PAYLOAD_LEN: usize = ML_KEM_768_PUBLIC_KEY_LEN + 32;
/// Length of the ciphertext payload: the ciphertext, the 32-byte key
/// confirmation tag, then 32 zero bytes.
pub(crate) const CT_PAYLOAD_LEN: usize = ML_KEM_768_CIPHERTEXT_LEN + 64;
/// Chunks in an encapsulation-key payload (19).
pub(crate) const EK_CHUNKS: u8 = (EK_PAYLOAD_LEN / CHUNK_LEN) as u8;
/// Chunks in a ciphertext payload (18).
pub(crate) const CT_CHUNKS: u8 = (CT_PAYLOAD_LEN / CHUNK_LEN) as u8;

const _: () = assert!(EK_PAYLOAD_LEN.is_multiple_of(CHUNK_LEN) && CT_PAYLOAD_LEN.is_multiple_of(CHUNK_LEN));

/// One chunk as carried in a message: its index and bytes.
pub(crate) type Chunk = (u8, [u8; CHUNK_LEN]);

/// What a KEM-ratchet message header carries beyond the Double Ratchet's:
/// the epochs mixed into its chain's root, and at most one chunk of the
/// epoch after those.
#[derive(Clone, PartialEq, Eq, Debug)]
pub(crate) struct KemHeader {
    pub(crate) epoch: u32,
    pub(crate) chunk: Option<Chunk>,
}

/// Where one side is in the epoch in progress (`mixed + 1`).
#[derive(Clone)]
pub(crate) enum KemState {
    /// We send this epoch's encapsulation key; the key pair is made when
    /// we next send (decryption has no RNG).
    EkPending,
    /// We send our encapsulation key, one chunk per message, until a chunk
    /// of the ciphertext shows that the peer has it; we collect the
    /// ciphertext. The key pair is kept as its seed (the payload holds the
    /// encapsulation key) and expanded once, to decapsulate.
    SendingEk {
        seed: Zeroizing<[u8; SEED_LEN]>,
        payload: Box<[u8; EK_PAYLOAD_LEN]>,
        next: u8,
        delivered: bool,
        ct: Decoder,
    },
    /// We decapsulated: the epoch's key is mixed into our next DH ratchet
    /// step.
    Decapsulated { key: Zeroizing<[u8; 32]> },
    /// The peer sends this epoch's encapsulation key; we collect it.
    ReceivingEk { ek: Decoder },
    /// We hold the peer's encapsulation key and encapsulate when we next
    /// send.
    EkReceived { ek: Box<MlKemPublicKey> },
    /// We send the ciphertext, one chunk per message, until the peer's
    /// first chain with this epoch mixed arrives.
    SendingCt { payload: Box<[u8; CT_PAYLOAD_LEN]>, key: Zeroizing<[u8; 32]>, next: u8 },
}

/// One side's KEM ratchet.
#[derive(Clone)]
pub(crate) struct KemRatchet {
    /// How many epochs are mixed into our current root key.
    pub(crate) mixed: u32,
    pub(crate) state: KemState,
    /// Whether the peer is known to run the KEM ratchet: from setup, or
    /// since its first message with the KEM fields. Until then (a session
    /// we upgraded, §6.9.8), its messages without them still decrypt.
    pub(crate) peer_seen: bool,
}

impl KemRatchet {
    /// The initiator sends the first epoch's encapsulation key.
    pub(crate) fn initiator() -> Self {
        Self { mixed: 0, state: KemState::EkPending, peer_seen: true }
    }

    /// The responder receives it.
    pub(crate) fn responder() -> Self {
        Self { mixed: 0, state: KemState::ReceivingEk { ek: Decoder::new(EK_CHUNKS) }, peer_seen: true }
    }

    /// The KEM ratchet of a session set up without it, from the upgrade
    /// on (§6.9.8): the session's initiator sends epoch 1's key, as after
    /// a setup with it; the peer is not yet known to run it.
    pub(crate) fn upgrade(initiator: bool) -> Self {
        let mut kem = if initiator { Self::initiator() } else { Self::responder() };
        kem.peer_seen = false;
        kem
    }

    /// At a DH ratchet step we take when sending: the epoch key to mix,
    /// if we decapsulated one ([`KemRatchet::commit_send_mix`] once the
    /// step is taken).
    pub(crate) fn send_mix(&self) -> Option<&[u8; 32]> {
        match &self.state {
            KemState::Decapsulated { key } if self.mixed.checked_add(1).is_some() => Some(key),
            _ => None,
        }
    }

    /// Commits a DH ratchet step taken when sending that mixed
    /// [`KemRatchet::send_mix`]'s key: we move to the next epoch, whose
    /// encapsulation key the peer sends.
    pub(crate) fn commit_send_mix(&mut self) {
        if let (KemState::Decapsulated { .. }, Some(next)) = (&self.state, self.mixed.checked_add(1)) {
            self.mixed = next;
            self.state = KemState::ReceivingEk { ek: Decoder::new(EK_CHUNKS) };
        }
    }

    /// The chunk for the message being sent, if we have one to send;
    /// makes our key pair or encapsulates first when that is due.
    pub(crate) fn next_chunk<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Option<Chunk> {
        match &self.state {
            KemState::EkPending => {
                let pair = MlKemKeyPair::generate(rng, false);
                let payload = ek_payload(&pair);
                self.state = KemState::SendingEk {
                    seed: Zeroizing::new(*pair.seed()),
                    payload,
                    next: 0,
                    delivered: false,
                    ct: Decoder::new(CT_CHUNKS),
                };
            }
            KemState::EkReceived { ek } => {
                let epoch = self.mixed.checked_add(1)?;
                let (ct, shared) = ek.encapsulate(rng);
                let (key, tag) = epoch_keys(epoch, ek.as_bytes(), &ct, &shared);
                let mut payload = Box::new([0u8; CT_PAYLOAD_LEN]);
                let (c, rest) = payload.split_at_mut(ML_KEM_768_CIPHERTEXT_LEN);
                c.copy_from_slice(ct.as_slice());
                if let Some(t) = rest.get_mut(..32) {
                    t.copy_from_slice(&tag);
                }
                self.state = KemState::SendingCt { payload, key, next: 0 };
            }
            _ => {}
        }
        match &mut self.state {
            KemState::SendingEk { payload, next, delivered: false, .. } => Some(take_chunk(payload.as_slice(), next)),
            KemState::SendingCt { payload, next, .. } => Some(take_chunk(payload.as_slice(), next)),
            _ => None,
        }
    }

    /// The epoch key a new receiving chain whose header names `epoch`
    /// mixes in its root step: none when `epoch` is the number already
    /// mixed, ours from encapsulating when it is the next one.
    ///
    /// # Errors
    ///
    /// `AuthenticationFailed` for any other epoch: no honest peer names it.
    pub(crate) fn receive_mix(&self, epoch: u32) -> Result<Option<&[u8; 32]>, DecryptError> {
        if epoch == self.mixed {
            return Ok(None);
        }
        match &self.state {
            KemState::SendingCt { key, .. } if Some(epoch) == self.mixed.checked_add(1) => Ok(Some(key)),
            _ => Err(DecryptError::AuthenticationFailed),
        }
    }

    /// Commits a new receiving chain whose header named `epoch` (accepted
    /// by [`KemRatchet::receive_mix`]): when it mixed our key, we send the
    /// next epoch's encapsulation key.
    pub(crate) fn commit_receive_mix(&mut self, epoch: u32) {
        if epoch != self.mixed {
            self.mixed = epoch;
            self.state = KemState::EkPending;
        }
    }

    /// Takes in the KEM fields of an authenticated message. A chunk
    /// counts only for the epoch in progress: its message's header names
    /// the epochs mixed so far. Payloads that fail their check value or
    /// key confirmation are dropped and collected again.
    pub(crate) fn receive(&mut self, header: &KemHeader) {
        self.peer_seen = true;
        let Some((index, data)) = header.chunk.as_ref() else { return };
        if header.epoch != self.mixed {
            return;
        }
        let Some(epoch) = self.mixed.checked_add(1) else { return };
        match &mut self.state {
            KemState::SendingEk { seed, delivered, ct, .. } => {
                *delivered = true;
                let Some(payload) = ct.add(*index, data) else { return };
                match decapsulate(epoch, &MlKemKeyPair::from_seed(seed, false), &payload) {
                    Some(key) => self.state = KemState::Decapsulated { key },
                    None => *ct = Decoder::new(CT_CHUNKS),
                }
            }
            KemState::ReceivingEk { ek } => {
                let Some(payload) = ek.add(*index, data) else { return };
                match check_ek(&payload) {
                    Some(key) => self.state = KemState::EkReceived { ek: Box::new(key) },
                    None => *ek = Decoder::new(EK_CHUNKS),
                }
            }
            _ => {}
        }
    }
}

/// Chunk `*next` of `payload`, then the next index (after the last
/// index, the first again).
fn take_chunk(payload: &[u8], next: &mut u8) -> Chunk {
    let index = *next;
    *next = if index >= MAX_CHUNK_INDEX { 0 } else { index + 1 };
    (index, erasure::chunk(payload, index))
}

/// The payload of our encapsulation key: the key, then its check value.
fn ek_payload(pair: &MlKemKeyPair) -> Box<[u8; EK_PAYLOAD_LEN]> {
    let mut payload = Box::new([0u8; EK_PAYLOAD_LEN]);
    let (key, check) = payload.split_at_mut(ML_KEM_768_PUBLIC_KEY_LEN);
    key.copy_from_slice(pair.public().as_bytes());
    check.copy_from_slice(&ek_check(pair.public().as_bytes()));
    payload
}

/// `SHA-256("dmseal:v1:hash:kem-ek" || ek)`.
fn ek_check(ek: &[u8; ML_KEM_768_PUBLIC_KEY_LEN]) -> [u8; 32] {
    sha256(&[labels::HASH_KEM_EK, ek])
}

/// The encapsulation key of a rebuilt payload whose check value matches
/// and which passes FIPS 203's input check.
fn check_ek(payload: &[u8]) -> Option<MlKemPublicKey> {
    let (key, check) = payload.split_at_checked(ML_KEM_768_PUBLIC_KEY_LEN)?;
    let key: &[u8; ML_KEM_768_PUBLIC_KEY_LEN] = key.try_into().ok()?;
    if !bool::from(ek_check(key).ct_eq(check)) {
        return None;
    }
    MlKemPublicKey::from_bytes(key).ok()
}

/// The epoch key of a rebuilt ciphertext payload, if its padding is zero
/// and its confirmation tag matches what we decapsulate.
fn decapsulate(epoch: u32, pair: &MlKemKeyPair, payload: &[u8]) -> Option<Zeroizing<[u8; 32]>> {
    let (ct, rest) = payload.split_at_checked(ML_KEM_768_CIPHERTEXT_LEN)?;
    let (tag, zeros) = rest.split_at_checked(32)?;
    let ct: &[u8; ML_KEM_768_CIPHERTEXT_LEN] = ct.try_into().ok()?;
    if zeros.iter().any(|b| *b != 0) {
        return None;
    }
    let shared = pair.decapsulate(ct);
    let (key, expected) = epoch_keys(epoch, pair.public().as_bytes(), ct, &shared);
    bool::from(expected.ct_eq(tag)).then_some(key)
}

/// `HKDF(salt = "", ikm = ss, info = "dmseal:v1:kdf:kem-epoch" ||
/// u32(epoch) || SHA-256(ek || ct), 64)`: the epoch key, then the key
/// confirmation tag.
pub(crate) fn epoch_keys(
    epoch: u32,
    ek: &[u8; ML_KEM_768_PUBLIC_KEY_LEN],
    ct: &[u8; ML_KEM_768_CIPHERTEXT_LEN],
    shared: &[u8; 32],
) -> (Zeroizing<[u8; 32]>, [u8; 32]) {
    let transcript = sha256(&[ek, ct]);
    let okm = hkdf_sha256::<64>(&[], shared, &[labels::KDF_KEM_EPOCH, &epoch.to_be_bytes(), &transcript]);
    let mut key = Zeroizing::new([0u8; 32]);
    let mut tag = [0u8; 32];
    let (k, t) = okm.split_at(32);
    key.copy_from_slice(k);
    tag.copy_from_slice(t);
    (key, tag)
}

impl KemRatchet {
    /// The pickle form (docs/PROTOCOL.md §8.3).
    pub(crate) fn to_pickle(&self) -> KemRatchetPickle {
        let mut p = KemRatchetPickle {
            mixed: self.mixed,
            state: 0,
            secret: Vec::new(),
            payload: Vec::new(),
            next: 0,
            delivered: false,
            chunks: Vec::new(),
            peer_seen: self.peer_seen,
        };
        let chunks = |d: &Decoder| {
            d.chunks().iter().map(|(index, data)| KemChunkPickle { index: *index, data: data.to_vec() }).collect()
        };
        match &self.state {
            KemState::EkPending => {}
            KemState::SendingEk { seed, next, delivered, ct, .. } => {
                p.state = 1;
                p.secret = seed.to_vec();
                p.next = *next;
                p.delivered = *delivered;
                p.chunks = chunks(ct);
            }
            KemState::Decapsulated { key } => {
                p.state = 2;
                p.secret = key.to_vec();
            }
            KemState::ReceivingEk { ek } => {
                p.state = 3;
                p.chunks = chunks(ek);
            }
            KemState::EkReceived { ek } => {
                p.state = 4;
                p.secret = ek.as_bytes().to_vec();
            }
            KemState::SendingCt { payload, key, next } => {
                p.state = 5;
                p.secret = key.to_vec();
                p.payload = payload.to_vec();
                p.next = *next;
            }
        }
        p
    }

    /// Restores from a pickle, checking every length, index and key.
    ///
    /// # Errors
    ///
    /// [`PickleError::Invalid`].
    pub(crate) fn from_pickle(p: &KemRatchetPickle) -> Result<Self, PickleError> {
        let invalid = PickleError::Invalid;
        let decoder = |k: u8| {
            let chunks = p
                .chunks
                .iter()
                .map(|c| Some((c.index, c.data.as_slice().try_into().ok()?)))
                .collect::<Option<Vec<_>>>()
                .ok_or(PickleError::Invalid)?;
            Decoder::from_chunks(k, chunks).ok_or(PickleError::Invalid)
        };
        let key = || -> Result<Zeroizing<[u8; 32]>, PickleError> {
            let mut key = Zeroizing::new([0u8; 32]);
            key.copy_from_slice(p.secret.get(..32).filter(|_| p.secret.len() == 32).ok_or(PickleError::Invalid)?);
            Ok(key)
        };
        // Fields a state does not use must be empty, and a decoder holds
        // fewer chunks than it needs (a full one was decoded at once).
        let unused = |secret: bool, payload: bool, chunks: bool| {
            (!secret && !p.secret.is_empty())
                || (!payload && !p.payload.is_empty())
                || (!chunks && !p.chunks.is_empty())
                || p.next > MAX_CHUNK_INDEX
        };
        let state = match p.state {
            0 if !unused(false, false, false) && p.next == 0 => KemState::EkPending,
            1 if !unused(true, false, true) && p.chunks.len() < usize::from(CT_CHUNKS) => {
                let seed: &[u8; 64] = p.secret.as_slice().try_into().map_err(|_| PickleError::Invalid)?;
                let payload = ek_payload(&MlKemKeyPair::from_seed(seed, false));
                KemState::SendingEk {
                    seed: Zeroizing::new(*seed),
                    payload,
                    next: p.next,
                    delivered: p.delivered,
                    ct: decoder(CT_CHUNKS)?,
                }
            }
            2 if !unused(true, false, false) && p.next == 0 => KemState::Decapsulated { key: key()? },
            3 if !unused(false, false, true) && p.next == 0 && p.chunks.len() < usize::from(EK_CHUNKS) => {
                KemState::ReceivingEk { ek: decoder(EK_CHUNKS)? }
            }
            4 if !unused(true, false, false) && p.next == 0 => {
                KemState::EkReceived { ek: Box::new(MlKemPublicKey::from_bytes(&p.secret).map_err(|_| invalid)?) }
            }
            5 if !unused(true, true, false) => {
                let payload: [u8; CT_PAYLOAD_LEN] = p.payload.as_slice().try_into().map_err(|_| invalid)?;
                KemState::SendingCt { payload: Box::new(payload), key: key()?, next: p.next }
            }
            _ => return Err(invalid),
        };
        if p.delivered && p.state != 1 {
            return Err(PickleError::Invalid);
        }
        Ok(Self { mixed: p.mixed, state, peer_seen: p.peer_seen })
    }
}
