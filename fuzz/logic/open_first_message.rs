// Account::open_first_message on arbitrary prekey messages: no panic, and
// the account never changes (opening takes &self; accept is what commits).

include!("common.rs");

pub(crate) fn run(data: &[u8]) {
    let (mut bob, _, _) = pair();
    let Ok(message) = PreKeyMessage::decode(data) else { return };
    let before = bob.pickle().to_bytes();
    if let Ok(pending) = bob.open_first_message(&message, CONTEXT, 0) {
        // A genuine first message: accepting must then refuse a replay.
        let _ = bob.accept(pending);
        assert!(bob.open_first_message(&message, CONTEXT, 0).is_err(), "a first message opened twice");
    } else {
        assert_eq!(bob.pickle().to_bytes(), before);
    }
}
