//! The dmseal conformance driver: one JSON command per line on standard
//! input, one JSON result per line on standard output, nothing else on
//! standard output. Another implementation (or a test harness) drives
//! named parties through real conversations with it. The formats are in
//! `docs/CONFORMANCE.md`; run with `cargo run --example conformance`.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::io::{BufRead, Read, Seek, Write};

use dmseal::attachment::{AttachmentEncryptor, AttachmentError, AttachmentPointer, AttachmentReader};

use dmseal::{
    Account, AccountPickle, ClassicX3dh, Envelope, Group, GroupPickle, PreKeyBundle, PreKeyMessage, SafetyNumber,
    Session, SessionPickle,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use serde_json::{Map, Value, json};

mod content;
mod devices;

/// The longest command line read; longer lines get an error result.
const MAX_LINE: usize = 1 << 20;

struct Party {
    rng: ChaCha20Rng,
    account: Account,
    sessions: BTreeMap<String, Session>,
    groups: BTreeMap<String, Group>,
    pending: BTreeMap<String, dmseal::PendingSession>,
    next_pending: u64,
}

/// A failed command: the error's variant name and its Debug form.
struct Failure {
    error: String,
    detail: String,
}

fn fail(error: &str, detail: impl Into<String>) -> Failure {
    Failure { error: error.to_string(), detail: detail.into() }
}

/// Turns any dmseal error into a failure named after its variant.
fn lib<E: std::fmt::Debug>(e: E) -> Failure {
    let detail = format!("{e:?}");
    let error = detail.split(['(', ' ', '{']).next().unwrap_or("Error").to_string();
    Failure { error, detail }
}

type Outcome = Result<Map<String, Value>, Failure>;

fn field<'a>(cmd: &'a Map<String, Value>, name: &str) -> Result<&'a Value, Failure> {
    cmd.get(name).ok_or_else(|| fail("BadCommand", format!("missing field {name:?}")))
}

fn text<'a>(cmd: &'a Map<String, Value>, name: &str) -> Result<&'a str, Failure> {
    field(cmd, name)?.as_str().ok_or_else(|| fail("BadCommand", format!("field {name:?} must be a string")))
}

fn bytes(cmd: &Map<String, Value>, name: &str) -> Result<Vec<u8>, Failure> {
    let s = text(cmd, name)?;
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(fail("BadCommand", format!("field {name:?} must be lowercase hex")));
    }
    hex::decode(s).map_err(|_| fail("BadCommand", format!("field {name:?} is not hex")))
}

fn number(cmd: &Map<String, Value>, name: &str) -> Result<u64, Failure> {
    field(cmd, name)?.as_u64().ok_or_else(|| fail("BadCommand", format!("field {name:?} must be an integer")))
}

fn flag(cmd: &Map<String, Value>, name: &str) -> bool {
    cmd.get(name).and_then(Value::as_bool).unwrap_or(false)
}

fn ok(pairs: Vec<(&str, Value)>) -> Outcome {
    Ok(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

struct Driver {
    parties: BTreeMap<String, Party>,
    /// Device parties (§3 "Devices"): the conversation layer.
    devices: BTreeMap<String, devices::Device>,
}

/// The `seed` field, or 32 bytes from the OS without one.
fn seed(cmd: &Map<String, Value>) -> Result<[u8; 32], Failure> {
    match cmd.get("seed") {
        Some(_) => bytes(cmd, "seed")?.try_into().map_err(|_| fail("BadCommand", "seed must be 32 bytes")),
        None => {
            let mut s = [0u8; 32];
            getrandom::fill(&mut s).map_err(|_| fail("Rng", "OS RNG failed"))?;
            Ok(s)
        }
    }
}

impl Driver {
    fn party(&mut self, cmd: &Map<String, Value>) -> Result<&mut Party, Failure> {
        let name = text(cmd, "party")?;
        self.parties.get_mut(name).ok_or_else(|| fail("UnknownParty", name))
    }

    fn run(&mut self, cmd: &Map<String, Value>) -> Outcome {
        match text(cmd, "cmd")? {
            "create_party" => self.create_party(cmd),
            "publish_bundle" => {
                let p = self.party(cmd)?;
                let otk = if flag(cmd, "one_time_prekey") {
                    p.account.generate_one_time_prekeys_with_rng(&mut p.rng, 1).map_err(lib)?.first().map(|k| k.id())
                } else {
                    None
                };
                let pq = if flag(cmd, "pq_one_time_prekey") {
                    p.account.generate_pq_one_time_prekeys_with_rng(&mut p.rng, 1).map_err(lib)?.first().map(|k| k.id())
                } else {
                    None
                };
                let mut bundle = p.account.prekey_bundle(otk, pq).map_err(lib)?;
                if flag(cmd, "without_pq_prekey") {
                    bundle = PreKeyBundle::new(
                        bundle.identity().clone(),
                        bundle.signed_prekey().clone(),
                        bundle.one_time_prekey().copied(),
                        None,
                    );
                }
                ok(vec![("bundle", json!(hex::encode(bundle.encode())))])
            }
            "start_session" => {
                let (peer, bundle, context, plaintext) = (
                    text(cmd, "peer")?.to_string(),
                    bytes(cmd, "bundle")?,
                    bytes(cmd, "context")?,
                    bytes(cmd, "plaintext")?,
                );
                let p = self.party(cmd)?;
                let bundle = PreKeyBundle::decode(&bundle).map_err(lib)?;
                let (session, message) =
                    p.account.start_session_with_rng(&mut p.rng, &bundle, &context, &plaintext).map_err(lib)?;
                let setup = format!("{:?}", session.setup());
                p.sessions.insert(peer, session);
                ok(vec![("message", json!(hex::encode(message))), ("setup", json!(setup))])
            }
            "open_first_message" => {
                let (message, context, now) = (bytes(cmd, "message")?, bytes(cmd, "context")?, number(cmd, "now")?);
                let p = self.party(cmd)?;
                let message = PreKeyMessage::decode(&message).map_err(lib)?;
                let pending = p.account.open_first_message(&message, &context, now).map_err(lib)?;
                let (plaintext, identity) = (pending.plaintext().to_vec(), pending.peer_identity().encode());
                p.next_pending += 1;
                let id = format!("pending-{}", p.next_pending);
                p.pending.insert(id.clone(), pending);
                ok(vec![
                    ("pending", json!(id)),
                    ("plaintext", json!(hex::encode(plaintext))),
                    ("peer_identity", json!(hex::encode(identity))),
                ])
            }
            "accept" | "decline" => {
                let accept = text(cmd, "cmd")? == "accept";
                let id = text(cmd, "pending")?.to_string();
                let peer = if accept { Some(text(cmd, "peer")?.to_string()) } else { None };
                let p = self.party(cmd)?;
                let pending = p.pending.remove(&id).ok_or_else(|| fail("UnknownPending", id))?;
                match peer {
                    Some(peer) => {
                        let session = p.account.accept(pending).map_err(lib)?;
                        p.sessions.insert(peer, session);
                    }
                    None => p.account.decline(pending).map_err(lib)?,
                }
                ok(vec![])
            }
            "encrypt" => {
                let (peer, plaintext) = (text(cmd, "peer")?.to_string(), bytes(cmd, "plaintext")?);
                let p = self.party(cmd)?;
                let session = p.sessions.get_mut(&peer).ok_or_else(|| fail("UnknownSession", peer))?;
                let message = session.encrypt_with_rng(&mut p.rng, &plaintext).map_err(lib)?;
                ok(vec![("message", json!(hex::encode(message)))])
            }
            "decrypt" => {
                let (peer, message) = (text(cmd, "peer")?.to_string(), bytes(cmd, "message")?);
                let p = self.party(cmd)?;
                let session = p.sessions.get_mut(&peer).ok_or_else(|| fail("UnknownSession", peer))?;
                let envelope = Envelope::decode(&message).map_err(lib)?;
                let plaintext = session.decrypt_envelope(&envelope).map_err(lib)?;
                ok(vec![("plaintext", json!(hex::encode(plaintext)))])
            }
            "kem_ratchet" | "upgrade_kem_ratchet" => {
                let upgrade = text(cmd, "cmd")? == "upgrade_kem_ratchet";
                let peer = text(cmd, "peer")?.to_string();
                let p = self.party(cmd)?;
                let session = p.sessions.get_mut(&peer).ok_or_else(|| fail("UnknownSession", peer))?;
                let upgraded = upgrade && session.upgrade_kem_ratchet();
                let mut out = vec![("runs", json!(session.kem_ratchet())), ("epochs", json!(session.kem_epochs()))];
                if upgrade {
                    out.push(("upgraded", json!(upgraded)));
                }
                ok(out)
            }
            "safety_number" => {
                let peer = text(cmd, "peer")?.to_string();
                let p = self.party(cmd)?;
                let session = p.sessions.get(&peer).ok_or_else(|| fail("UnknownSession", peer))?;
                let number = SafetyNumber::new(p.account.identity(), session.peer_identity());
                ok(vec![("digits", json!(number.digits())), ("scannable", json!(hex::encode(number.scannable())))])
            }
            "pickle_party" => self.pickle_party(cmd),
            "restore_party" => self.restore_party(cmd),
            "attachment_encrypt" => {
                let file = bytes(cmd, "file")?;
                let mut rng = ChaCha20Rng::from_seed(seed(cmd)?);
                let mut encryptor = AttachmentEncryptor::new_with_rng(&mut rng);
                let mut blob = Vec::new();
                encryptor.update(&file, &mut blob).map_err(lib)?;
                let pointer = loop {
                    if let Some(pointer) = encryptor.finish(&mut blob).map_err(lib)? {
                        break pointer;
                    }
                };
                ok(vec![
                    ("blob", json!(hex::encode(&blob))),
                    ("pointer", json!(hex::encode(pointer.to_bytes()))),
                    ("digest", json!(hex::encode(pointer.digest()))),
                ])
            }
            "attachment_decrypt" => {
                let pointer = AttachmentPointer::from_bytes(&bytes(cmd, "pointer")?).map_err(lib)?;
                let blob = bytes(cmd, "blob")?;
                let file = dmseal::attachment::decrypt(&pointer, &blob).map_err(lib)?;
                ok(vec![("file", json!(hex::encode(&file)))])
            }
            "attachment_read_range" => {
                let pointer = AttachmentPointer::from_bytes(&bytes(cmd, "pointer")?).map_err(lib)?;
                let blob = bytes(cmd, "blob")?;
                let (offset, len) = (number(cmd, "offset")?, number(cmd, "len")?);
                let mut reader = AttachmentReader::new(std::io::Cursor::new(&blob), &pointer);
                let mut out = Vec::new();
                let read = reader
                    .seek(std::io::SeekFrom::Start(offset))
                    .and_then(|_| (&mut reader).take(len).read_to_end(&mut out));
                if let Err(e) = read {
                    return Err(match AttachmentError::from_io(&e) {
                        Some(e) => lib(e),
                        None => fail("Io", e.to_string()),
                    });
                }
                ok(vec![("bytes", json!(hex::encode(&out)))])
            }
            "group_create" => {
                let (group, id, me) = (text(cmd, "group")?.to_string(), bytes(cmd, "group_id")?, bytes(cmd, "me")?);
                let p = self.party(cmd)?;
                p.groups.insert(group, Group::new(&id, &me).map_err(lib)?);
                ok(vec![])
            }
            "group_add_member" | "group_remove_member" => {
                let add = text(cmd, "cmd")? == "group_add_member";
                let member = bytes(cmd, "member")?;
                let group = self.group(cmd)?;
                if add {
                    group.add_member(&member).map_err(lib)?;
                    ok(vec![])
                } else {
                    ok(vec![("was_member", json!(group.remove_member(&member)))])
                }
            }
            "group_encrypt" => {
                let (group_name, plaintext, now) =
                    (text(cmd, "group")?.to_string(), bytes(cmd, "plaintext")?, number(cmd, "now")?);
                let p = self.party(cmd)?;
                let group = p.groups.get_mut(&group_name).ok_or_else(|| fail("UnknownGroup", group_name))?;
                let out = group.encrypt_with_rng(&mut p.rng, &plaintext, now).map_err(lib)?;
                let distributions: Vec<Value> = out
                    .distributions
                    .iter()
                    .map(|d| json!({ "to": hex::encode(&d.to), "bytes": hex::encode(d.bytes.as_slice()) }))
                    .collect();
                ok(vec![("message", json!(hex::encode(out.message))), ("distributions", json!(distributions))])
            }
            "group_receive_distribution" => {
                let (from, data) = (bytes(cmd, "from")?, bytes(cmd, "bytes")?);
                self.group(cmd)?.receive_distribution(&from, &data).map_err(lib)?;
                ok(vec![])
            }
            "group_decrypt" => {
                let message = bytes(cmd, "message")?;
                let p = self.group(cmd)?.decrypt(&message).map_err(lib)?;
                ok(vec![
                    ("sender", json!(hex::encode(&p.sender))),
                    ("plaintext", json!(hex::encode(&p.plaintext))),
                    ("index", json!(p.index)),
                    ("verified", json!(p.verified)),
                ])
            }
            "group_export" => {
                let (member, from) = (bytes(cmd, "member")?, number(cmd, "from")?);
                let from = u32::try_from(from).map_err(|_| fail("BadCommand", "from must fit in u32"))?;
                let export = self.group(cmd)?.export_sender_state(&member, from);
                ok(vec![("bytes", json!(export.map(|e| hex::encode(e.as_slice()))))])
            }
            "group_import" => {
                let (from, data) = (bytes(cmd, "from")?, bytes(cmd, "bytes")?);
                self.group(cmd)?.import_sender_state(&from, &data).map_err(lib)?;
                ok(vec![])
            }
            "group_rotate" => {
                self.group(cmd)?.rotate();
                ok(vec![])
            }
            "rotate_signed_prekey" | "rotate_last_resort_pq_prekey" => {
                let signed = text(cmd, "cmd")? == "rotate_signed_prekey";
                let (now, grace) = (number(cmd, "now")?, number(cmd, "grace_secs")?);
                let p = self.party(cmd)?;
                let id = if signed {
                    p.account.rotate_signed_prekey_with_rng(&mut p.rng, now, grace).map_err(lib)?.id()
                } else {
                    p.account.rotate_last_resort_pq_prekey_with_rng(&mut p.rng, now, grace).map_err(lib)?.id()
                };
                ok(vec![("prekey_id", json!(id))])
            }
            "expire_prekeys" => {
                let now = number(cmd, "now")?;
                let deleted = self.party(cmd)?.account.expire_prekeys(now);
                ok(vec![("deleted", json!(deleted))])
            }
            "device_create" => {
                let name = text(cmd, "party")?.to_string();
                let seed = seed(cmd)?;
                if self.parties.contains_key(&name) || self.devices.contains_key(&name) {
                    return Err(fail("PartyExists", name));
                }
                let (device, result) = devices::Device::create(cmd, seed)?;
                self.devices.insert(name, device);
                Ok(result)
            }
            other if other.starts_with("device_") => {
                let name = text(cmd, "party")?;
                let device = self.devices.get_mut(name).ok_or_else(|| fail("UnknownParty", name))?;
                device.run(other, cmd)
            }
            other => Err(fail("UnknownCommand", other)),
        }
    }

    fn group(&mut self, cmd: &Map<String, Value>) -> Result<&mut Group, Failure> {
        let name = text(cmd, "group")?.to_string();
        self.party(cmd)?.groups.get_mut(&name).ok_or_else(|| fail("UnknownGroup", name))
    }

    fn create_party(&mut self, cmd: &Map<String, Value>) -> Outcome {
        let name = text(cmd, "party")?.to_string();
        if self.parties.contains_key(&name) || self.devices.contains_key(&name) {
            return Err(fail("PartyExists", name));
        }
        let seed = seed(cmd)?;
        if cmd.contains_key("allow_weaker_classic_x3dh") {
            return Err(fail(
                "BadCommand",
                "allow_weaker_classic_x3dh is gone: use classic_x3dh (docs/CONFORMANCE.md)",
            ));
        }
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut account = if flag(cmd, "classic_only") {
            Account::new_classic_only_with_rng(&mut rng)
        } else if flag(cmd, "without_kem_ratchet") {
            Account::new_without_kem_ratchet_with_rng(&mut rng)
        } else {
            Account::new_with_rng(&mut rng)
        };
        let classic = match cmd.get("classic_x3dh").map(|v| v.as_str()) {
            None => None,
            Some(Some("refuse")) => Some(ClassicX3dh::Refuse),
            Some(Some("accept")) => Some(ClassicX3dh::Accept),
            Some(Some("accept_and_initiate")) => Some(ClassicX3dh::AcceptAndInitiate),
            Some(_) => return Err(fail("BadCommand", "classic_x3dh must be refuse, accept or accept_and_initiate")),
        };
        if let Some(classic) = classic {
            account.set_classic_x3dh(classic);
        }
        let identity = hex::encode(account.identity().encode());
        self.parties.insert(
            name,
            Party {
                rng,
                account,
                sessions: BTreeMap::new(),
                groups: BTreeMap::new(),
                pending: BTreeMap::new(),
                next_pending: 0,
            },
        );
        ok(vec![("identity", json!(identity))])
    }

    fn pickle_party(&mut self, cmd: &Map<String, Value>) -> Outcome {
        let key: [u8; 32] = bytes(cmd, "key")?.try_into().map_err(|_| fail("BadCommand", "key must be 32 bytes"))?;
        let p = self.party(cmd)?;
        let account = hex::encode(p.account.pickle().encrypt_with_rng(&mut p.rng, &key));
        let mut sessions = Map::new();
        for (name, s) in &p.sessions {
            sessions.insert(name.clone(), json!(hex::encode(s.pickle().encrypt_with_rng(&mut p.rng, &key))));
        }
        let mut groups = Map::new();
        for (name, g) in &p.groups {
            groups.insert(name.clone(), json!(hex::encode(g.pickle().encrypt_with_rng(&mut p.rng, &key))));
        }
        ok(vec![("account", json!(account)), ("sessions", Value::Object(sessions)), ("groups", Value::Object(groups))])
    }

    fn restore_party(&mut self, cmd: &Map<String, Value>) -> Outcome {
        let key: [u8; 32] = bytes(cmd, "key")?.try_into().map_err(|_| fail("BadCommand", "key must be 32 bytes"))?;
        let account = Account::from_pickle(&AccountPickle::from_encrypted(&bytes(cmd, "account")?, &key).map_err(lib)?)
            .map_err(lib)?;
        let mut sessions = BTreeMap::new();
        for (name, v) in
            field(cmd, "sessions")?.as_object().ok_or_else(|| fail("BadCommand", "sessions must be an object"))?
        {
            let b =
                hex::decode(v.as_str().unwrap_or_default()).map_err(|_| fail("BadCommand", "session is not hex"))?;
            let s = Session::from_pickle(&SessionPickle::from_encrypted(&b, &key).map_err(lib)?).map_err(lib)?;
            sessions.insert(name.clone(), s);
        }
        let mut groups = BTreeMap::new();
        for (name, v) in
            field(cmd, "groups")?.as_object().ok_or_else(|| fail("BadCommand", "groups must be an object"))?
        {
            let b = hex::decode(v.as_str().unwrap_or_default()).map_err(|_| fail("BadCommand", "group is not hex"))?;
            let g = Group::from_pickle(&GroupPickle::from_encrypted(&b, &key).map_err(lib)?).map_err(lib)?;
            groups.insert(name.clone(), g);
        }
        let p = self.party(cmd)?;
        p.account = account;
        p.sessions = sessions;
        p.groups = groups;
        p.pending.clear();
        ok(vec![])
    }
}

/// Runs one input line; always returns a JSON result.
fn handle(driver: &mut Driver, line: &str) -> Value {
    let parsed: Result<Value, _> = serde_json::from_str(line);
    let (id, outcome) = match parsed {
        Ok(Value::Object(cmd)) => (cmd.get("id").cloned().unwrap_or(Value::Null), driver.run(&cmd)),
        Ok(_) => (Value::Null, Err(fail("BadCommand", "a command is a JSON object"))),
        Err(e) => (Value::Null, Err(fail("BadJson", e.to_string()))),
    };
    match outcome {
        Ok(mut fields) => {
            fields.insert("id".into(), id);
            fields.insert("ok".into(), json!(true));
            Value::Object(fields)
        }
        Err(f) => json!({ "id": id, "ok": false, "error": f.error, "detail": f.detail }),
    }
}

fn main() {
    let mut driver = Driver { parties: BTreeMap::new(), devices: BTreeMap::new() };
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    let mut reader = stdin.lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        // Read at most MAX_LINE + 1 bytes of one line.
        let read = (&mut reader).take(MAX_LINE as u64 + 1).read_until(b'\n', &mut line);
        let result = match read {
            Ok(0) => break,
            Ok(_) if line.len() > MAX_LINE && line.last() != Some(&b'\n') => {
                // Skip the rest of the over-long line.
                let mut sink = Vec::new();
                let _ = reader.read_until(b'\n', &mut sink);
                json!({ "id": null, "ok": false, "error": "LineTooLong", "detail": format!("over {MAX_LINE} bytes") })
            }
            Ok(_) => match std::str::from_utf8(&line) {
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => handle(&mut driver, text.trim_end()),
                Err(_) => json!({ "id": null, "ok": false, "error": "BadJson", "detail": "line is not UTF-8" }),
            },
            Err(e) => json!({ "id": null, "ok": false, "error": "BadInput", "detail": e.to_string() }),
        };
        if writeln!(stdout, "{result}").and_then(|()| stdout.flush()).is_err() {
            break;
        }
    }
}
