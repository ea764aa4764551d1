//! `compare`: dmseal beside vodozemac 0.11 (Olm and Megolm) and beside the
//! primitive "floor" of each operation, measured in one process and
//! printed as Markdown tables.
//!
//! Run it with `benches/compare.sh` (or `cargo run --release -p
//! dmseal-peers --bin compare`); `--quick` takes fewer, shorter samples
//! for a CI smoke run.
//!
//! Times are medians over samples (see `harness`), in microseconds. A
//! floor is the primitive work dmseal's protocol requires for the
//! operation (signatures, DH, KEM, hashes, KDFs, AEAD), each primitive
//! measured in this run at the sizes the protocol feeds it; the footnotes
//! list the components. vodozemac implements a different protocol (no
//! signatures in Olm setup, no post-quantum KEM, AES-CBC with truncated
//! MACs), so dmseal / vodozemac compares libraries doing comparable jobs,
//! not identical work.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

mod dm;
mod floors;
mod harness;
mod vz;

use std::hint::black_box;

use dmseal::{Group, ML_KEM_768_PUBLIC_KEY_LEN};

use crate::dm::SetupKind;
use crate::floors::{Floor, Primitives};
use crate::harness::{Clock, Harness};

/// Plaintext of the first message in the setup rows.
const SETUP_PLAINTEXT: [u8; 32] = [0x5a; 32];
/// Poly1305 tag length.
const TAG_LEN: usize = 16;
/// Ed25519 signature length.
const SIGNATURE_LEN: usize = 64;
/// The per-session associated data every 1:1 message's AD starts with.
const SESSION_AD_LEN: usize = 32;

// Lengths of dmseal's labels where they size a primitive's input
// (docs/PROTOCOL.md §2).
const HASH_TRANSCRIPT: &str = "dmseal:v1:hash:x3dh-transcript";
const HASH_SESSION_AD: &str = "dmseal:v1:hash:session-ad";
const KDF_X3DH: &str = "dmseal:v1:kdf:x3dh";
const KDF_PQXDH: &str = "dmseal:v1:kdf:pqxdh";
const KDF_ROOT: &str = "dmseal:v1:kdf:root";
const KDF_MESSAGE_KEYS: &str = "dmseal:v1:kdf:message-keys";
const KDF_GROUP_MESSAGE: &str = "dmseal:v1:kdf:group-message";
const SIG_GROUP_MESSAGE: &str = "dmseal:v1:sig:group-message";
const SIG_PQ_PREKEY: &str = "dmseal:v1:sig:pq-prekey";

/// Identity-binding and signed-prekey signatures cover a label and one
/// X25519 key (63 and 64 bytes); both are measured at 64.
const SHORT_SIGNED_LEN: usize = 64;

fn main() {
    let mut quick = false;
    let mut wall = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--quick" => quick = true,
            "--wall" => wall = true,
            "-h" | "--help" => {
                println!(
                    "usage: compare [--quick] [--wall]\n  \
                     --quick  fewer, shorter samples (CI smoke run; noisy numbers)\n  \
                     --wall   time samples in wall-clock time (default on Linux: thread CPU time)"
                );
                return;
            }
            other => {
                eprintln!("compare: unknown argument {other:?} (try --help)");
                std::process::exit(2);
            }
        }
    }
    let mut harness = if quick { Harness::quick() } else { Harness::full() };
    if wall {
        harness.clock = Clock::Wall;
    }
    print_environment(&harness, quick);

    let mut table = Table::default();
    let mut primitives = Primitives::new(harness);
    setup_rows(&harness, &mut primitives, &mut table);
    one_to_one_rows(&harness, &mut primitives, &mut table);
    group_rows(&harness, &mut primitives, &mut table);
    rotation_rows(&harness, &mut table);
    table.print();
    sizes();
}

/// CPU, compiler and harness settings, so a table can be read later.
fn print_environment(harness: &Harness, quick: bool) {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        cpuinfo.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string())
    };
    let cpu = field("model name").unwrap_or_else(|| "unknown".into());
    // The instruction sets the backends pick at run time: AES-NI for
    // vodozemac's AES, AVX2/AVX-512 for curve25519-dalek, SHA-NI for sha2.
    let flags = field("flags").unwrap_or_default();
    let features: Vec<&str> =
        flags.split_whitespace().filter(|f| ["aes", "avx2", "avx512ifma", "sha_ni"].contains(f)).collect();
    let rustc = std::process::Command::new("rustc")
        .arg("-V")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    println!("# dmseal vs vodozemac 0.11.1\n");
    println!("- CPU: {cpu} ({} cores; features used by the backends: {})", cores(), features.join(" "));
    println!("- rustc: {rustc}");
    println!(
        "- timing: median of {} samples, each ≥ {} ms of {}, after a {} ms warm-up{}",
        harness.samples,
        harness.sample_time.as_millis(),
        harness.clock.describe(),
        harness.warm_up.as_millis(),
        if quick { " (`--quick`: smoke run, numbers are noisy)" } else { "" }
    );
    println!();
}

/// Logical CPUs available to this process.
fn cores() -> usize {
    std::thread::available_parallelism().map(usize::from).unwrap_or(1)
}

/// Microseconds with 2-3 significant digits.
pub fn fmt_us(us: f64) -> String {
    if us >= 100.0 {
        format!("{us:.0}")
    } else if us >= 10.0 {
        format!("{us:.1}")
    } else if us >= 1.0 {
        format!("{us:.2}")
    } else {
        format!("{us:.3}")
    }
}

fn fmt_ratio(ratio: f64) -> String {
    format!("{ratio:.2}×")
}

/// One row of the timing table.
struct Row {
    operation: String,
    dmseal: f64,
    vodozemac: Option<f64>,
    floor: Option<f64>,
    /// Replaces the default `dmseal / floor` cell.
    floor_ratio: Option<String>,
}

/// The timing table and its footnotes.
#[derive(Default)]
struct Table {
    rows: Vec<Row>,
    notes: Vec<String>,
}

impl Table {
    /// Adds a footnote and returns its marker.
    fn note(&mut self, text: String) -> String {
        self.notes.push(text);
        format!("[{}]", self.notes.len())
    }

    fn row(&mut self, operation: String, dmseal: f64, vodozemac: Option<f64>, floor: Option<f64>) {
        self.rows.push(Row { operation, dmseal, vodozemac, floor, floor_ratio: None });
    }

    fn print(&self) {
        println!("## Time per operation (µs)\n");
        println!("| operation | dmseal | vodozemac | dmseal / vodozemac | floor | dmseal / floor |");
        println!("|---|---:|---:|---:|---:|---:|");
        let dash = || "—".to_string();
        for r in &self.rows {
            let ratio = r.floor.map(|f| fmt_ratio(r.dmseal / f));
            println!(
                "| {} | {} | {} | {} | {} | {} |",
                r.operation,
                fmt_us(r.dmseal),
                r.vodozemac.map(fmt_us).unwrap_or_else(dash),
                r.vodozemac.map(|v| fmt_ratio(r.dmseal / v)).unwrap_or_else(dash),
                r.floor.map(fmt_us).unwrap_or_else(dash),
                r.floor_ratio.clone().or(ratio).unwrap_or_else(dash),
            );
        }
        println!();
        for (i, note) in self.notes.iter().enumerate() {
            println!("{}. {note}", i + 1);
        }
        println!();
    }
}

/// Rows 1a-1d: session setup to first plaintext.
fn setup_rows(h: &Harness, p: &mut Primitives, table: &mut Table) {
    eprintln!("setup: vodozemac Olm");
    let vodozemac = {
        let alice = vodozemac::olm::Account::new();
        h.run_capped(
            1_000,
            |n| {
                let (bob, keys) = vz::responder_with_one_time_keys(n);
                (bob, keys, Vec::with_capacity(n))
            },
            |(bob, keys, sessions), i| sessions.push(vz::set_up(&alice, bob, keys[i], &SETUP_PLAINTEXT)),
        )
    };
    let dm_note = table.note(
        "dmseal setup: Alice decodes Bob's bundle bytes (identity binding checked), `start_session` (signed \
         prekey and PQ prekey signatures checked); Bob decodes the first message (Alice's identity binding \
         checked), `open_first_message`, `accept`. A fresh Bob account per sample (prepared untimed) holds \
         the one-time prekeys the sample uses."
            .into(),
    );
    let vz_note = table.note(
        "vodozemac Olm setup: Alice's `create_outbound_session` (Bob's identity key and one-time key) and \
         `encrypt`, the message encoded and decoded, Bob's `create_inbound_session` (one-time key consumed). \
         It checks no signature: a Matrix client verifies the signed one-time key and device keys outside \
         vodozemac. It has no post-quantum KEM."
            .into(),
    );
    let kinds = [
        (SetupKind::Classic, "classic X3DH, no one-time prekey"),
        (SetupKind::ClassicOtk, "classic X3DH + one-time prekey"),
        (SetupKind::Pq, "PQXDH (default), last-resort PQ prekey, no one-time prekey"),
        (SetupKind::PqOtk, "PQXDH + one-time prekey"),
    ];
    for (i, (kind, label)) in kinds.into_iter().enumerate() {
        eprintln!("setup: dmseal {label}");
        let alice = kind.initiator();
        let dmseal = h.run_capped(
            dmseal::limits::MAX_ONE_TIME_PREKEYS,
            |n| {
                let (bob, bundles) = kind.responder_with_bundles(n);
                (bob, bundles, Vec::with_capacity(n))
            },
            |(bob, bundles, sessions), i| sessions.push(dm::set_up(&alice, bob, &bundles[i], &SETUP_PLAINTEXT)),
        );
        let floor = setup_floor(p, kind);
        let floor_note = table.note(format!("Floor of setup, {label}: {}", floor.describe()));
        let notes = if i == 0 { format!("{dm_note}{vz_note}{floor_note}") } else { floor_note };
        table.row(
            format!("1{}. setup → first plaintext (32 B): {label} {notes}", char::from(b'a' + i as u8)),
            dmseal,
            Some(vodozemac),
            Some(floor.total()),
        );
    }
}

/// The primitive work of setting up a session of `kind`, both sides, with
/// the lengths read off a real first message.
fn setup_floor(p: &mut Primitives, kind: SetupKind) -> Floor {
    let (first, inner_len) = dm::first_message(kind, &SETUP_PLAINTEXT);
    let prefix_len = first.len() - inner_len;
    let header_len = inner_len - SETUP_PLAINTEXT.len() - TAG_LEN;
    let aad = SESSION_AD_LEN + prefix_len + header_len;
    let pq = !kind.classic();
    let otk = kind.one_time_prekey();
    let dh_per_side: u32 = if otk { 4 } else { 3 };
    // SHA-256(label || prefix || IK_B (64) || SPK_B || [OPK_B] || [type || PQPK_B] || u16 || context)
    let transcript = HASH_TRANSCRIPT.len()
        + prefix_len
        + 64
        + 32
        + if otk { 32 } else { 0 }
        + if pq { 1 + ML_KEM_768_PUBLIC_KEY_LEN } else { 0 }
        + 2
        + dm::CONTEXT.len();
    let session_ad = HASH_SESSION_AD.len() + 64 + 64 + 2 + dm::CONTEXT.len();
    // HKDF ikm: 0xFF * 32 || DH outputs || [KEM secret]; info: label || transcript hash.
    let ikm = 32 + 32 * dh_per_side as usize + if pq { 32 } else { 0 };
    let info = if pq { KDF_PQXDH.len() } else { KDF_X3DH.len() } + 32;

    // Identity bindings (Bob's in the bundle, Alice's in the first
    // message) and Bob's signed prekey signature.
    let mut floor = Floor::new().add(3, p.ed25519_verify(SHORT_SIGNED_LEN));
    if pq {
        // label || kind || id || key type || ML-KEM key
        floor = floor.add(1, p.ed25519_verify(SIG_PQ_PREKEY.len() + 1 + 4 + 1 + ML_KEM_768_PUBLIC_KEY_LEN));
    }
    // Alice's base key and first ratchet key.
    floor = floor.add(2, p.x25519_keygen()).add(2 * dh_per_side, p.x25519_dh());
    if pq {
        floor = floor.add(1, p.ml_kem_encapsulate()).add(1, p.ml_kem_decapsulate());
    }
    floor
        .add(2, p.sha256(transcript))
        .add(2, p.sha256(session_ad))
        .add(2, p.hkdf64(ikm, info))
        .add(2, p.chain_step())
        .add(2, p.hkdf_expand::<64>(KDF_MESSAGE_KEYS.len()))
        .add(1, p.siv_seal(SETUP_PLAINTEXT.len(), aad))
        .add(1, p.siv_open(SETUP_PLAINTEXT.len(), aad))
}

/// The associated-data length of a normal message of `plaintext_len`
/// bytes: the session AD and the header.
fn normal_aad(message: &[u8], plaintext_len: usize) -> usize {
    SESSION_AD_LEN + message.len() - plaintext_len - TAG_LEN
}

/// Rows 2-5: established 1:1 sessions.
fn one_to_one_rows(h: &Harness, p: &mut Primitives, table: &mut Table) {
    let kib = vec![0x5au8; 1024];
    let small = vec![0x5au8; 64];
    let large = vec![0x5au8; 16 * 1024];
    let wire_note = table.note(
        "vodozemac times include encoding each message to bytes and decoding it (`to_parts`/`from_parts`), \
         since dmseal's API takes and returns bytes. vodozemac Olm v1 encrypts with AES-256-CBC and \
         HMAC-SHA-256 truncated to 8 bytes; dmseal with its SIV cipher, ChaCha20 under an IV that is \
         HMAC-SHA-256 of the associated data and the plaintext (docs/PROTOCOL.md §6.1)."
            .into(),
    );

    // 2. Same chain, encrypt and decrypt.
    eprintln!("1:1: same chain 1 KiB");
    let (mut a, mut b) = dm::established();
    let aad = normal_aad(&a.encrypt(&kib).unwrap(), kib.len());
    let dmseal = h.iter(|| {
        let m = a.encrypt(&kib).unwrap();
        b.decrypt(&m).unwrap()
    });
    let (mut va, mut vb) = vz::established();
    let vodozemac = h.iter(|| {
        let wire = vz::to_wire(&va.encrypt(&kib).unwrap());
        vb.decrypt(&vz::from_wire(&wire)).unwrap()
    });
    let floor = Floor::new()
        .add(2, p.chain_step())
        .add(2, p.hkdf_expand::<64>(KDF_MESSAGE_KEYS.len()))
        .add(1, p.siv_seal(1024, aad))
        .add(1, p.siv_open(1024, aad));
    let note = table.note(format!("Floor of a same-chain message, both sides: {}", floor.describe()));
    table.row(
        format!("2. same chain: encrypt + decrypt 1 KiB {wire_note}{note}"),
        dmseal,
        Some(vodozemac),
        Some(floor.total()),
    );

    // 3. Same chain, encrypt 64 B.
    eprintln!("1:1: encrypt 64 B");
    let (mut a, _) = dm::established();
    let aad = normal_aad(&a.encrypt(&small).unwrap(), small.len());
    let dmseal = h.iter(|| a.encrypt(&small).unwrap());
    let (mut va, _) = vz::established();
    let vodozemac = h.iter(|| vz::to_wire(&va.encrypt(&small).unwrap()));
    let floor = Floor::new()
        .add(1, p.chain_step())
        .add(1, p.hkdf_expand::<64>(KDF_MESSAGE_KEYS.len()))
        .add(1, p.siv_seal(64, aad));
    let note = table.note(format!("Floor of encrypting 64 B: {}", floor.describe()));
    table.row(format!("3. same chain: encrypt 64 B {note}"), dmseal, Some(vodozemac), Some(floor.total()));

    // 4. Same chain, encrypt 16 KiB: throughput against the raw AEAD.
    eprintln!("1:1: encrypt 16 KiB");
    let (mut a, _) = dm::established();
    let aad = normal_aad(&a.encrypt(&large).unwrap(), large.len());
    let dmseal = h.iter(|| a.encrypt(&large).unwrap());
    let raw = p.siv_seal(large.len(), aad);
    let note = table.note(format!(
        "Floor of encrypting 16 KiB: the raw message cipher alone, 1 × {} ({} µs); the last column is \
         dmseal's throughput as a share of the raw cipher's (floor / dmseal).",
        raw.name,
        fmt_us(raw.us)
    ));
    table.rows.push(Row {
        operation: format!("4. same chain: encrypt 16 KiB {note}"),
        dmseal,
        vodozemac: None,
        floor: Some(raw.us),
        floor_ratio: Some(format!("{:.0}% of raw", 100.0 * raw.us / dmseal)),
    });

    // 4b. The message cipher against ChaCha20-Poly1305, which dmseal's
    // messages used before it (the cost of surviving a rollback).
    let cipher_note = table.note(
        "The message cipher alone against ChaCha20-Poly1305 at the same sizes and AAD, key setup included: \
         the dmseal column is the SIV seal, the floor column ChaCha20-Poly1305's seal, the last column their \
         ratio. The SIV cipher makes a key reused after a rollback reveal only plaintext equality; it costs a \
         second pass with SHA-256 (SHA-NI on this CPU) instead of Poly1305, and no byte."
            .into(),
    );
    for len in [64usize, 1024, 16 * 1024, 64 * 1024] {
        let siv = p.siv_seal(len, 68);
        let aead = p.seal(len, 68);
        table.rows.push(Row {
            operation: format!("4b. message cipher seal {}, SIV vs ChaCha20-Poly1305 {cipher_note}", floors::size(len)),
            dmseal: siv.us,
            vodozemac: None,
            floor: Some(aead.us),
            floor_ratio: Some(format!("{:.2}×", siv.us / aead.us)),
        });
    }

    // 5. Ping-pong: every message starts a new chain.
    eprintln!("1:1: ping-pong");
    let (mut a, mut b) = dm::established();
    let aad = normal_aad(&a.encrypt(&kib).unwrap(), kib.len());
    let dmseal = h.iter(|| {
        let m = a.encrypt(&kib).unwrap();
        b.decrypt(&m).unwrap();
        let r = b.encrypt(&kib).unwrap();
        a.decrypt(&r).unwrap()
    }) / 2.0;
    let (mut va, mut vb) = vz::established();
    let vodozemac = h.iter(|| {
        let m = vz::to_wire(&va.encrypt(&kib).unwrap());
        vb.decrypt(&vz::from_wire(&m)).unwrap();
        let r = vz::to_wire(&vb.encrypt(&kib).unwrap());
        va.decrypt(&vz::from_wire(&r)).unwrap()
    }) / 2.0;
    let floor = Floor::new()
        .add(1, p.x25519_keygen())
        .add(2, p.x25519_dh())
        .add(2, p.hkdf64(32, KDF_ROOT.len()))
        .add(2, p.chain_step())
        .add(2, p.hkdf_expand::<64>(KDF_MESSAGE_KEYS.len()))
        .add(1, p.siv_seal(1024, aad))
        .add(1, p.siv_open(1024, aad));
    let note = table.note(format!(
        "Ping-pong: a→b then b→a, 1 KiB each, the pair's time halved; every message takes a DH ratchet step \
         (sender: new key, DH, root KDF; receiver: DH, root KDF). Floor per message: {}",
        floor.describe()
    ));
    table.row(format!("5. ping-pong 1 KiB, per message {note}"), dmseal, Some(vodozemac), Some(floor.total()));
}

/// Rows 6-9: groups (dmseal sender keys, vodozemac Megolm).
fn group_rows(h: &Harness, p: &mut Primitives, table: &mut Table) {
    let kib = vec![0x42u8; 1024];
    let megolm_note = table.note(
        "vodozemac Megolm v1: AES-256-CBC, HMAC-SHA-256 truncated to 8 bytes, Ed25519 signature over the \
         message; times include `to_bytes`/`from_bytes`. Decrypting copies are made through pickles \
         (neither `Group` nor `InboundGroupSession` is `Clone`), prepared untimed; each copy reads once."
            .into(),
    );

    // 6. Encrypt.
    eprintln!("group: encrypt");
    let (mut alice, _) = dm::group_pair();
    let sample = alice.encrypt(&kib, 0).unwrap().message;
    let signed_len = sample.len() - SIGNATURE_LEN;
    let header_len = signed_len - kib.len() - TAG_LEN;
    // The header is version, type, sender-state id and the index as a
    // varint (1 byte for index 1, this sample's). The message key's HKDF
    // info is label || u8 len || group id || state id || u32 index.
    let state_id_len = header_len.saturating_sub(2 + 1);
    let group_info = KDF_GROUP_MESSAGE.len() + 1 + dm::GROUP_ID.len() + state_id_len + 4;
    let dmseal = h.iter(|| alice.encrypt(&kib, 0).unwrap());
    let (mut outbound, _) = vz::megolm_pair();
    let vodozemac = h.iter(|| outbound.encrypt(&kib).to_bytes());
    let floor = Floor::new()
        .add(1, p.chain_step())
        .add(1, p.hkdf_expand::<96>(group_info))
        .add(1, p.siv_seal(1024, header_len))
        .add(1, p.sha256(signed_len))
        .add(1, p.ed25519_sign(SIG_GROUP_MESSAGE.len() + 32));
    let note = table.note(format!(
        "Floor of a group encrypt: the key tree costs one HMAC pair per message amortized over in-order \
         sending (index i descends as many levels as i has trailing zero bits: k levels for one index in \
         2^(k+1)); then the message keys and key commitment, the SIV cipher (AAD: the header), SHA-256 of \
         the signed bytes and commitment, and the signature over label ‖ digest: {}",
        floor.describe()
    ));
    table.row(format!("6. group encrypt 1 KiB {megolm_note}{note}"), dmseal, Some(vodozemac), Some(floor.total()));

    // 7. Decrypt the next message.
    eprintln!("group: decrypt next");
    let (mut alice, bob) = dm::group_pair();
    let next = alice.encrypt(&kib, 0).unwrap().message;
    assert_eq!(dm::copy(&bob).decrypt(&next).unwrap().plaintext, kib);
    let next_decrypt = decrypt_copies(h, &bob, &next);
    let (mut outbound, inbound) = vz::megolm_pair();
    let vz_next = outbound.encrypt(&kib).to_bytes();
    assert_eq!(vz::megolm_decrypt(&mut vz::copy(&inbound), &vz_next), kib);
    let vodozemac = megolm_decrypt_copies(h, &inbound, &vz_next);
    let floor = Floor::new()
        .add(1, p.ed25519_verify(SIG_GROUP_MESSAGE.len() + 32))
        .add(1, p.sha256(signed_len))
        .add(1, p.chain_step())
        .add(1, p.hkdf_expand::<96>(group_info))
        .add(1, p.siv_open(1024, header_len));
    let note = table.note(format!(
        "Floor of a group decrypt (next message; tree step amortized as for encrypt): {}",
        floor.describe()
    ));
    table.row(
        format!("7. group decrypt 1 KiB, next message {note}"),
        next_decrypt,
        Some(vodozemac),
        Some(floor.total()),
    );

    // 8. Decrypt 10,000 indices ahead.
    eprintln!("group: decrypt 10,000 ahead");
    let (mut alice, bob) = dm::group_pair();
    for _ in 0..9_999 {
        let _ = alice.encrypt(&kib, 0).unwrap();
    }
    let far = alice.encrypt(&kib, 0).unwrap().message;
    assert_eq!(dm::copy(&bob).decrypt(&far).unwrap().index, 10_000);
    let dmseal = decrypt_copies(h, &bob, &far);
    let (mut outbound, inbound) = vz::megolm_pair();
    for _ in 0..9_999 {
        outbound.encrypt(&kib);
    }
    let vz_far = outbound.encrypt(&kib).to_bytes();
    let vodozemac = megolm_decrypt_copies(h, &inbound, &vz_far);
    let note = table.note(
        "Index 10,000 read right after index 0. The floor column is dmseal's next-message decrypt (row 7); \
         the target is at most 2× it."
            .into(),
    );
    table.rows.push(Row {
        operation: format!("8. group decrypt 1 KiB, 10,000 indices ahead {note}"),
        dmseal,
        vodozemac: Some(vodozemac),
        floor: Some(next_decrypt),
        floor_ratio: Some(format!("{} of row 7", fmt_ratio(dmseal / next_decrypt))),
    });

    // 9. 64 queued messages.
    eprintln!("group: 64 queued");
    let (mut alice, bob) = dm::group_pair();
    let queued: Vec<Vec<u8>> = (0..64).map(|_| alice.encrypt(&kib, 0).unwrap().message).collect();
    let refs: Vec<&[u8]> = queued.iter().map(Vec::as_slice).collect();
    assert!(dm::copy(&bob).decrypt_batch(&refs).iter().all(Result::is_ok));
    let pickle = bob.pickle();
    let copies = |n: usize| (0..n).map(|_| Group::from_pickle(&pickle).unwrap()).collect::<Vec<_>>();
    let batch = h.run(copies, |groups, i| {
        black_box(groups[i].decrypt_batch(&refs));
    });
    let one_by_one = h.run(copies, |groups, i| {
        for m in &refs {
            black_box(groups[i].decrypt(m).unwrap());
        }
    });
    let (mut outbound, inbound) = vz::megolm_pair();
    let vz_queued: Vec<Vec<u8>> = (0..64).map(|_| outbound.encrypt(&kib).to_bytes()).collect();
    let vodozemac = h.run(
        |n| (0..n).map(|_| vz::copy(&inbound)).collect::<Vec<_>>(),
        |sessions, i| {
            for m in &vz_queued {
                black_box(vz::megolm_decrypt(&mut sessions[i], m));
            }
        },
    );
    let note = table.note(
        "64 queued 1 KiB messages (indices 1-64). dmseal: `decrypt_batch` (one batch signature check); \
         vodozemac: 64 decrypts one by one (it has no batch API). The floor column here is **not** a \
         primitive floor: it is dmseal decrypting the same 64 one by one, and the last column is batch / \
         one by one."
            .into(),
    );
    table.rows.push(Row {
        operation: format!("9. group decrypt 64 queued 1 KiB {note}"),
        dmseal: batch,
        vodozemac: Some(vodozemac),
        floor: Some(one_by_one),
        floor_ratio: Some(format!("{} of one by one", fmt_ratio(batch / one_by_one))),
    });
}

/// Rotation after a removal: the member who speaks next makes a new sender
/// state and hands it to every remaining device.
fn rotation_rows(h: &Harness, table: &mut Table) {
    eprintln!("group: rotation after a removal");
    let fan_out_note = table.note(
        "Rotation after a removal, as the member who speaks next pays it. dmseal: `Group::encrypt` on a copy \
         from which one device was removed makes a new sender state and one distribution per remaining \
         device; \"+ fan-out\" rows also encrypt each distribution over an established 1:1 session with that \
         device (same-chain messages). vodozemac: a new Megolm `GroupSession` and its session key encrypted \
         over as many established Olm sessions (Megolm has no removal; rotating is how a client excludes \
         a device). No floor: the cost is the fan-out."
            .into(),
    );
    let most = 1_000;
    let sessions = std::cell::RefCell::new(dm::established_many(most - 1));
    let olm = std::cell::RefCell::new(vz::established_many(most - 1));
    for devices in [10usize, 100, 1_000] {
        let before = dm::group_before_rotation(devices);
        let pickle = before.pickle();
        let copies = |n: usize| (0..n).map(|_| Group::from_pickle(&pickle).unwrap()).collect::<Vec<_>>();
        let sample = Group::from_pickle(&pickle).unwrap().encrypt(b"x", 0).unwrap();
        assert_eq!(sample.distributions.len(), devices - 2);
        let distribution_bytes: usize = sample.distributions.iter().map(|d| d.bytes.len()).sum();
        let group_only = h.run(copies, |groups, i| {
            let _ = black_box(groups[i].encrypt(b"x", 0).unwrap());
        });
        let sent = std::cell::Cell::new(0usize);
        let with_fan_out = h.run(copies, |groups, i| {
            let out = groups[i].encrypt(b"x", 0).unwrap();
            let mut sessions = sessions.borrow_mut();
            let mut bytes = out.message.len();
            for (d, s) in out.distributions.iter().zip(sessions.iter_mut()) {
                bytes += s.encrypt(&d.bytes).unwrap().len();
            }
            sent.set(bytes);
        });
        let vz_bytes = std::cell::Cell::new(0usize);
        let vodozemac = h.iter(|| {
            let mut olm = olm.borrow_mut();
            vz_bytes.set(vz::megolm_rotate(&mut olm[..devices - 2]));
        });
        table.row(
            format!(
                "10. rotation after a removal, {devices} devices, group layer only ({distribution_bytes} B of \
                 distributions) {fan_out_note}"
            ),
            group_only,
            None,
            None,
        );
        table.row(
            format!(
                "10. rotation after a removal, {devices} devices + fan-out over 1:1 sessions ({} B sent; \
                 vodozemac {} B)",
                sent.get(),
                vz_bytes.get()
            ),
            with_fan_out,
            Some(vodozemac),
            None,
        );
    }
}

/// Median time for a fresh copy of `bob` to decrypt `message`.
fn decrypt_copies(h: &Harness, bob: &Group, message: &[u8]) -> f64 {
    let pickle = bob.pickle();
    h.run(
        |n| (0..n).map(|_| Group::from_pickle(&pickle).unwrap()).collect::<Vec<_>>(),
        |groups, i| {
            black_box(groups[i].decrypt(message).unwrap());
        },
    )
}

/// Median time for a fresh copy of `inbound` to decode and decrypt
/// `message`.
fn megolm_decrypt_copies(h: &Harness, inbound: &vodozemac::megolm::InboundGroupSession, message: &[u8]) -> f64 {
    h.run(
        |n| (0..n).map(|_| vz::copy(inbound)).collect::<Vec<_>>(),
        |sessions, i| {
            black_box(vz::megolm_decrypt(&mut sessions[i], message));
        },
    )
}

/// The sizes table: pickles and per-message overheads.
fn sizes() {
    let hundred = [0x5au8; 100];
    let key = [7u8; 32];
    println!("## Sizes (bytes)\n");
    println!("| item | dmseal | vodozemac | dmseal / vodozemac | notes |");
    println!("|---|---:|---:|---:|---|");
    let row = |item: &str, d: usize, v: Option<usize>, notes: &str| {
        let (v, ratio) = match v {
            Some(v) => (v.to_string(), format!("{:.2}×", d as f64 / v as f64)),
            None => ("—".into(), "—".into()),
        };
        println!("| {item} | {d} | {v} | {ratio} | {notes} |");
    };

    let (a, b) = dm::after_traffic();
    let (va, vb) = vz::after_traffic();
    let cbor = |pickle: &vodozemac::olm::SessionPickle| {
        let mut out = Vec::new();
        ciborium::into_writer(pickle, &mut out).unwrap();
        out.len()
    };
    for (side, d, v) in [("initiator", &a, &va), ("responder", &b, &vb)] {
        let json = serde_json::to_vec(&v.pickle()).unwrap().len();
        row(
            &format!("idle session pickle, plain ({side})"),
            d.pickle().to_bytes().len(),
            Some(cbor(&v.pickle())),
            &format!(
                "dmseal: `Session::pickle().to_bytes()` (9-byte header + postcard); vodozemac: \
                 `Session::pickle()` as CBOR (ciborium: keys serialize as arrays of integers, most bytes \
                 taking 2, and field names as text), {json} B as JSON"
            ),
        );
        row(
            &format!("idle session pickle, encrypted as stored ({side})"),
            d.pickle().encrypt(&key).len(),
            Some(v.pickle().encrypt(&key).len()),
            "dmseal: `SessionPickle::encrypt` (binary); vodozemac: `SessionPickle::encrypt` (base64 text of \
             encrypted JSON)",
        );
    }

    let (mut a, _) = dm::established();
    let (mut va, _) = vz::established();
    let vz_normal = vz::to_wire(&va.encrypt(hundred).unwrap()).1.len();
    row(
        "1:1 normal message overhead (100 B plaintext)",
        a.encrypt(&hundred).unwrap().len() - hundred.len(),
        Some(vz_normal - hundred.len()),
        "vodozemac: AES-CBC pads 100 B to 112 B (12 of its overhead bytes are padding, so it varies with \
         the plaintext length) and appends an 8-byte truncated MAC",
    );
    let vz_first = vz::first_message(&hundred).len() - hundred.len();
    for (kind, label) in [
        (SetupKind::Pq, "PQXDH, no one-time prekey"),
        (SetupKind::PqOtk, "PQXDH + one-time prekey"),
        (SetupKind::Classic, "classic X3DH, no one-time prekey"),
        (SetupKind::ClassicOtk, "classic X3DH + one-time prekey"),
    ] {
        let (first, _) = dm::first_message(kind, &hundred);
        let notes = match kind {
            SetupKind::Pq | SetupKind::PqOtk => "dmseal carries the 1,088-byte ML-KEM-768 ciphertext",
            _ => "",
        };
        row(
            &format!("first (prekey) message overhead, dmseal {label}"),
            first.len() - hundred.len(),
            Some(vz_first),
            notes,
        );
    }
    let (mut alice, _) = dm::group_pair();
    let (mut outbound, _) = vz::megolm_pair();
    row(
        "group message overhead (100 B plaintext)",
        alice.encrypt(&hundred, 0).unwrap().message.len() - hundred.len(),
        Some(outbound.encrypt(hundred).to_bytes().len() - hundred.len()),
        "both carry a 64-byte Ed25519 signature; dmseal a 16-byte synthetic IV (its tag), vodozemac an 8-byte \
         truncated MAC and AES-CBC padding (12 B here)",
    );
    println!();
}
