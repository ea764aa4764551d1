//! The KEM ratchet: epochs, healing against an adversary who breaks
//! X25519, chunk loss and reordering, limits and pickles.

use core::convert::Infallible;

use rand_chacha::ChaCha20Rng;
use rand_core::{SeedableRng, TryCryptoRng, TryRng};

use super::erasure::CHUNK_LEN;
use super::kem::{CT_CHUNKS, EK_CHUNKS, KemState};
use crate::error::DecryptError;
use crate::message::NormalMessage;
use crate::session::Session;
use crate::testing::{established, established_without_kem_ratchet, rng};

/// An RNG that hands out `prefix` first, then `inner`'s output.
struct Scripted {
    prefix: Vec<u8>,
    inner: ChaCha20Rng,
}

impl TryRng for Scripted {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let n = dst.len().min(self.prefix.len());
        let (head, tail) = dst.split_at_mut(n);
        head.copy_from_slice(&self.prefix[..n]);
        self.prefix.drain(..n);
        self.inner.try_fill_bytes(tail)
    }
}

impl TryCryptoRng for Scripted {}

fn copy(s: &Session) -> Session {
    Session::from_pickle(&s.pickle()).unwrap()
}

fn ratchet_public(s: &Session) -> Option<[u8; 32]> {
    s.ratchet.our_ratchet.as_ref().map(|k| k.public().to_bytes())
}

/// Alice and Bob, and an adversary who copied both their states at the
/// start and can compute every X25519 private key they make afterwards
/// (it "breaks X25519"), but draws its own ML-KEM randomness; or, for a
/// control run, one that also knows every ML-KEM draw (`knows_kem`).
struct Compromised {
    real: [Session; 2],
    spy: [Session; 2],
    rng: ChaCha20Rng,
    spy_rng: ChaCha20Rng,
    knows_kem: bool,
}

impl Compromised {
    fn new(real: (Session, Session)) -> Self {
        let spy = [copy(&real.0), copy(&real.1)];
        Self { real: [real.0, real.1], spy, rng: rng(71), spy_rng: rng(72), knows_kem: false }
    }

    /// `from` sends one message; the other side reads it. Returns whether
    /// the adversary read it too.
    fn send(&mut self, from: usize, text: &[u8]) -> bool {
        let to = 1 - from;
        let before = ratchet_public(&self.real[from]);
        let draws = self.rng.clone();
        let bytes = self.real[from].encrypt_with_rng(&mut self.rng, text).unwrap();
        let after = ratchet_public(&self.real[from]);
        // The adversary follows the sender's DH ratchet step with the
        // sender's new private key, and its own KEM randomness (or, in the
        // control run, the sender's own draws, KEM ones included).
        let mut r = Scripted { prefix: Vec::new(), inner: ChaCha20Rng::from_seed(self.spy_rng.random()) };
        if self.knows_kem {
            r.inner = draws;
        } else if after != before {
            r.prefix = self.real[from].ratchet.our_ratchet.as_ref().unwrap().secret_bytes().to_vec();
        }
        let _ = self.spy[from].encrypt_with_rng(&mut r, b"");
        assert_eq!(self.real[to].decrypt(&bytes).unwrap(), text);
        self.spy[to].decrypt(&bytes).is_ok_and(|p| p == text)
    }
}

trait Random {
    fn random(&mut self) -> [u8; 32];
}

impl Random for ChaCha20Rng {
    fn random(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        let _ = self.try_fill_bytes(&mut b);
        b
    }
}

/// Runs a conversation of `rounds` rounds of two messages each way and
/// returns, per message, whether the adversary read it.
fn converse(c: &mut Compromised, rounds: usize) -> Vec<bool> {
    let mut read = Vec::new();
    for i in 0..rounds {
        for from in [0, 0, 1, 1] {
            read.push(c.send(from, format!("message {i} from {from}").as_bytes()));
        }
    }
    read
}

#[test]
fn without_the_kem_ratchet_an_adversary_who_breaks_x25519_reads_on_forever() {
    let mut c = Compromised::new(established_without_kem_ratchet(1));
    let read = converse(&mut c, 150);
    assert!(read.iter().all(|r| *r), "the model of the adversary must follow a classic session");
}

#[test]
fn an_adversary_that_also_knows_every_ml_kem_draw_reads_on_forever() {
    // The control of the healing tests: with the KEM randomness known too,
    // the same adversary follows a KEM-ratchet session to the end, so its
    // failures below come from ML-KEM secrets alone.
    let mut c = Compromised::new(established(2));
    c.knows_kem = true;
    let read = converse(&mut c, 150);
    assert!(read.iter().all(|r| *r));
    assert!(c.real[0].kem_epochs() >= 5 && c.spy[0].kem_epochs() == c.real[0].kem_epochs());
}

#[test]
fn the_kem_ratchet_heals_against_an_adversary_who_breaks_x25519_but_not_ml_kem() {
    let mut c = Compromised::new(established(2));
    assert!(c.real[0].kem_ratchet() && c.real[1].kem_ratchet());
    let read = converse(&mut c, 150);
    // The adversary reads along until an epoch whose key pair was made
    // after the compromise is mixed (epoch 1's was made before: Alice's
    // copy holds it); from then on, nothing.
    let last_read = read.iter().rposition(|r| *r).expect("the adversary must read before healing");
    assert!(read[..8].iter().all(|r| *r), "the adversary must follow at first");
    println!("compromise at epoch 0 in progress: last message read {last_read} of {}", read.len());
    // Within two epochs of the conversation (each about 80 messages here).
    assert!(last_read < 150, "healed after {last_read} messages");
    assert!(read[last_read + 1..].iter().all(|r| !r));
    assert!(c.real[0].kem_epochs() >= 5, "epochs: {}", c.real[0].kem_epochs());
}

#[test]
fn an_adversary_that_copied_a_key_pair_in_flight_loses_at_the_next_epoch() {
    let (mut a, mut b) = established(3);
    let mut r = rng(30);
    // Epoch 1 done, and Bob is sending epoch 2's key when both states are
    // copied.
    let mut i = 0u32;
    while !matches!(b.ratchet.kem.as_ref().unwrap().state, KemState::SendingEk { .. }) {
        a.decrypt(&b.encrypt_with_rng(&mut r, &i.to_be_bytes()).unwrap()).unwrap();
        b.decrypt(&a.encrypt_with_rng(&mut r, &i.to_be_bytes()).unwrap()).unwrap();
        i += 1;
        assert!(i < 100);
    }
    assert_eq!(b.kem_epochs(), 1);
    let mut c = Compromised::new((a, b));
    let read = converse(&mut c, 150);
    let last_read = read.iter().rposition(|r| *r).expect("the adversary must read before healing");
    assert!(read[last_read + 1..].iter().all(|r| !r));
    println!("compromise at epoch 2 in progress: last message read {last_read} of {}", read.len());
    // Epoch 2 (copied in flight, Bob's key pair) did not heal; epoch 3 did.
    assert!(last_read < 150, "healed after {last_read} messages");
    assert!(c.real[0].kem_epochs() >= 5);
}

/// Delivers `bytes` to `to`, asserting the plaintext.
fn deliver(to: &mut Session, bytes: &[u8], text: &[u8]) {
    assert_eq!(to.decrypt(bytes).unwrap(), text);
}

#[test]
fn epochs_advance_in_a_ping_pong_and_both_sides_agree() {
    let (mut a, mut b) = established(4);
    let mut r = rng(40);
    let mut first_epoch_at = None;
    for i in 0..200u32 {
        let m = a.encrypt_with_rng(&mut r, &i.to_be_bytes()).unwrap();
        deliver(&mut b, &m, &i.to_be_bytes());
        let m = b.encrypt_with_rng(&mut r, &i.to_be_bytes()).unwrap();
        deliver(&mut a, &m, &i.to_be_bytes());
        if first_epoch_at.is_none() && b.kem_epochs() == 1 {
            first_epoch_at = Some(i);
        }
    }
    // Epoch 1: 19 chunks of the key, 18 of the ciphertext, one round trip
    // to mix: 38 round trips at most without loss.
    let first = first_epoch_at.unwrap();
    assert!(first <= u32::from(EK_CHUNKS) + u32::from(CT_CHUNKS) + 1, "epoch 1 after {first} round trips");
    assert!(a.kem_epochs() >= 5 && a.kem_epochs().abs_diff(b.kem_epochs()) <= 1);
}

#[test]
fn every_message_of_a_kem_session_carries_the_fields_and_the_documented_overhead() {
    let (mut a, mut b) = established(5);
    let mut r = rng(50);
    let m = a.encrypt_with_rng(&mut r, b"").unwrap();
    let decoded = NormalMessage::decode(&m).unwrap();
    assert_eq!(decoded.kem_epoch(), Some(0));
    // Alice sends epoch 1's key: a chunk in every message.
    assert!(decoded.kem_chunk_index().is_some());
    assert_eq!(m.len(), 52 + 1 + 1 + CHUNK_LEN);
    b.decrypt(&m).unwrap();
    // Bob has nothing to send yet: the epoch and an empty chunk byte.
    let m = b.encrypt_with_rng(&mut r, b"").unwrap();
    assert_eq!(NormalMessage::decode(&m).unwrap().kem_chunk_index(), None);
    assert_eq!(m.len(), 52 + 2);
}

#[test]
fn stripping_the_kem_fields_or_a_chunk_fails_and_changes_nothing() {
    let (mut a, mut b) = established(6);
    let mut r = rng(60);
    let m = a.encrypt_with_rng(&mut r, b"secret").unwrap();
    let decoded = NormalMessage::decode(&m).unwrap();
    let header_end = m.len() - decoded.ciphertext().len();
    let ciphertext = decoded.ciphertext().to_vec();
    let snapshot = b.pickle().to_bytes();
    // As a message without the KEM ratchet (type 0x03).
    let mut plain = Vec::new();
    NormalMessage::write_header(&mut plain, decoded.ratchet_key(), decoded.previous_counter(), decoded.counter(), None);
    plain.extend_from_slice(&ciphertext);
    assert_eq!(b.decrypt(&plain), Err(DecryptError::AuthenticationFailed));
    // Without its chunk.
    let mut header = decoded.kem().unwrap().clone();
    header.chunk = None;
    let mut stripped = Vec::new();
    NormalMessage::write_header(
        &mut stripped,
        decoded.ratchet_key(),
        decoded.previous_counter(),
        decoded.counter(),
        Some(&header),
    );
    stripped.extend_from_slice(&ciphertext);
    assert_eq!(b.decrypt(&stripped), Err(DecryptError::AuthenticationFailed));
    // With another epoch, or a flipped chunk bit.
    header = decoded.kem().unwrap().clone();
    header.epoch = 1;
    let mut other = Vec::new();
    NormalMessage::write_header(
        &mut other,
        decoded.ratchet_key(),
        decoded.previous_counter(),
        decoded.counter(),
        Some(&header),
    );
    other.extend_from_slice(&ciphertext);
    assert_eq!(b.decrypt(&other), Err(DecryptError::AuthenticationFailed));
    let mut flipped = m.clone();
    flipped[header_end - 1] ^= 1;
    assert_eq!(b.decrypt(&flipped), Err(DecryptError::AuthenticationFailed));
    assert_eq!(b.pickle().to_bytes(), snapshot);
    assert_eq!(b.decrypt(&m).unwrap(), b"secret");
}

#[test]
fn a_session_without_the_kem_ratchet_refuses_kem_messages() {
    let (mut a, mut b) = established_without_kem_ratchet(7);
    assert!(!a.kem_ratchet() && !b.kem_ratchet());
    let m = a.encrypt(b"x").unwrap();
    let decoded = NormalMessage::decode(&m).unwrap();
    assert_eq!(decoded.kem_epoch(), None);
    let mut upgraded = Vec::new();
    let header = super::kem::KemHeader { epoch: 0, chunk: None };
    NormalMessage::write_header(
        &mut upgraded,
        decoded.ratchet_key(),
        decoded.previous_counter(),
        decoded.counter(),
        Some(&header),
    );
    upgraded.extend_from_slice(decoded.ciphertext());
    assert_eq!(b.decrypt(&upgraded), Err(DecryptError::AuthenticationFailed));
    assert_eq!(b.decrypt(&m).unwrap(), b"x");
}

#[test]
fn the_kem_state_survives_a_pickle_in_every_phase() {
    let (mut a, mut b) = established(8);
    let mut r = rng(80);
    let mut phases = std::collections::BTreeSet::new();
    for i in 0..120u32 {
        let m = a.encrypt_with_rng(&mut r, &i.to_be_bytes()).unwrap();
        b.decrypt(&m).unwrap();
        let m = b.encrypt_with_rng(&mut r, &i.to_be_bytes()).unwrap();
        a.decrypt(&m).unwrap();
        for s in [&mut a, &mut b] {
            let p = s.ratchet.kem.as_ref().unwrap().to_pickle();
            phases.insert(p.state);
            let restored = copy(s);
            assert_eq!(restored.ratchet.kem.as_ref().unwrap().to_pickle().state, p.state);
            assert_eq!(restored.pickle().to_bytes(), s.pickle().to_bytes());
            *s = restored;
        }
    }
    assert_eq!(phases, (0..=5).collect());
    assert!(a.kem_epochs() >= 2);
}

#[test]
fn a_sender_cycles_through_every_chunk_index_and_the_last_one_decodes() {
    use super::MAX_KEM_CHUNK_INDEX;
    let (mut a, mut b) = established(9);
    let mut r = rng(90);
    // Alice sends epoch 1's key and Bob never answers: after index 254
    // (chunk byte 0xff) comes index 0 again.
    let mut seen = Vec::new();
    for _ in 0..=u32::from(MAX_KEM_CHUNK_INDEX) + 1 {
        let m = a.encrypt_with_rng(&mut r, b"").unwrap();
        let decoded = NormalMessage::decode(&m).unwrap();
        seen.push(decoded.kem_chunk_index().unwrap());
        let index = decoded.kem_chunk_index().unwrap();
        if index == MAX_KEM_CHUNK_INDEX {
            assert_eq!(m[m.len() - 16 - CHUNK_LEN - 1], 0xff);
        }
        // Bob reads only the last 18 indices (parity chunks).
        if index > MAX_KEM_CHUNK_INDEX - 18 {
            assert_eq!(b.decrypt(&m).unwrap(), b"");
        }
    }
    // Chunk 0 was in Alice's first message (in `established`).
    assert_eq!(seen.first(), Some(&1));
    assert_eq!(&seen[MAX_KEM_CHUNK_INDEX as usize - 1..], &[MAX_KEM_CHUNK_INDEX, 0, 1]);
    // Bob rebuilt the key from those and chunk 0.
    assert!(matches!(b.ratchet.kem.as_ref().unwrap().state, KemState::EkReceived { .. }));
}

#[test]
fn a_session_pickle_round_trips_through_a_self_describing_format_too() {
    let (a, _) = established(10);
    let json = serde_json::to_string(&a.pickle()).unwrap();
    let back: crate::SessionPickle = serde_json::from_str(&json).unwrap();
    assert_eq!(back.to_bytes(), a.pickle().to_bytes());
}

/// Feeds `payload`'s chunks `0 .. k` to `kem` as headers naming `epoch`.
fn feed(kem: &mut super::kem::KemRatchet, epoch: u32, payload: &[u8]) {
    for i in 0..(payload.len() / CHUNK_LEN) as u8 {
        kem.receive(&super::kem::KemHeader { epoch, chunk: Some((i, super::erasure::chunk(payload, i))) });
    }
}

#[test]
fn a_key_payload_that_fails_its_check_is_dropped_and_collected_again() {
    use super::kem::{EK_PAYLOAD_LEN, KemRatchet};
    let pair = crate::primitives::kem::MlKemKeyPair::generate(&mut rng(110), false);
    let mut payload = [0u8; EK_PAYLOAD_LEN];
    payload[..1184].copy_from_slice(pair.public().as_bytes());
    payload[1184..]
        .copy_from_slice(&crate::primitives::kdf::sha256(&[crate::labels::HASH_KEM_EK, pair.public().as_bytes()]));
    // A wrong check value: dropped, the decoder starts again.
    let mut bad = payload;
    bad[EK_PAYLOAD_LEN - 1] ^= 1;
    let mut kem = KemRatchet::responder();
    feed(&mut kem, 0, &bad);
    assert!(matches!(&kem.state, KemState::ReceivingEk { ek } if ek.chunks().is_empty()));
    // Chunks naming another epoch count for nothing.
    feed(&mut kem, 1, &payload);
    assert!(matches!(&kem.state, KemState::ReceivingEk { ek } if ek.chunks().is_empty()));
    // The genuine payload: taken.
    feed(&mut kem, 0, &payload);
    assert!(matches!(&kem.state, KemState::EkReceived { .. }));
}

#[test]
fn a_ciphertext_payload_with_a_bad_tag_or_padding_is_dropped_and_collected_again() {
    use super::kem::KemRatchet;
    let mut ek_side = KemRatchet::initiator();
    let mut ct_side = KemRatchet::responder();
    let mut r = rng(111);
    // The key travels; the ciphertext side encapsulates.
    while !matches!(ct_side.state, KemState::EkReceived { .. }) {
        let chunk = ek_side.next_chunk(&mut r);
        ct_side.receive(&super::kem::KemHeader { epoch: 0, chunk });
    }
    ct_side.next_chunk(&mut r);
    let KemState::SendingCt { payload, .. } = &ct_side.state else { panic!("not sending the ciphertext") };
    let payload = payload.to_vec();
    for (at, what) in [(1088, "tag"), (1151, "padding")] {
        let mut bad = payload.clone();
        bad[at] ^= 1;
        let mut side = ek_side.clone();
        feed(&mut side, 0, &bad);
        assert!(
            matches!(&side.state, KemState::SendingEk { ct, delivered: true, .. } if ct.chunks().is_empty()),
            "a bad {what} must be dropped"
        );
        feed(&mut side, 0, &payload);
        assert!(matches!(side.state, KemState::Decapsulated { .. }), "after a bad {what}");
    }
}

#[test]
fn a_failed_decryption_of_the_chain_that_mixes_an_epoch_changes_nothing() {
    let (mut a, mut b) = established(12);
    let mut r = rng(120);
    // Run until Alice has decapsulated epoch 1: her next send mixes it.
    while !matches!(a.ratchet.kem.as_ref().unwrap().state, KemState::Decapsulated { .. }) {
        b.decrypt(&a.encrypt_with_rng(&mut r, b"a").unwrap()).unwrap();
        a.decrypt(&b.encrypt_with_rng(&mut r, b"b").unwrap()).unwrap();
    }
    let mixing = a.encrypt_with_rng(&mut r, b"mixing").unwrap();
    assert_eq!(NormalMessage::decode(&mixing).unwrap().kem_epoch(), Some(1));
    let before = b.pickle().to_bytes();
    let mut tampered = mixing.clone();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    assert_eq!(b.decrypt(&tampered), Err(DecryptError::AuthenticationFailed));
    assert_eq!(b.pickle().to_bytes(), before);
    assert_eq!(b.decrypt(&mixing).unwrap(), b"mixing");
    assert_eq!((a.kem_epochs(), b.kem_epochs()), (1, 1));
}

#[test]
fn both_sides_upgrading_at_once_agree() {
    let (mut a, mut b) = established_without_kem_ratchet(13);
    assert!(a.upgrade_kem_ratchet() && b.upgrade_kem_ratchet());
    let mut r = rng(130);
    for i in 0..60u32 {
        // Both send before reading: messages cross.
        let (x, y) = (
            a.encrypt_with_rng(&mut r, &i.to_be_bytes()).unwrap(),
            b.encrypt_with_rng(&mut r, &i.to_be_bytes()).unwrap(),
        );
        assert_eq!(b.decrypt(&x).unwrap(), i.to_be_bytes());
        assert_eq!(a.decrypt(&y).unwrap(), i.to_be_bytes());
    }
    assert!(a.kem_epochs() >= 1 && a.kem_epochs().abs_diff(b.kem_epochs()) <= 1);
}

#[test]
fn the_last_epoch_is_mixed_and_none_after_it() {
    use super::kem::KemRatchet;
    let key = || zeroize::Zeroizing::new([7u8; 32]);
    // One below the limit: mixed, and the next epoch begins.
    let mut kem = KemRatchet { mixed: u32::MAX - 1, state: KemState::Decapsulated { key: key() }, peer_seen: true };
    assert!(kem.send_mix().is_some());
    kem.commit_send_mix();
    assert_eq!(kem.mixed, u32::MAX);
    assert!(matches!(kem.state, KemState::ReceivingEk { .. }));
    // At the limit: nothing more is mixed, and the state stays.
    let mut kem = KemRatchet { mixed: u32::MAX, state: KemState::Decapsulated { key: key() }, peer_seen: true };
    assert!(kem.send_mix().is_none());
    kem.commit_send_mix();
    assert!(matches!(kem.state, KemState::Decapsulated { .. }) && kem.mixed == u32::MAX);
    // A ciphertext side at the limit makes no ciphertext for an epoch past it.
    let mut kem = KemRatchet::responder();
    kem.mixed = u32::MAX;
    let pair = crate::primitives::kem::MlKemKeyPair::generate(&mut rng(140), false);
    kem.state = KemState::EkReceived { ek: Box::new(pair.public().clone()) };
    assert_eq!(kem.next_chunk(&mut rng(141)), None);
}

#[test]
fn a_new_chain_mixes_only_the_next_epoch_and_only_after_encapsulating() {
    use super::kem::{CT_PAYLOAD_LEN, KemRatchet};
    let sending_ct = |mixed| KemRatchet {
        mixed,
        state: KemState::SendingCt {
            payload: Box::new([0; CT_PAYLOAD_LEN]),
            key: zeroize::Zeroizing::new([5; 32]),
            next: 0,
        },
        peer_seen: true,
    };
    let kem = sending_ct(3);
    assert_eq!(kem.receive_mix(3), Ok(None));
    assert_eq!(kem.receive_mix(4), Ok(Some(&[5; 32])));
    for wrong in [0, 2, 5, u32::MAX] {
        assert_eq!(kem.receive_mix(wrong), Err(DecryptError::AuthenticationFailed), "epoch {wrong}");
    }
    // Not encapsulated yet: the next epoch cannot be mixed.
    let mut waiting = KemRatchet::responder();
    waiting.mixed = 3;
    assert_eq!(waiting.receive_mix(4), Err(DecryptError::AuthenticationFailed));
    assert_eq!(sending_ct(u32::MAX).receive_mix(u32::MAX), Ok(None));
}

#[test]
fn every_inconsistent_kem_pickle_is_refused() {
    use super::kem::KemRatchet;
    use crate::pickle::KemChunkPickle;
    let (mut a, mut b) = established(15);
    let mut r = rng(150);
    // One pickle of each state that holds something.
    let mut seen: std::collections::BTreeMap<u8, crate::pickle::KemRatchetPickle> = Default::default();
    for _ in 0..60 {
        b.decrypt(&a.encrypt_with_rng(&mut r, b"a").unwrap()).unwrap();
        a.decrypt(&b.encrypt_with_rng(&mut r, b"b").unwrap()).unwrap();
        for s in [&a, &b] {
            let p = s.ratchet.kem.as_ref().unwrap().to_pickle();
            seen.entry(p.state).or_insert(p);
        }
    }
    for p in seen.values() {
        assert!(KemRatchet::from_pickle(p).is_ok(), "state {}", p.state);
        // The sending states take every index up to the last.
        if p.state == 1 || p.state == 5 {
            let mut last = p.clone();
            last.next = super::MAX_KEM_CHUNK_INDEX;
            assert!(KemRatchet::from_pickle(&last).is_ok());
        }
    }
    type Change = fn(&mut crate::pickle::KemRatchetPickle);
    let changes: [(&str, Change); 10] = [
        ("unknown state", |p| p.state = 6),
        ("next past the last index", |p| p.next = 255),
        ("delivered outside state 1", |p| {
            p.delivered = true;
            if p.state == 1 {
                (p.state, p.next) = (3, 0);
                p.secret.clear();
            }
        }),
        ("a secret where none belongs, or one byte short", |p| {
            if p.secret.is_empty() {
                p.secret = vec![1; 32]
            } else {
                p.secret.pop();
            }
        }),
        ("a payload where none belongs, or one byte short", |p| {
            if p.payload.is_empty() {
                p.payload = vec![0; 1152]
            } else {
                p.payload.pop();
            }
        }),
        ("chunks where none belong, or a short chunk", |p| {
            if p.state == 1 || p.state == 3 {
                p.chunks.push(KemChunkPickle { index: 200, data: vec![0; 63] })
            } else {
                p.chunks.push(KemChunkPickle { index: 0, data: vec![0; 64] })
            }
        }),
        ("a repeated chunk index", |p| {
            p.chunks.push(KemChunkPickle { index: 201, data: vec![0; 64] });
            p.chunks.push(KemChunkPickle { index: 201, data: vec![0; 64] });
        }),
        ("a next index outside the sending states", |p| {
            if p.state != 1 && p.state != 5 { p.next = 1 } else { p.state = 3 }
        }),
        ("a full decoder", |p| {
            if p.state == 1 || p.state == 3 {
                let k = if p.state == 1 { CT_CHUNKS } else { EK_CHUNKS };
                p.chunks = (0..k).map(|i| KemChunkPickle { index: i, data: vec![0; 64] }).collect();
            } else {
                p.state = 0
            }
        }),
        ("a key the modulus check refuses, or a state without one", |p| {
            if p.state == 4 { p.secret = vec![0xff; 1184] } else { p.state = 4 }
        }),
    ];
    for (what, change) in changes {
        for p in seen.values() {
            let mut bad = p.clone();
            change(&mut bad);
            assert!(KemRatchet::from_pickle(&bad).is_err(), "{what}, state {}", p.state);
        }
    }
}
