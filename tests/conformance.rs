//! Runs the conformance driver (`examples/conformance.rs`) as a child
//! process through a scripted conversation, and feeds it garbage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use proptest::prelude::*;
use serde_json::{Value, json};

struct Driver {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

/// The example binary `cargo test` built next to this test's executable.
fn driver_path() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    dir.join("examples").join(format!("conformance{}", std::env::consts::EXE_SUFFIX))
}

impl Driver {
    fn start() -> Self {
        let mut child = Command::new(driver_path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("the conformance example is built by cargo test");
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Self { child, stdin, stdout }
    }

    fn send_line(&mut self, line: &str) -> Value {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        let mut out = String::new();
        self.stdout.read_line(&mut out).unwrap();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("non-JSON output {out:?}: {e}"))
    }

    fn call(&mut self, cmd: Value) -> Value {
        let result = self.send_line(&cmd.to_string());
        assert_eq!(result["id"], cmd["id"]);
        result
    }

    /// A command that must succeed.
    fn ok(&mut self, mut cmd: Value) -> Value {
        cmd["id"] = json!(cmd.to_string());
        let result = self.call(cmd.clone());
        assert_eq!(result["ok"], json!(true), "{cmd} -> {result}");
        result
    }

    /// A command that must fail with this error.
    fn err(&mut self, mut cmd: Value, error: &str) -> Value {
        cmd["id"] = json!(7);
        let result = self.call(cmd.clone());
        assert_eq!(result["ok"], json!(false), "{cmd} -> {result}");
        assert_eq!(result["error"], json!(error), "{cmd} -> {result}");
        result
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn s(v: &Value) -> String {
    v.as_str().unwrap().to_string()
}

#[test]
fn a_scripted_conversation_through_the_driver() {
    let mut d = Driver::start();
    let ctx = hex(b"alice|bob");
    d.ok(json!({"cmd": "create_party", "party": "alice", "seed": "01".repeat(32)}));
    d.ok(json!({"cmd": "create_party", "party": "bob", "seed": "02".repeat(32)}));
    let bundle =
        s(&d.ok(json!({"cmd": "publish_bundle", "party": "bob", "one_time_prekey": true, "pq_one_time_prekey": true}))
            ["bundle"]);

    // Setup, and a second first message before any reply.
    let first = d.ok(json!({"cmd": "start_session", "party": "alice", "peer": "bob", "bundle": bundle, "context": ctx, "plaintext": hex(b"hi bob")}));
    assert_eq!(first["setup"], json!("Pqxdh"));
    let second =
        s(&d.ok(json!({"cmd": "encrypt", "party": "alice", "peer": "bob", "plaintext": hex(b"second")}))["message"]);
    let opened = d.ok(
        json!({"cmd": "open_first_message", "party": "bob", "message": first["message"], "context": ctx, "now": 0}),
    );
    assert_eq!(opened["plaintext"], json!(hex(b"hi bob")));
    d.ok(json!({"cmd": "accept", "party": "bob", "pending": opened["pending"], "peer": "alice"}));
    // A replay of the first message to the account is refused.
    d.err(
        json!({"cmd": "open_first_message", "party": "bob", "message": first["message"], "context": ctx, "now": 0}),
        "OneTimePreKeyUnavailable",
    );
    assert_eq!(
        d.ok(json!({"cmd": "decrypt", "party": "bob", "peer": "alice", "message": second}))["plaintext"],
        json!(hex(b"second"))
    );

    // Out-of-order delivery, a replay, a tampered message.
    let r: Vec<String> = (0..3u8)
        .map(|i| {
            s(&d.ok(json!({"cmd": "encrypt", "party": "bob", "peer": "alice", "plaintext": hex(&[i])}))["message"])
        })
        .collect();
    for i in [2usize, 0] {
        assert_eq!(
            d.ok(json!({"cmd": "decrypt", "party": "alice", "peer": "bob", "message": r[i]}))["plaintext"],
            json!(hex(&[i as u8]))
        );
    }
    d.err(json!({"cmd": "decrypt", "party": "alice", "peer": "bob", "message": r[2]}), "DuplicateOrExpired");
    let mut tampered = r[1].clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
    d.err(
        json!({"cmd": "decrypt", "party": "alice", "peer": "bob", "message": String::from_utf8(tampered).unwrap()}),
        "AuthenticationFailed",
    );

    // A pickle round trip, then the late message still decrypts.
    let key = "07".repeat(32);
    let p = d.ok(json!({"cmd": "pickle_party", "party": "alice", "key": key}));
    d.ok(json!({"cmd": "restore_party", "party": "alice", "key": key, "account": p["account"], "sessions": p["sessions"], "groups": p["groups"]}));
    assert_eq!(
        d.ok(json!({"cmd": "decrypt", "party": "alice", "peer": "bob", "message": r[1]}))["plaintext"],
        json!(hex(&[1]))
    );
    let a = d.ok(json!({"cmd": "safety_number", "party": "alice", "peer": "bob"}));
    let b = d.ok(json!({"cmd": "safety_number", "party": "bob", "peer": "alice"}));
    assert_eq!(a["digits"], b["digits"]);

    // A small group: Alice and Bob; distributions travel over the session.
    for (party, other) in [("alice", "bob"), ("bob", "alice")] {
        d.ok(json!({"cmd": "group_create", "party": party, "group": "g", "group_id": hex(b"gid"), "me": hex(party.as_bytes())}));
        d.ok(json!({"cmd": "group_add_member", "party": party, "group": "g", "member": hex(other.as_bytes())}));
    }
    let out = d.ok(
        json!({"cmd": "group_encrypt", "party": "alice", "group": "g", "plaintext": hex(b"hello group"), "now": 0}),
    );
    let dist = &out["distributions"][0];
    assert_eq!(dist["to"], json!(hex(b"bob")));
    let wire =
        s(&d.ok(json!({"cmd": "encrypt", "party": "alice", "peer": "bob", "plaintext": dist["bytes"]}))["message"]);
    let carried =
        d.ok(json!({"cmd": "decrypt", "party": "bob", "peer": "alice", "message": wire}))["plaintext"].clone();
    d.ok(json!({"cmd": "group_receive_distribution", "party": "bob", "group": "g", "from": hex(b"alice"), "bytes": carried}));
    let read = d.ok(json!({"cmd": "group_decrypt", "party": "bob", "group": "g", "message": out["message"]}));
    assert_eq!(
        (read["plaintext"].clone(), read["sender"].clone(), read["verified"].clone()),
        (json!(hex(b"hello group")), json!(hex(b"alice")), json!(true))
    );
    d.err(json!({"cmd": "group_decrypt", "party": "bob", "group": "g", "message": out["message"]}), "Duplicate");
    d.ok(json!({"cmd": "group_remove_member", "party": "bob", "group": "g", "member": hex(b"alice")}));
    let again =
        d.ok(json!({"cmd": "group_encrypt", "party": "alice", "group": "g", "plaintext": hex(b"still?"), "now": 0}));
    d.err(json!({"cmd": "group_decrypt", "party": "bob", "group": "g", "message": again["message"]}), "SenderRemoved");
}

#[test]
fn results_are_deterministic_for_a_seed_and_command_sequence() {
    let run = || {
        let mut d = Driver::start();
        d.ok(json!({"cmd": "create_party", "party": "a", "seed": "03".repeat(32)}));
        d.ok(json!({"cmd": "create_party", "party": "b", "seed": "04".repeat(32)}));
        let bundle = d.ok(json!({"cmd": "publish_bundle", "party": "b"}))["bundle"].clone();
        let first = d.ok(json!({"cmd": "start_session", "party": "a", "peer": "b", "bundle": bundle, "context": "00", "plaintext": "aa"}));
        (bundle, first["message"].clone())
    };
    assert_eq!(run(), run());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn the_driver_survives_garbage_lines(lines in proptest::collection::vec(
        prop_oneof![
            ".{0,200}",
            "\\{\"cmd\":\"[a-z_]{0,20}\",\"party\":\"[ab]\"(,\"[a-z_]{1,12}\":(\"[0-9a-f]{0,64}\"|[0-9]{1,5}|true))*\\}",
        ],
        1..40,
    )) {
        let mut d = Driver::start();
        d.ok(json!({"cmd": "create_party", "party": "a", "seed": "05".repeat(32)}));
        for line in lines {
            let line = line.replace('\n', " ");
            if line.trim().is_empty() {
                continue;
            }
            let result = d.send_line(&line);
            prop_assert!(result["ok"].is_boolean());
        }
        // Still alive and answering.
        d.ok(json!({"cmd": "publish_bundle", "party": "a"}));
    }
}

/// Shortens every hex string longer than 64 characters in `line` to its
/// first 16 and last 8 characters joined by `…`, as CONFORMANCE.md §5
/// prints them.
fn shorten(line: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.len() > 64 {
            out.push_str(&run[..16]);
            out.push('…');
            out.push_str(&run[run.len() - 8..]);
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in line.chars() {
        if c.is_ascii_hexdigit() && !c.is_ascii_uppercase() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Every string value in `v`, recursively.
fn strings(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(o) => o.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// docs/CONFORMANCE.md §5 is a transcript of the driver: its input lines
/// are run again (shortened values expanded from earlier outputs) and
/// every output line must match the document. With
/// `DMSEAL_REGENERATE_CONFORMANCE_EXAMPLE=1` the document's lines are
/// rewritten from this run instead, so the example cannot go stale.
#[test]
fn the_example_session_in_conformance_md_is_what_the_driver_prints() {
    let path = format!("{}/docs/CONFORMANCE.md", env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(&path).unwrap();
    let start = doc.find("## 5. An example session").unwrap();
    let end = start + doc[start..].find("\n## 6.").unwrap_or(doc.len() - start);
    let regenerate = std::env::var_os("DMSEAL_REGENERATE_CONFORMANCE_EXAMPLE").is_some();
    let mut driver = Driver::start();
    let mut pool: Vec<String> = Vec::new();
    // Shortened values of the document, when regenerating, mapped to the
    // shortened values of this run.
    let mut renamed: Vec<(String, String)> = Vec::new();
    let mut section = String::new();
    let mut last_output: Option<String> = None;
    for line in doc[start..end].split_inclusive('\n') {
        let text = line.trim_end_matches('\n');
        if let Some(input) = text.strip_prefix("> ") {
            let mut input = input.to_string();
            for (old, new) in &renamed {
                input = input.replace(old, new);
            }
            // Expand each shortened value from the outputs seen so far.
            let mut expanded = input.clone();
            for token in input.split('"').filter(|t| t.contains('…')) {
                let (head, tail) = token.split_once('…').unwrap();
                let full = pool
                    .iter()
                    .find(|v| v.len() > 64 && v.starts_with(head) && v.ends_with(tail))
                    .unwrap_or_else(|| panic!("no earlier output matches {token}"));
                expanded = expanded.replace(token, full);
            }
            writeln!(driver.stdin, "{expanded}").unwrap();
            driver.stdin.flush().unwrap();
            let mut out = String::new();
            driver.stdout.read_line(&mut out).unwrap();
            let value: Value = serde_json::from_str(&out).unwrap();
            strings(&value, &mut pool);
            last_output = Some(shorten(out.trim_end()));
            section.push_str(&format!("> {input}\n"));
        } else if let Some(expected) = text.strip_prefix("< ") {
            let got = last_output.take().expect("an output line follows an input line");
            if regenerate {
                // Values of this line that changed are renamed in later inputs.
                let (old, new): (Vec<&str>, Vec<&str>) = (expected.split('"').collect(), got.split('"').collect());
                for (o, n) in old.iter().zip(&new) {
                    if o.contains('…') && o != n {
                        renamed.push((o.to_string(), n.to_string()));
                    }
                }
            } else {
                assert_eq!(
                    got, expected,
                    "CONFORMANCE.md §5 is stale: rerun with DMSEAL_REGENERATE_CONFORMANCE_EXAMPLE=1"
                );
            }
            section.push_str(&format!("< {got}\n"));
        } else {
            section.push_str(line);
        }
    }
    if regenerate {
        std::fs::write(&path, format!("{}{}{}", &doc[..start], section, &doc[end..])).unwrap();
    }
}

#[test]
fn the_driver_rotates_prekeys_and_exports_imports_and_rotates_group_states() {
    let mut d = Driver::start();
    d.ok(json!({"cmd": "create_party", "party": "bob", "seed": "03".repeat(32)}));
    assert_eq!(
        d.ok(json!({"cmd": "rotate_signed_prekey", "party": "bob", "now": 100, "grace_secs": 50}))["prekey_id"],
        json!(2)
    );
    assert_eq!(
        d.ok(json!({"cmd": "rotate_last_resort_pq_prekey", "party": "bob", "now": 100, "grace_secs": 50}))["prekey_id"],
        json!(2)
    );
    d.err(
        json!({"cmd": "rotate_signed_prekey", "party": "bob", "now": 100, "grace_secs": 99_999_999}),
        "GracePeriodTooLong",
    );
    assert_eq!(d.ok(json!({"cmd": "expire_prekeys", "party": "bob", "now": 149}))["deleted"], json!(0));
    assert_eq!(d.ok(json!({"cmd": "expire_prekeys", "party": "bob", "now": 150}))["deleted"], json!(2));

    // Groups: alice sends, bob reads; bob's laptop imports his export.
    for (party, seed) in [("alice", "04"), ("laptop", "05")] {
        d.ok(json!({"cmd": "create_party", "party": party, "seed": seed.repeat(32)}));
    }
    let (alice, bob) = (hex(b"alice"), hex(b"bob"));
    let gid = hex(b"g");
    for (party, me, other) in [("alice", &alice, &bob), ("bob", &bob, &alice), ("laptop", &bob, &alice)] {
        d.ok(json!({"cmd": "group_create", "party": party, "group": "g", "group_id": gid, "me": me}));
        d.ok(json!({"cmd": "group_add_member", "party": party, "group": "g", "member": other}));
    }
    let out = d.ok(json!({"cmd": "group_encrypt", "party": "alice", "group": "g", "plaintext": "00", "now": 0}));
    let dist = s(&out["distributions"][0]["bytes"]);
    d.ok(json!({"cmd": "group_receive_distribution", "party": "bob", "group": "g", "from": alice, "bytes": dist}));
    let next = d.ok(json!({"cmd": "group_encrypt", "party": "alice", "group": "g", "plaintext": "01", "now": 0}));
    let export =
        s(&d.ok(json!({"cmd": "group_export", "party": "bob", "group": "g", "member": alice, "from": 1}))["bytes"]);
    assert_eq!(
        d.ok(json!({"cmd": "group_export", "party": "bob", "group": "g", "member": bob, "from": 0}))["bytes"],
        Value::Null
    );
    d.ok(json!({"cmd": "group_import", "party": "laptop", "group": "g", "from": alice, "bytes": export}));
    let read = d.ok(json!({"cmd": "group_decrypt", "party": "laptop", "group": "g", "message": s(&next["message"])}));
    assert_eq!(read["verified"], json!(false));
    // An explicit rotation: a new state, distributed to bob again.
    d.ok(json!({"cmd": "group_rotate", "party": "alice", "group": "g"}));
    let rotated = d.ok(json!({"cmd": "group_encrypt", "party": "alice", "group": "g", "plaintext": "02", "now": 0}));
    assert_eq!(rotated["distributions"].as_array().unwrap().len(), 1);
}

#[test]
fn the_driver_runs_devices_through_requests_groups_and_restarts() {
    let mut d = Driver::start();
    let now = 1_800_000_000u64;
    d.ok(json!({"cmd": "device_create", "party": "alice", "address": "alice.1", "seed": "11".repeat(32)}));
    d.ok(json!({"cmd": "device_create", "party": "bob", "address": "bob.1", "seed": "12".repeat(32), "contact_policy": "message_requests"}));
    d.err(json!({"cmd": "device_create", "party": "bob", "address": "bob.2"}), "PartyExists");
    d.err(json!({"cmd": "device_create", "party": "carol", "address": "carol"}), "BadCommand");

    // A first message needs a bundle; then it is a request on Bob's side.
    d.ok(json!({"cmd": "device_set_devices", "party": "alice", "user": "bob", "devices": [1]}));
    let hi = json!({"cmd": "device_send", "party": "alice", "to": "bob", "plaintext": hex(b"hi"), "now": now});
    d.err(hi.clone(), "NeedBundles");
    let bundle = s(&d.ok(json!({"cmd": "device_bundle", "party": "bob", "one_time_prekey": true}))["bundle"]);
    let mut with = hi.clone();
    with["bundles"] = json!({ "bob.1": bundle });
    let sent = d.ok(with);
    assert_eq!(sent["messages"][0]["to"], json!("bob.1"));
    let first = s(&sent["messages"][0]["bytes"]);
    let got = d.ok(json!({"cmd": "device_receive", "party": "bob", "from": "alice.1", "bytes": first, "now": now}));
    assert_eq!(got["kind"], json!("Request"));
    assert_eq!(got["plaintext"], json!(hex(b"hi")));
    assert_eq!(
        got["events"],
        json!([{"event": "NewDevice", "address": "alice.1", "status": "Trusted"}, {"event": "MessageRequest", "address": "alice.1"}])
    );
    assert_eq!(d.ok(json!({"cmd": "device_requests", "party": "bob"}))["requests"], json!(["alice.1"]));
    d.ok(json!({"cmd": "device_accept_request", "party": "bob", "address": "alice.1"}));
    // Accepting lists the requester: the reply needs no device list.
    let reply =
        d.ok(json!({"cmd": "device_send", "party": "bob", "to": "alice", "plaintext": hex(b"hello"), "now": now}));
    let got = d.ok(json!({"cmd": "device_receive", "party": "alice", "from": "bob.1", "bytes": reply["messages"][0]["bytes"], "now": now}));
    assert_eq!((got["kind"].clone(), got["plaintext"].clone()), (json!("Message"), json!(hex(b"hello"))));
    let devices = d.ok(json!({"cmd": "device_devices", "party": "alice", "user": "bob"}));
    assert_eq!(devices["devices"][0]["status"], json!("Trusted"));

    // A group: keys over the 1:1 session, then the group message.
    let g = hex(b"g");
    d.ok(json!({"cmd": "device_create_group", "party": "alice", "group_id": g, "members": ["bob.1"]}));
    d.ok(json!({"cmd": "device_create_group", "party": "bob", "group_id": g, "members": ["alice.1"]}));
    assert_eq!(
        d.ok(json!({"cmd": "device_group_members", "party": "bob", "group_id": g}))["members"],
        json!(["alice.1"])
    );
    let gs = d.ok(
        json!({"cmd": "device_send_group", "party": "alice", "group_id": g, "plaintext": hex(b"to all"), "now": now}),
    );
    let keys = d.ok(json!({"cmd": "device_receive", "party": "bob", "from": "alice.1", "bytes": gs["distributions"][0]["bytes"], "now": now}));
    assert_eq!((keys["kind"].clone(), keys["group_id"].clone()), (json!("GroupKeys"), json!(g)));
    let got = d.ok(json!({"cmd": "device_receive_group", "party": "bob", "group_id": g, "from": "alice.1", "bytes": gs["message"], "now": now}));
    assert_eq!((got["kind"].clone(), got["from"].clone()), (json!("GroupMessage"), json!("alice.1")));

    // Commits: an uncommitted message decrypts again; a restart drops it;
    // a restore from a snapshot forgets what was committed after it.
    d.ok(json!({"cmd": "device_snapshot", "party": "bob", "snapshot": "before"}));
    let m = d.ok(json!({"cmd": "device_send", "party": "alice", "to": "bob", "plaintext": hex(b"late"), "now": now}));
    let m = s(&m["messages"][0]["bytes"]);
    let read =
        json!({"cmd": "device_receive", "party": "bob", "from": "alice.1", "bytes": m, "now": now, "commit": false});
    let held = d.ok(read.clone());
    d.ok(json!({"cmd": "device_restart", "party": "bob"}));
    d.err(json!({"cmd": "device_commit", "party": "bob", "received": held["received"]}), "UnknownReceived");
    let held = d.ok(read.clone());
    d.ok(json!({"cmd": "device_commit", "party": "bob", "received": held["received"]}));
    d.ok(json!({"cmd": "device_restart", "party": "bob"}));
    d.err(read.clone(), "Decrypt");
    d.ok(json!({"cmd": "device_restart", "party": "bob", "snapshot": "before"}));
    assert_eq!(d.ok(read)["plaintext"], json!(hex(b"late")));
    d.err(json!({"cmd": "device_restart", "party": "bob", "snapshot": "none"}), "UnknownSnapshot");
    // Healing: Alice starts a new session; Bob reads the heal.
    let alice_bundle = s(&d.ok(json!({"cmd": "device_bundle", "party": "alice", "one_time_prekey": true}))["bundle"]);
    let bob_bundle = s(&d.ok(json!({"cmd": "device_bundle", "party": "bob", "one_time_prekey": true}))["bundle"]);
    let heal = d.ok(json!({"cmd": "device_heal", "party": "alice", "address": "bob.1", "now": now, "bundles": {"bob.1": bob_bundle}}));
    let got = d.ok(json!({"cmd": "device_receive", "party": "bob", "from": "alice.1", "bytes": heal["messages"][0]["bytes"], "now": now}));
    assert_eq!(got["kind"], json!("SessionHealed"));
    // Bob's own last messages to Alice went on the session the heal
    // replaced: they are due to be sent again (docs/PROTOCOL.md §13.9).
    assert_eq!(
        got["events"],
        json!([{"event": "ResendDue", "address": "alice.1"}, {"event": "SessionHealed", "address": "alice.1"}])
    );
    d.err(json!({"cmd": "device_heal", "party": "alice", "address": "bob.1", "now": now + 1, "bundles": {"bob.1": alice_bundle}}), "HealedRecently");
    // A retry receipt and the message sent again.
    let m = d.ok(json!({"cmd": "device_send", "party": "alice", "to": "bob", "plaintext": hex(b"again"), "now": now}));
    let m = s(&m["messages"][0]["bytes"]);
    let r =
        d.ok(json!({"cmd": "device_send_retry_receipt", "party": "bob", "from": "alice.1", "bytes": m, "now": now}));
    let got = d.ok(json!({"cmd": "device_receive", "party": "alice", "from": "bob.1", "bytes": r["messages"][0]["bytes"], "now": now}));
    assert_eq!(got["kind"], json!("RetryRequested"));
    let again = d.ok(json!({"cmd": "device_resend", "party": "alice", "address": "bob.1", "now": now}));
    // What Alice sent on the session her heal replaced goes again: Bob
    // reads "late" (he never committed it) and "again"; the copies of what
    // he had read are refused as such.
    let texts: Vec<Value> = again["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| {
            let got = d.ok(
                json!({"cmd": "device_receive", "party": "bob", "from": "alice.1", "bytes": m["bytes"], "now": now}),
            );
            match got["kind"].as_str() {
                Some("Message") => Some(got["plaintext"].clone()),
                kind => {
                    assert_eq!(kind, Some("Unreadable"));
                    None
                }
            }
        })
        .collect();
    assert_eq!(texts, [json!(hex(b"late")), json!(hex(b"again"))]);

    // Group retry receipts (PROTOCOL §13.10): the keys of a group message
    // never came; a group receipt has it sent again over the 1:1 session,
    // and it is read once (not again when the keys arrive after all).
    let h = hex(b"h");
    for (party, member) in [("alice", "bob.1"), ("bob", "alice.1")] {
        d.ok(json!({"cmd": "device_create_group", "party": party, "group_id": h, "members": [member]}));
    }
    let lost = d.ok(
        json!({"cmd": "device_send_group", "party": "alice", "group_id": h, "plaintext": hex(b"lost keys"), "now": now}),
    );
    let original = json!({"cmd": "device_receive_group", "party": "bob", "group_id": h, "from": "alice.1", "bytes": lost["message"], "now": now});
    d.err(original.clone(), "Group");
    let r = d.ok(json!({"cmd": "device_send_group_retry_receipt", "party": "bob", "group_id": h, "from": "alice.1", "bytes": lost["message"], "now": now}));
    let got = d.ok(json!({"cmd": "device_receive", "party": "alice", "from": "bob.1", "bytes": r["messages"][0]["bytes"], "now": now}));
    assert_eq!((got["kind"].clone(), got["group_id"].clone()), (json!("RetryRequested"), json!(h)));
    let again = d.ok(json!({"cmd": "device_resend", "party": "alice", "address": "bob.1", "now": now}));
    assert_eq!(again["messages"].as_array().unwrap().len(), 1);
    let got = d.ok(json!({"cmd": "device_receive", "party": "bob", "from": "alice.1", "bytes": again["messages"][0]["bytes"], "now": now}));
    assert_eq!(
        (got["kind"].clone(), got["group_id"].clone(), got["plaintext"].clone()),
        (json!("GroupMessage"), json!(h), json!(hex(b"lost keys")))
    );
    let keys = d.ok(json!({"cmd": "device_receive", "party": "bob", "from": "alice.1", "bytes": lost["distributions"][0]["bytes"], "now": now}));
    assert_eq!(keys["kind"], json!("GroupKeys"));
    let got = d.ok(original);
    assert_eq!((got["kind"].clone(), got["content_error"].clone()), (json!("Unreadable"), json!("Group")));
    // A skipped group message, shown missing by a later one, is asked for.
    let one = d
        .ok(json!({"cmd": "device_send_group", "party": "alice", "group_id": h, "plaintext": hex(b"one"), "now": now}));
    let two = d
        .ok(json!({"cmd": "device_send_group", "party": "alice", "group_id": h, "plaintext": hex(b"two"), "now": now}));
    d.ok(json!({"cmd": "device_receive_group", "party": "bob", "group_id": h, "from": "alice.1", "bytes": two["message"], "now": now}));
    let missing =
        json!({"cmd": "device_request_missing_group", "party": "bob", "group_id": h, "owner": "alice.1", "now": now});
    let r = d.ok(missing.clone());
    let got = d.ok(json!({"cmd": "device_receive", "party": "alice", "from": "bob.1", "bytes": r["messages"][0]["bytes"], "now": now}));
    assert_eq!(got["kind"], json!("RetryRequested"));
    let again = d.ok(json!({"cmd": "device_resend", "party": "alice", "address": "bob.1", "now": now}));
    let got = d.ok(json!({"cmd": "device_receive", "party": "bob", "from": "alice.1", "bytes": again["messages"][0]["bytes"], "now": now}));
    assert_eq!((got["kind"].clone(), got["plaintext"].clone()), (json!("GroupMessage"), json!(hex(b"one"))));
    assert_eq!(d.ok(missing)["messages"], json!([]));
    d.err(json!({"cmd": "device_receive_group", "party": "bob", "group_id": h, "from": "alice.1", "bytes": one["message"], "now": now}), "Group");
    d.err(json!({"cmd": "device_request_missing_group", "party": "bob", "group_id": hex(b"none"), "owner": "alice.1", "now": now}), "Conversation");

    // A restore from a backup (PROTOCOL §13.11): Bob's "anyone?" never
    // arrived, and he read "after backup" after the backup was taken.
    d.ok(json!({"cmd": "device_send", "party": "bob", "to": "alice", "plaintext": hex(b"anyone?"), "now": now}));
    d.ok(json!({"cmd": "device_snapshot", "party": "bob", "snapshot": "backup"}));
    let m = d.ok(
        json!({"cmd": "device_send", "party": "alice", "to": "bob", "plaintext": hex(b"after backup"), "now": now}),
    );
    d.ok(json!({"cmd": "device_receive", "party": "bob", "from": "alice.1", "bytes": m["messages"][0]["bytes"], "now": now}));
    d.ok(json!({"cmd": "device_restart", "party": "bob", "snapshot": "backup"}));
    // Bob's last chain to Alice went unanswered: "anyone?" is due again.
    let r = d.ok(json!({"cmd": "device_restored_from_backup", "party": "bob", "now": now}));
    assert_eq!(r["events"], json!([{"event": "ResendDue", "address": "alice.1"}]));
    // Every session is retired: asking Alice to resync needs her bundle.
    let resync = json!({"cmd": "device_request_resync", "party": "bob", "address": "alice.1", "now": now});
    d.err(resync.clone(), "NeedBundles");
    let alice_bundle = s(&d.ok(json!({"cmd": "device_bundle", "party": "alice", "one_time_prekey": true}))["bundle"]);
    let mut with = resync;
    with["bundles"] = json!({ "alice.1": alice_bundle });
    let r = d.ok(with);
    let got = d.ok(json!({"cmd": "device_receive", "party": "alice", "from": "bob.1", "bytes": r["messages"][0]["bytes"], "now": now}));
    // Bob's new session replaces the one Alice last sent on.
    assert_eq!(
        (got["kind"].clone(), got["events"].clone()),
        (json!("RetryRequested"), json!([{"event": "ResendDue", "address": "bob.1"}]))
    );
    let again = d.ok(json!({"cmd": "device_resend", "party": "alice", "address": "bob.1", "now": now}));
    // What Alice keeps for Bob comes again: what he read before the
    // backup is not read twice, "after backup" is read again.
    let read = |d: &mut Driver, party: &str, from: &str, sent: &Value| -> Vec<Value> {
        let mut texts = Vec::new();
        for m in sent["messages"].as_array().unwrap() {
            let got =
                d.ok(json!({"cmd": "device_receive", "party": party, "from": from, "bytes": m["bytes"], "now": now}));
            match got["kind"].as_str().unwrap() {
                "Message" => texts.push(got["plaintext"].clone()),
                kind => assert_eq!((kind, got["content_error"].clone()), ("Unreadable", json!("Decrypt"))),
            }
        }
        texts
    };
    assert_eq!(read(&mut d, "bob", "alice.1", &again), [json!(hex(b"after backup"))]);
    // And Bob's ResendDue: "anyone?" goes again over his new session.
    let back = d.ok(json!({"cmd": "device_resend", "party": "bob", "address": "alice.1", "now": now}));
    assert_eq!(read(&mut d, "alice", "bob.1", &back), [json!(hex(b"anyone?"))]);
    d.err(json!({"cmd": "device_requests", "party": "nobody"}), "UnknownParty");
}

#[test]
fn the_driver_sends_typed_content_with_timers_and_purges_expired_rows() {
    let mut d = Driver::start();
    let now = 1_800_000_000u64;
    d.ok(json!({"cmd": "device_create", "party": "alice", "address": "alice.1", "seed": "21".repeat(32)}));
    d.ok(json!({"cmd": "device_create", "party": "laptop", "address": "alice.2", "seed": "22".repeat(32)}));
    d.ok(json!({"cmd": "device_create", "party": "bob", "address": "bob.1", "seed": "23".repeat(32)}));
    d.ok(json!({"cmd": "device_set_devices", "party": "alice", "user": "bob", "devices": [1]}));
    d.ok(json!({"cmd": "device_set_devices", "party": "alice", "user": "alice", "devices": [1, 2]}));
    let bob_bundle = s(&d.ok(json!({"cmd": "device_bundle", "party": "bob"}))["bundle"]);
    let laptop_bundle = s(&d.ok(json!({"cmd": "device_bundle", "party": "laptop"}))["bundle"]);
    let timer = d.ok(json!({"cmd": "device_send", "party": "alice", "to": "bob", "now": now,
        "content": {"kind": "timer", "seconds": 60}, "bundles": {"bob.1": bob_bundle, "alice.2": laptop_bundle}}));
    assert_eq!(timer["expires_at"], json!(now + 60));
    let text = d.ok(json!({"cmd": "device_send", "party": "alice", "to": "bob", "now": now,
        "content": {"kind": "text", "text": "hi Bob"}}));
    let id = s(&text["message_id"]);
    assert_eq!(id.len(), 32);
    let to = |sent: &Value, device: &str| {
        sent["messages"].as_array().unwrap().iter().find(|m| m["to"] == json!(device)).unwrap()["bytes"].clone()
    };
    let got = d.ok(
        json!({"cmd": "device_receive", "party": "bob", "from": "alice.1", "bytes": to(&timer, "bob.1"), "now": now}),
    );
    assert_eq!(got["content"], json!({"kind": "timer", "seconds": 60}));
    assert_eq!(
        got["events"],
        json!([{"event": "NewDevice", "address": "alice.1", "status": "Trusted"},
               {"event": "TimerChanged", "conversation": {"user": "alice"}, "seconds": 60, "by": "alice.1"}])
    );
    let got = d.ok(json!({"cmd": "device_receive", "party": "bob", "from": "alice.1", "bytes": to(&text, "bob.1"),
        "now": now + 1, "store_as": "01"}));
    assert_eq!(got["content"], json!({"kind": "text", "text": "hi Bob"}));
    assert_eq!((got["message_id"].clone(), got["sent_at"].clone()), (json!(id), json!(now)));
    assert_eq!((got["conversation"].clone(), got["sent_to"].clone()), (json!({"user": "alice"}), Value::Null));
    assert_eq!(got["expires_at"], json!(now + 61));
    assert_eq!(
        d.ok(json!({"cmd": "device_timer", "party": "bob", "conversation": {"user": "alice"}}))["seconds"],
        json!(60)
    );
    // The laptop's copy is a transcript: sent by Alice, to Bob.
    let copy = d.ok(json!({"cmd": "device_receive", "party": "laptop", "from": "alice.1", "bytes": to(&timer, "alice.2"), "now": now}));
    assert_eq!(copy["sent_to"], json!({"user": "bob"}));
    assert_eq!(
        d.ok(json!({"cmd": "device_timer", "party": "laptop", "conversation": {"user": "bob"}}))["seconds"],
        json!(60)
    );
    // The inbox row goes at its expiry.
    assert_eq!(d.ok(json!({"cmd": "device_purge_expired", "party": "bob", "now": now + 60}))["deleted"], json!([]));
    assert_eq!(
        d.ok(json!({"cmd": "device_purge_expired", "party": "bob", "now": now + 61}))["deleted"],
        json!([{"namespace": "inbox", "key": "01"}])
    );
    d.err(
        json!({"cmd": "device_send", "party": "alice", "to": "bob", "now": now, "content": {"kind": "poll"}}),
        "BadCommand",
    );
    d.err(
        json!({"cmd": "device_send", "party": "alice", "to": "bob", "now": now, "content": {"kind": "unknown", "kind_byte": 1, "body": ""}}),
        "InvalidContent",
    );
}

#[test]
fn the_driver_keeps_prekeys_and_links_a_device() {
    let mut d = Driver::start();
    let now = 1_800_000_000u64;
    d.ok(json!({"cmd": "device_create", "party": "phone", "address": "alice.1", "seed": "21".repeat(32)}));
    d.ok(json!({"cmd": "device_create", "party": "laptop", "address": "alice.2", "seed": "22".repeat(32)}));
    d.ok(json!({"cmd": "device_create", "party": "bob", "address": "bob.1", "seed": "23".repeat(32)}));

    // Prekey maintenance: the first call uploads everything, the next
    // nothing.
    let up =
        d.ok(json!({"cmd": "device_prekey_maintenance", "party": "bob", "now": now, "one_time": 0, "pq_one_time": 0}));
    assert_eq!(s(&up["identity_upload"]).len(), 2 * 1558);
    assert_eq!(s(&up["batch"]).len(), 2 * (198 + 100 * 36 + 50 * 1254));
    let again = d.ok(
        json!({"cmd": "device_prekey_maintenance", "party": "bob", "now": now + 1, "one_time": 100, "pq_one_time": 50}),
    );
    assert_eq!((again["identity_upload"].clone(), again["batch"].clone()), (Value::Null, Value::Null));

    // The phone and Bob talk; Bob verifies Alice.
    d.ok(json!({"cmd": "device_set_devices", "party": "phone", "user": "bob", "devices": [1]}));
    d.ok(json!({"cmd": "device_set_devices", "party": "bob", "user": "alice", "devices": [1]}));
    let bundle = s(&d.ok(json!({"cmd": "device_bundle", "party": "bob", "one_time_prekey": true}))["bundle"]);
    let sent = d.ok(json!({"cmd": "device_send", "party": "phone", "to": "bob", "plaintext": hex(b"hi"), "now": now, "bundles": {"bob.1": bundle}}));
    d.ok(json!({"cmd": "device_receive", "party": "bob", "from": "alice.1", "bytes": sent["messages"][0]["bytes"], "now": now}));
    d.ok(json!({"cmd": "device_set_verified", "party": "bob", "user": "alice", "verified": true}));

    // Linking.
    let offer = s(&d.ok(json!({"cmd": "device_link_offer", "party": "laptop", "now": now}))["offer"]);
    let handover =
        s(&d.ok(json!({"cmd": "device_link_device", "party": "phone", "offer": offer, "now": now}))["handover"]);
    d.err(json!({"cmd": "device_complete_link", "party": "laptop", "handover": handover, "now": now + 600}), "Expired");
    let done = d.ok(json!({"cmd": "device_complete_link", "party": "laptop", "handover": handover, "now": now + 5}));
    assert_eq!(done["linked_by"], json!("alice.1"));
    d.err(json!({"cmd": "device_complete_link", "party": "laptop", "handover": handover, "now": now + 6}), "NoOffer");

    // The laptop writes to Bob, who trusts it as linked by the phone.
    d.ok(json!({"cmd": "device_set_devices", "party": "laptop", "user": "alice", "devices": []}));
    let bundle = s(&d.ok(json!({"cmd": "device_bundle", "party": "bob", "one_time_prekey": true}))["bundle"]);
    let sent = d.ok(json!({"cmd": "device_send", "party": "laptop", "to": "bob", "plaintext": hex(b"from the laptop"), "now": now, "bundles": {"bob.1": bundle}}));
    let got = d.ok(json!({"cmd": "device_receive", "party": "bob", "from": "alice.2", "bytes": sent["messages"][0]["bytes"], "now": now}));
    assert_eq!(got["plaintext"], json!(hex(b"from the laptop")));
    assert_eq!(
        got["events"],
        json!([{"event": "NewDevice", "address": "alice.2", "status": "Trusted"}, {"event": "DeviceLinked", "address": "alice.2", "by": "alice.1"}])
    );
    let devices = d.ok(json!({"cmd": "device_devices", "party": "bob", "user": "alice"}));
    assert_eq!(devices["devices"][1]["linked_by"], json!("alice.1"));
}

#[test]
fn the_driver_encrypts_decrypts_and_reads_ranges_of_attachments() {
    let mut d = Driver::start();
    // Big commands: a short id (`ok` would repeat the command in it).
    let ok = |d: &mut Driver, mut cmd: Value| {
        cmd["id"] = json!(1);
        let result = d.call(cmd);
        assert_eq!(result["ok"], json!(true), "{} {}", result["error"], result["detail"]);
        result
    };
    let file: Vec<u8> = (0..90_000u32).map(|i| (i % 199) as u8).collect();
    let sealed = ok(&mut d, json!({ "cmd": "attachment_encrypt", "file": hex(&file), "seed": hex(&[9; 32]) }));
    let (blob, pointer) = (s(&sealed["blob"]), s(&sealed["pointer"]));
    // The library opens what the driver sealed.
    let blob_bytes = ::hex::decode(&blob).unwrap();
    let pointer_value = dmseal::attachment::AttachmentPointer::from_bytes(&::hex::decode(&pointer).unwrap()).unwrap();
    assert_eq!(dmseal::attachment::decrypt(&pointer_value, &blob_bytes).unwrap().as_slice(), &file[..]);
    assert_eq!(s(&sealed["digest"]), hex(pointer_value.digest()));
    // The driver opens it back, and a range.
    let opened = ok(&mut d, json!({ "cmd": "attachment_decrypt", "pointer": pointer, "blob": blob }));
    assert_eq!(s(&opened["file"]), hex(&file));
    let range = ok(
        &mut d,
        json!({ "cmd": "attachment_read_range", "pointer": pointer, "blob": blob, "offset": 70_000, "len": 100 }),
    );
    assert_eq!(s(&range["bytes"]), hex(&file[70_000..70_100]));
    // Damage names its chunk; a cut is Truncated.
    let mut flipped = blob_bytes.clone();
    flipped[70_000] ^= 1;
    d.err(json!({ "cmd": "attachment_decrypt", "pointer": pointer, "blob": hex(&flipped) }), "Chunk");
    d.err(json!({ "cmd": "attachment_decrypt", "pointer": pointer, "blob": hex(&blob_bytes[..1000]) }), "Truncated");
    d.err(json!({ "cmd": "attachment_decrypt", "pointer": "00", "blob": blob }), "MalformedPointer");
    // The same seed gives the same blob.
    let again = ok(&mut d, json!({ "cmd": "attachment_encrypt", "file": hex(&file), "seed": hex(&[9; 32]) }));
    assert_eq!(s(&again["blob"]), blob);
}

#[test]
fn the_driver_negotiates_reports_and_upgrades_the_kem_ratchet() {
    let mut d = Driver::start();
    for (party, seed, old) in [("alice", "21", false), ("bob", "22", false), ("carol", "23", true)] {
        d.ok(json!({"cmd": "create_party", "party": party, "seed": seed.repeat(32), "without_kem_ratchet": old}));
    }
    let pair = |d: &mut Driver, a: &str, b: &str| {
        let bundle = s(&d.ok(json!({"cmd": "publish_bundle", "party": b}))["bundle"]);
        let first = d.ok(
            json!({"cmd": "start_session", "party": a, "peer": b, "bundle": bundle, "context": "", "plaintext": "00"}),
        );
        let opened = d.ok(
            json!({"cmd": "open_first_message", "party": b, "message": s(&first["message"]), "context": "", "now": 0}),
        );
        d.ok(json!({"cmd": "accept", "party": b, "pending": s(&opened["pending"]), "peer": a}));
        let reply = d.ok(json!({"cmd": "encrypt", "party": b, "peer": a, "plaintext": "01"}));
        d.ok(json!({"cmd": "decrypt", "party": a, "peer": b, "message": s(&reply["message"])}));
    };
    pair(&mut d, "alice", "bob");
    pair(&mut d, "alice", "carol");
    let info = d.ok(json!({"cmd": "kem_ratchet", "party": "alice", "peer": "bob"}));
    assert_eq!((&info["runs"], &info["epochs"]), (&json!(true), &json!(0)));
    assert_eq!(d.ok(json!({"cmd": "kem_ratchet", "party": "carol", "peer": "alice"}))["runs"], json!(false));
    let up = d.ok(json!({"cmd": "upgrade_kem_ratchet", "party": "alice", "peer": "carol"}));
    assert_eq!((&up["upgraded"], &up["runs"]), (&json!(true), &json!(true)));
    assert_eq!(
        d.ok(json!({"cmd": "upgrade_kem_ratchet", "party": "alice", "peer": "carol"}))["upgraded"],
        json!(false)
    );
    let m = d.ok(json!({"cmd": "encrypt", "party": "alice", "peer": "carol", "plaintext": "02"}));
    d.ok(json!({"cmd": "decrypt", "party": "carol", "peer": "alice", "message": s(&m["message"])}));
    assert_eq!(d.ok(json!({"cmd": "kem_ratchet", "party": "carol", "peer": "alice"}))["runs"], json!(true));
    // Forty round trips complete the first epoch.
    for _ in 0..40 {
        let m = d.ok(json!({"cmd": "encrypt", "party": "alice", "peer": "bob", "plaintext": "03"}));
        d.ok(json!({"cmd": "decrypt", "party": "bob", "peer": "alice", "message": s(&m["message"])}));
        let r = d.ok(json!({"cmd": "encrypt", "party": "bob", "peer": "alice", "plaintext": "04"}));
        d.ok(json!({"cmd": "decrypt", "party": "alice", "peer": "bob", "message": s(&r["message"])}));
    }
    assert_eq!(d.ok(json!({"cmd": "kem_ratchet", "party": "bob", "peer": "alice"}))["epochs"], json!(1));
}
