//! Safety numbers: a fingerprint of both identities that two people
//! compare out of band (docs/PROTOCOL.md §7).
//!
//! Each party's half: `h = SHA-512(HASH_SAFETY_NUMBER || version || IK)`,
//! then `SAFETY_NUMBER_ITERATIONS - 1` times `h = SHA-512(h || IK)`, where
//! IK is the identity's 64 key bytes. The first 30 bytes of `h` give 30
//! digits (six 5-byte big-endian chunks, each mod 100000); the first 32
//! bytes are the half used in the scannable form.

use core::fmt;

use subtle::ConstantTimeEq;

use crate::identity::PublicIdentity;
use crate::labels;
use crate::primitives::kdf::sha512;

/// Version of the safety number derivation, hashed in and the first byte
/// of the scannable form.
pub const SAFETY_NUMBER_VERSION: u8 = 1;

/// SHA-512 iterations per half, as in Signal: makes a second identity with
/// a colliding number costlier to search for.
pub const SAFETY_NUMBER_ITERATIONS: u32 = 5200;

/// Length of [`SafetyNumber::scannable`]: version, our half, their half.
pub const SCANNABLE_LEN: usize = 1 + 32 + 32;

/// The safety number of two identities, so of a pair of devices (there
/// is no per-user number). It covers the identities' key bytes only, not
/// their addresses or the context: show it next to the address it
/// belongs to.
#[derive(Clone, PartialEq, Eq)]
pub struct SafetyNumber {
    ours: [u8; 32],
    theirs: [u8; 32],
    our_digits: String,
    their_digits: String,
}

fn half(identity: &PublicIdentity) -> [u8; 64] {
    let key = identity.key_bytes();
    let mut h = sha512(&[labels::HASH_SAFETY_NUMBER, &[SAFETY_NUMBER_VERSION], &key]);
    for _ in 1..SAFETY_NUMBER_ITERATIONS {
        h = sha512(&[&h, &key]);
    }
    h
}

fn digits(h: &[u8; 64]) -> String {
    let mut out = String::with_capacity(30);
    for chunk in h.chunks_exact(5).take(6) {
        let mut n: u64 = 0;
        for b in chunk {
            n = (n << 8) | u64::from(*b);
        }
        out.push_str(&format!("{:05}", n % 100_000));
    }
    out
}

fn first_32(h: &[u8; 64]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(h.get(..32).unwrap_or(&[0; 32]));
    out
}

impl SafetyNumber {
    /// Computes the safety number between `ours` and `theirs` (about
    /// 2 × 5200 SHA-512 blocks; cache it).
    ///
    /// ```
    /// use dmseal::{Account, SafetyNumber};
    /// let (alice, bob) = (Account::new(), Account::new());
    /// // Each side computes it from its own identity and the peer's.
    /// let on_alice = SafetyNumber::new(alice.identity(), bob.identity());
    /// let on_bob = SafetyNumber::new(bob.identity(), alice.identity());
    /// assert_eq!(on_alice.to_string(), on_bob.to_string());
    /// // Another identity (a man in the middle) gives another number.
    /// let mallory = Account::new();
    /// assert_ne!(SafetyNumber::new(alice.identity(), mallory.identity()).digits(), on_alice.digits());
    /// ```
    pub fn new(ours: &PublicIdentity, theirs: &PublicIdentity) -> Self {
        let (a, b) = (half(ours), half(theirs));
        Self { ours: first_32(&a), theirs: first_32(&b), our_digits: digits(&a), their_digits: digits(&b) }
    }

    /// The 60 digits, identical on both sides: the two 30-digit halves,
    /// smaller first.
    ///
    /// ```
    /// use dmseal::{Account, SafetyNumber};
    /// let (alice, bob) = (Account::new(), Account::new());
    /// let number = SafetyNumber::new(alice.identity(), bob.identity());
    /// let digits = number.digits();
    /// assert_eq!(digits.len(), 60);
    /// assert!(digits.bytes().all(|b| b.is_ascii_digit()));
    /// assert_eq!(digits, SafetyNumber::new(bob.identity(), alice.identity()).digits());
    /// ```
    pub fn digits(&self) -> String {
        if self.our_digits <= self.their_digits {
            format!("{}{}", self.our_digits, self.their_digits)
        } else {
            format!("{}{}", self.their_digits, self.our_digits)
        }
    }

    /// The digits in twelve groups of five, for display.
    pub fn display_groups(&self) -> String {
        let d = self.digits();
        let groups: Vec<&str> = d.as_bytes().chunks(5).filter_map(|c| core::str::from_utf8(c).ok()).collect();
        groups.join(" ")
    }

    /// The scannable form (the app draws it as a QR code): version, our
    /// half, their half.
    pub fn scannable(&self) -> [u8; SCANNABLE_LEN] {
        let mut out = [0u8; SCANNABLE_LEN];
        out[0] = SAFETY_NUMBER_VERSION;
        out[1..33].copy_from_slice(&self.ours);
        out[33..].copy_from_slice(&self.theirs);
        out
    }

    /// Whether bytes scanned from the peer's screen match: their form lists
    /// their half first. Compared in constant time.
    ///
    /// ```
    /// use dmseal::{Account, SafetyNumber};
    /// let (alice, bob, mallory) = (Account::new(), Account::new(), Account::new());
    /// let on_alice = SafetyNumber::new(alice.identity(), bob.identity());
    /// // Bob shows his form as a QR code, and Alice scans it.
    /// let on_bob = SafetyNumber::new(bob.identity(), alice.identity());
    /// assert!(on_alice.matches_scanned(&on_bob.scannable()));
    /// // A man in the middle showed Bob another identity than Alice's.
    /// let fooled = SafetyNumber::new(bob.identity(), mallory.identity());
    /// assert!(!on_alice.matches_scanned(&fooled.scannable()));
    /// ```
    pub fn matches_scanned(&self, scanned: &[u8]) -> bool {
        let mut expected = [0u8; SCANNABLE_LEN];
        expected[0] = SAFETY_NUMBER_VERSION;
        expected[1..33].copy_from_slice(&self.theirs);
        expected[33..].copy_from_slice(&self.ours);
        scanned.len() == SCANNABLE_LEN && bool::from(expected.as_slice().ct_eq(scanned))
    }
}

impl fmt::Debug for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SafetyNumber").field(&self.display_groups()).finish()
    }
}

impl fmt::Display for SafetyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display_groups())
    }
}
