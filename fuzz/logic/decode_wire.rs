// Every wire decoder on arbitrary bytes: no panic, and whatever decodes
// re-encodes to exactly the same bytes (the encodings are canonical).

use dmseal::directory::{IdentityUpload, PreKeyBatch};
use dmseal::{DeviceLink, Envelope, LinkOffer, NormalMessage, PreKeyBundle, PreKeyMessage, PublicIdentity};

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
    if let Ok(u) = IdentityUpload::decode(data) {
        assert_eq!(u.encode(), data, "identity upload re-encodes differently");
        let _ = u.verify();
    }
    if let Ok(b) = PreKeyBatch::decode(data) {
        assert_eq!(b.encode(), data, "prekey batch re-encodes differently");
        let _ = b.verify();
    }
    if let Ok(l) = DeviceLink::decode(data) {
        assert_eq!(l.encode(), data, "device link re-encodes differently");
    }
    if let Ok(o) = LinkOffer::decode(data) {
        assert_eq!(o.encode(), data, "link offer re-encodes differently");
    }
    let _ = Envelope::decode(data);
}
