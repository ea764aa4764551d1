//! A conversation's disappearing-message timer (docs/PROTOCOL.md §13.12):
//! a last-writer-wins register. Each change carries a version one above
//! the setter's; changes are ordered by `(version, sent_at, setter)`, so
//! every device that has seen the same changes holds the same timer,
//! whatever order they arrived in, and a change delivered late never
//! overrides a newer one.

use serde::{Deserialize, Serialize};

/// How far ahead of the receiver's clock a timer change may be dated and
/// still apply: one day. A change dated further ahead is delivered but
/// ignored, so no participant can, with a clock set far ahead, make its
/// change outrank every later one.
pub const MAX_TIMER_CLOCK_SKEW: u64 = 24 * 60 * 60;

/// The timer of one conversation, and the change that set it.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TimerState {
    /// Seconds; `0` for none.
    pub(crate) seconds: u32,
    /// The version of the change that set it; `0` before any change.
    pub(crate) version: u32,
    /// Its `sent_at`.
    pub(crate) at: u64,
    /// The encoded address of the device that sent it (§13.1).
    pub(crate) setter: Vec<u8>,
}

impl TimerState {
    /// The version of a change made on top of this one.
    pub(crate) fn next_version(&self) -> u32 {
        self.version.saturating_add(1)
    }

    /// Applies a change received at `now` if it is newer than the one
    /// held (and not dated more than [`MAX_TIMER_CLOCK_SKEW`] ahead of
    /// `now`); returns whether it applied.
    pub(crate) fn apply(&mut self, change: TimerState, now: u64) -> bool {
        if change.at > now.saturating_add(MAX_TIMER_CLOCK_SKEW) {
            return false;
        }
        if (change.version, change.at, &change.setter[..]) <= (self.version, self.at, &self.setter[..]) {
            return false;
        }
        *self = change;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(seconds: u32, version: u32, at: u64, setter: &[u8]) -> TimerState {
        TimerState { seconds, version, at, setter: setter.to_vec() }
    }

    /// Any order of the same changes ends in the same timer: the newest.
    #[test]
    fn every_order_ends_in_the_newest_change() {
        let changes =
            [change(60, 1, 100, b"a"), change(3600, 2, 90, b"b"), change(0, 2, 95, b"a"), change(86_400, 2, 95, b"b")];
        let newest = changes[3].clone();
        let mut orders = vec![vec![0, 1, 2, 3], vec![3, 2, 1, 0], vec![1, 3, 0, 2], vec![2, 0, 3, 1]];
        for order in orders.drain(..) {
            let mut state = TimerState::default();
            for i in order {
                state.apply(changes[i].clone(), 1_000);
            }
            assert_eq!(state, newest);
        }
    }

    /// An old change delivered late is ignored.
    #[test]
    fn a_late_old_change_is_ignored() {
        let mut state = TimerState::default();
        assert!(state.apply(change(60, 1, 100, b"a"), 200));
        assert!(state.apply(change(3600, 2, 150, b"b"), 200));
        assert!(!state.apply(change(60, 1, 100, b"a"), 300), "the same change again");
        assert!(!state.apply(change(5, 1, 190, b"c"), 300), "an older version, even dated later");
        assert_eq!(state.seconds, 3600);
        assert_eq!(state.next_version(), 3);
    }

    /// A change dated more than a day ahead is ignored; one at the limit
    /// applies. At the last version, the date still orders changes.
    #[test]
    fn clock_skew_limit_and_saturated_versions() {
        let now = 1_000_000;
        let mut state = TimerState::default();
        assert!(!state.apply(change(1, 1, now + MAX_TIMER_CLOCK_SKEW + 1, b"a"), now), "one past the limit");
        assert!(state.apply(change(1, u32::MAX, now + MAX_TIMER_CLOCK_SKEW, b"a"), now), "at the limit");
        assert_eq!(state.next_version(), u32::MAX);
        assert!(state.apply(change(2, u32::MAX, now + MAX_TIMER_CLOCK_SKEW + 10, b"b"), now + 10));
        assert_eq!(state.seconds, 2);
    }
}
