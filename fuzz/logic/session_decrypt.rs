// Session::decrypt on arbitrary bytes against a live session: no panic,
// and a failed decrypt leaves the session exactly as it was. The first
// byte picks which side receives; the rest is the message.

include!("common.rs");

pub(crate) fn run(data: &[u8]) {
    let Some((&side, message)) = data.split_first() else { return };
    let (_, mut a, mut b) = pair();
    let s = if side & 1 == 0 { &mut a } else { &mut b };
    let before = s.pickle().to_bytes();
    if s.decrypt(message).is_err() {
        assert_eq!(s.pickle().to_bytes(), before, "a failed decrypt changed the session");
    }
}
