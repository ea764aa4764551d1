//! Checks every [`Store`] implementation must pass: atomic, numbered
//! commits, conflicts, deletes, app rows. dmseal runs them on its own
//! stores; with the `test-util` feature a third-party store runs them
//! from its own tests:
//!
//! ```
//! # #[cfg(feature = "test-util")] {
//! // In the store crate's tests, with dmseal's `test-util` feature on:
//! dmseal::store::conformance::check(dmseal::store::MemoryStore::new);
//! # }
//! ```
//!
//! A failed check panics with what went wrong, as a test assertion does.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers: a failed check is a panic, as in any test assertion"
)]

use super::{AppWrite, ChangeSet, Store, StoreError};
use crate::address::Address;

fn address(user: &str, device: u32) -> Address {
    Address::new(user, device).unwrap()
}

/// Runs every check, each on a fresh, empty store from `make`.
///
/// # Panics
///
/// When the store fails a check (the message says which and how).
pub fn check<S: Store>(make: impl Fn() -> S) {
    commits_are_numbered_and_applied(&make());
    a_stale_commit_is_refused_and_changes_nothing(&make());
    deletes_remove_rows(&make());
    expired_rows_are_purged_and_others_kept(&make());
}

fn commits_are_numbered_and_applied<S: Store>(store: &S) {
    assert_eq!(store.generation().unwrap(), 0);
    assert_eq!(store.load_account().unwrap(), None);
    let alice = address("alice", 1);
    let mut changes = ChangeSet { account: Some(b"account".to_vec()), ..Default::default() };
    changes.set_user("alice", Some(b"user".to_vec()));
    changes.set_session(&alice, Some(b"first".to_vec()));
    changes.set_session(&alice, Some(b"sessions".to_vec())); // replaces the earlier write
    changes.set_request(&address("mallory", 7), Some(b"request".to_vec()));
    changes.groups.push((b"group".to_vec(), Some(b"state".to_vec())));
    let changes = changes.with_app_writes([AppWrite::put("inbox", b"1".to_vec(), b"hello".to_vec())]);
    assert_eq!(store.commit(0, &changes).unwrap(), 1);
    assert_eq!(store.generation().unwrap(), 1);
    assert_eq!(store.load_account().unwrap().as_deref(), Some(&b"account"[..]));
    assert_eq!(store.load_user("alice").unwrap().as_deref(), Some(&b"user"[..]));
    assert_eq!(store.load_user("bob").unwrap(), None);
    assert_eq!(store.user_ids().unwrap(), vec!["alice".to_owned()]);
    assert_eq!(store.load_sessions(&alice).unwrap().as_deref(), Some(&b"sessions"[..]));
    assert_eq!(store.load_sessions(&address("alice", 2)).unwrap(), None);
    assert_eq!(store.load_request(&address("mallory", 7)).unwrap().as_deref(), Some(&b"request"[..]));
    assert_eq!(store.request_addresses().unwrap(), vec![address("mallory", 7)]);
    assert_eq!(store.session_addresses().unwrap(), vec![alice.clone()]);
    assert_eq!(store.load_group(b"group").unwrap().as_deref(), Some(&b"state"[..]));
    assert_eq!(store.group_ids().unwrap(), vec![b"group".to_vec()]);
    assert_eq!(store.app_row("inbox", b"1").unwrap().as_deref(), Some(&b"hello"[..]));
    assert_eq!(store.app_row("outbox", b"1").unwrap(), None);
    // An empty change set still takes a generation.
    assert_eq!(store.commit(1, &ChangeSet::default()).unwrap(), 2);
}

fn a_stale_commit_is_refused_and_changes_nothing<S: Store>(store: &S) {
    let changes = ChangeSet { account: Some(b"v1".to_vec()), ..Default::default() };
    assert_eq!(store.commit(0, &changes).unwrap(), 1);
    let stale = ChangeSet { account: Some(b"v2".to_vec()), ..Default::default() }.with_app_writes([AppWrite::put(
        "inbox",
        b"x".to_vec(),
        b"y".to_vec(),
    )]);
    match store.commit(0, &stale) {
        Err(StoreError::Conflict { expected: 0, found: 1 }) => {}
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.load_account().unwrap().as_deref(), Some(&b"v1"[..]));
    assert_eq!(store.app_row("inbox", b"x").unwrap(), None);
    assert_eq!(store.generation().unwrap(), 1);
}

fn deletes_remove_rows<S: Store>(store: &S) {
    let bob = address("bob", 3);
    let mut put = ChangeSet::default();
    put.set_session(&bob, Some(b"s".to_vec()));
    put.set_request(&bob, Some(b"r".to_vec()));
    put.set_user("bob", Some(b"u".to_vec()));
    let put = put.with_app_writes([AppWrite::put("inbox", b"k".to_vec(), b"v".to_vec())]);
    store.commit(0, &put).unwrap();
    let mut delete = ChangeSet::default();
    delete.set_session(&bob, None);
    delete.set_request(&bob, None);
    delete.set_user("bob", None);
    let delete = delete.with_app_writes([AppWrite::delete("inbox", b"k".to_vec())]);
    store.commit(1, &delete).unwrap();
    assert_eq!(store.load_sessions(&bob).unwrap(), None);
    assert_eq!(store.load_request(&bob).unwrap(), None);
    assert_eq!(store.request_addresses().unwrap(), Vec::<Address>::new());
    assert_eq!(store.session_addresses().unwrap(), Vec::<Address>::new());
    assert_eq!(store.load_user("bob").unwrap(), None);
    assert_eq!(store.app_row("inbox", b"k").unwrap(), None);
}

fn expired_rows_are_purged_and_others_kept<S: Store>(store: &S) {
    let rows = [
        AppWrite::put("inbox", b"a".to_vec(), b"1".to_vec()).expires_at(100),
        AppWrite::put("inbox", b"b".to_vec(), b"2".to_vec()).expires_at(200),
        AppWrite::put("inbox", b"c".to_vec(), b"3".to_vec()),
        AppWrite::put("attachments", b"a".to_vec(), b"4".to_vec()).expires_at(100),
        // Written with an expiry, then again without: kept.
        AppWrite::put("inbox", b"d".to_vec(), b"5".to_vec()).expires_at(50),
    ];
    store.commit(0, &ChangeSet::default().with_app_writes(rows)).unwrap();
    let again = ChangeSet::default().with_app_writes([AppWrite::put("inbox", b"d".to_vec(), b"6".to_vec())]);
    store.commit(1, &again).unwrap();
    assert_eq!(store.purge_expired(99).unwrap(), Vec::<(String, Vec<u8>)>::new(), "nothing expired yet");
    assert_eq!(
        store.purge_expired(100).unwrap(),
        [("attachments".to_owned(), b"a".to_vec()), ("inbox".to_owned(), b"a".to_vec())],
        "the rows at their expiry, in order"
    );
    assert_eq!(store.app_row("inbox", b"a").unwrap(), None);
    assert_eq!(store.app_row("attachments", b"a").unwrap(), None);
    assert_eq!(store.app_row("inbox", b"b").unwrap().as_deref(), Some(&b"2"[..]));
    assert_eq!(store.purge_expired(100).unwrap(), Vec::<(String, Vec<u8>)>::new(), "purged once");
    assert_eq!(store.purge_expired(u64::MAX).unwrap(), [("inbox".to_owned(), b"b".to_vec())]);
    assert_eq!(store.app_row("inbox", b"c").unwrap().as_deref(), Some(&b"3"[..]));
    assert_eq!(store.app_row("inbox", b"d").unwrap().as_deref(), Some(&b"6"[..]));
    assert_eq!(store.generation().unwrap(), 2, "purging does not change the generation");
}
