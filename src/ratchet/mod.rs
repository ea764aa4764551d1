//! The Double Ratchet (Signal's Double Ratchet specification; section
//! numbers below are those of revision 1).
//!
//! The DH ratchet is taken lazily, as in Olm: a new ratchet key from the
//! peer creates a receiving chain at once; our own new ratchet key and
//! sending chain are created when we next send. The result is the same
//! sequence of root keys as the specification's.
//!
//! Decryption is transactional: every change is computed first and applied
//! only after the AEAD accepts the message, so a failed decrypt leaves the
//! state exactly as it was, without cloning the state.

pub(crate) mod erasure;
pub(crate) mod kem;
mod keys;

use std::collections::VecDeque;

use rand_core::CryptoRng;
use zeroize::Zeroize;

use self::kem::{KemHeader, KemRatchet};
pub(crate) use self::keys::{ChainKey, MessageKey, RootKey, split_root_and_chain};
use crate::error::{DecryptError, EncryptError};
use crate::message::NormalMessage;
use crate::primitives::dh::{X25519KeyPair, X25519PublicKey};

/// Bytes of one KEM-ratchet chunk (docs/PROTOCOL.md §6.9.2).
pub const KEM_CHUNK_LEN: usize = erasure::CHUNK_LEN;

/// The highest KEM-ratchet chunk index: a sender cycles through
/// `0 ..= MAX_KEM_CHUNK_INDEX` while its peer has not answered, and the
/// wire's chunk byte (`index + 1`) covers exactly these.
pub const MAX_KEM_CHUNK_INDEX: u8 = erasure::MAX_CHUNK_INDEX;

/// Chunks of a KEM-ratchet encapsulation-key payload: any this many
/// distinct chunks rebuild it.
pub const KEM_EK_CHUNKS: u8 = kem::EK_CHUNKS;

/// Chunks of a KEM-ratchet ciphertext payload.
pub const KEM_CT_CHUNKS: u8 = kem::CT_CHUNKS;

/// How far ahead of the next expected counter a message may claim to be,
/// in its chain (counter) or in the previous one (previous-chain length).
/// Checked before any chain work. One forged message costs at most one
/// X25519 and this many HMAC-SHA256 chain steps (plus
/// [`MAX_SKIPPED_KEYS_PER_CHAIN`] message-key steps).
/// libsignal uses the same value; a bot that sends long runs without a
/// reply should not lose messages to a smaller one.
pub const MAX_CHAIN_JUMP: u32 = 25_000;

/// The most skipped message keys kept per receiving chain; the oldest is
/// evicted first. A message whose key was evicted fails with
/// `DuplicateOrExpired`.
pub const MAX_SKIPPED_KEYS_PER_CHAIN: usize = 2_000;

/// The most receiving chains kept (the newest ones). Older chains are
/// dropped with their skipped keys.
pub const MAX_RECEIVING_CHAINS: usize = 5;

/// The highest counter a sending chain uses: `u32::MAX - 1`, so that the
/// length of a full chain (`u32::MAX`) fits the previous-chain field.
/// After it, encrypting fails until the peer's next ratchet key arrives.
pub const MAX_COUNTER: u32 = u32::MAX - 1;

/// How many evicted receiving chains are remembered (by the first 8 bytes
/// of their ratchet key), so that a late message from one fails as
/// `DuplicateOrExpired` without a DH. 512 bytes at most per session.
pub const MAX_EVICTED_CHAIN_RECORDS: usize = 64;

/// One receiving chain: the peer's ratchet key, the chain key for the next
/// counter (`None` once the chain is closed: the peer moved on and every
/// counter up to its announced length was skipped), and skipped keys.
#[derive(Clone)]
pub(crate) struct ReceiverChain {
    pub(crate) ratchet_key: X25519PublicKey,
    pub(crate) chain_key: Option<ChainKey>,
    pub(crate) skipped: std::collections::BTreeMap<u32, SkippedKey>,
}

/// A skipped message key and when it was skipped (the `now` of the
/// decryption that stored it; `0` when the caller gave no time).
#[derive(Clone)]
pub(crate) struct SkippedKey {
    /// Boxed, so eviction and removal drop (and wipe) the key where it
    /// lies instead of moving its bytes out of the map's nodes.
    pub(crate) key: Box<MessageKey>,
    pub(crate) at: u64,
}

impl ReceiverChain {
    #[allow(clippy::vec_box, reason = "moving a box moves a pointer, not the key bytes")]
    fn insert_skipped(&mut self, keys: Vec<Box<MessageKey>>, at: u64) {
        for key in keys {
            self.skipped.insert(key.index, SkippedKey { key, at });
        }
        while self.skipped.len() > MAX_SKIPPED_KEYS_PER_CHAIN {
            self.skipped.pop_first();
        }
    }

    /// Stores the keys up to (not including) `length` (skipped at `at`)
    /// and closes the chain. Called only with an authenticated length
    /// within the jump limit.
    fn close_at(&mut self, length: u32, at: u64) {
        if let Some(ck) = self.chain_key.as_ref()
            && length > ck.index
        {
            // advance_to(length - 1) yields keys up to length - 2 as
            // skipped and length - 1 as its message key: keep both.
            if let Some(adv) = ck.advance_to(length.saturating_sub(1), keep_from(length)) {
                let mut keys = adv.skipped;
                keys.push(Box::new(adv.message_key.clone()));
                self.insert_skipped(keys, at);
            }
        }
        // Wipe the chain key in place (a `take` would leave its bytes).
        self.chain_key.zeroize();
    }

    pub(crate) fn skipped_len(&self) -> usize {
        self.skipped.len()
    }
}

/// The ratchet state of one session.
#[derive(Clone)]
pub(crate) struct DoubleRatchet {
    pub(crate) root_key: RootKey,
    /// Our current ratchet key pair; `None` for a responder that has not
    /// sent yet.
    pub(crate) our_ratchet: Option<X25519KeyPair>,
    /// The sending chain; `None` when a new ratchet key must be made first.
    pub(crate) sending: Option<ChainKey>,
    /// The length of our previous sending chain.
    pub(crate) previous_counter: u32,
    /// Receiving chains, newest first. Boxed, so eviction drops (and
    /// wipes) a chain in place.
    pub(crate) receiving: VecDeque<Box<ReceiverChain>>,
    /// Whether a new peer ratchet key can legitimately arrive: true once we
    /// have sent under a ratchet key the peer has not answered yet. A new
    /// key while this is false is refused without a DH.
    pub(crate) expecting_new_chain: bool,
    /// First 8 bytes of the ratchet keys of evicted receiving chains,
    /// newest first.
    pub(crate) evicted_chains: VecDeque<[u8; 8]>,
    /// The KEM ratchet, for a session that runs it (docs/PROTOCOL.md
    /// §6.9): then every message carries its fields, and a message
    /// without them is refused.
    pub(crate) kem: Option<KemRatchet>,
}

/// The record kept of an evicted chain's ratchet key.
pub(crate) fn chain_record(key: &X25519PublicKey) -> [u8; 8] {
    let mut out = [0u8; 8];
    out.copy_from_slice(key.as_bytes().get(..8).unwrap_or(&[0; 8]));
    out
}

/// What the session needs to build one outgoing message.
pub(crate) struct Outgoing {
    pub(crate) ratchet_key: X25519PublicKey,
    pub(crate) previous_counter: u32,
    pub(crate) message_key: MessageKey,
    pub(crate) kem: Option<KemHeader>,
}

impl DoubleRatchet {
    /// The initiator's state after X3DH: its first ratchet key and the
    /// sending chain from the setup output.
    pub(crate) fn initiator(
        root_key: RootKey,
        chain_key: ChainKey,
        our_ratchet: X25519KeyPair,
        kem_ratchet: bool,
    ) -> Self {
        Self {
            kem: kem_ratchet.then(KemRatchet::initiator),
            root_key,
            our_ratchet: Some(our_ratchet),
            sending: Some(chain_key),
            previous_counter: 0,
            receiving: VecDeque::new(),
            expecting_new_chain: true,
            evicted_chains: VecDeque::new(),
        }
    }

    /// The responder's state after X3DH: a receiving chain for the
    /// initiator's first ratchet key, and no sending chain yet.
    pub(crate) fn responder(
        root_key: RootKey,
        chain_key: ChainKey,
        their_ratchet: X25519PublicKey,
        kem_ratchet: bool,
    ) -> Self {
        let mut receiving = VecDeque::new();
        receiving.push_front(Box::new(ReceiverChain {
            ratchet_key: their_ratchet,
            chain_key: Some(chain_key),
            skipped: Default::default(),
        }));
        Self {
            kem: kem_ratchet.then(KemRatchet::responder),
            root_key,
            our_ratchet: None,
            sending: None,
            previous_counter: 0,
            receiving,
            expecting_new_chain: false,
            evicted_chains: VecDeque::new(),
        }
    }

    /// The next message key, taking a DH ratchet step first when needed.
    /// Commits at once: nothing after this can fail.
    pub(crate) fn next_sending_key<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Result<Outgoing, EncryptError> {
        if self.sending.as_ref().is_some_and(|ck| ck.index > MAX_COUNTER) {
            return Err(EncryptError::ChainExhausted);
        }
        if self.sending.is_none() {
            let theirs = self.receiving.front().map(|c| c.ratchet_key).ok_or(EncryptError::ChainExhausted)?;
            let ours = X25519KeyPair::generate(rng);
            let mix = self.kem.as_ref().and_then(KemRatchet::send_mix);
            let (root, chain) = self.root_key.advance(&ours, &theirs, mix).map_err(EncryptError::InvalidKey)?;
            if let Some(kem) = self.kem.as_mut() {
                kem.commit_send_mix();
            }
            self.root_key = root;
            self.our_ratchet = Some(ours);
            self.sending = Some(chain);
            self.expecting_new_chain = true;
        }
        let (Some(chain), Some(ours)) = (self.sending.as_ref(), self.our_ratchet.as_ref()) else {
            return Err(EncryptError::ChainExhausted);
        };
        let (message_key, next) = chain.step().ok_or(EncryptError::ChainExhausted)?;
        let ratchet_key = ours.public();
        self.sending = Some(next);
        let kem = self.kem.as_mut().map(|k| KemHeader { epoch: k.mixed, chunk: k.next_chunk(rng) });
        Ok(Outgoing { ratchet_key, previous_counter: self.previous_counter, message_key, kem })
    }

    /// Decrypts `message` under associated data `ad`; keys it skips are
    /// stored as skipped at `now`. On any error the state is unchanged.
    pub(crate) fn decrypt(&mut self, message: &NormalMessage, ad: &[u8], now: u64) -> Result<Vec<u8>, DecryptError> {
        let counter = message.counter();
        if counter > MAX_COUNTER {
            // No sender produces this counter; no key exists for it.
            return Err(DecryptError::AuthenticationFailed);
        }
        let theirs = message.ratchet_key();
        match (self.kem.as_ref(), message.kem()) {
            (Some(_), Some(_)) | (None, None) => {}
            // A session without the KEM ratchet takes such a message only
            // as an upgrade (the session level, §6.9.8).
            (None, Some(_)) => return Err(DecryptError::AuthenticationFailed),
            // Without the KEM fields: only on a chain we hold, or while the
            // peer of a session we upgraded has not sent them yet (§6.9.7).
            (Some(kem), None) => {
                if kem.peer_seen && !self.receiving.iter().any(|c| c.ratchet_key == theirs) {
                    return Err(DecryptError::AuthenticationFailed);
                }
            }
        }
        let ciphertext = message.ciphertext();
        if let Some(pos) = self.receiving.iter().position(|c| c.ratchet_key == theirs) {
            let Some(chain) = self.receiving.get_mut(pos) else {
                return Err(DecryptError::AuthenticationFailed);
            };
            if let Some(skipped) = chain.skipped.get(&counter) {
                let plaintext =
                    skipped.key.cipher_key().open(ad, ciphertext).map_err(|_| DecryptError::AuthenticationFailed)?;
                chain.skipped.remove(&counter);
                self.receive_kem(message);
                return Ok(plaintext);
            }
            let Some(ck) = chain.chain_key.as_ref() else {
                return Err(DecryptError::DuplicateOrExpired);
            };
            let Some(jump) = counter.checked_sub(ck.index) else {
                return Err(DecryptError::DuplicateOrExpired);
            };
            check_jump(jump)?;
            let (plaintext, adv) = advance_and_open(ck, counter, ad, ciphertext)?;
            // Commit.
            chain.chain_key = Some(adv.next);
            chain.insert_skipped(adv.skipped, now);
            self.receive_kem(message);
            return Ok(plaintext);
        }

        // An unknown ratchet key: a chain we evicted, or the peer's next
        // key. The peer makes a new key only after reading one of ours, so
        // a genuine new key can arrive only while we expect one; anything
        // else is an old chain (or a forgery) and costs no DH.
        if self.evicted_chains.contains(&chain_record(&theirs)) || !self.expecting_new_chain {
            return Err(DecryptError::DuplicateOrExpired);
        }
        let Some(ours) = self.our_ratchet.as_ref() else {
            return Err(DecryptError::DuplicateOrExpired);
        };
        check_jump(counter)?;
        let previous_jump = match self.receiving.front().and_then(|c| c.chain_key.as_ref()) {
            Some(ck) => message.previous_counter().saturating_sub(ck.index),
            None => 0,
        };
        check_jump(previous_jump)?;
        let mix = match (self.kem.as_ref(), message.kem()) {
            (Some(kem), Some(header)) => kem.receive_mix(header.epoch)?,
            _ => None,
        };
        let (root, chain) = self.root_key.advance(ours, &theirs, mix)?;
        let (plaintext, adv) = advance_and_open(&chain, counter, ad, ciphertext)?;
        // Commit. The previous chain is closed only now that its announced
        // length is authenticated.
        if let Some(previous) = self.receiving.front_mut() {
            previous.close_at(message.previous_counter(), now);
        }
        let mut fresh =
            Box::new(ReceiverChain { ratchet_key: theirs, chain_key: Some(adv.next), skipped: Default::default() });
        fresh.insert_skipped(adv.skipped, now);
        self.receiving.push_front(fresh);
        while self.receiving.len() > MAX_RECEIVING_CHAINS {
            if let Some(evicted) = self.receiving.pop_back() {
                self.evicted_chains.push_front(chain_record(&evicted.ratchet_key));
            }
        }
        self.evicted_chains.truncate(MAX_EVICTED_CHAIN_RECORDS);
        self.expecting_new_chain = false;
        self.root_key = root;
        if let (Some(kem), Some(header)) = (self.kem.as_mut(), message.kem()) {
            kem.commit_receive_mix(header.epoch);
        }
        self.receive_kem(message);
        if let Some(old) = self.sending.as_ref() {
            self.previous_counter = old.index;
        }
        // Wipe the old sending chain key in place (a `take` would leave it).
        self.sending.zeroize();
        Ok(plaintext)
    }

    /// Takes in the KEM fields of a message that just decrypted.
    fn receive_kem(&mut self, message: &NormalMessage) {
        if let (Some(kem), Some(header)) = (self.kem.as_mut(), message.kem()) {
            kem.receive(header);
        }
    }

    /// How many skipped message keys are stored, over all chains.
    pub(crate) fn skipped_keys(&self) -> usize {
        self.receiving.iter().map(|c| c.skipped_len()).sum()
    }

    /// Whether a skipped message key stored at or before `before` is kept.
    pub(crate) fn has_skipped_before(&self, before: u64) -> bool {
        self.receiving.iter().any(|c| c.skipped.values().any(|s| s.at <= before))
    }

    /// Deletes every skipped message key stored at or before `before`:
    /// the messages they were kept for are given up on (they then read as
    /// [`ReadState::Read`], and fail with `DuplicateOrExpired` if they
    /// arrive). Returns how many were deleted.
    pub(crate) fn expire_skipped(&mut self, before: u64) -> usize {
        if !self.has_skipped_before(before) {
            return 0;
        }
        let mut deleted = 0;
        for chain in &mut self.receiving {
            let n = chain.skipped.len();
            chain.skipped.retain(|_, s| s.at > before);
            deleted += n - chain.skipped.len();
        }
        deleted
    }

    /// Whether the message `counter` of the peer's chain `ratchet_key` was
    /// read here: [`ReadState::Unread`] while it still can be (its key is
    /// kept, or the chain has not reached it), [`ReadState::Read`] when the
    /// chain is past it without a kept key (read, or given up on with its
    /// key), [`ReadState::Unknown`] for a chain this session does not hold.
    pub(crate) fn read_state(&self, ratchet_key: &[u8; 32], counter: u32) -> ReadState {
        let Some(chain) = self.receiving.iter().find(|c| c.ratchet_key.as_bytes() == ratchet_key) else {
            return ReadState::Unknown;
        };
        let ahead = chain.chain_key.as_ref().is_some_and(|ck| counter >= ck.index);
        if ahead || chain.skipped.contains_key(&counter) { ReadState::Unread } else { ReadState::Read }
    }

    /// The peer's messages this session skipped and still waits for
    /// (their keys are kept), by ratchet key and counter: newest chain
    /// first, lowest counter first, at most `limit`.
    pub(crate) fn missing(&self, limit: usize) -> Vec<([u8; 32], u32)> {
        self.receiving
            .iter()
            .flat_map(|c| c.skipped.keys().map(move |n| (*c.ratchet_key.as_bytes(), *n)))
            .take(limit)
            .collect()
    }

    /// Deletes the kept key of the message `counter` of the chain
    /// `ratchet_key`, if there is one: that message was delivered another
    /// way and must not read again.
    pub(crate) fn forget_skipped(&mut self, ratchet_key: &[u8; 32], counter: u32) -> bool {
        self.receiving
            .iter_mut()
            .find(|c| c.ratchet_key.as_bytes() == ratchet_key)
            .is_some_and(|c| c.skipped.remove(&counter).is_some())
    }
}

/// Whether a message was read ([`DoubleRatchet::read_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadState {
    /// Read, or past and given up on.
    Read,
    /// It can still be read.
    Unread,
    /// Not on a chain held here.
    Unknown,
}

/// Advances `chain` to `counter` and opens the message with that key.
/// Returns the plaintext and the staged chain state, which the caller
/// applies only now that the message is authentic.
fn advance_and_open(
    chain: &ChainKey,
    counter: u32,
    ad: &[u8],
    ciphertext: &[u8],
) -> Result<(Vec<u8>, keys::Advance), DecryptError> {
    let adv = chain.advance_to(counter, keep_from(counter)).ok_or(DecryptError::AuthenticationFailed)?;
    let plaintext =
        adv.message_key.cipher_key().open(ad, ciphertext).map_err(|_| DecryptError::AuthenticationFailed)?;
    Ok((plaintext, adv))
}

/// The first skipped index worth deriving a key for when advancing to
/// `counter`: earlier keys would be evicted at once.
fn keep_from(counter: u32) -> u32 {
    const CAP: u32 = MAX_SKIPPED_KEYS_PER_CHAIN as u32;
    counter.saturating_sub(CAP)
}

/// The counter checks a first message's embedded message must pass, run
/// before the X3DH work that precedes its decryption.
pub(crate) fn check_first_counter(counter: u32) -> Result<(), DecryptError> {
    if counter > MAX_COUNTER {
        return Err(DecryptError::AuthenticationFailed);
    }
    check_jump(counter)
}

fn check_jump(jump: u32) -> Result<(), DecryptError> {
    if jump > MAX_CHAIN_JUMP {
        return Err(DecryptError::TooFarAhead { got: jump, max: MAX_CHAIN_JUMP });
    }
    Ok(())
}

#[cfg(test)]
mod kem_tests;
#[cfg(test)]
mod kem_vectors;
#[cfg(test)]
mod tests;
