//! Smoke test.
use dmseal::{Account, PreKeyMessage};

#[test]
fn round_trip() {
    let mut bob = Account::new();
    let otks = bob.generate_one_time_prekeys(2).unwrap();
    let bundle = bob.prekey_bundle(Some(otks[0].id())).unwrap();
    let alice = Account::new();
    let (mut a, first) = alice.start_session(&bundle, b"ctx", b"hi").unwrap();
    let pending = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), b"ctx").unwrap();
    assert_eq!(pending.plaintext(), b"hi");
    let mut b = bob.accept(pending).unwrap();
    for i in 0..5u8 {
        let m = b.encrypt(&[i]).unwrap();
        assert_eq!(a.decrypt(&m).unwrap(), vec![i]);
        let m = a.encrypt(&[i, i]).unwrap();
        assert_eq!(b.decrypt(&m).unwrap(), vec![i, i]);
    }
}
