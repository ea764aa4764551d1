//! Where each chunk of an attachment blob lies (docs/PROTOCOL.md §14.3),
//! and the keys one attachment key gives (§14.2).

use zeroize::Zeroizing;

use super::{
    ATTACHMENT_CHUNK_LEN, ATTACHMENT_HEADER_LEN, ATTACHMENT_VERSION, MAX_ATTACHMENT_LEN, MIN_ATTACHMENT_PADDED_LEN,
};
use crate::content::padme;
use crate::labels::KDF_ATTACHMENT;
use crate::primitives::aead::{AeadFailure, StreamKey, TAG_LEN};
use crate::primitives::kdf::hkdf_sha256;

/// The chunk length as a `u64`, for offset arithmetic.
const CHUNK: u64 = ATTACHMENT_CHUNK_LEN as u64;
/// The tag length as a `u64`.
const TAG: u64 = TAG_LEN as u64;

/// The shape of an attachment of `size` bytes: its padded length and its
/// chunks. Every offset fits in a `u64` because `size` is at most
/// [`MAX_ATTACHMENT_LEN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// The attachment's length.
    pub(crate) size: u64,
    /// The encrypted plaintext's length: `size` and zero padding.
    pub(crate) padded: u64,
    /// How many chunks: at least one.
    pub(crate) chunks: u64,
}

impl Layout {
    /// The layout of `size` bytes; `None` past [`MAX_ATTACHMENT_LEN`].
    pub(crate) fn new(size: u64) -> Option<Self> {
        if size > MAX_ATTACHMENT_LEN {
            return None;
        }
        let padded = padded_len(size);
        Some(Self { size, padded, chunks: padded.div_ceil(CHUNK) })
    }

    /// Plaintext bytes in chunk `index` (padding included): the chunk
    /// length, less for the last chunk. `index` is below `chunks`.
    pub(crate) fn plain_len(&self, index: u64) -> usize {
        let left = self.padded.saturating_sub(index.saturating_mul(CHUNK));
        usize::try_from(left.min(CHUNK)).unwrap_or(ATTACHMENT_CHUNK_LEN)
    }

    /// Whether `index` is the last chunk.
    pub(crate) fn is_last(&self, index: u64) -> bool {
        index.saturating_add(1) == self.chunks
    }

    /// The offset of chunk `index` in the blob.
    pub(crate) fn chunk_offset(&self, index: u64) -> u64 {
        ATTACHMENT_HEADER_LEN as u64 + index * (CHUNK + TAG)
    }

    /// The blob's length.
    pub(crate) fn blob_len(&self) -> u64 {
        ATTACHMENT_HEADER_LEN as u64 + self.padded + self.chunks * TAG
    }

    /// The chunk that holds file offset `offset`, and the offset within it.
    pub(crate) fn chunk_of(offset: u64) -> (u64, usize) {
        (offset / CHUNK, usize::try_from(offset % CHUNK).unwrap_or(0))
    }

    /// The last chunk holding bytes of the file (chunk 0 for an empty one).
    pub(crate) fn last_data_chunk(&self) -> u64 {
        Self::chunk_of(self.size.saturating_sub(1)).0
    }

    /// How many of chunk `index`'s plaintext bytes are the attachment's
    /// (the rest is padding).
    pub(crate) fn data_len(&self, index: u64) -> usize {
        let left = self.size.saturating_sub(index.saturating_mul(CHUNK));
        usize::try_from(left.min(CHUNK)).unwrap_or(ATTACHMENT_CHUNK_LEN)
    }
}

/// The padded length of an attachment of `size` bytes: Padmé
/// (docs/PROTOCOL.md §13.13) of at least [`MIN_ATTACHMENT_PADDED_LEN`].
pub(crate) fn padded_len(size: u64) -> u64 {
    padme(size.max(MIN_ATTACHMENT_PADDED_LEN))
}

/// The chunk nonce: a 96-bit big-endian counter whose low byte is the
/// last-chunk flag: `0x000000 || u64 index || flag`.
pub(crate) fn chunk_nonce(index: u64, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    if let Some(counter) = nonce.get_mut(3..11) {
        counter.copy_from_slice(&index.to_be_bytes());
    }
    if let Some(flag) = nonce.get_mut(11) {
        *flag = u8::from(last);
    }
    nonce
}

/// What an attachment key gives: the chunk key and the key commitment
/// that the blob's header carries.
pub(crate) struct ChunkKeys {
    key: StreamKey,
    commitment: [u8; 32],
}

impl ChunkKeys {
    /// `HKDF-SHA256(salt = "", ikm = key, info = KDF_ATTACHMENT)`, 64
    /// bytes: the chunk key, then the commitment.
    pub(crate) fn derive(key: &[u8; 32]) -> Self {
        let okm: Zeroizing<[u8; 64]> = hkdf_sha256(&[], key, &[KDF_ATTACHMENT]);
        let (chunk, commit) = okm.split_at(32);
        let mut chunk_key = [0u8; 32];
        let mut commitment = [0u8; 32];
        chunk_key.copy_from_slice(chunk);
        commitment.copy_from_slice(commit);
        let key = StreamKey::new(chunk_key);
        zeroize::Zeroize::zeroize(&mut chunk_key);
        Self { key, commitment }
    }

    /// The blob's header: version, then the commitment.
    pub(crate) fn header(&self) -> [u8; ATTACHMENT_HEADER_LEN] {
        let mut header = [0u8; ATTACHMENT_HEADER_LEN];
        let (version, commitment) = header.split_at_mut(1);
        version.copy_from_slice(&[ATTACHMENT_VERSION]);
        commitment.copy_from_slice(&self.commitment);
        header
    }

    /// Checks the header at the start of `blob` against this key (the
    /// commitment in constant time); what follows the header is ignored.
    pub(crate) fn check_header(&self, blob: &[u8]) -> Result<(), super::AttachmentError> {
        use subtle::ConstantTimeEq;
        let Some((&version, commitment)) = blob.get(..ATTACHMENT_HEADER_LEN).and_then(<[u8]>::split_first) else {
            return Err(super::AttachmentError::Truncated);
        };
        if version != ATTACHMENT_VERSION {
            return Err(super::AttachmentError::UnsupportedVersion(version));
        }
        if bool::from(commitment.ct_eq(&self.commitment)) { Ok(()) } else { Err(super::AttachmentError::WrongKey) }
    }

    /// Encrypts `buf` (chunk `index`'s plaintext) in place; returns the tag.
    pub(crate) fn seal(&self, index: u64, last: bool, buf: &mut [u8]) -> [u8; TAG_LEN] {
        self.key.seal_in_place(&chunk_nonce(index, last), buf)
    }

    /// Authenticates and decrypts chunk `index` in place. `buf` holds the
    /// ciphertext without the tag; it is left as it was on failure.
    pub(crate) fn open(&self, index: u64, last: bool, buf: &mut [u8], tag: &[u8; TAG_LEN]) -> Result<(), AeadFailure> {
        self.key.open_in_place(&chunk_nonce(index, last), buf, tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layout at the smallest sizes, at a chunk boundary and at the
    /// largest size.
    #[test]
    fn layouts() {
        let empty = Layout::new(0).unwrap();
        assert_eq!((empty.padded, empty.chunks), (MIN_ATTACHMENT_PADDED_LEN, 1));
        assert_eq!(empty.blob_len(), 33 + 1024 + 16);
        let one_chunk = Layout::new(CHUNK).unwrap();
        assert_eq!((one_chunk.padded, one_chunk.chunks), (CHUNK, 1), "a power of two is its own bucket");
        let past = Layout::new(CHUNK + 1).unwrap();
        assert_eq!(past.padded, CHUNK + 2048, "65,537 rounds up to a multiple of 2 KiB");
        assert_eq!(past.chunks, 2);
        assert_eq!((past.plain_len(0), past.plain_len(1)), (ATTACHMENT_CHUNK_LEN, 2048));
        assert_eq!((past.data_len(0), past.data_len(1)), (ATTACHMENT_CHUNK_LEN, 1));
        assert_eq!(past.chunk_offset(1), 33 + CHUNK + 16);
        assert_eq!(past.blob_len(), 33 + CHUNK + 2048 + 32);
        let max = Layout::new(MAX_ATTACHMENT_LEN).unwrap();
        assert_eq!(max.padded, MAX_ATTACHMENT_LEN, "2^40 is its own bucket");
        assert_eq!(max.chunks, MAX_ATTACHMENT_LEN / CHUNK);
        assert_eq!(Layout::new(MAX_ATTACHMENT_LEN + 1), None, "one past the limit");
    }

    /// Padding stays within Padmé's 12 % above the minimum.
    #[test]
    fn padding_overhead() {
        for size in [0u64, 1, 1024, 1025, 100_000, 5_000_000, 1 << 30, (1 << 30) + 1, MAX_ATTACHMENT_LEN] {
            let padded = padded_len(size);
            assert!(padded >= size.max(MIN_ATTACHMENT_PADDED_LEN));
            assert!(
                (padded - size.max(MIN_ATTACHMENT_PADDED_LEN)) * 100 <= size.max(MIN_ATTACHMENT_PADDED_LEN) * 12,
                "{size}"
            );
        }
    }

    /// The nonce layout: counter in bytes 3..11, flag in byte 11.
    #[test]
    fn nonces() {
        assert_eq!(chunk_nonce(0, false), [0; 12]);
        assert_eq!(chunk_nonce(1, true), [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1]);
        assert_eq!(chunk_nonce(0x0102, false)[9..], [1, 2, 0]);
    }
}
