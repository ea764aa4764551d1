//! Many queued messages, one commit: each message reads the state the
//! ones before it left, staged in the overlay of [`SyncState::Staged`]
//! (docs/PROTOCOL.md §13.5).

use super::cache::Pending;
use super::receive::Received;
use super::sync::SyncState;
use super::{ConversationError, Conversations, ReceiveError};
use crate::address::Address;
use crate::store::{AppWrite, Store};

/// A message to receive in a batch ([`Conversations::receive_batch`]).
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub enum Incoming<'a> {
    /// A 1:1 message from a device, as for [`Conversations::receive`].
    Direct {
        /// The sending device, as the transport reports it.
        from: &'a Address,
        /// The message bytes.
        bytes: &'a [u8],
    },
    /// A group message, as for [`Conversations::receive_group`].
    Group {
        /// The group.
        group_id: &'a [u8],
        /// The sending device, as the transport reports it.
        from: &'a Address,
        /// The message bytes.
        bytes: &'a [u8],
    },
}

/// Messages received together, not yet committed
/// ([`Conversations::commit_batch`]).
#[must_use = "nothing is stored until commit_batch: the messages decrypt again if offered again"]
pub struct ReceivedBatch {
    instance: u64,
    epoch: u64,
    generation: u64,
    results: Vec<Result<Received, ReceiveError>>,
}

impl ReceivedBatch {
    /// Each message's result, in input order. The `Received` values are
    /// for reading only: commit the batch, not them.
    pub fn results(&self) -> &[Result<Received, ReceiveError>] {
        &self.results
    }
}

impl core::fmt::Debug for ReceivedBatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ReceivedBatch").field("results", &self.results).finish_non_exhaustive()
    }
}

impl<S: Store> Conversations<S> {
    /// Decrypts several messages in order, each seeing the state the ones
    /// before it left (a second message of a session reads after the
    /// first), and keeps their new state staged in memory: commit it with
    /// [`Conversations::commit_batch`], one transaction (one fsync with
    /// SQLite) instead of one per message. A message that fails is
    /// reported in its place and changes nothing (except one that fails
    /// after changing staged state, a store failure say: then the batch
    /// cannot commit, and every later message reports
    /// [`ReceiveError::StaleBatch`]). Any other operation first drops the
    /// staged state (then `commit_batch` refuses the batch and the
    /// messages can be received again).
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// use dmseal::Incoming;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), config)?;
    /// alice.set_devices("bob", &[1])?;
    /// let bundle = bob.account().prekey_bundle(None, None)?;
    /// let first = alice.send("bob", b"one", &[(b.clone(), bundle)], now)?;
    /// let second = alice.send("bob", b"two", &[], now)?;
    /// let incoming = [
    ///     Incoming::Direct { from: &a, bytes: &first.messages[0].1 },
    ///     Incoming::Direct { from: &a, bytes: &second.messages[0].1 },
    /// ];
    /// let batch = bob.receive_batch(&incoming, now)?;
    /// let read: Vec<&[u8]> = batch.results().iter().flatten().map(|r| r.plaintext()).collect();
    /// assert_eq!(read, [&b"one"[..], b"two"]);
    /// bob.commit_batch(batch, vec![])?; // one transaction for both
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] if the store fails before any message is
    /// read; per-message errors are in [`ReceivedBatch::results`].
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "receive_batch", skip_all, fields(messages = incoming.len())))]
    pub fn receive_batch(&mut self, incoming: &[Incoming<'_>], now: u64) -> Result<ReceivedBatch, ConversationError> {
        self.sync()?;
        self.batches = self.batches.wrapping_add(1);
        let epoch = self.batches;
        self.state = SyncState::Staged { epoch, overlay: Pending::default() };
        let mut results = Vec::with_capacity(incoming.len());
        for item in incoming {
            if !matches!(self.state, SyncState::Staged { .. }) {
                // The staged state was lost (a staged record changed by a
                // message that then failed): the batch can no longer commit,
                // and the messages after it are not read.
                results.push(Err(ReceiveError::StaleBatch));
                continue;
            }
            let result = self.run(|this, work| match *item {
                Incoming::Direct { from, bytes } => this.read_direct(work, from, bytes, now),
                Incoming::Group { group_id, from, bytes } => this.read_group(work, group_id, from, bytes, now),
            });
            results.push(result.map(|(received, records)| {
                if let SyncState::Staged { overlay, .. } = &mut self.state {
                    overlay.merge(records);
                }
                received
            }));
        }
        Ok(ReceivedBatch { instance: self.instance, epoch, generation: self.generation, results })
    }

    /// Commits a batch from [`Conversations::receive_batch`] with the
    /// application's rows (its inbox entries), in one transaction.
    ///
    /// ```
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// use dmseal::Incoming;
    /// use dmseal::store::{AppWrite, Store};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), config)?;
    /// # alice.set_devices("bob", &[1])?;
    /// # let bundle = bob.account().prekey_bundle(None, None)?;
    /// # let sent = alice.send("bob", b"hi", &[(b.clone(), bundle)], now)?;
    /// let batch = bob.receive_batch(&[Incoming::Direct { from: &a, bytes: &sent.messages[0].1 }], now)?;
    /// // One inbox row per message read, stored with the sessions' new state.
    /// let mut inbox = Vec::new();
    /// for (i, read) in batch.results().iter().flatten().enumerate() {
    ///     inbox.push(AppWrite::put("inbox", vec![i as u8], read.plaintext()));
    /// }
    /// bob.commit_batch(batch, inbox)?;
    /// assert_eq!(bob.store().app_row("inbox", &[0])?, Some(b"hi".to_vec()));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ReceiveError::OtherInstance`]; [`ReceiveError::StaleBatch`] if any
    /// other operation ran since the batch was received (receive the
    /// messages again); a store failure.
    #[cfg_attr(feature = "tracing", tracing::instrument(level = "debug", name = "commit_batch", skip_all))]
    pub fn commit_batch(&mut self, batch: ReceivedBatch, app: Vec<AppWrite>) -> Result<u64, ReceiveError> {
        if batch.instance != self.instance {
            return Err(ReceiveError::OtherInstance);
        }
        let current = matches!(self.state, SyncState::Staged { epoch, .. } if epoch == batch.epoch);
        if !current || batch.generation != self.generation {
            return Err(ReceiveError::StaleBatch);
        }
        let SyncState::Staged { overlay, .. } = core::mem::replace(&mut self.state, SyncState::Current) else {
            return Err(ReceiveError::StaleBatch);
        };
        Ok(self.commit(overlay, app)?)
    }
}
