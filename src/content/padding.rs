//! Padding inside the encryption (docs/PROTOCOL.md §13.13): every
//! plaintext a [`crate::Conversations`] encrypts ends with `0x80` and zero
//! bytes up to a size bucket, so the server sees the bucket, not the
//! length.

use zeroize::Zeroizing;

/// The smallest padded plaintext: 64 bytes, whatever the [`Padding`]
/// (except [`Padding::Off`]). A short text and a receipt look alike.
pub const MIN_PADDED_LEN: usize = 64;

/// The end marker of a padded plaintext.
const MARKER: u8 = 0x80;

/// How plaintexts are padded before encryption
/// ([`crate::ConversationConfig::padding`]). A receiver removes any
/// padding, so devices of one conversation may use different settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Padding {
    /// Padmé (Nikitin et al., "Reducing Metadata Leakage from Encrypted
    /// Files and Communication with PURBs", 2019), from
    /// [`MIN_PADDED_LEN`] bytes: at most 12 % overhead above it, and a
    /// length reveals O(log log n) bits. The default.
    #[default]
    Padme,
    /// The next power of two from [`MIN_PADDED_LEN`] up to `cap`, then
    /// multiples of `cap` (rounded up to a power of two, at least
    /// [`MIN_PADDED_LEN`]): fewer buckets, up to 100 % overhead below the
    /// cap.
    PowerOfTwo {
        /// Where buckets stop doubling.
        cap: usize,
    },
    /// Only the one-byte end marker: the server sees each length.
    Off,
}

impl Padding {
    /// The padded length of a plaintext of `len` bytes (the end marker
    /// included); at least `len + 1`.
    pub fn padded_len(self, len: usize) -> usize {
        let n = len.saturating_add(1);
        match self {
            Self::Off => n,
            Self::Padme => {
                let n = n.max(MIN_PADDED_LEN);
                u64::try_from(n).ok().and_then(|n| usize::try_from(padme(n)).ok()).unwrap_or(n)
            }
            Self::PowerOfTwo { cap } => {
                let n = n.max(MIN_PADDED_LEN);
                match cap.max(MIN_PADDED_LEN).checked_next_power_of_two() {
                    Some(cap) if n > cap => n.div_ceil(cap).saturating_mul(cap),
                    _ => n.checked_next_power_of_two().unwrap_or(n),
                }
            }
        }
    }

    /// `plaintext || 0x80 || 0x00*`, [`Padding::padded_len`] bytes.
    pub(crate) fn pad(self, plaintext: &[u8]) -> Zeroizing<Vec<u8>> {
        let len = self.padded_len(plaintext.len());
        let mut out = Zeroizing::new(Vec::with_capacity(len));
        out.extend_from_slice(plaintext);
        out.push(MARKER);
        out.resize(len, 0);
        out
    }

    /// The byte the device record stores for this setting, and its cap.
    pub(crate) fn to_parts(self) -> (u8, u64) {
        match self {
            Self::Padme => (0, 0),
            Self::PowerOfTwo { cap } => (1, u64::try_from(cap).unwrap_or(u64::MAX)),
            Self::Off => (2, 0),
        }
    }

    /// The setting [`Padding::to_parts`] wrote.
    pub(crate) fn from_parts(kind: u8, cap: u64) -> Option<Self> {
        match kind {
            0 => Some(Self::Padme),
            1 => Some(Self::PowerOfTwo { cap: usize::try_from(cap).ok()? }),
            2 => Some(Self::Off),
            _ => None,
        }
    }
}

/// The plaintext inside a padded one: everything before the last
/// non-zero byte, which must be the end marker.
pub(crate) fn unpad(padded: &[u8]) -> Option<&[u8]> {
    let end = padded.iter().rposition(|&b| b != 0)?;
    let (plaintext, marker) = padded.split_at_checked(end)?;
    (marker.first() == Some(&MARKER)).then_some(plaintext)
}

/// Padmé: `n` rounded up so that only its top `floor(log2 e) + 1` bits
/// may be set, where `e = floor(log2 n)`; `n` itself where that would pass
/// `u64::MAX`. Message padding and attachment sizes
/// ([`crate::attachment`]) use it.
pub(crate) fn padme(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let e = n.ilog2();
    let s = e.ilog2() + 1;
    let last_bits = e - s;
    let mask = (1u64 << last_bits) - 1;
    n.checked_add(mask).map_or(n, |m| m & !mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Padmé's buckets above the minimum, as the paper defines them.
    #[test]
    fn padme_buckets() {
        let p = Padding::Padme;
        // Content + marker up to 64 bytes: one bucket.
        for len in 0..64 {
            assert_eq!(p.padded_len(len), 64, "{len}");
        }
        assert_eq!(p.padded_len(64), 72, "65 rounds to a multiple of 8");
        assert_eq!(p.padded_len(127), 128);
        assert_eq!(p.padded_len(128), 144, "129: multiples of 16 from 128");
        assert_eq!(p.padded_len(1000), 1024, "1001: multiples of 32 from 512");
        assert_eq!(p.padded_len(1023), 1024);
        assert_eq!(p.padded_len(1024), 1088, "1025: multiples of 64 from 1024");
        for len in [64usize, 100, 500, 1_000, 4_000, 70_000, 1_000_000] {
            let padded = p.padded_len(len);
            assert!(padded > len && (padded - len - 1) * 100 <= (len + 1) * 12, "{len} -> {padded}: at most 12 %");
        }
    }

    /// Powers of two up to the cap, then multiples of it.
    #[test]
    fn power_of_two_buckets() {
        let p = Padding::PowerOfTwo { cap: 1024 };
        assert_eq!(p.padded_len(0), 64);
        assert_eq!(p.padded_len(64), 128);
        assert_eq!(p.padded_len(1023), 1024, "at the cap");
        assert_eq!(p.padded_len(1024), 2048, "one past the cap: a multiple of it");
        assert_eq!(p.padded_len(3000), 3072);
        assert_eq!(Padding::PowerOfTwo { cap: 0 }.padded_len(100), 128, "a cap below the minimum is the minimum");
        assert_eq!(Padding::PowerOfTwo { cap: 1000 }.padded_len(1500), 2048, "a cap rounds up to a power of two");
        assert_eq!(Padding::Off.padded_len(5), 6);
    }

    /// Padding comes off exactly; anything without the marker is refused.
    #[test]
    fn unpad_reverses_pad() {
        for padding in [Padding::Padme, Padding::PowerOfTwo { cap: 256 }, Padding::Off] {
            for len in [0usize, 1, 63, 64, 65, 300, 5000] {
                let plaintext: Vec<u8> = (0..len).map(|i| (i % 7) as u8).collect();
                let padded = padding.pad(&plaintext);
                assert_eq!(padded.len(), padding.padded_len(len));
                assert_eq!(unpad(&padded), Some(&plaintext[..]));
            }
        }
        assert_eq!(unpad(&[]), None);
        assert_eq!(unpad(&[0, 0]), None);
        assert_eq!(unpad(&[1, 0x81, 0]), None, "the last non-zero byte is the marker");
        assert_eq!(unpad(&[1, 0x80]), Some(&[1u8][..]));
    }

    /// The stored setting reads back.
    #[test]
    fn setting_round_trips() {
        for padding in [Padding::Padme, Padding::PowerOfTwo { cap: 4096 }, Padding::Off] {
            let (kind, cap) = padding.to_parts();
            assert_eq!(Padding::from_parts(kind, cap), Some(padding));
        }
        assert_eq!(Padding::from_parts(3, 0), None);
    }
}
