//! Prekey housekeeping for a prekey directory: one call that rotates,
//! retires and tops up, and says what to upload (docs/PROTOCOL.md §4.9).

use super::Conversations;
use crate::directory::{IdentityUpload, PreKeyBatch, PreKeyCounts};
use crate::error::PreKeyError;
use crate::prekeys::{
    DEFAULT_SIGNED_PREKEY_GRACE_SECS, MAX_ONE_TIME_PREKEYS, MAX_PQ_ONE_TIME_PREKEYS, MAX_SIGNED_PREKEY_GRACE_SECS,
};
use crate::store::Store;
use crate::{Account, ConversationError};

/// How often [`Conversations::prekey_maintenance`] rotates the signed
/// prekey and the last-resort PQ prekey: 7 days. A leaked signed prekey
/// private key then opens at most a week of first messages (plus the
/// grace period).
pub const DEFAULT_PREKEY_ROTATION_SECS: u64 = 7 * 24 * 60 * 60;

/// How many one-time X25519 prekeys maintenance keeps on the directory:
/// 100, a day or more of first messages for most people.
pub const DEFAULT_ONE_TIME_PREKEY_TARGET: u32 = 100;

/// How many one-time PQ prekeys maintenance keeps on the directory: 50.
/// Each is 1,254 bytes uploaded, so fewer than the X25519 ones; past them
/// the last-resort PQ prekey serves.
pub const DEFAULT_PQ_ONE_TIME_PREKEY_TARGET: u32 = 50;

/// How a device keeps its prekeys on a directory
/// ([`crate::ConversationConfig::prekeys`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PreKeyPolicy {
    /// One-time X25519 prekeys to keep on the directory (at most
    /// [`MAX_ONE_TIME_PREKEYS`]; more is read as that). Default
    /// [`DEFAULT_ONE_TIME_PREKEY_TARGET`].
    pub one_time_target: u32,
    /// One-time PQ prekeys to keep on the directory (at most
    /// [`MAX_PQ_ONE_TIME_PREKEYS`]; more is read as that). Default
    /// [`DEFAULT_PQ_ONE_TIME_PREKEY_TARGET`].
    pub pq_one_time_target: u32,
    /// Seconds between rotations of the signed prekey and the last-resort
    /// PQ prekey. Default [`DEFAULT_PREKEY_ROTATION_SECS`].
    pub rotation_secs: u64,
    /// Seconds a rotated-out key stays usable for first messages made
    /// from bundles fetched before the rotation (at most
    /// [`MAX_SIGNED_PREKEY_GRACE_SECS`]; more is read as that). Default
    /// [`DEFAULT_SIGNED_PREKEY_GRACE_SECS`].
    pub grace_secs: u64,
}

impl Default for PreKeyPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl PreKeyPolicy {
    /// The defaults.
    pub const fn new() -> Self {
        Self {
            one_time_target: DEFAULT_ONE_TIME_PREKEY_TARGET,
            pq_one_time_target: DEFAULT_PQ_ONE_TIME_PREKEY_TARGET,
            rotation_secs: DEFAULT_PREKEY_ROTATION_SECS,
            grace_secs: DEFAULT_SIGNED_PREKEY_GRACE_SECS,
        }
    }

    /// This policy with both targets set.
    #[must_use]
    pub const fn with_targets(mut self, one_time: u32, pq_one_time: u32) -> Self {
        self.one_time_target = one_time;
        self.pq_one_time_target = pq_one_time;
        self
    }

    /// This policy with the rotation period and the grace period set.
    #[must_use]
    pub const fn with_rotation(mut self, rotation_secs: u64, grace_secs: u64) -> Self {
        self.rotation_secs = rotation_secs;
        self.grace_secs = grace_secs;
        self
    }
}

/// What [`Conversations::prekey_maintenance`] says to upload, already
/// committed on this device: upload it to the directory
/// ([`crate::directory::Directory::publish_identity`], then
/// [`crate::directory::Directory::publish_prekeys`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PreKeyUploads {
    /// The identity upload, when the keys in it changed (a rotation) or
    /// on the first maintenance.
    pub identity: Option<IdentityUpload>,
    /// New one-time prekeys, when below a target.
    pub batch: Option<PreKeyBatch>,
    /// Signed and last-resort PQ prekeys deleted because their grace
    /// period ended, and one-time prekeys deleted because the directory
    /// no longer holds them and room was needed.
    pub retired: usize,
}

impl PreKeyUploads {
    /// Whether there is nothing to upload.
    pub fn is_empty(&self) -> bool {
        self.identity.is_none() && self.batch.is_none()
    }
}

impl<S: Store> Conversations<S> {
    /// Keeps this device's prekeys on a directory in shape, in one
    /// commit, following [`crate::ConversationConfig::prekeys`]:
    ///
    /// 1. deletes retired signed and last-resort PQ prekeys whose grace
    ///    period is over;
    /// 2. rotates the signed prekey and the last-resort PQ prekey when
    ///    the rotation period has passed since the current ones became
    ///    current (the first call only dates them), returning a new
    ///    identity upload;
    /// 3. tops the one-time prekeys of each kind up to their target,
    ///    given `on_directory`, the counts the directory reports
    ///    ([`crate::directory::Directory::counts`]; zeros for a device it
    ///    does not know), returning them as one batch. When the account
    ///    is full, the oldest published one-time prekeys beyond the
    ///    newest `on_directory` ones (claimed long ago by someone whose
    ///    first message never came, since a directory hands out the
    ///    lowest ids first) are deleted to make room.
    ///
    /// Call it on start, when the directory reports low counts, and once
    /// a day. The uploads are committed as published before they are
    /// returned: if uploading fails, send the same bytes again.
    ///
    /// ```
    /// use dmseal::directory::{Directory, MemoryDirectory, PreKeyCounts};
    /// # use dmseal::store::MemoryStore;
    /// # use dmseal::{Address, ConversationConfig, Conversations, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, me) = (ConversationConfig::new(), Address::new("bob", 1)?);
    /// # let mut bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), me.clone(), config)?;
    /// let directory = Directory::new(MemoryDirectory::new());
    /// let now = 1_800_000_000;
    /// let uploads = bob.prekey_maintenance(now, PreKeyCounts::default())?;
    /// if let Some(identity) = &uploads.identity {
    ///     directory.publish_identity(&me, &identity.encode())?;
    /// }
    /// if let Some(batch) = &uploads.batch {
    ///     directory.publish_prekeys(&me, &batch.encode())?;
    /// }
    /// assert_eq!(directory.counts(&me)?, PreKeyCounts::new(100, 50));
    /// // Nothing to do until keys are claimed or a week has passed.
    /// assert!(bob.prekey_maintenance(now + 60, directory.counts(&me)?)?.is_empty());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// A [`ConversationError`] from the store (nothing changed), or
    /// [`ConversationError::PreKey`] if prekey ids are exhausted.
    pub fn prekey_maintenance(
        &mut self,
        now: u64,
        on_directory: PreKeyCounts,
    ) -> Result<PreKeyUploads, ConversationError> {
        let policy = self.config.prekeys;
        self.operate(|this, work| {
            let account = this.account_mut(work);
            let rng = &mut *this.rng;
            let mut retired = account.expire_prekeys(now);
            let identity = rotate_if_due(account, rng, now, &policy)?.then(|| account.identity_upload(now));
            let (one_time, pq_one_time, removed) = make_room(account, &policy, on_directory);
            retired = retired.saturating_add(removed);
            let unpublished = !account.unpublished_one_time_prekeys().is_empty()
                || !account.unpublished_pq_one_time_prekeys().is_empty();
            let batch = if one_time > 0 || pq_one_time > 0 || unpublished {
                Some(account.publish_prekeys_with_rng(rng, one_time, pq_one_time)?)
            } else {
                None
            };
            Ok(PreKeyUploads { identity, batch, retired })
        })
    }
}

/// Rotates both keys when due; dates a new account's first keys. Whether
/// the identity upload must be sent.
fn rotate_if_due(
    account: &mut Account,
    rng: &mut (dyn rand_core::CryptoRng + Send + Sync),
    now: u64,
    policy: &PreKeyPolicy,
) -> Result<bool, PreKeyError> {
    let Some(since) = account.prekeys.signed_since else {
        account.prekeys.signed_since = Some(now);
        return Ok(true);
    };
    if now < since.saturating_add(policy.rotation_secs) {
        return Ok(false);
    }
    let grace = policy.grace_secs.min(MAX_SIGNED_PREKEY_GRACE_SECS);
    account.rotate_signed_prekey_with_rng(rng, now, grace)?;
    if account.publishes_pq_prekeys() {
        account.rotate_last_resort_pq_prekey_with_rng(rng, now, grace)?;
    }
    Ok(true)
}

/// How many one-time prekeys of each kind to generate, after deleting the
/// oldest published ones the directory no longer holds if the account
/// needs the room; and how many were deleted.
fn make_room(account: &mut Account, policy: &PreKeyPolicy, on_directory: PreKeyCounts) -> (usize, usize, usize) {
    let count = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
    let want = |target: u32, max: usize, held: u32| count(target).min(max).saturating_sub(count(held));
    let one_time = want(policy.one_time_target, MAX_ONE_TIME_PREKEYS, on_directory.one_time);
    let pq = if account.publishes_pq_prekeys() {
        want(policy.pq_one_time_target, MAX_PQ_ONE_TIME_PREKEYS, on_directory.pq_one_time)
    } else {
        0
    };
    // The directory hands out the lowest ids first: the keys it still
    // holds are the newest `on_directory` published ones.
    let (removed, one_time) =
        account.prekeys.one_time.make_room(one_time, count(on_directory.one_time), MAX_ONE_TIME_PREKEYS);
    let (removed_pq, pq) =
        account.prekeys.one_time_pq.make_room(pq, count(on_directory.pq_one_time), MAX_PQ_ONE_TIME_PREKEYS);
    (one_time, pq, removed.saturating_add(removed_pq))
}
