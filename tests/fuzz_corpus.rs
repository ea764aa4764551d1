//! Replays every committed fuzz corpus file (seeds and every input that
//! ever crashed) through the same code as the fuzz targets, so a
//! regression fails `cargo test` without a fuzzer. The logic files are
//! shared with `fuzz/fuzz_targets/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, dead_code)]

mod decode_wire {
    include!("../fuzz/logic/decode_wire.rs");
}
mod session_decrypt {
    include!("../fuzz/logic/session_decrypt.rs");
}
mod open_first_message {
    include!("../fuzz/logic/open_first_message.rs");
}
mod group_decrypt {
    include!("../fuzz/logic/group_decrypt.rs");
}
mod pickles {
    include!("../fuzz/logic/pickles.rs");
}
mod interaction {
    include!("../fuzz/logic/interaction.rs");
}
mod conversation_receive {
    include!("../fuzz/logic/conversation_receive.rs");
}
mod recovery {
    include!("../fuzz/logic/recovery.rs");
}
mod content {
    include!("../fuzz/logic/content.rs");
}
mod attachment {
    include!("../fuzz/logic/attachment.rs");
}

use std::path::PathBuf;

type Target = (&'static str, fn(&[u8]));

const TARGETS: [Target; 10] = [
    ("decode_wire", decode_wire::run),
    ("session_decrypt", session_decrypt::run),
    ("open_first_message", open_first_message::run),
    ("group_decrypt", group_decrypt::run),
    ("pickles", pickles::run),
    ("interaction", interaction::run),
    ("conversation_receive", conversation_receive::run),
    ("recovery", recovery::run),
    ("content", content::run),
    ("attachment", attachment::run),
];

fn corpus(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz").join("corpus").join(target)
}

#[test]
fn every_corpus_file_replays_without_failure() {
    let mut total = 0;
    for (name, run) in TARGETS {
        let dir = corpus(name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|_| panic!("{} is missing", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no seeds for {name}");
        for file in files {
            let data = std::fs::read(&file).unwrap();
            run(&data);
            total += 1;
        }
    }
    println!("replayed {total} corpus files");
}

/// Writes the seed corpus: valid inputs of every kind, made by the crate.
/// Run with `cargo test --test fuzz_corpus -- --ignored write_seed_corpus`.
#[test]
#[ignore = "writes fuzz/corpus; run by hand"]
fn write_seed_corpus() {
    use dmseal::{Account, Group, PreKeyMessage};
    use rand_chacha::ChaCha20Rng;
    use rand_core::SeedableRng;

    let write = |target: &str, name: &str, data: &[u8]| {
        let dir = corpus(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), data).unwrap();
    };
    let mut r = ChaCha20Rng::from_seed([1; 32]);
    let mut bob = Account::new_with_rng(&mut r);
    let otk = bob.generate_one_time_prekeys_with_rng(&mut r, 1).unwrap()[0].id();
    let bundle = bob.prekey_bundle(Some(otk), None).unwrap();
    let alice = Account::new_with_rng(&mut r);
    let (mut a, first) = alice.start_session_with_rng(&mut r, &bundle, b"fuzz:alice|fuzz:bob", b"first").unwrap();
    let pending = bob.open_first_message(&PreKeyMessage::decode(&first).unwrap(), b"fuzz:alice|fuzz:bob", 0).unwrap();
    let mut b = bob.accept(pending).unwrap();
    let reply = b.encrypt_with_rng(&mut r, b"reply").unwrap();
    a.decrypt(&reply).unwrap();
    let normal = a.encrypt_with_rng(&mut r, b"normal").unwrap();
    write("decode_wire", "bundle", &bundle.encode());
    write("decode_wire", "prekey-message", &first);
    write("decode_wire", "normal-message", &normal);
    write("decode_wire", "identity", &alice.identity().encode());
    write("decode_wire", "identity-upload", &bob.identity_upload(1_800_000_000).encode());
    write("decode_wire", "prekey-batch", &bob.publish_prekeys_with_rng(&mut r, 2, 1).unwrap().encode());
    // Messages for the fixed pair the session target builds
    // (fuzz/logic/common.rs), so the seeds reach real decryption.
    let (fixed_bob, mut fa, mut fb) = session_decrypt::pair();
    let mut fr = session_decrypt::rng(3);
    write(
        "session_decrypt",
        "normal-to-alice",
        &[&[0u8][..], &fb.encrypt_with_rng(&mut fr, b"to alice").unwrap()].concat(),
    );
    write(
        "session_decrypt",
        "normal-to-bob",
        &[&[1u8][..], &fa.encrypt_with_rng(&mut fr, b"to bob").unwrap()].concat(),
    );
    // A first message to the fixed Bob that no session has used yet.
    let carol = Account::new_with_rng(&mut fr);
    let fixed_bundle = fixed_bob.prekey_bundle(None, None).unwrap();
    let (_, to_fixed_bob) =
        carol.start_session_with_rng(&mut fr, &fixed_bundle, session_decrypt::CONTEXT, b"hello").unwrap();
    write("open_first_message", "prekey-message", &to_fixed_bob);
    write("open_first_message", "other-account", &first);
    let mut g = Group::new(b"fuzz-group", b"alice").unwrap();
    g.add_member(b"bob").unwrap();
    let out = g.encrypt_with_rng(&mut r, b"group", 0).unwrap();
    write("group_decrypt", "message", &[&[0u8][..], &out.message].concat());
    write("group_decrypt", "distribution", &[&[1u8][..], &out.distributions[0].bytes].concat());
    write("group_decrypt", "batch", &[&[3u8][..], &out.message].concat());
    write("pickles", "session", &b.pickle().to_bytes());
    write("pickles", "account", &bob.pickle().to_bytes());
    write("pickles", "group", &g.pickle().to_bytes());
    write("pickles", "encrypted-session", &b.pickle().encrypt_with_rng(&mut r, &[7; 32]));
    // Interaction: a few hand-made schedules (pairs of opcode, argument).
    write("interaction", "sends-and-deliveries", &[0, 0, 1, 0, 4, 0, 4, 1, 10, 0, 4, 2, 4, 3]);
    write("interaction", "tamper-duplicate-pickle", &[0, 0, 8, 5, 4, 0, 7, 0, 9, 1, 1, 0, 4, 0]);
    write("interaction", "group-and-removal", &[10, 0, 10, 2, 11, 0, 10, 0, 10, 2, 4, 0, 4, 1, 4, 2, 4, 3, 4, 4]);
    write("interaction", "out-of-order", &[0, 0, 0, 0, 0, 0, 4, 2, 4, 0, 1, 0, 4, 1, 0, 0, 4, 1, 4, 0]);
    // Carol's sessions upgraded to the KEM ratchet, with messages in flight.
    write("interaction", "kem-upgrade", &[2, 0, 2, 0, 11, 1, 2, 0, 4, 0, 4, 0, 4, 0, 11, 5, 3, 0, 4, 0, 4, 0]);
    // Alice and Bob in a ping-pong long enough to complete KEM epochs.
    let ping_pong: Vec<u8> = [0u8, 0, 4, 0, 1, 0, 4, 0].repeat(60);
    write("interaction", "kem-epochs", &ping_pong);
    // Conversations: messages of another run's world (each run's keys are
    // fresh), under each entry point.
    let (_, one_to_one, group_message) = conversation_receive::world();
    write("conversation_receive", "message", &[&[0u8][..], &one_to_one[0]].concat());
    write("conversation_receive", "group-keys-as-mallory", &[&[1u8][..], &one_to_one[1]].concat());
    write("conversation_receive", "group-message", &[&[2u8][..], &group_message].concat());
    // Content: every envelope of the content vectors as an application
    // message (with the padding marker added by the harness), transcripts
    // from an own device and from another user, and edge cases.
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/content_envelope.json")).unwrap(),
    )
    .unwrap();
    let envelopes = vectors["envelopes"].as_array().unwrap();
    let bytes = |e: &serde_json::Value| hex::decode(e["bytes"].as_str().unwrap()).unwrap();
    for (n, e) in envelopes.iter().enumerate() {
        let name = format!("{n:02}-{}", e["content"]["kind"].as_str().unwrap());
        write("content", &name, &[&[2u8, 0x00][..], &bytes(e)].concat());
    }
    let env = bytes(&envelopes[0]);
    write("content", "transcript-own-device", &[&[3u8, 0x09, 3][..], b"bob", &env].concat());
    write("content", "transcript-other-user", &[&[2u8, 0x09, 3][..], b"bob", &env].concat());
    write("content", "padded-by-sender", &[&[0u8, 0x00][..], &env, &[0x80], &[0; 20]].concat());
    write("content", "no-marker", &[&[0u8, 0x00][..], &env].concat());
    write("content", "heal", &[2u8, 0x03]);
    // Attachments: a pointer with every field, a genuine blob for mode 1
    // (size 300), and files for mode 2 intact, cut and flipped.
    let mut encryptor = dmseal::attachment::AttachmentEncryptor::new_with_rng(&mut ChaCha20Rng::from_seed([5; 32]));
    let mut blob300 = Vec::new();
    encryptor.update(&[0x61; 300], &mut blob300).unwrap();
    let mut pointer300 = loop {
        if let Some(p) = encryptor.finish(&mut blob300).unwrap() {
            break p;
        }
    };
    pointer300.set_content_type("image/png").unwrap();
    pointer300.set_file_name("a.png").unwrap();
    pointer300.set_location("https://blobs.example/1").unwrap();
    write("attachment", "pointer", &[&[0u8][..], &pointer300.to_bytes()].concat());
    write("attachment", "genuine-blob", &[&[1u8, 0x01, 0x2c][..], &blob300].concat());
    write("attachment", "intact", &[&[2u8, 0, 0, 9][..], b"a small file"].concat());
    write("attachment", "cut", &[&[2u8, 1, 0, 40][..], b"a small file"].concat());
    write("attachment", "flipped", &[&[2u8, 2, 3, 100][..], b"a small file"].concat());
}
