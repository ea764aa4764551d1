//! Decrypting an attachment, as a stream or one chunk at a time, without
//! I/O (docs/PROTOCOL.md §14.4).

use core::fmt;

use super::layout::{ChunkKeys, Layout};
use super::{ATTACHMENT_HEADER_LEN, AttachmentError, AttachmentPointer};
use crate::primitives::aead::TAG_LEN;
use sha2::{Digest, Sha256};

/// What opens one attachment's header and chunks: its keys and layout.
/// Shared by [`AttachmentDecryptor`] and [`super::AttachmentReader`].
pub(crate) struct Opener {
    keys: ChunkKeys,
    pub(crate) layout: Layout,
    pub(crate) digest: [u8; 32],
}

impl Opener {
    pub(crate) fn new(pointer: &AttachmentPointer) -> Self {
        Self { keys: ChunkKeys::derive(&pointer.key), layout: pointer.layout, digest: pointer.digest }
    }

    pub(crate) fn check_header(&self, header: &[u8]) -> Result<(), AttachmentError> {
        self.keys.check_header(header)
    }

    /// The length of chunk `index` in the blob (plaintext and tag).
    pub(crate) fn sealed_len(&self, index: u64) -> usize {
        self.layout.plain_len(index) + TAG_LEN
    }

    /// Authenticates chunk `index` (`sealed`: its ciphertext and tag) and
    /// appends the file's bytes in it to `out`, after checking that its
    /// padding is zero. On failure `out` is as it was.
    pub(crate) fn open_into(&self, index: u64, sealed: &[u8], out: &mut Vec<u8>) -> Result<(), AttachmentError> {
        if index >= self.layout.chunks {
            return Err(AttachmentError::NoSuchChunk { index, chunks: self.layout.chunks });
        }
        let expected = self.sealed_len(index);
        match sealed.len().cmp(&expected) {
            core::cmp::Ordering::Less => return Err(AttachmentError::Truncated),
            core::cmp::Ordering::Greater => return Err(AttachmentError::TrailingBytes),
            core::cmp::Ordering::Equal => {}
        }
        let (body, tag) = sealed.split_at(expected - TAG_LEN);
        let tag = <&[u8; TAG_LEN]>::try_from(tag).map_err(|_| AttachmentError::Truncated)?;
        let start = out.len();
        out.extend_from_slice(body);
        let opened = match out.get_mut(start..) {
            Some(buf) => self.keys.open(index, self.layout.is_last(index), buf, tag).is_ok(),
            None => false,
        };
        if !opened {
            out.truncate(start);
            return Err(AttachmentError::Chunk { index });
        }
        let keep = start + self.layout.data_len(index);
        if out.get(keep..).is_some_and(|padding| padding.iter().any(|&b| b != 0)) {
            zeroize::Zeroize::zeroize(out.get_mut(start..).unwrap_or_default());
            out.truncate(start);
            return Err(AttachmentError::Padding { index });
        }
        out.truncate(keep);
        Ok(())
    }
}

/// The next part of the blob a streaming decryptor waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    Header,
    Chunk(u64),
    End,
}

/// Decrypts one attachment: as a stream, checking every chunk as it
/// completes and the digest at the end, or one chunk at a time
/// ([`AttachmentDecryptor::open_chunk`]) for reading a range.
///
/// Memory is bounded by one chunk. Each chunk is authenticated before any
/// of its plaintext is released, so what [`AttachmentDecryptor::update`]
/// returns is the sender's; truncation, reordering, duplication and
/// chunks from another file are refused (docs/PROTOCOL.md §14.4). Only
/// [`AttachmentDecryptor::finish`] says the blob was complete and is the
/// one the pointer's digest names.
pub struct AttachmentDecryptor {
    opener: Opener,
    next: Next,
    /// The bytes of the part `next` given so far (fewer than its length).
    pending: Vec<u8>,
    /// Blob bytes of the parts before `next`.
    taken: u64,
    hasher: Sha256,
}

impl AttachmentDecryptor {
    /// A decryptor for the blob `pointer` names.
    pub fn new(pointer: &AttachmentPointer) -> Self {
        Self { opener: Opener::new(pointer), next: Next::Header, pending: Vec::new(), taken: 0, hasher: Sha256::new() }
    }

    /// Takes the next `ciphertext` bytes of the blob and appends to `out`
    /// the file's bytes of every chunk they complete.
    ///
    /// On an error, nothing of the part that failed (the header or a
    /// chunk) is kept or released: `out` holds the file bytes of the
    /// chunks before it, and the decryptor waits for that part again from
    /// its start, which is blob offset [`AttachmentDecryptor::blob_offset`]
    /// (to fetch again, say). The parts before it stay taken.
    pub fn update(&mut self, ciphertext: &[u8], out: &mut Vec<u8>) -> Result<(), AttachmentError> {
        let mut input = ciphertext;
        while !input.is_empty() {
            if self.next == Next::End {
                return Err(AttachmentError::TrailingBytes);
            }
            let len = self.part_len();
            let want = len.saturating_sub(self.pending.len());
            if self.pending.is_empty() && input.len() >= len {
                // A whole part in the input: opened where it lies.
                let (part, rest) = input.split_at(len);
                self.open_part(part, out)?;
                input = rest;
                continue;
            }
            let (head, rest) = input.split_at(want.min(input.len()));
            self.pending.extend_from_slice(head);
            input = rest;
            if self.pending.len() == len {
                // Opened or refused, the part leaves `pending`: a refused
                // part is given again from its start.
                let part = core::mem::take(&mut self.pending);
                let opened = self.open_part(&part, out);
                self.pending = part;
                self.pending.clear();
                opened?;
            }
        }
        Ok(())
    }

    /// How many bytes of the blob the decryptor has taken: after an
    /// error, where the part that failed starts.
    pub fn blob_offset(&self) -> u64 {
        self.taken + self.pending.len() as u64
    }

    /// The length of the part the decryptor waits for.
    fn part_len(&self) -> usize {
        match self.next {
            Next::Header => ATTACHMENT_HEADER_LEN,
            Next::Chunk(index) => self.opener.sealed_len(index),
            Next::End => 0,
        }
    }

    /// Checks the header or opens the next chunk, then moves on. On an
    /// error nothing changes.
    fn open_part(&mut self, part: &[u8], out: &mut Vec<u8>) -> Result<(), AttachmentError> {
        match self.next {
            Next::Header => self.opener.check_header(part)?,
            Next::Chunk(index) => self.opener.open_into(index, part, out)?,
            Next::End => return Err(AttachmentError::TrailingBytes),
        }
        self.hasher.update(part);
        self.taken += part.len() as u64;
        self.next = match self.next {
            Next::Chunk(index) if !self.opener.layout.is_last(index) => Next::Chunk(index + 1),
            Next::Header => Next::Chunk(0),
            _ => Next::End,
        };
        Ok(())
    }

    /// Ends the blob: [`AttachmentError::Truncated`] if it stopped before
    /// its last chunk, [`AttachmentError::DigestMismatch`] if it is not the
    /// blob the pointer's digest names. Only after this returns `Ok` is
    /// the file known to be whole. Changes nothing: after `Truncated`, the
    /// rest of the blob can still be given.
    pub fn finish(&self) -> Result<(), AttachmentError> {
        if self.next != Next::End {
            return Err(AttachmentError::Truncated);
        }
        let digest: [u8; 32] = self.hasher.clone().finalize().into();
        if digest != self.opener.digest {
            return Err(AttachmentError::DigestMismatch);
        }
        Ok(())
    }

    /// Checks a blob's first [`ATTACHMENT_HEADER_LEN`] bytes (`blob` may
    /// hold more, which are ignored; fewer are [`AttachmentError::Truncated`]):
    /// the version, and the key commitment ([`AttachmentError::WrongKey`] for a blob of
    /// another attachment). Optional before [`AttachmentDecryptor::open_chunk`]:
    /// a chunk under another key fails anyway, this only says why.
    pub fn check_header(&self, header: &[u8]) -> Result<(), AttachmentError> {
        self.opener.check_header(header)
    }

    /// Opens chunk `index` alone (`sealed`: the blob's bytes in
    /// [`AttachmentPointer::chunk_span`]) and appends the file's bytes in
    /// it, from file offset `index` × [`super::ATTACHMENT_CHUNK_LEN`], to
    /// `out`: for reading a range, such as seeking in a video. The chunk is
    /// authenticated in its place (a chunk moved, or from another file, is
    /// refused); the digest is not checked, since it needs the whole blob.
    /// Changes nothing, and on an error leaves `out` as it was.
    pub fn open_chunk(&self, index: u64, sealed: &[u8], out: &mut Vec<u8>) -> Result<(), AttachmentError> {
        self.opener.open_into(index, sealed, out)
    }
}

impl fmt::Debug for AttachmentDecryptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttachmentDecryptor")
            .field("size", &self.opener.layout.size)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}
