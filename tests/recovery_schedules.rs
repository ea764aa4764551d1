//! Random schedules over the conversation layer: bursts of messages each
//! way, each lost, duplicated, corrupted or delayed; then recovery over a
//! reliable network (retry receipts for what failed, requests for what
//! is missing, re-sends). Every message is then read exactly once by its
//! recipient (docs/PROTOCOL.md §13.9).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use dmseal::{Address, BundleSourceError, PreKeyBundle, ReceivedKind};
use proptest::prelude::*;

use self::common::flip;
use self::common::world::*;

#[derive(Debug, Clone, Copy)]
enum Fate {
    Deliver,
    Lose,
    Duplicate,
    Corrupt,
    Delay,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        6 => Just(Fate::Deliver),
        2 => Just(Fate::Lose),
        1 => Just(Fate::Duplicate),
        1 => Just(Fate::Corrupt),
        2 => Just(Fate::Delay),
    ]
}

/// A burst: who sends, and the fate of each of its messages. At most
/// five bursts, so no receiving chain is evicted before recovery (missing
/// messages are named from the chains a session holds).
fn bursts() -> impl Strategy<Value = Vec<(bool, Vec<Fate>)>> {
    proptest::collection::vec((any::<bool>(), proptest::collection::vec(fate(), 1..6)), 1..=5)
}

/// Totals over every case run: messages sent, failed deliveries,
/// receipts, re-sends. Printed after each case with
/// `DMSEAL_RECOVERY_STATS=1 cargo test --test recovery_schedules -- --nocapture`.
static SENT: AtomicUsize = AtomicUsize::new(0);
static FAILED: AtomicUsize = AtomicUsize::new(0);
static RECEIPTS: AtomicUsize = AtomicUsize::new(0);
static RESENT: AtomicUsize = AtomicUsize::new(0);

fn no_bundles(_: &[Address]) -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> {
    Ok(Vec::new())
}

struct Net {
    /// (from, to, bytes), delivered in order.
    queue: Vec<(Address, Address, Vec<u8>)>,
    late: Vec<(Address, Address, Vec<u8>)>,
    /// Plaintexts read, by recipient.
    read: BTreeMap<(Address, Vec<u8>), usize>,
    /// Messages that failed for good, to name in receipts.
    failed: Vec<(Address, Address, Vec<u8>)>,
}

impl Net {
    /// Delivers one message as an app would: commit what reads, answer a
    /// receipt with a re-send, keep what fails for a receipt.
    fn deliver(&mut self, w: &mut World, from: &Address, to: &Address, bytes: &[u8]) {
        match w.get(to).receive(from, bytes, NOW) {
            Ok(r) => {
                let kind = r.kind();
                if kind == ReceivedKind::Message {
                    *self.read.entry((to.clone(), r.plaintext().to_vec())).or_default() += 1;
                }
                w.get(to).commit_received(r, vec![]).unwrap();
                if kind == ReceivedKind::RetryRequested {
                    let again = w.get(to).resend(from, &mut no_bundles, NOW).unwrap();
                    RESENT.fetch_add(again.messages.len(), Ordering::Relaxed);
                    self.queue.extend(again.messages.into_iter().map(|(a, m)| (to.clone(), a, m)));
                }
            }
            Err(e) => {
                assert!(!e.is_transient(), "{e:?}");
                FAILED.fetch_add(1, Ordering::Relaxed);
                self.failed.push((from.clone(), to.clone(), bytes.to_vec()));
            }
        }
    }

    fn drain(&mut self, w: &mut World) {
        while !self.queue.is_empty() {
            for (from, to, bytes) in core::mem::take(&mut self.queue) {
                self.deliver(w, &from, &to, &bytes);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn after_recovery_every_message_is_read_exactly_once(schedule in bursts(), order in any::<u64>()) {
        let (mut w, a, b) = alice_and_bob();
        exchange(&mut w, &a, &b, 0);
        let mut net = Net { queue: Vec::new(), late: Vec::new(), read: BTreeMap::new(), failed: Vec::new() };
        let mut sent: Vec<(Address, Vec<u8>)> = Vec::new();
        for (n, (from_alice, fates)) in schedule.iter().enumerate() {
            let (from, to, user) = if *from_alice { (&a, &b, "bob") } else { (&b, &a, "alice") };
            for (i, fate) in fates.iter().enumerate() {
                let text = format!("{from} {n}.{i}").into_bytes();
                let bytes = w.send(from, user, &text, NOW).remove(0).1;
                sent.push((to.clone(), text));
                match fate {
                    Fate::Deliver => net.deliver(&mut w, from, to, &bytes),
                    Fate::Lose => {}
                    Fate::Duplicate => {
                        net.deliver(&mut w, from, to, &bytes);
                        net.late.push((from.clone(), to.clone(), bytes));
                    }
                    Fate::Corrupt => net.deliver(&mut w, from, to, &flip(&bytes, bytes.len() * 8 - 1)),
                    Fate::Delay => net.late.push((from.clone(), to.clone(), bytes)),
                }
            }
        }
        // Late copies arrive in a shuffled order.
        let mut late = core::mem::take(&mut net.late);
        if !late.is_empty() {
            let k = (order % late.len() as u64) as usize;
            late.rotate_left(k);
        }
        net.queue = late;
        net.drain(&mut w);
        // Recovery over a reliable network: one message each way shows
        // what went missing at the end of a chain; receipts name what
        // failed and what is missing; senders send again.
        for round in 0..3 {
            for (from, to, user) in [(&a, &b, "bob"), (&b, &a, "alice")] {
                let text = format!("{from} tick {round}").into_bytes();
                let bytes = w.send(from, user, &text, NOW).remove(0).1;
                sent.push((to.clone(), text));
                net.queue.push((from.clone(), to.clone(), bytes));
            }
            net.drain(&mut w);
            for (from, at, bytes) in core::mem::take(&mut net.failed) {
                let out = w.get(&at).send_retry_receipt(&from, &bytes, &mut no_bundles, NOW).unwrap();
                RECEIPTS.fetch_add(1, Ordering::Relaxed);
                net.queue.extend(out.messages.into_iter().map(|(to, m)| (at.clone(), to, m)));
            }
            for (at, peer) in [(&a, &b), (&b, &a)] {
                let out = w.get(at).request_missing(peer, &mut no_bundles, NOW).unwrap();
                RECEIPTS.fetch_add(out.messages.len(), Ordering::Relaxed);
                net.queue.extend(out.messages.into_iter().map(|(to, m)| (at.clone(), to, m)));
            }
            net.drain(&mut w);
        }
        for (to, text) in &sent {
            prop_assert_eq!(net.read.get(&(to.clone(), text.clone())).copied(), Some(1), "{:?} at {}", String::from_utf8_lossy(text), to);
        }
        prop_assert_eq!(net.read.values().sum::<usize>(), sent.len(), "nothing read that was not sent");
        SENT.fetch_add(sent.len(), Ordering::Relaxed);
        if std::env::var_os("DMSEAL_RECOVERY_STATS").is_some() {
            let [s, f, r, x] = [&SENT, &FAILED, &RECEIPTS, &RESENT].map(|c| c.load(Ordering::Relaxed));
            eprintln!("totals: {s} messages, {f} failed deliveries, {r} receipts, {x} re-sent");
        }
    }
}
