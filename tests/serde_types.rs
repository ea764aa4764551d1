//! With the `serde` feature, the public value types an application keeps
//! (events, device lists, addresses, settings) round-trip through serde,
//! and what is read back is checked as when decoded.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use dmseal::{
    Account, Address, ContactPolicy, ConversationConfig, DeviceStatus, Event, PublicIdentity, RotationPolicy,
};

fn round_trip<T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) -> String {
    let text = serde_json::to_string(value).unwrap();
    assert_eq!(&serde_json::from_str::<T>(&text).unwrap(), value, "{text}");
    text
}

#[test]
fn public_value_types_round_trip_and_are_checked_when_read() {
    let address = Address::new("alice.example", 2).unwrap();
    assert_eq!(round_trip(&address), "\"alice.example.2\"");
    assert!(serde_json::from_str::<Address>("\"alice\"").is_err());
    round_trip(&Event::NewDevice { address: address.clone(), status: DeviceStatus::AwaitingApproval });
    round_trip(&ConversationConfig::new().with_contact_policy(ContactPolicy::MessageRequests));
    round_trip(&RotationPolicy::new(10, 60));
    let identity = Account::new().identity().clone();
    let text = serde_json::to_string(&identity).unwrap();
    assert_eq!(serde_json::from_str::<PublicIdentity>(&text).unwrap(), identity);
    // A changed byte breaks the binding: refused when read back.
    let mut bytes = identity.encode().to_vec();
    bytes[100] ^= 1;
    assert!(serde_json::from_str::<PublicIdentity>(&serde_json::to_string(&bytes).unwrap()).is_err());
}

/// An attachment's content keeps its pointer, the key included (an app
/// storing a message must keep the key to open the file later), as the
/// pointer's own encoding; a malformed one is refused when read.
#[test]
fn attachment_content_round_trips_with_its_pointer() {
    let (blob, mut pointer) = dmseal::attachment::encrypt(b"a document").unwrap();
    pointer.set_file_name("notes.txt").unwrap();
    let content = dmseal::Content::Attachment(pointer);
    let json = round_trip(&content);
    let back: dmseal::Content = serde_json::from_str(&json).unwrap();
    let dmseal::Content::Attachment(back) = back else { panic!("{json}") };
    assert_eq!(dmseal::attachment::decrypt(&back, &blob).unwrap().as_slice(), b"a document");
    assert!(serde_json::from_str::<dmseal::attachment::AttachmentPointer>("[1,2,3]").is_err());
}
