//! With the `tracing` feature, Conversations operations emit spans and
//! events with addresses, sizes and outcomes, and never a plaintext, a
//! ciphertext or a key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use self::common::world::*;

/// Everything the subscriber writes, kept for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn operations_are_traced_without_plaintexts_ciphertexts_or_keys() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let secret = b"the secret plaintext 4242";
    let (ciphertexts, key_material) = tracing::subscriber::with_default(subscriber, || {
        let (mut w, a, b) = alice_and_bob();
        let sent = w.send(&a, "bob", secret, NOW);
        assert_eq!(w.deliver(&a, &b, &sent[0].1).unwrap(), secret);
        let forged = vec![1u8, 3, 9, 9];
        assert!(w.get(&b).receive(&a, &forged, NOW).is_err());
        let keys = w.get(&a).account().pickle().to_bytes().to_vec();
        (sent.into_iter().map(|(_, c)| c).collect::<Vec<_>>(), keys)
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    // The operations are there, with their outcomes.
    for expected in ["send", "receive", "committed", "sent", "read", "refused", "from=alice.1"] {
        assert!(log.contains(expected), "no {expected:?} in the log:\n{log}");
    }
    // Nothing secret or secret-bearing is.
    assert!(!log.contains(std::str::from_utf8(secret).unwrap()));
    assert!(!log.contains(&hex(secret)));
    for c in &ciphertexts {
        assert!(!log.contains(&hex(&c[c.len() - 16..])), "a ciphertext's tag is in the log");
    }
    for window in key_material.windows(16).step_by(16) {
        assert!(!log.contains(&hex(window)), "account key material is in the log");
    }
}
