//! Linking a person's new device (docs/PROTOCOL.md §13.14): the new
//! device shows an offer, an existing device answers with a sealed
//! handover and a signed link statement, and contacts who trust the
//! existing device trust the new one when it writes, without an approval.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use dmseal::store::{AppWrite, Store};
use dmseal::{
    Address, BundleSourceError, ConversationError, DeviceStatus, Event, LinkError, LinkOffer, PreKeyBundle,
    ReceivedKind, SendError,
};

use self::common::world::*;

/// Alice's phone and Bob, who verified Alice; they have talked.
fn verified_contacts() -> (World, Address, Address) {
    let (mut w, phone, bob) = alice_and_bob();
    exchange(&mut w, &phone, &bob, 0);
    w.get(&bob).set_verified("alice", true).unwrap();
    (w, phone, bob)
}

/// Links `new` (a fresh device of Alice's) from `phone`; returns what the
/// new device took over.
fn link(w: &mut World, phone: &Address, new: &Address, history: &[AppWrite]) -> dmseal::LinkCompleted {
    let offer = w.get(new).link_offer(NOW).encode();
    let offer = LinkOffer::decode(&offer).unwrap();
    let handover = w.get(phone).link_device(&offer, history, NOW).unwrap();
    w.get(new).complete_link(&handover, NOW + 30).unwrap()
}

fn status(w: &mut World, at: &Address, of: &Address) -> Option<DeviceStatus> {
    w.get(at).devices(of.user()).unwrap().into_iter().find(|i| i.address == *of).map(|i| i.status)
}

/// A send that may be refused, fetching bundles from the world.
fn try_send(w: &mut World, from: &Address, user: &str, text: &str) -> Result<Vec<(Address, Vec<u8>)>, SendError> {
    let mut sender = w.devices.remove(from).unwrap();
    let mut source = |need: &[Address]| -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> {
        Ok(need.iter().map(|a| (a.clone(), bundle(w.devices.get_mut(a).unwrap()))).collect())
    };
    let sent = sender.send_fetching(user, text, &mut source, NOW);
    w.devices.insert(from.clone(), sender);
    sent.map(|out| out.messages)
}

#[test]
fn a_phone_links_a_laptop_and_a_verified_contact_accepts_it_and_can_send_to_it_at_once() {
    let (mut w, phone, bob) = verified_contacts();
    w.get(&phone).set_verified("bob", true).unwrap();
    let laptop = addr("alice", 2);
    w.add(device("alice", 2));
    // The laptop's app listed the phone already (identity unknown): the
    // link pins it under the identity that signed the statement.
    w.get(&laptop).set_devices("alice", &[1]).unwrap();
    let inbox = AppWrite::put("inbox", b"m1".to_vec(), b"an old message".to_vec());
    let done = link(&mut w, &phone, &laptop, &[inbox]);
    assert_eq!(done.linked_by, phone);
    assert_eq!(done.history, 1);
    // The laptop knows Bob's device, its identity and its trust, and has
    // the history row.
    let bob_info = w.get(&laptop).devices("bob").unwrap();
    assert_eq!(bob_info.len(), 1);
    assert_eq!(bob_info[0].status, DeviceStatus::Trusted);
    assert_eq!(bob_info[0].identity.as_ref(), Some(w.get(&bob).account().identity()));
    assert!(w.get(&laptop).is_verified("bob").unwrap());
    assert_eq!(w.get(&laptop).store().app_row("inbox", b"m1").unwrap().as_deref(), Some(&b"an old message"[..]));
    assert!(w.get(&laptop).account().device_link().is_some());
    // The phone trusts the laptop already, and the laptop the phone.
    assert_eq!(status(&mut w, &phone, &laptop), Some(DeviceStatus::Trusted));
    let phone_info = w.get(&laptop).devices("alice").unwrap().into_iter().find(|i| i.address == phone).unwrap();
    assert_eq!(phone_info.status, DeviceStatus::Trusted);
    assert_eq!(phone_info.identity.as_ref(), Some(w.get(&phone).account().identity()));

    // The laptop writes to Bob; its first message shows the link.
    w.get(&laptop).set_devices("bob", &[1]).unwrap();
    w.get(&laptop).set_devices("alice", &[1, 2]).unwrap();
    let sent = try_send(&mut w, &laptop, "bob", "hi from my laptop").unwrap();
    let to_bob = sent.iter().find(|(a, _)| *a == bob).unwrap().1.clone();
    let received = w.get(&bob).receive(&laptop, &to_bob, NOW).unwrap();
    assert_eq!(received.kind(), ReceivedKind::Message);
    assert_eq!(received.plaintext(), b"hi from my laptop");
    assert!(received.events().contains(&Event::DeviceLinked { address: laptop.clone(), by: phone.clone() }));
    // Reported as new, with the status it ends with.
    assert!(received.events().contains(&Event::NewDevice { address: laptop.clone(), status: DeviceStatus::Trusted }));
    w.get(&bob).commit_received(received, vec![]).unwrap();
    assert_eq!(status(&mut w, &bob, &laptop), Some(DeviceStatus::Trusted));
    let info = w.get(&bob).devices("alice").unwrap().into_iter().find(|i| i.address == laptop).unwrap();
    assert_eq!(info.linked_by, Some(phone.clone()));

    // Bob's server now lists the laptop: it stays trusted, and Bob sends
    // to both of Alice's devices with no approval.
    w.get(&bob).set_devices("alice", &[1, 2]).unwrap();
    assert_eq!(status(&mut w, &bob, &laptop), Some(DeviceStatus::Trusted));
    let reply = try_send(&mut w, &bob, "alice", "hello laptop").unwrap();
    let to_laptop = reply.iter().find(|(a, _)| *a == laptop).unwrap().1.clone();
    assert_eq!(w.deliver(&bob, &laptop, &to_laptop).unwrap(), b"hello laptop");
    let to_phone = reply.iter().find(|(a, _)| *a == phone).unwrap().1.clone();
    assert_eq!(w.deliver(&bob, &phone, &to_phone).unwrap(), b"hello laptop");
}

#[test]
fn a_forged_link_statement_is_refused_and_the_device_waits_for_approval() {
    let (mut w, phone, bob) = verified_contacts();
    // Mallory runs a device that claims to be Alice's phone (another
    // identity, same address) and "links" her own device 3 with it.
    let fake_phone = addr("alice", 1);
    let mut impostor = device("alice", 1);
    let mallory = addr("alice", 3);
    let mut mallory_device = device("alice", 3);
    let offer = mallory_device.link_offer(NOW);
    let handover = impostor.link_device(&offer, &[], NOW).unwrap();
    mallory_device.complete_link(&handover, NOW).unwrap();
    assert_eq!(mallory_device.account().device_link().map(|l| l.linked_by()), Some(fake_phone));
    w.add(mallory_device);

    w.get(&mallory).set_devices("bob", &[1]).unwrap();
    w.get(&mallory).set_devices("alice", &[]).unwrap();
    let sent = try_send(&mut w, &mallory, "bob", "it's me, Alice").unwrap();
    let to_bob = sent.iter().find(|(a, _)| *a == bob).unwrap().1.clone();
    let received = w.get(&bob).receive(&mallory, &to_bob, NOW).unwrap();
    // Read (it is a valid message from that device), but not trusted: the
    // statement's signature is not by the phone Bob knows.
    assert!(!received.events().iter().any(|e| matches!(e, Event::DeviceLinked { .. })));
    w.get(&bob).commit_received(received, vec![]).unwrap();
    assert_eq!(status(&mut w, &bob, &mallory), Some(DeviceStatus::AwaitingApproval));
    w.get(&bob).set_devices("alice", &[1, 3]).unwrap();
    assert!(matches!(try_send(&mut w, &bob, "alice", "hi"), Err(SendError::Blocked(_))));
    let _ = phone;
}

#[test]
fn a_link_by_a_device_the_contact_does_not_trust_counts_for_nothing() {
    let (mut w, phone, bob) = verified_contacts();
    // Alice's tablet, linked by her phone, is listed at Bob's before it
    // ever wrote to him: it waits for approval there (Bob has not seen its
    // statement). Then the tablet links a laptop.
    let tablet = addr("alice", 4);
    w.add(device("alice", 4));
    link(&mut w, &phone, &tablet, &[]);
    w.get(&bob).set_devices("alice", &[1, 4]).unwrap();
    assert_eq!(status(&mut w, &bob, &tablet), Some(DeviceStatus::AwaitingApproval));

    let laptop = addr("alice", 5);
    w.add(device("alice", 5));
    link(&mut w, &tablet, &laptop, &[]);
    w.get(&laptop).set_devices("bob", &[1]).unwrap();
    let sent = try_send(&mut w, &laptop, "bob", "hi").unwrap();
    let to_bob = sent.iter().find(|(a, _)| *a == bob).unwrap().1.clone();
    let received = w.get(&bob).receive(&laptop, &to_bob, NOW).unwrap();
    assert!(!received.events().iter().any(|e| matches!(e, Event::DeviceLinked { .. })));
    w.get(&bob).commit_received(received, vec![]).unwrap();
    assert_eq!(status(&mut w, &bob, &laptop), Some(DeviceStatus::AwaitingApproval));
}

#[test]
fn a_handover_opens_only_under_its_own_offer_and_within_ten_minutes() {
    let (mut w, phone, _bob) = verified_contacts();
    let laptop = addr("alice", 2);
    w.add(device("alice", 2));
    // No offer made yet.
    let mut other = device("alice", 2);
    let stray = w.get(&phone).link_device(&other.link_offer(NOW), &[], NOW).unwrap();
    let err = w.get(&laptop).complete_link(&stray, NOW).unwrap_err();
    assert!(matches!(err, ConversationError::Link(LinkError::NoOffer)), "{err:?}");
    // An offer, but the handover answers another one (another secret and
    // identity): forged.
    let offer = w.get(&laptop).link_offer(NOW);
    let err = w.get(&laptop).complete_link(&stray, NOW).unwrap_err();
    assert!(matches!(err, ConversationError::Link(LinkError::Forged)), "{err:?}");
    // A bit flipped anywhere in the right one: forged.
    let handover = w.get(&phone).link_device(&offer, &[], NOW).unwrap();
    for i in [2, 40, handover.len() / 2, handover.len() - 1] {
        let mut bad = handover.clone();
        bad[i] ^= 0x01;
        assert!(w.get(&laptop).complete_link(&bad, NOW).is_err(), "flip at {i}");
    }
    assert!(w.get(&laptop).account().device_link().is_none());
    // At ten minutes the offer has expired; one second before, it opens.
    let err = w.get(&laptop).complete_link(&handover, NOW + 600).unwrap_err();
    assert!(matches!(err, ConversationError::Link(LinkError::Expired)), "{err:?}");
    w.get(&laptop).complete_link(&handover, NOW + 599).unwrap();
    // Used up.
    let err = w.get(&laptop).complete_link(&handover, NOW + 1).unwrap_err();
    assert!(matches!(err, ConversationError::Link(LinkError::NoOffer)), "{err:?}");
}

#[test]
fn only_a_device_of_the_same_user_can_be_linked() {
    let (mut w, phone, bob) = verified_contacts();
    let offer = w.get(&bob).link_offer(NOW);
    let err = w.get(&phone).link_device(&offer, &[], NOW).unwrap_err();
    assert!(matches!(err, ConversationError::Link(LinkError::OtherUser)), "{err:?}");
    let offer = w.get(&phone).link_offer(NOW);
    let err = w.get(&phone).link_device(&offer, &[], NOW).unwrap_err();
    assert!(matches!(err, ConversationError::Link(LinkError::OwnDevice)), "{err:?}");
    // Too much history.
    let big = AppWrite::put("inbox", b"k".to_vec(), vec![0; dmseal::limits::MAX_LINK_HISTORY_BYTES]);
    let mut laptop = device("alice", 2);
    let err = w.get(&phone).link_device(&laptop.link_offer(NOW), &[big], NOW).unwrap_err();
    assert!(matches!(err, ConversationError::Link(LinkError::TooLarge { .. })), "{err:?}");
}

#[test]
fn the_linked_device_gets_the_groups_with_their_members() {
    let members = [addr("alice", 1), addr("bob", 1), addr("carol", 1)];
    let (mut w, _) = group_world(b"team", &members);
    let laptop = addr("alice", 2);
    w.add(device("alice", 2));
    let done = link(&mut w, &members[0], &laptop, &[]);
    assert_eq!(done.groups, 1);
    let mut got = w.get(&laptop).group_members(b"team").unwrap();
    got.sort();
    assert_eq!(got, vec![members[0].clone(), members[1].clone(), members[2].clone()]);
}

#[test]
fn a_verified_contact_who_writes_first_trusts_the_linked_device_from_its_bundle() {
    use dmseal::directory::{Directory, MemoryDirectory, PreKeyCounts};
    let (mut w, phone, bob) = verified_contacts();
    let directory = Directory::new(MemoryDirectory::new());
    let laptop = addr("alice", 2);
    w.add(device("alice", 2));
    // The laptop keeps its prekeys on the directory, then is linked and
    // uploads its identity again, now with the link.
    let uploads = w.get(&laptop).prekey_maintenance(NOW, PreKeyCounts::default()).unwrap();
    directory.publish_identity(&laptop, &uploads.identity.unwrap().encode()).unwrap();
    directory.publish_prekeys(&laptop, &uploads.batch.unwrap().encode()).unwrap();
    let done = link(&mut w, &phone, &laptop, &[]);
    assert!(done.identity_upload.device_link().is_some());
    directory.publish_identity(&laptop, &done.identity_upload.encode()).unwrap();

    // Bob's server lists the laptop before it ever wrote: awaiting approval.
    w.get(&bob).set_devices("alice", &[1, 2]).unwrap();
    assert_eq!(status(&mut w, &bob, &laptop), Some(DeviceStatus::AwaitingApproval));
    // Bob writes; the laptop's bundle from the directory shows the link.
    let mut bob_device = w.devices.remove(&bob).unwrap();
    let mut source = |need: &[Address]| -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> {
        need.iter().map(|a| Ok((a.clone(), directory.claim_bundle(a)?.bundle))).collect()
    };
    let out = bob_device.send_fetching("alice", "hi, Alice's laptop", &mut source, NOW).unwrap();
    assert!(out.events.contains(&Event::DeviceLinked { address: laptop.clone(), by: phone.clone() }));
    w.add(bob_device);
    assert_eq!(status(&mut w, &bob, &laptop), Some(DeviceStatus::Trusted));
    let to_laptop = out.messages.iter().find(|(a, _)| *a == laptop).unwrap().1.clone();
    assert_eq!(w.deliver(&bob, &laptop, &to_laptop).unwrap(), b"hi, Alice's laptop");
}

#[test]
fn a_bundle_whose_link_is_about_another_identity_does_not_decode() {
    let (mut w, phone, _bob) = verified_contacts();
    let laptop = addr("alice", 2);
    w.add(device("alice", 2));
    link(&mut w, &phone, &laptop, &[]);
    let with_link = w.get(&laptop).account().prekey_bundle(None, None).unwrap();
    assert!(with_link.device_link().is_some());
    assert_eq!(PreKeyBundle::decode(&with_link.encode()).unwrap(), with_link);
    // Put the laptop's statement on the phone's bundle.
    let phone_bundle = w.get(&phone).account().prekey_bundle(None, None).unwrap();
    let forged = phone_bundle.with_device_link(with_link.device_link().cloned());
    assert_eq!(PreKeyBundle::decode(&forged.encode()).unwrap_err(), dmseal::DecodeError::LinkMismatch);
}

#[test]
fn linking_a_reinstalled_device_drops_what_its_old_identity_had() {
    let (mut w, phone, _bob) = verified_contacts();
    // An old install of device 2 talked to the phone.
    let laptop = addr("alice", 2);
    w.add(device("alice", 2));
    w.get(&laptop).set_devices("alice", &[1]).unwrap();
    w.get(&phone).set_devices("alice", &[2]).unwrap();
    let sent = try_send(&mut w, &laptop, "alice", "old install").unwrap();
    w.deliver(&laptop, &phone, &sent[0].1).unwrap();
    assert!(w.get(&phone).current_session_base_key(&laptop).unwrap().is_some());
    // Reinstalled (a new identity at the same address), then linked.
    w.devices.remove(&laptop);
    w.add(device_with_seed("alice", 2, 99));
    link(&mut w, &phone, &laptop, &[]);
    let info = w.get(&phone).devices("alice").unwrap().into_iter().find(|i| i.address == laptop).unwrap();
    assert_eq!(info.identity.as_ref(), Some(w.get(&laptop).account().identity()));
    assert_eq!((info.status, info.linked_by), (DeviceStatus::Trusted, Some(phone.clone())));
    // The old identity's session is gone.
    assert_eq!(w.get(&phone).current_session_base_key(&laptop).unwrap(), None);
}

/// A device whose account comes from its own seed (another install).
fn device_with_seed(user: &str, id: u32, seed: u64) -> Device {
    use rand_chacha::rand_core::SeedableRng;
    let rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    dmseal::Conversations::open_with_rng(
        rng,
        dmseal::store::MemoryStore::new(),
        [7; 32],
        addr(user, id),
        dmseal::ConversationConfig::default(),
    )
    .unwrap()
}
