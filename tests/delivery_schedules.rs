//! Random schedules: send either way, deliver in any order, drop,
//! duplicate and tamper. Every delivered, untampered, first-time message
//! decrypts exactly once to its plaintext; everything else fails and
//! changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::*;
use dmseal::limits::MAX_RECEIVING_CHAINS;
use dmseal::{DecryptError, NormalMessage, PreKeyMessage, Session};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Send { from_alice: bool },
    Deliver { pick: usize },
    Duplicate { pick: usize },
    Drop { pick: usize },
    Tamper { pick: usize, bit: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => any::<bool>().prop_map(|from_alice| Op::Send { from_alice }),
        4 => any::<usize>().prop_map(|pick| Op::Deliver { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Duplicate { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Drop { pick }),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(pick, bit)| Op::Tamper { pick, bit }),
    ]
}

struct InFlight {
    to_bob: bool,
    bytes: Vec<u8>,
    plaintext: Vec<u8>,
}

fn ratchet_key(bytes: &[u8]) -> [u8; 32] {
    match NormalMessage::decode(bytes) {
        Ok(m) => m.ratchet_key().to_bytes(),
        Err(_) => PreKeyMessage::decode(bytes).unwrap().message().ratchet_key().to_bytes(),
    }
}

fn snapshot(s: &Session) -> Vec<u8> {
    s.pickle().to_bytes().to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_schedule_keeps_the_protocol_promises(ops in proptest::collection::vec(op(), 1..120)) {
        let (_alice, mut a, _bob, mut b) = pair(70, true);
        let mut flight: Vec<InFlight> = Vec::new();
        let mut delivered: Vec<InFlight> = Vec::new();
        // Ratchet keys in the order each receiver first read them.
        // Bob's first chain is the first message's (a discarded prekey
        // message shows its key).
        let mut chains_at_bob: Vec<[u8; 32]> = vec![ratchet_key(&a.encrypt(b"dropped").unwrap())];
        let mut chains_at_alice: Vec<[u8; 32]> = Vec::new();
        let mut counter = 0u32;
        for op in ops {
            match op {
                Op::Send { from_alice } => {
                    counter += 1;
                    let plaintext = counter.to_be_bytes().to_vec();
                    let s = if from_alice { &mut a } else { &mut b };
                    let bytes = s.encrypt(&plaintext).unwrap();
                    flight.push(InFlight { to_bob: from_alice, bytes, plaintext });
                }
                Op::Deliver { pick } if !flight.is_empty() => {
                    let m = flight.remove(pick % flight.len());
                    let (s, chains) = if m.to_bob { (&mut b, &mut chains_at_bob) } else { (&mut a, &mut chains_at_alice) };
                    let key = ratchet_key(&m.bytes);
                    let evicted = chains.iter().position(|k| *k == key)
                        .is_some_and(|p| p + MAX_RECEIVING_CHAINS < chains.len());
                    let before = snapshot(s);
                    match s.decrypt(&m.bytes) {
                        Ok(p) => {
                            prop_assert!(!evicted);
                            prop_assert_eq!(&p, &m.plaintext);
                            if !chains.contains(&key) { chains.push(key); }
                        }
                        Err(e) => {
                            prop_assert!(evicted, "fresh message failed: {:?}", e);
                            prop_assert_eq!(e, DecryptError::DuplicateOrExpired);
                            prop_assert_eq!(snapshot(s), before);
                        }
                    }
                    delivered.push(m);
                }
                Op::Duplicate { pick } if !delivered.is_empty() => {
                    let m = &delivered[pick % delivered.len()];
                    let s = if m.to_bob { &mut b } else { &mut a };
                    let before = snapshot(s);
                    prop_assert_eq!(s.decrypt(&m.bytes), Err(DecryptError::DuplicateOrExpired));
                    prop_assert_eq!(snapshot(s), before);
                }
                Op::Drop { pick } if !flight.is_empty() => {
                    flight.remove(pick % flight.len());
                }
                Op::Tamper { pick, bit } if !flight.is_empty() => {
                    let m = &flight[pick % flight.len()];
                    let s = if m.to_bob { &mut b } else { &mut a };
                    let tampered = flip(&m.bytes, bit % (m.bytes.len() * 8));
                    let before = snapshot(s);
                    prop_assert!(s.decrypt(&tampered).is_err());
                    prop_assert_eq!(snapshot(s), before);
                }
                _ => {}
            }
        }
        // Whatever is still in flight decrypts now (unless its chain was evicted).
        for m in flight {
            let (s, chains) = if m.to_bob { (&mut b, &chains_at_bob) } else { (&mut a, &chains_at_alice) };
            let key = ratchet_key(&m.bytes);
            let evicted = chains.iter().position(|k| *k == key).is_some_and(|p| p + MAX_RECEIVING_CHAINS < chains.len());
            let result = s.decrypt(&m.bytes);
            if evicted {
                prop_assert!(result.is_err());
            } else {
                prop_assert_eq!(result.unwrap(), m.plaintext);
            }
        }
    }
}
