// Restoring pickles and encrypted pickles from arbitrary bytes: no panic,
// no unbounded allocation; whatever restores pickles back to a pickle that
// restores again.

use dmseal::{Account, AccountPickle, Group, GroupPickle, Session, SessionPickle};

const KEY: [u8; 32] = [7; 32];

pub(crate) fn run(data: &[u8]) {
    if let Ok(p) = SessionPickle::from_bytes(data)
        && let Ok(s) = Session::from_pickle(&p)
    {
        assert!(Session::from_pickle(&s.pickle()).is_ok());
    }
    if let Ok(p) = AccountPickle::from_bytes(data)
        && let Ok(a) = Account::from_pickle(&p)
    {
        assert!(Account::from_pickle(&a.pickle()).is_ok());
    }
    if let Ok(p) = GroupPickle::from_bytes(data)
        && let Ok(g) = Group::from_pickle(&p)
    {
        assert!(Group::from_pickle(&g.pickle()).is_ok());
    }
    let _ = SessionPickle::from_encrypted(data, &KEY);
    let _ = AccountPickle::from_encrypted(data, &KEY);
    let _ = GroupPickle::from_encrypted(data, &KEY);
}
