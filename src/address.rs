//! Addresses: which device of which user (libsignal's `ProtocolAddress`).
//!
//! A person is a **user**; each of their phones and laptops is a
//! **device** with its own [`crate::Account`] and identity. dmseal runs no
//! directory: the application names users and devices, and tells
//! [`crate::Conversations`] which devices a user has.

use core::fmt;

use crate::x3dh::conversation_context;

/// The longest user id, in bytes.
pub const MAX_USER_ID_LEN: usize = 255;

/// One device of one user: the unit a 1:1 session is set up with.
///
/// The user id is the application's name for the person (an account id,
/// a phone number hash); the device id numbers that person's devices.
/// Neither is secret, and `Debug` shows both.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Address {
    user: String,
    device: u32,
}

/// An address could not be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressError {
    /// The user id is empty.
    EmptyUserId,
    /// The user id is longer than [`MAX_USER_ID_LEN`] bytes.
    UserIdTooLong {
        /// Its length.
        len: usize,
    },
    /// Text given to [`Address::from_str`](core::str::FromStr::from_str)
    /// is not `user.device`: no `.`, or a device id after the last `.`
    /// that is not a canonical decimal `u32` (digits only, no leading
    /// zero, at most 4,294,967,295).
    BadText,
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyUserId => f.write_str("user id is empty"),
            Self::UserIdTooLong { len } => write!(f, "user id is {len} bytes, the maximum is {MAX_USER_ID_LEN}"),
            Self::BadText => f.write_str("address text is not user.device with a decimal device id"),
        }
    }
}

impl std::error::Error for AddressError {}

impl Address {
    /// An address.
    ///
    /// ```
    /// use dmseal::Address;
    /// let phone = Address::new("alice", 1)?;
    /// assert_eq!((phone.user(), phone.device()), ("alice", 1));
    /// assert_eq!(phone.to_string(), "alice.1");
    /// assert!(Address::new("", 1).is_err());
    /// # Ok::<(), dmseal::AddressError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// An [`AddressError`] for an empty user id or one longer than
    /// [`MAX_USER_ID_LEN`] bytes.
    pub fn new(user: impl Into<String>, device: u32) -> Result<Self, AddressError> {
        let user = user.into();
        check_user_id(&user)?;
        Ok(Self { user, device })
    }

    /// The user id.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The device id.
    pub fn device(&self) -> u32 {
        self.device
    }

    /// The canonical encoding, `u8(len(user)) || user || u32(device)`:
    /// what the two addresses of a conversation contribute to its context
    /// (docs/PROTOCOL.md §13.1).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(5 + self.user.len());
        // The length is checked against MAX_USER_ID_LEN (255) on creation.
        out.push(u8::try_from(self.user.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(self.user.as_bytes());
        out.extend_from_slice(&self.device.to_be_bytes());
        out
    }

    /// Reads an encoding made by [`Address::encode`] (a group member id).
    ///
    /// # Errors
    ///
    /// [`crate::DecodeError`] for a wrong length, a user id that is not
    /// UTF-8, or an empty one.
    pub fn decode(bytes: &[u8]) -> Result<Self, crate::DecodeError> {
        let mut r = crate::wire::Reader::new(bytes);
        let len = usize::from(r.u8()?);
        let user = core::str::from_utf8(r.bytes(len)?).map_err(|_| crate::DecodeError::InvalidText)?;
        let device = r.u32()?;
        r.finish()?;
        Address::new(user, device).map_err(|_| crate::DecodeError::InvalidText)
    }

    /// The context of a session this device (`self`) starts with `peer`:
    /// the initiator's address first.
    pub(crate) fn context_as_initiator(&self, peer: &Address) -> Vec<u8> {
        conversation_context(&self.encode(), &peer.encode())
    }

    /// The context of a session `peer` started with this device.
    pub(crate) fn context_as_responder(&self, peer: &Address) -> Vec<u8> {
        conversation_context(&peer.encode(), &self.encode())
    }
}

/// Checks a user id against the address rules.
pub(crate) fn check_user_id(user: &str) -> Result<(), AddressError> {
    if user.is_empty() {
        return Err(AddressError::EmptyUserId);
    }
    if user.len() > MAX_USER_ID_LEN {
        return Err(AddressError::UserIdTooLong { len: user.len() });
    }
    Ok(())
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({:?}, {})", self.user, self.device)
    }
}

/// The text form `user.device`: the user id, a `.`, and the device id in
/// decimal. User ids may contain `.`, and the text is still unambiguous:
/// the device id is what follows the **last** `.`, and it has no `.` of
/// its own. `Display` and `FromStr` round-trip every address.
impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.user, self.device)
    }
}

/// Parses the text form of [`Address`]'s `Display` (`"alice.2"`, or
/// `"a.b.c.7"` for user `a.b.c`). Exactly one text names each address:
/// the device id must be canonical decimal (no sign, no leading zero).
///
/// ```
/// let address: dmseal::Address = "alice.example.org.2".parse()?;
/// assert_eq!((address.user(), address.device()), ("alice.example.org", 2));
/// assert_eq!(address.to_string(), "alice.example.org.2");
/// assert!("alice.02".parse::<dmseal::Address>().is_err());
/// # Ok::<(), dmseal::AddressError>(())
/// ```
impl core::str::FromStr for Address {
    type Err = AddressError;

    fn from_str(text: &str) -> Result<Self, AddressError> {
        let (user, device) = text.rsplit_once('.').ok_or(AddressError::BadText)?;
        let canonical = !device.is_empty()
            && device.bytes().all(|b| b.is_ascii_digit())
            && (device == "0" || !device.starts_with('0'));
        if !canonical {
            return Err(AddressError::BadText);
        }
        let device = device.parse::<u32>().map_err(|_| AddressError::BadText)?;
        Self::new(user, device)
    }
}

/// With the `serde` feature, an address is its text form (`"alice.2"`),
/// checked when read back like [`Address::from_str`](core::str::FromStr).
#[cfg(feature = "serde")]
impl serde::Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Address {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_form_round_trips_and_names_each_address_once() {
        for (user, device) in [("alice", 0u32), ("a.b.c", 7), ("bob.", u32::MAX), (".", 1), ("x y", 12)] {
            let address = Address::new(user, device).unwrap();
            let text = address.to_string();
            assert_eq!(text.parse::<Address>().unwrap(), address, "{text}");
        }
        for bad in ["alice", "alice.", "alice.01", "alice.+1", "alice.-1", "alice.4294967296", ".1", "alice.1 "] {
            assert!(bad.parse::<Address>().is_err(), "{bad}");
        }
        assert_eq!(".1".parse::<Address>(), Err(AddressError::EmptyUserId));
        let long = format!("{}.1", "u".repeat(MAX_USER_ID_LEN + 1));
        assert_eq!(long.parse::<Address>(), Err(AddressError::UserIdTooLong { len: MAX_USER_ID_LEN + 1 }));
    }

    #[test]
    fn user_ids_are_checked_at_the_limit_and_past_it() {
        assert_eq!(Address::new("", 1), Err(AddressError::EmptyUserId));
        assert!(Address::new("u".repeat(MAX_USER_ID_LEN), 1).is_ok());
        assert_eq!(
            Address::new("u".repeat(MAX_USER_ID_LEN + 1), 1),
            Err(AddressError::UserIdTooLong { len: MAX_USER_ID_LEN + 1 })
        );
    }

    #[test]
    fn encodings_are_length_prefixed_and_contexts_are_ordered() {
        let a = Address::new("ab", 1).unwrap();
        let b = Address::new("a", 0x6200_0000 | 1).unwrap();
        assert_eq!(a.encode(), [2, b'a', b'b', 0, 0, 0, 1]);
        assert_ne!(a.encode(), b.encode());
        assert_eq!(a.context_as_initiator(&b), b.context_as_responder(&a));
        assert_ne!(a.context_as_initiator(&b), a.context_as_responder(&b));
        assert_eq!(Address::decode(&a.encode()), Ok(a.clone()));
        assert_eq!(Address::decode(&b.encode()), Ok(b));
        let mut long = a.encode();
        long.push(0);
        assert_eq!(Address::decode(&long), Err(crate::DecodeError::TrailingBytes));
        assert_eq!(Address::decode(&[0, 0, 0, 0, 1]), Err(crate::DecodeError::InvalidText));
        assert_eq!(Address::decode(&[1, 0xff, 0, 0, 0, 1]), Err(crate::DecodeError::InvalidText));
    }
}
