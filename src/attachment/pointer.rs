//! The attachment pointer: what a message carries so that its receivers
//! can fetch and decrypt a file (docs/PROTOCOL.md §14.5).

use core::fmt;
use core::ops::Range;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use super::layout::Layout;
use super::{
    AttachmentError, MAX_ATTACHMENT_CONTENT_TYPE_LEN, MAX_ATTACHMENT_FILE_NAME_LEN, MAX_ATTACHMENT_LOCATION_LEN,
};
use crate::wire::Reader;

/// Everything a receiver needs for one encrypted file: its key, the
/// SHA-256 digest of its encrypted blob, its size, and the application's
/// content type, file name and location (where the blob was uploaded).
///
/// [`super::AttachmentEncryptor`] (or [`super::AttachmentWriter`],
/// [`super::encrypt`]) makes it; the application sets the content type,
/// file name and location, then sends it as
/// [`crate::Content::Attachment`]. It holds a secret key: it zeroizes on
/// drop, its `Debug` shows no key, and [`AttachmentPointer::to_bytes`]
/// (for the application's own storage) is the one way the key leaves it.
#[derive(Clone)]
pub struct AttachmentPointer {
    pub(crate) key: Zeroizing<[u8; 32]>,
    pub(crate) digest: [u8; 32],
    pub(crate) layout: Layout,
    content_type: String,
    file_name: String,
    location: String,
}

impl AttachmentPointer {
    pub(crate) fn new(key: Zeroizing<[u8; 32]>, digest: [u8; 32], layout: Layout) -> Self {
        Self { key, digest, layout, content_type: String::new(), file_name: String::new(), location: String::new() }
    }

    /// The SHA-256 digest of the whole encrypted blob (header and chunks).
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }

    /// The file's size in bytes (before encryption and padding).
    pub fn size(&self) -> u64 {
        self.layout.size
    }

    /// The encrypted blob's size in bytes: a function of the padded size
    /// only (docs/PROTOCOL.md §14.3), so the server storing it learns the
    /// size bucket, not the size.
    pub fn blob_len(&self) -> u64 {
        self.layout.blob_len()
    }

    /// How many chunks the blob holds (at least one).
    pub fn chunk_count(&self) -> u64 {
        self.layout.chunks
    }

    /// The chunk that holds byte `offset` of the file; `None` at or past
    /// its end.
    pub fn chunk_of(&self, offset: u64) -> Option<u64> {
        (offset < self.layout.size).then(|| Layout::chunk_of(offset).0)
    }

    /// The bytes of the blob that hold chunk `index` (a range to fetch
    /// with an HTTP range request, for instance), for
    /// [`super::AttachmentDecryptor::open_chunk`]; `None` past the last
    /// chunk.
    pub fn chunk_span(&self, index: u64) -> Option<Range<u64>> {
        (index < self.layout.chunks).then(|| {
            let start = self.layout.chunk_offset(index);
            start..start + self.layout.plain_len(index) as u64 + crate::primitives::aead::TAG_LEN as u64
        })
    }

    /// The content type the application set (a MIME type, say); empty if
    /// none.
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The file name the application set; empty if none. It comes from
    /// the sender: never use it as a path as it is (`../` and the like).
    pub fn file_name(&self) -> &str {
        &self.file_name
    }

    /// Where the application uploaded the blob (a URL, an object id);
    /// empty if none. Receivers fetch the blob from there. It comes from
    /// the sender: fetch only from your own storage's hosts, or fetching
    /// tells a host of the sender's choosing your address and when you
    /// read (and may reach hosts inside your network).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Sets the content type: at most [`MAX_ATTACHMENT_CONTENT_TYPE_LEN`]
    /// bytes.
    pub fn set_content_type(&mut self, content_type: &str) -> Result<(), AttachmentError> {
        set(&mut self.content_type, content_type, "content type", MAX_ATTACHMENT_CONTENT_TYPE_LEN)
    }

    /// Sets the file name: at most [`MAX_ATTACHMENT_FILE_NAME_LEN`] bytes.
    pub fn set_file_name(&mut self, file_name: &str) -> Result<(), AttachmentError> {
        set(&mut self.file_name, file_name, "file name", MAX_ATTACHMENT_FILE_NAME_LEN)
    }

    /// Sets the location: at most [`MAX_ATTACHMENT_LOCATION_LEN`] bytes.
    pub fn set_location(&mut self, location: &str) -> Result<(), AttachmentError> {
        set(&mut self.location, location, "location", MAX_ATTACHMENT_LOCATION_LEN)
    }

    /// The pointer's encoding (docs/PROTOCOL.md §14.5), the body of a
    /// content envelope of kind `0x08`. It contains the key: keep it as
    /// carefully as the message it came in.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(
            32 + 32 + 8 + 1 + self.content_type.len() + 1 + self.file_name.len() + 2 + self.location.len(),
        ));
        self.encode(&mut out);
        out
    }

    /// Appends the encoding to `out`.
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.key.as_ref());
        out.extend_from_slice(&self.digest);
        out.extend_from_slice(&self.layout.size.to_be_bytes());
        // Each length is within its limit (checked by the setters), so it
        // fits its prefix.
        out.push(u8::try_from(self.content_type.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(self.content_type.as_bytes());
        out.push(u8::try_from(self.file_name.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(self.file_name.as_bytes());
        out.extend_from_slice(&u16::try_from(self.location.len()).unwrap_or(u16::MAX).to_be_bytes());
        out.extend_from_slice(self.location.as_bytes());
    }

    /// Reads an encoding that [`AttachmentPointer::to_bytes`] wrote.
    /// Strict: every length within its limit, every field UTF-8, the size
    /// at most [`super::MAX_ATTACHMENT_LEN`], nothing after the location.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AttachmentError> {
        Self::decode(bytes).ok_or(AttachmentError::MalformedPointer)
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let mut r = Reader::new(bytes);
        let key = Zeroizing::new(r.array::<32>().ok()?);
        let digest = r.array::<32>().ok()?;
        let layout = Layout::new(r.u64().ok()?)?;
        let len = usize::from(r.u8().ok()?);
        let content_type = text(&mut r, len, MAX_ATTACHMENT_CONTENT_TYPE_LEN)?;
        let len = usize::from(r.u8().ok()?);
        let file_name = text(&mut r, len, MAX_ATTACHMENT_FILE_NAME_LEN)?;
        let len = usize::from(r.u16().ok()?);
        let location = text(&mut r, len, MAX_ATTACHMENT_LOCATION_LEN)?;
        r.finish().ok()?;
        Some(Self { key, digest, layout, content_type, file_name, location })
    }
}

/// Sets `slot` to `value` if it is at most `max` bytes.
fn set(slot: &mut String, value: &str, field: &'static str, max: usize) -> Result<(), AttachmentError> {
    if value.len() > max {
        return Err(AttachmentError::FieldTooLong { field, len: value.len(), max });
    }
    value.clone_into(slot);
    Ok(())
}

/// The next `len` bytes as UTF-8, if `len` is at most `max` (checked
/// before anything is read).
fn text(r: &mut Reader<'_>, len: usize, max: usize) -> Option<String> {
    if len > max {
        return None;
    }
    Some(core::str::from_utf8(r.bytes(len).ok()?).ok()?.to_owned())
}

impl PartialEq for AttachmentPointer {
    /// Equal when every field is; the keys are compared in constant time.
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.key.as_ref().ct_eq(other.key.as_ref()))
            && self.digest == other.digest
            && self.layout == other.layout
            && self.content_type == other.content_type
            && self.file_name == other.file_name
            && self.location == other.location
    }
}

impl Eq for AttachmentPointer {}

impl fmt::Debug for AttachmentPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digest: String = self.digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        f.debug_struct("AttachmentPointer")
            .field("digest", &format_args!("{digest}…"))
            .field("size", &self.layout.size)
            .field("content_type", &self.content_type)
            .finish_non_exhaustive()
    }
}

impl Zeroize for AttachmentPointer {
    /// Wipes the key and the application's fields.
    fn zeroize(&mut self) {
        self.key.zeroize();
        self.content_type.zeroize();
        self.file_name.zeroize();
        self.location.zeroize();
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for AttachmentPointer {
    /// As the bytes of [`AttachmentPointer::to_bytes`]: the key included,
    /// because an application that stores a message must keep its
    /// attachment's key.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.to_bytes())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for AttachmentPointer {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = Zeroizing::new(<Vec<u8>>::deserialize(deserializer)?);
        Self::from_bytes(&bytes).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attachment::MAX_ATTACHMENT_LEN;

    fn pointer() -> AttachmentPointer {
        let mut p = AttachmentPointer::new(Zeroizing::new([7; 32]), [9; 32], Layout::new(100_000).unwrap());
        p.set_content_type("image/jpeg").unwrap();
        p.set_file_name("cat.jpg").unwrap();
        p.set_location("https://cdn.example/a/1").unwrap();
        p
    }

    /// The encoding reads back, and every cut or extended encoding is
    /// refused.
    #[test]
    fn encoding_round_trips_and_is_strict() {
        let p = pointer();
        let bytes = p.to_bytes();
        assert_eq!(bytes.len(), 32 + 32 + 8 + 1 + 10 + 1 + 7 + 2 + 23);
        assert_eq!(AttachmentPointer::from_bytes(&bytes), Ok(p));
        for cut in 0..bytes.len() {
            assert_eq!(AttachmentPointer::from_bytes(&bytes[..cut]), Err(AttachmentError::MalformedPointer), "{cut}");
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert_eq!(AttachmentPointer::from_bytes(&long), Err(AttachmentError::MalformedPointer));
    }

    /// Each field at its limit is accepted and one past it refused, by the
    /// setter and by the decoder.
    #[test]
    fn field_limits() {
        let mut p = pointer();
        for (max, field) in [
            (MAX_ATTACHMENT_CONTENT_TYPE_LEN, "content type"),
            (MAX_ATTACHMENT_FILE_NAME_LEN, "file name"),
            (MAX_ATTACHMENT_LOCATION_LEN, "location"),
        ] {
            let set = |p: &mut AttachmentPointer, v: &str| match field {
                "content type" => p.set_content_type(v),
                "file name" => p.set_file_name(v),
                _ => p.set_location(v),
            };
            set(&mut p, &"a".repeat(max)).unwrap();
            assert_eq!(AttachmentPointer::from_bytes(&p.to_bytes()).as_ref(), Ok(&p), "{field} at its limit");
            assert_eq!(
                set(&mut p, &"a".repeat(max + 1)),
                Err(AttachmentError::FieldTooLong { field, len: max + 1, max })
            );
        }
        // A content type one past its limit, written by hand.
        let mut bytes = pointer().to_bytes()[..72].to_vec();
        bytes.push(129);
        bytes.extend_from_slice(&[b'a'; 129]);
        bytes.extend_from_slice(&[0, 0, 0]);
        assert_eq!(AttachmentPointer::from_bytes(&bytes), Err(AttachmentError::MalformedPointer));
        bytes.truncate(72);
        bytes.extend_from_slice(&[1, 0xff, 0, 0, 0]);
        assert_eq!(AttachmentPointer::from_bytes(&bytes), Err(AttachmentError::MalformedPointer), "not UTF-8");
    }

    /// A size at the limit reads, one past it does not.
    #[test]
    fn size_limit() {
        let mut bytes = pointer().to_bytes().to_vec();
        bytes[64..72].copy_from_slice(&MAX_ATTACHMENT_LEN.to_be_bytes());
        assert_eq!(AttachmentPointer::from_bytes(&bytes).unwrap().size(), MAX_ATTACHMENT_LEN);
        bytes[64..72].copy_from_slice(&(MAX_ATTACHMENT_LEN + 1).to_be_bytes());
        assert_eq!(AttachmentPointer::from_bytes(&bytes), Err(AttachmentError::MalformedPointer));
    }

    /// The key never shows in `Debug`.
    #[test]
    fn debug_hides_the_key() {
        let shown = format!("{:?}", pointer());
        assert!(shown.contains("image/jpeg") && shown.contains("0909"), "{shown}");
        assert!(!shown.contains("0707") && !shown.contains("[7"), "{shown}");
    }

    /// Chunk spans tile the blob after the header.
    #[test]
    fn chunk_spans_tile_the_blob() {
        let p = pointer();
        assert_eq!(p.chunk_count(), 2);
        assert_eq!(p.chunk_span(0), Some(33..33 + 65_536 + 16));
        let last = p.chunk_span(1).unwrap();
        assert_eq!((last.start, last.end), (33 + 65_552, p.blob_len()));
        assert_eq!(p.chunk_span(2), None);
        assert_eq!(
            (p.chunk_of(0), p.chunk_of(65_536), p.chunk_of(99_999), p.chunk_of(100_000)),
            (Some(0), Some(1), Some(1), None)
        );
    }
}
