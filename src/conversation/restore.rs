//! Restoring a device from a backup (docs/PROTOCOL.md §13.11): a store
//! put back to an older state holds sending chains and sender states that
//! were used after the backup was taken. Using them again would encrypt
//! under keys already used, so they are retired, and the device's
//! contacts are asked to send again what they keep for it.

use super::framing::frame_resync;
use super::receive::{Received, ReceivedKind};
use super::record::Resync;
use super::resend::MessageId;
use super::send::{FanOut, Outgoing};
use super::trust::Event;
use super::work::Work;
use super::{ConversationError, Conversations, ReceiveError, SendError};
use crate::address::Address;
use crate::message::Envelope;
use crate::store::Store;

impl<S: Store> Conversations<S> {
    /// Tells this device that its store was just restored from a backup
    /// (or otherwise put back to an older state), and commits:
    ///
    /// - every 1:1 session is retired: it still reads the messages it can,
    ///   but never sends again nor becomes current, so the next message
    ///   to each device starts a new session from a bundle
    ///   ([`SendError::NeedBundles`], or a [`super::BundleSource`]);
    /// - message requests held are dropped (their sessions could only
    ///   send on retired chains; their senders' next messages fail and
    ///   heal);
    /// - in every group, this device's sender state is rotated: the next
    ///   group message starts a new one and distributes it to every
    ///   member.
    ///
    /// Messages this device sent on a session the peer never answered may
    /// never have arrived: they are marked to be sent again, and the
    /// returned [`Event::ResendDue`] names each such device (call
    /// [`Conversations::resend`] for it once a new session can start).
    ///
    /// Call it once, right after the restore and before anything else;
    /// then [`Conversations::request_resync`] to each device this device
    /// talks to, so that they send again what they keep for it. It reads
    /// every session record (an operation in proportion to the store).
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, Event, SendError, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), config)?;
    /// # bob.set_devices("alice", &[1])?;
    /// let bundle = alice.account().prekey_bundle(None, None)?;
    /// let first = bob.send("alice", b"hi", &[(a.clone(), bundle)], now)?;
    /// // ... Bob's phone is restored from last week's backup:
    /// let events = bob.restored_from_backup(now)?;
    /// // Alice never answered: "hi" may not have arrived, and goes again
    /// // with `resend` over the next session.
    /// assert_eq!(events, [Event::ResendDue { address: a.clone() }]);
    /// // Its old session never sends again: the next message needs a bundle.
    /// assert!(matches!(bob.send("alice", b"back", &[], now), Err(SendError::NeedBundles(_))));
    /// # let _ = first;
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConversationError::Store`] or [`ConversationError::Record`].
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "restored_from_backup", skip_all))]
    pub fn restored_from_backup(&mut self, now: u64) -> Result<Vec<Event>, ConversationError> {
        let sessions = self.store.session_addresses()?;
        let requests = self.store.request_addresses()?;
        let groups = self.store.group_ids()?;
        let max_age = self.config.resend_max_age;
        self.operate(|this, work| {
            let mut events = Vec::new();
            for address in &sessions {
                let record = this.sessions_mut(work, address)?;
                if record.owe_session(now, max_age) {
                    events.push(Event::ResendDue { address: address.clone() });
                }
                record.retire_all();
            }
            for address in &requests {
                *this.request_mut(work, address)? = None;
            }
            for group_id in &groups {
                this.group_mut(work, group_id)?.rotate();
            }
            Ok(events)
        })
    }

    /// Asks the device `address`, after [`Conversations::restored_from_backup`],
    /// to send again every message it keeps for this device (content
    /// `0x08`, docs/PROTOCOL.md §13.11): its 1:1 outbox (§13.9), as if a
    /// retry receipt named each message. Messages this device read before
    /// the backup was taken are not read twice (§13.9); those it read
    /// after are read again, as the restored store no longer has them.
    /// Group messages read after the backup show as missing once a later
    /// one arrives ([`Conversations::request_missing_group`]).
    ///
    /// Goes over the current session with `address`, or one started from
    /// a bundle of `source` (after a restore, always a new one).
    ///
    /// # Errors
    ///
    /// As [`Conversations::send_fetching`].
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "request_resync", skip_all, fields(address = %address)))]
    pub fn request_resync(
        &mut self,
        address: &Address,
        source: &mut impl super::BundleSource,
        now: u64,
    ) -> Result<Outgoing, SendError> {
        let resync = frame_resync(now);
        super::bundles::fetching(source, |bundles| {
            self.sync()?;
            let (fan, pending) = self.run(|this, work| {
                let fan = this.fan_out(work, vec![(address.clone(), resync.clone())], bundles, now, false)?;
                // Remembered, to send again if lost as a message would be.
                if let FanOut::Sent { messages, .. } = &fan
                    && let Some(envelope) = messages.first().and_then(|(_, b)| Envelope::decode(b).ok())
                {
                    let sent_as = MessageId::of(&envelope);
                    let record = this.sessions_mut(work, address)?;
                    let session = record.current().map(|s| *s.base_key().as_bytes()).unwrap_or_default();
                    record.resync = Some(Resync { sent_as, session, owed: false, resends: 0 });
                }
                Ok::<_, SendError>(fan)
            })?;
            self.release(fan, pending, |_| Ok(Vec::new()))
        })
    }

    /// Reads a resync request from `received.from`: only a trusted device
    /// listed for its user, under the identity of the session that read
    /// it. Every message kept for it that is not expired, and sent again
    /// fewer than [`crate::limits::MAX_RESENDS_PER_MESSAGE`] times, is
    /// marked owed ([`ReceivedKind::RetryRequested`]).
    pub(super) fn take_resync(
        &mut self,
        work: &mut Work,
        received: &mut Received,
        now: u64,
    ) -> Result<(), ReceiveError> {
        let from = received.from().clone();
        self.check_trusted(work, &from, true)?;
        let max_age = self.config.resend_max_age;
        // The device lost what it read since its backup, re-sends
        // included: the counts start again, at most once an hour, so a
        // flood of resyncs still sends each message at most twice an hour.
        let fresh = self
            .sessions(work, &from)?
            .resync_taken_at
            .is_none_or(|t| now >= t.saturating_add(super::recovery::MIN_HEAL_INTERVAL_SECS));
        if fresh {
            let record = self.sessions_mut(work, &from)?;
            record.outbox.reset_resends();
            record.group_owed.reset_resends();
            record.resync_taken_at = Some(now);
        }
        let record = self.sessions(work, &from)?;
        let ids: Vec<_> =
            record.outbox.ids().into_iter().filter(|id| record.outbox.would_owe(id, now, max_age)).collect();
        if !ids.is_empty() {
            let outbox = &mut self.sessions_mut(work, &from)?.outbox;
            for id in &ids {
                outbox.mark_owed(id, now, max_age);
            }
        }
        received.set_kind(ReceivedKind::RetryRequested);
        Ok(())
    }
}
