// Every wire decoder on arbitrary bytes: no panic, and whatever decodes
// re-encodes to exactly the same bytes (the encodings are canonical).

use dmseal::{Envelope, NormalMessage, PreKeyBundle, PreKeyMessage, PublicIdentity};

pub(crate) fn run(data: &[u8]) {
    if let Ok(b) = PreKeyBundle::decode(data) {
        assert_eq!(b.encode(), data, "bundle re-encodes differently");
    }
    if let Ok(m) = PreKeyMessage::decode(data) {
        assert_eq!(m.as_bytes(), data);
        assert_eq!(m.message().as_bytes(), &data[data.len() - m.message().as_bytes().len()..]);
    }
    if let Ok(m) = NormalMessage::decode(data) {
        assert_eq!(m.as_bytes(), data);
    }
    if let Ok(i) = PublicIdentity::decode(data) {
        assert_eq!(i.encode().as_slice(), data);
    }
    let _ = Envelope::decode(data);
}
