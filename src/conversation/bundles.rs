//! Where sends get prekey bundles: the application's directory, called by
//! [`Conversations::send_fetching`] instead of a retry loop in every app.

use super::Conversations;
use super::error::SendError;
use super::groups::GroupSend;
use super::send::Outgoing;
use crate::address::Address;
use crate::bundle::PreKeyBundle;
use crate::content::Content;
use crate::store::Store;

/// How many times one `send_fetching` call asks its source: once for the
/// devices the first attempt needs, once more for any the first answer
/// left out. A source that keeps answering short gets
/// [`SendError::NeedBundles`] back, not a loop.
const FETCH_ROUNDS: usize = 2;

/// An error a [`BundleSource`] reports (the directory was unreachable,
/// say); [`SendError::BundleSource`] carries it.
pub type BundleSourceError = Box<dyn std::error::Error + Send + Sync>;

/// The application's prekey directory, as [`Conversations::send_fetching`]
/// and [`Conversations::send_group_fetching`] use it: asked for a bundle
/// for each device that has no session that can send. Each bundle should
/// come with a fresh one-time prekey where the directory has one left.
/// Every bundle is checked (signatures, the PQ capability) before it is
/// used, so the source need not be trusted. A closure taking
/// `&[Address]` is a source.
pub trait BundleSource {
    /// Bundles for `devices` (any order; a device left out stays needed).
    ///
    /// # Errors
    ///
    /// Whatever kept the directory from answering; the send fails with
    /// [`SendError::BundleSource`] and nothing is committed.
    fn fetch(&mut self, devices: &[Address]) -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError>;
}

impl<F> BundleSource for F
where
    F: FnMut(&[Address]) -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError>,
{
    fn fetch(&mut self, devices: &[Address]) -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> {
        self(devices)
    }
}

impl<S: Store> Conversations<S> {
    /// [`Conversations::send`], fetching from `source` the bundles it
    /// needs ([`SendError::NeedBundles`]) and sending again with them.
    ///
    /// ```
    /// use dmseal::store::MemoryStore;
    /// use dmseal::{Address, ConversationConfig, Conversations, PreKeyBundle, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let config = ConversationConfig::new();
    /// let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), Address::new("alice", 1)?, config)?;
    /// let bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), Address::new("bob", 1)?, config)?;
    /// alice.set_devices("bob", &[1])?;
    /// // The directory: here Bob's own bundle (a server hands out stored ones).
    /// let mut directory = |devices: &[Address]| -> Result<Vec<(Address, PreKeyBundle)>, dmseal::BundleSourceError> {
    ///     Ok(devices.iter().map(|d| (d.clone(), bob.account().prekey_bundle(None, None).unwrap())).collect())
    /// };
    /// let sent = alice.send_fetching("bob", b"hi", &mut directory, 1_800_000_000)?;
    /// assert_eq!(sent.messages.len(), 1);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Conversations::send`], and [`SendError::BundleSource`] when the
    /// source fails; [`SendError::NeedBundles`] if the source left devices
    /// out twice.
    pub fn send_fetching(
        &mut self,
        user: &str,
        content: impl Into<Content>,
        source: &mut impl BundleSource,
        now: u64,
    ) -> Result<Outgoing, SendError> {
        let content = content.into();
        fetching(source, |bundles| self.send(user, &content, bundles, now))
    }

    /// [`Conversations::send_group`], fetching the bundles it needs from
    /// `source` as [`Conversations::send_fetching`] does.
    ///
    /// ```
    /// use dmseal::store::MemoryStore;
    /// use dmseal::{Address, BundleSourceError, ConversationConfig, Conversations, PreKeyBundle, StorageKey};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let (config, now) = (ConversationConfig::new(), 1_800_000_000);
    /// # let (a, b) = (Address::new("alice", 1)?, Address::new("bob", 1)?);
    /// # let mut alice = Conversations::open(MemoryStore::new(), StorageKey::generate(), a.clone(), config)?;
    /// # let bob = Conversations::open(MemoryStore::new(), StorageKey::generate(), b.clone(), config)?;
    /// alice.create_group(b"team", &[b.clone()])?;
    /// // The directory: here Bob's own bundle (a server hands out stored ones).
    /// let mut directory = |devices: &[Address]| -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> {
    ///     Ok(devices.iter().map(|d| (d.clone(), bob.account().prekey_bundle(None, None).unwrap())).collect())
    /// };
    /// let sent = alice.send_group_fetching(b"team", b"hello team", &mut directory, now)?;
    /// // Alice's sender keys go to bob.1 over a session started from his bundle.
    /// assert_eq!(sent.distributions.messages[0].0, b);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// As [`Conversations::send_group`] and [`Conversations::send_fetching`].
    pub fn send_group_fetching(
        &mut self,
        group_id: &[u8],
        content: impl Into<Content>,
        source: &mut impl BundleSource,
        now: u64,
    ) -> Result<GroupSend, SendError> {
        let content = content.into();
        fetching(source, |bundles| self.send_group(group_id, &content, bundles, now))
    }
}

/// Calls `send` with no bundles, then with the bundles `source` gives for
/// the devices it needs, at most [`FETCH_ROUNDS`] times.
pub(super) fn fetching<T>(
    source: &mut impl BundleSource,
    mut send: impl FnMut(&[(Address, PreKeyBundle)]) -> Result<T, SendError>,
) -> Result<T, SendError> {
    let mut bundles: Vec<(Address, PreKeyBundle)> = Vec::new();
    for _ in 0..FETCH_ROUNDS {
        match send(&bundles) {
            Err(SendError::NeedBundles(need)) => {
                let fetched = source.fetch(&need).map_err(SendError::BundleSource)?;
                // Only bundles for devices asked for; one per device.
                for (address, bundle) in fetched {
                    if need.contains(&address) && !bundles.iter().any(|(a, _)| *a == address) {
                        bundles.push((address, bundle));
                    }
                }
            }
            other => return other,
        }
    }
    send(&bundles)
}
