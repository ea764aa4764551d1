//! Device parties: the conversation layer (`Conversations` over an
//! in-memory store) behind the driver's line protocol. Commands and
//! results are in docs/CONFORMANCE.md §3 "Devices".

use std::collections::BTreeMap;
use std::sync::Arc;

use dmseal::store::MemoryStore;
use dmseal::{
    Address, ContactPolicy, ConversationConfig, Conversations, Event, PreKeyBundle, PublicIdentity, Received,
    StorageKey,
};
use rand_chacha::ChaCha20Rng;
use rand_core::{Rng, SeedableRng};
use serde_json::{Map, Value, json};

use crate::{Failure, Outcome, bytes, fail, field, flag, lib, number, ok, text};

/// One device: its conversations over a store that outlives restarts,
/// the received messages not committed yet, and named store snapshots.
pub(crate) struct Device {
    conversations: Conversations<Arc<MemoryStore>>,
    store: Arc<MemoryStore>,
    key: [u8; 32],
    address: Address,
    config: ConversationConfig,
    /// The seed; open number `n` (0 at creation, one more per restart)
    /// gives `Conversations` the ChaCha20 stream `n + 1` of it.
    seed: [u8; 32],
    opens: u64,
    /// Stream 0 of the seed: the storage key, then the one-time prekeys
    /// `device_bundle` makes.
    rng: ChaCha20Rng,
    received: BTreeMap<String, Received>,
    next_received: u64,
    snapshots: BTreeMap<String, MemoryStore>,
}

fn stream(seed: [u8; 32], n: u64) -> ChaCha20Rng {
    let mut rng = ChaCha20Rng::from_seed(seed);
    rng.set_stream(n);
    rng
}

fn address(cmd: &Map<String, Value>, name: &str) -> Result<Address, Failure> {
    text(cmd, name)?.parse::<Address>().map_err(|e| fail("BadCommand", format!("field {name:?}: {e}")))
}

fn addresses(cmd: &Map<String, Value>, name: &str) -> Result<Vec<Address>, Failure> {
    let list = field(cmd, name)?.as_array().ok_or_else(|| fail("BadCommand", format!("{name:?} must be an array")))?;
    list.iter()
        .map(|v| {
            v.as_str()
                .and_then(|s| s.parse::<Address>().ok())
                .ok_or_else(|| fail("BadCommand", format!("{name:?} holds a value that is not an address")))
        })
        .collect()
}

/// The `bundles` field: an object from address to hex bundle (optional).
fn bundles(cmd: &Map<String, Value>) -> Result<BTreeMap<Address, PreKeyBundle>, Failure> {
    let mut out = BTreeMap::new();
    let Some(map) = cmd.get("bundles") else { return Ok(out) };
    let map = map.as_object().ok_or_else(|| fail("BadCommand", "bundles must be an object"))?;
    for (k, v) in map {
        let a = k.parse::<Address>().map_err(|e| fail("BadCommand", format!("bundles key {k:?}: {e}")))?;
        let b = v
            .as_str()
            .and_then(|s| hex::decode(s).ok())
            .ok_or_else(|| fail("BadCommand", format!("bundles[{k:?}] is not hex")))?;
        out.insert(a, PreKeyBundle::decode(&b).map_err(lib)?);
    }
    Ok(out)
}

fn status_name(status: dmseal::DeviceStatus) -> String {
    format!("{status:?}")
}

/// An event as JSON: its variant name in `event`, its fields beside it.
fn event(e: &Event) -> Value {
    match e {
        Event::NewDevice { address, status } => {
            json!({ "event": "NewDevice", "address": address.to_string(), "status": status_name(*status) })
        }
        Event::IdentityChanged { address } => json!({ "event": "IdentityChanged", "address": address.to_string() }),
        Event::MessageRequest { address } => json!({ "event": "MessageRequest", "address": address.to_string() }),
        Event::SessionHealed { address } => json!({ "event": "SessionHealed", "address": address.to_string() }),
        Event::ResendDue { address } => json!({ "event": "ResendDue", "address": address.to_string() }),
        Event::DeviceLinked { address, by } => {
            json!({ "event": "DeviceLinked", "address": address.to_string(), "by": by.to_string() })
        }
        Event::TimerChanged { conversation, seconds, by } => json!({
            "event": "TimerChanged",
            "conversation": crate::content::destination(conversation),
            "seconds": seconds,
            "by": by.to_string(),
        }),
        other => json!({ "event": format!("{other:?}") }),
    }
}

/// A linking failure named by its `LinkError` variant (`Expired`,
/// `Forged`, …); other errors as usual.
fn link_error(e: dmseal::ConversationError) -> Failure {
    match e {
        dmseal::ConversationError::Link(inner) => lib(inner),
        other => lib(other),
    }
}

fn events(list: &[Event]) -> Value {
    Value::Array(list.iter().map(event).collect())
}

fn messages(list: &[(Address, Vec<u8>)]) -> Value {
    Value::Array(list.iter().map(|(a, m)| json!({ "to": a.to_string(), "bytes": hex::encode(m) })).collect())
}

/// The result of a command that sends: its messages and its events.
fn sent_out(sent: &dmseal::Outgoing) -> Outcome {
    ok(vec![("messages", messages(&sent.messages)), ("events", events(&sent.events))])
}

fn policy(cmd: &Map<String, Value>) -> Result<ContactPolicy, Failure> {
    match cmd.get("contact_policy").map(Value::as_str) {
        None | Some(Some("anyone")) => Ok(ContactPolicy::Anyone),
        Some(Some("known_contacts_only")) => Ok(ContactPolicy::KnownContactsOnly),
        Some(Some("message_requests")) => Ok(ContactPolicy::MessageRequests),
        Some(_) => Err(fail("BadCommand", "contact_policy must be anyone, known_contacts_only or message_requests")),
    }
}

impl Device {
    /// `device_create`.
    pub(crate) fn create(cmd: &Map<String, Value>, seed: [u8; 32]) -> Result<(Self, Map<String, Value>), Failure> {
        let address = address(cmd, "address")?;
        let config = ConversationConfig::new().with_contact_policy(policy(cmd)?);
        let mut rng = stream(seed, 0);
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        let store = Arc::new(MemoryStore::new());
        let conversations = Conversations::open_with_rng(
            stream(seed, 1),
            Arc::clone(&store),
            StorageKey::from(key),
            address.clone(),
            config,
        )
        .map_err(lib)?;
        let identity = hex::encode(conversations.account().identity().encode());
        let device = Self {
            conversations,
            store,
            key,
            address,
            config,
            seed,
            opens: 1,
            rng,
            received: BTreeMap::new(),
            next_received: 0,
            snapshots: BTreeMap::new(),
        };
        let mut result = Map::new();
        result.insert("identity".into(), json!(identity));
        Ok((device, result))
    }

    /// Runs a `device_*` command other than `device_create`.
    pub(crate) fn run(&mut self, name: &str, cmd: &Map<String, Value>) -> Outcome {
        let c = &mut self.conversations;
        match name {
            "device_bundle" => {
                let rng = &mut self.rng;
                let otk = flag(cmd, "one_time_prekey");
                let pq = flag(cmd, "pq_one_time_prekey");
                let bundle = c
                    .update_account(|a| {
                        let otk = if otk {
                            a.generate_one_time_prekeys_with_rng(rng, 1)?.first().map(|k| k.id())
                        } else {
                            None
                        };
                        let pq = if pq {
                            a.generate_pq_one_time_prekeys_with_rng(rng, 1)?.first().map(|k| k.id())
                        } else {
                            None
                        };
                        a.prekey_bundle(otk, pq)
                    })
                    .map_err(lib)?
                    .map_err(lib)?;
                ok(vec![("bundle", json!(hex::encode(bundle.encode())))])
            }
            "device_set_devices" => {
                let user = text(cmd, "user")?;
                let list = field(cmd, "devices")?
                    .as_array()
                    .ok_or_else(|| fail("BadCommand", "devices must be an array"))?
                    .iter()
                    .map(|v| v.as_u64().and_then(|n| u32::try_from(n).ok()))
                    .collect::<Option<Vec<u32>>>()
                    .ok_or_else(|| fail("BadCommand", "devices must hold u32 integers"))?;
                let ev = c.set_devices(user, &list).map_err(lib)?;
                ok(vec![("events", events(&ev))])
            }
            "device_devices" => {
                let list = c.devices(text(cmd, "user")?).map_err(lib)?;
                let list: Vec<Value> = list
                    .iter()
                    .map(|d| {
                        json!({
                            "address": d.address.to_string(),
                            "status": status_name(d.status),
                            "listed": d.listed,
                            "identity": d.identity.as_ref().map(|i| hex::encode(i.encode())),
                            "linked_by": d.linked_by.as_ref().map(ToString::to_string),
                        })
                    })
                    .collect();
                ok(vec![("devices", Value::Array(list))])
            }
            "device_add_contact" => {
                c.add_contact(text(cmd, "user")?).map_err(lib)?;
                ok(vec![])
            }
            "device_set_verified" => {
                let verified = field(cmd, "verified")?
                    .as_bool()
                    .ok_or_else(|| fail("BadCommand", "field \"verified\" must be a boolean"))?;
                c.set_verified(text(cmd, "user")?, verified).map_err(lib)?;
                ok(vec![])
            }
            "device_approve" => {
                let (a, identity) = (address(cmd, "address")?, bytes(cmd, "identity")?);
                let identity = PublicIdentity::decode(&identity).map_err(lib)?;
                c.approve_device(&a, &identity).map_err(lib)?;
                ok(vec![])
            }
            "device_requests" => {
                let list: Vec<Value> = c.requests().map_err(lib)?.iter().map(|a| json!(a.to_string())).collect();
                ok(vec![("requests", Value::Array(list))])
            }
            "device_accept_request" | "device_decline_request" => {
                let a = address(cmd, "address")?;
                if name == "device_accept_request" {
                    c.accept_request(&a).map_err(lib)?;
                } else {
                    c.decline_request(&a).map_err(lib)?;
                }
                ok(vec![])
            }
            "device_send" => {
                let (user, content, now, mut source) =
                    (text(cmd, "to")?, crate::content::of_command(cmd)?, number(cmd, "now")?, directory(cmd)?);
                let sent = c.send_fetching(user, content, &mut source, now).map_err(lib)?;
                ok(vec![
                    ("messages", messages(&sent.messages)),
                    ("message_id", json!(sent.message_id.map(|i| i.to_string()))),
                    ("expires_at", json!(sent.expires_at)),
                    ("events", events(&sent.events)),
                    ("generation", json!(sent.generation)),
                ])
            }
            "device_create_group" => {
                let (group, members) = (bytes(cmd, "group_id")?, addresses(cmd, "members")?);
                c.create_group(&group, &members).map_err(lib)?;
                ok(vec![])
            }
            "device_add_group_member" => {
                let (group, member) = (bytes(cmd, "group_id")?, address(cmd, "member")?);
                c.add_group_member(&group, &member).map_err(lib)?;
                ok(vec![])
            }
            "device_remove_group_member" => {
                let (group, member) = (bytes(cmd, "group_id")?, address(cmd, "member")?);
                ok(vec![("was_member", json!(c.remove_group_member(&group, &member).map_err(lib)?))])
            }
            "device_group_members" => {
                let list = c.group_members(&bytes(cmd, "group_id")?).map_err(lib)?;
                ok(vec![("members", Value::Array(list.iter().map(|a| json!(a.to_string())).collect()))])
            }
            "device_send_group" => {
                let (group, content, now, mut source) =
                    (bytes(cmd, "group_id")?, crate::content::of_command(cmd)?, number(cmd, "now")?, directory(cmd)?);
                let sent = c.send_group_fetching(&group, content, &mut source, now).map_err(lib)?;
                ok(vec![
                    ("message", json!(hex::encode(&sent.message))),
                    ("message_id", json!(sent.message_id.to_string())),
                    ("expires_at", json!(sent.expires_at)),
                    ("distributions", messages(&sent.distributions.messages)),
                    ("events", events(sent.events())),
                    ("generation", json!(sent.distributions.generation)),
                ])
            }
            "device_request_group_keys" => {
                let (group, owner, now, given) =
                    (bytes(cmd, "group_id")?, address(cmd, "owner")?, number(cmd, "now")?, bundles(cmd)?);
                let given: Vec<(Address, PreKeyBundle)> = given.into_iter().collect();
                let sent = c.request_group_keys(&group, &owner, &given, now).map_err(lib)?;
                sent_out(&sent)
            }
            "device_send_group_keys" => {
                let (group, now, given) = (bytes(cmd, "group_id")?, number(cmd, "now")?, bundles(cmd)?);
                let given: Vec<(Address, PreKeyBundle)> = given.into_iter().collect();
                let sent = c.send_group_keys(&group, &given, now).map_err(lib)?;
                sent_out(&sent)
            }
            "device_heal" => {
                let (peer, now, mut source) = peer_now_source(cmd)?;
                let sent = c.heal(&peer, &mut source, now).map_err(lib)?;
                sent_out(&sent)
            }
            "device_send_retry_receipt" => {
                let (from, failed, now, mut source) =
                    (address(cmd, "from")?, bytes(cmd, "bytes")?, number(cmd, "now")?, directory(cmd)?);
                let sent = c.send_retry_receipt(&from, &failed, &mut source, now).map_err(lib)?;
                sent_out(&sent)
            }
            "device_request_missing" => {
                let (peer, now, mut source) = peer_now_source(cmd)?;
                let sent = c.request_missing(&peer, &mut source, now).map_err(lib)?;
                sent_out(&sent)
            }
            "device_resend" => {
                let (peer, now, mut source) = peer_now_source(cmd)?;
                let sent = c.resend(&peer, &mut source, now).map_err(lib)?;
                sent_out(&sent)
            }
            "device_send_group_retry_receipt" => {
                let (group, from, failed, now, mut source) = (
                    bytes(cmd, "group_id")?,
                    address(cmd, "from")?,
                    bytes(cmd, "bytes")?,
                    number(cmd, "now")?,
                    directory(cmd)?,
                );
                let sent = c.send_group_retry_receipt(&group, &from, &failed, &mut source, now).map_err(lib)?;
                sent_out(&sent)
            }
            "device_request_missing_group" => {
                let (group, owner, now, mut source) =
                    (bytes(cmd, "group_id")?, address(cmd, "owner")?, number(cmd, "now")?, directory(cmd)?);
                let sent = c.request_missing_group(&group, &owner, &mut source, now).map_err(lib)?;
                sent_out(&sent)
            }
            "device_restored_from_backup" => {
                let ev = c.restored_from_backup(number(cmd, "now")?).map_err(lib)?;
                ok(vec![("events", events(&ev))])
            }
            "device_request_resync" => {
                let (peer, now, mut source) = peer_now_source(cmd)?;
                let sent = c.request_resync(&peer, &mut source, now).map_err(lib)?;
                sent_out(&sent)
            }
            "device_receive" => {
                let (from, message, now) = (address(cmd, "from")?, bytes(cmd, "bytes")?, number(cmd, "now")?);
                let received = self.conversations.receive(&from, &message, now).map_err(lib)?;
                self.settle(cmd, received)
            }
            "device_receive_group" => {
                let (group, from, message, now) =
                    (bytes(cmd, "group_id")?, address(cmd, "from")?, bytes(cmd, "bytes")?, number(cmd, "now")?);
                let received = self.conversations.receive_group(&group, &from, &message, now).map_err(lib)?;
                self.settle(cmd, received)
            }
            "device_commit" => {
                let id = text(cmd, "received")?.to_string();
                let received = self.received.remove(&id).ok_or_else(|| fail("UnknownReceived", id))?;
                let generation = self.conversations.commit_received(received, Vec::new()).map_err(lib)?;
                ok(vec![("generation", json!(generation))])
            }
            "device_timer" => {
                let seconds = self.conversations.timer(&crate::content::destination_of(cmd)?).map_err(lib)?;
                ok(vec![("seconds", json!(seconds))])
            }
            "device_purge_expired" => {
                let gone = self.conversations.purge_expired(number(cmd, "now")?).map_err(lib)?;
                let gone: Vec<Value> =
                    gone.iter().map(|(ns, key)| json!({ "namespace": ns, "key": hex::encode(key) })).collect();
                ok(vec![("deleted", Value::Array(gone))])
            }
            "device_snapshot" => {
                let name = text(cmd, "snapshot")?.to_string();
                self.snapshots.insert(name, self.store.snapshot());
                ok(vec![])
            }
            "device_restart" => self.restart(cmd),
            "device_prekey_maintenance" => {
                let on_directory = dmseal::directory::PreKeyCounts::new(
                    u32::try_from(number(cmd, "one_time")?).unwrap_or(u32::MAX),
                    u32::try_from(number(cmd, "pq_one_time")?).unwrap_or(u32::MAX),
                );
                let uploads = c.prekey_maintenance(number(cmd, "now")?, on_directory).map_err(lib)?;
                ok(vec![
                    ("identity_upload", json!(uploads.identity.map(|u| hex::encode(u.encode())))),
                    ("batch", json!(uploads.batch.map(|b| hex::encode(b.encode())))),
                    ("retired", json!(uploads.retired)),
                ])
            }
            "device_link_offer" => {
                let offer = c.link_offer(number(cmd, "now")?);
                ok(vec![("offer", json!(hex::encode(offer.encode())))])
            }
            "device_link_device" => {
                let offer = dmseal::LinkOffer::decode(&bytes(cmd, "offer")?).map_err(lib)?;
                let handover = c.link_device(&offer, &[], number(cmd, "now")?).map_err(link_error)?;
                ok(vec![("handover", json!(hex::encode(handover)))])
            }
            "device_complete_link" => {
                let done = c.complete_link(&bytes(cmd, "handover")?, number(cmd, "now")?).map_err(link_error)?;
                ok(vec![
                    ("linked_by", json!(done.linked_by.to_string())),
                    ("users", json!(done.users)),
                    ("groups", json!(done.groups)),
                    ("identity_upload", json!(hex::encode(done.identity_upload.encode()))),
                ])
            }
            other => Err(fail("UnknownCommand", other)),
        }
    }

    /// Commits a received message unless `commit` is `false`, in which
    /// case it is kept under a new id for `device_commit`.
    fn settle(&mut self, cmd: &Map<String, Value>, received: Received) -> Outcome {
        let mut fields = vec![
            ("from", json!(received.from().to_string())),
            ("kind", json!(format!("{:?}", received.kind()))),
            ("plaintext", json!(hex::encode(received.plaintext()))),
            ("group_id", json!(received.group_id().map(hex::encode))),
            ("events", events(received.events())),
            ("content_error", json!(received.content_error().map(|e| crate::lib(e).error))),
            ("message_id", json!(received.message_id().map(|i| i.to_string()))),
            ("sent_at", json!(received.sent_at())),
            ("expires_at", json!(received.expires_at())),
            ("conversation", received.conversation().map_or(Value::Null, crate::content::destination)),
            ("sent_to", received.sent_to().map_or(Value::Null, crate::content::destination)),
            ("content", received.content().map_or(Value::Null, crate::content::to_json)),
        ];
        // `store_as`: the application's inbox row of the message, written
        // with the message's expiry in the same commit.
        let rows = match cmd.get("store_as") {
            None => Vec::new(),
            Some(_) => {
                let row = dmseal::store::AppWrite::put("inbox", bytes(cmd, "store_as")?, received.plaintext());
                vec![match received.expires_at() {
                    Some(at) => row.expires_at(at),
                    None => row,
                }]
            }
        };
        if cmd.get("commit").and_then(Value::as_bool) == Some(false) {
            self.next_received += 1;
            let id = format!("received-{}", self.next_received);
            self.received.insert(id.clone(), received);
            fields.push(("received", json!(id)));
        } else {
            let generation = self.conversations.commit_received(received, rows).map_err(lib)?;
            fields.push(("generation", json!(generation)));
        }
        ok(fields)
    }

    /// `device_restart`: opens the device again from its store (or from a
    /// copy of a snapshot, as a restore from a backup would), dropping
    /// every uncommitted received message.
    fn restart(&mut self, cmd: &Map<String, Value>) -> Outcome {
        let store = match cmd.get("snapshot") {
            None => Arc::clone(&self.store),
            Some(_) => {
                let name = text(cmd, "snapshot")?;
                let snapshot = self.snapshots.get(name).ok_or_else(|| fail("UnknownSnapshot", name))?;
                Arc::new(snapshot.snapshot())
            }
        };
        self.opens += 1;
        let conversations = Conversations::open_with_rng(
            stream(self.seed, self.opens),
            Arc::clone(&store),
            StorageKey::from(self.key),
            self.address.clone(),
            self.config,
        )
        .map_err(lib)?;
        self.conversations = conversations;
        self.store = store;
        self.received.clear();
        ok(vec![])
    }
}

/// The `address`, `now` and `bundles` fields of a command that sends to
/// one peer device.
fn peer_now_source(cmd: &Map<String, Value>) -> Result<(Address, u64, impl dmseal::BundleSource), Failure> {
    Ok((address(cmd, "address")?, number(cmd, "now")?, directory(cmd)?))
}

/// The bundles a send may use, as a bundle source: a device without one
/// in the command stays needed (`NeedBundles`).
fn directory(cmd: &Map<String, Value>) -> Result<impl dmseal::BundleSource, Failure> {
    let given = bundles(cmd)?;
    Ok(move |devices: &[Address]| -> Result<Vec<(Address, PreKeyBundle)>, dmseal::BundleSourceError> {
        Ok(devices.iter().filter_map(|d| given.get(d).map(|b| (d.clone(), b.clone()))).collect())
    })
}
