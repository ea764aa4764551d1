//! The recovery interaction test (issue 15): three users with two or three
//! devices each, in 1:1 conversations and one group, over a network that
//! loses, duplicates, corrupts and delays messages, with devices restored
//! from old store snapshots and a group that some devices create late.
//! Then the applications run the recovery the documentation describes
//! (docs/PROTOCOL.md §13.7 to §13.11) over a reliable network.
//!
//! Invariants:
//! - liveness: every message sent to a device is read there exactly once
//!   (a restored device's reads are those its restored store holds, as
//!   an application's inbox rows are restored with it);
//! - no (ratchet key, counter) and no (sender state, index) is used twice
//!   by a sender;
//! - nothing is read that was not sent to that device.
//!
//! `DMSEAL_RECOVERY_STATS=1 cargo test --all-features --test
//! interaction_recovery -- --nocapture` prints the totals (messages,
//! failed deliveries, heals, receipts, re-sends, restores);
//! `PROPTEST_CASES=N` runs more cases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, dead_code)]

mod recovery {
    include!("../fuzz/logic/recovery.rs");
}

use proptest::prelude::*;

use self::recovery::{Fate, Step, run_steps};

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        8 => Just(Fate::Deliver),
        2 => Just(Fate::Lose),
        1 => Just(Fate::Duplicate),
        1 => Just(Fate::Corrupt),
        2 => Just(Fate::Delay),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let fates = || proptest::collection::vec(fate(), 1..8);
    prop_oneof![
        6 => (0..7usize, 0..2usize, fates()).prop_map(|(from, to, fates)| Step::Direct { from, to, fates }),
        4 => (0..7usize, fates()).prop_map(|(from, fates)| Step::Group { from, fates }),
        1 => (0..7usize).prop_map(Step::Snapshot),
        1 => (0..7usize).prop_map(Step::Restore),
        1 => (0..7usize).prop_map(Step::CreateGroup),
    ]
}

#[test]
fn a_lost_first_message_then_a_restore() {
    let steps = [
        Step::Direct { from: 0, to: 0, fates: vec![Fate::Deliver] },
        Step::Direct { from: 5, to: 0, fates: vec![Fate::Lose] },
        Step::Snapshot(5),
        Step::Restore(5),
    ];
    run_steps(&[false; 7], &steps, 0).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn after_recovery_every_message_is_read_exactly_once_by_every_device(
        late_group in proptest::collection::vec(proptest::bool::weighted(0.3), 7),
        steps in proptest::collection::vec(step(), 1..24),
        order in any::<u64>(),
    ) {
        run_steps(&late_group, &steps, order).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn a_restored_sender_whose_first_message_was_corrupted() {
    use Fate::*;
    let steps = [
        Step::Direct { from: 3, to: 0, fates: vec![Deliver, Corrupt] },
        Step::Snapshot(3),
        Step::Group { from: 1, fates: vec![Deliver, Deliver, Duplicate] },
        Step::Restore(3),
        Step::Direct { from: 3, to: 0, fates: vec![Deliver, Lose] },
    ];
    run_steps(&[false; 7], &steps, 0).unwrap();
}

#[test]
fn a_restored_device_that_read_a_first_message_replayed_to_it() {
    use Fate::*;
    let steps = [
        Step::Snapshot(0),
        Step::Direct { from: 0, to: 0, fates: vec![Corrupt] },
        Step::Direct { from: 1, to: 0, fates: vec![Delay] },
        Step::Direct { from: 1, to: 0, fates: vec![Deliver, Deliver, Deliver] },
        Step::Restore(0),
        Step::Direct { from: 1, to: 0, fates: vec![Deliver] },
    ];
    run_steps(&[false; 7], &steps, 0).unwrap();
}

#[test]
fn a_device_restored_twice_from_one_backup() {
    use Fate::*;
    let steps = [
        Step::Direct { from: 0, to: 0, fates: vec![Delay] },
        Step::Snapshot(0),
        Step::Direct { from: 3, to: 0, fates: vec![Deliver] },
        Step::Restore(0),
        Step::Direct { from: 0, to: 0, fates: vec![Deliver] },
        Step::Restore(0),
    ];
    run_steps(&[false; 7], &steps, 0).unwrap();
}

#[test]
fn a_chain_whose_successors_were_all_lost_with_a_simultaneous_start() {
    use Fate::*;
    let steps = [
        Step::Direct { from: 2, to: 0, fates: vec![Deliver, Deliver, Delay] },
        Step::Direct { from: 0, to: 0, fates: vec![Duplicate] },
        Step::Direct { from: 0, to: 0, fates: vec![Deliver] },
        Step::Direct { from: 0, to: 0, fates: vec![Lose] },
        Step::Direct { from: 2, to: 0, fates: vec![Deliver] },
        Step::Direct { from: 0, to: 0, fates: vec![Deliver, Deliver, Deliver, Lose] },
    ];
    run_steps(&[false; 7], &steps, 0).unwrap();
}
