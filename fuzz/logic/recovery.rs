// The recovery interaction (issue 15), shared by the fuzz target
// `recovery` and `tests/interaction_recovery.rs` (which generates the
// schedules with proptest): three users with two or three devices each,
// in 1:1 conversations and one group, over a network that loses,
// duplicates, corrupts and delays messages, with devices restored from
// old store snapshots and a group that some devices create late. Then the
// applications run the recovery the documentation describes
// (docs/PROTOCOL.md §13.7 to §13.11) over a reliable network.
//
// Invariants (`run_steps` returns the first one broken):
// - liveness: every message sent to a device is read there exactly once
//   (a restored device's reads are those its restored store holds, as an
//   application's inbox rows are restored with it; a message a restore
//   took back from its sender is read at most once);
// - no (ratchet key, counter) and no (sender state, index) is used twice
//   by a sender;
// - nothing is read that was not sent to that device;
// - nothing panics.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};

use dmseal::store::MemoryStore;
use dmseal::{
    Address, BundleSourceError, ConversationConfig, Conversations, Event, GroupError, NormalMessage, PreKeyBundle,
    PreKeyMessage, ReceiveError, ReceivedKind, SendError,
};

type Device = Conversations<MemoryStore>;

const NOW: u64 = 1_800_000_000;

fn addr(user: &str, device: u32) -> Address {
    Address::new(user, device).expect("address")
}

/// A device's bundle, as a directory would hand it out (its signed and
/// last-resort keys: enough for any number of sessions).
fn bundle(d: &mut Device) -> PreKeyBundle {
    d.account().prekey_bundle(None, None).expect("bundle")
}

fn flip(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    if let Some(byte) = b.get_mut(bit / 8) {
        *byte ^= 1 << (bit % 8);
    }
    b
}

const G: &[u8] = b"family";
const HOUR: u64 = 60 * 60;

/// alice 1-3, bob 1-2, carol 1-2.
fn everyone() -> Vec<Address> {
    let mut all = Vec::new();
    for (user, n) in [("alice", 3), ("bob", 2), ("carol", 2)] {
        for d in 1..=n {
            all.push(addr(user, d));
        }
    }
    all
}

/// What the network does with one message.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Fate {
    Deliver,
    Lose,
    Duplicate,
    Corrupt,
    Delay,
}

/// One step of a schedule.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// Device `from` (index into `everyone()`) sends to user `to` (0..3);
    /// each copy meets its fate (cycled).
    Direct { from: usize, to: usize, fates: Vec<Fate> },
    /// Device `from` sends to the group, if it has created it.
    Group { from: usize, fates: Vec<Fate> },
    /// Device takes a snapshot of its store (a backup).
    Snapshot(usize),
    /// Device is restored from its last snapshot, if any.
    Restore(usize),
    /// Device creates the group (if it has not yet).
    CreateGroup(usize),
}

pub(crate) static SENT: AtomicUsize = AtomicUsize::new(0);
pub(crate) static FAILED: AtomicUsize = AtomicUsize::new(0);
pub(crate) static HEALS: AtomicUsize = AtomicUsize::new(0);
pub(crate) static RECEIPTS: AtomicUsize = AtomicUsize::new(0);
pub(crate) static RESENT: AtomicUsize = AtomicUsize::new(0);
pub(crate) static RESTORES: AtomicUsize = AtomicUsize::new(0);

type Source<'a> = dyn FnMut(&[Address]) -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> + 'a;

/// A message on the wire: 1:1 (`group` false) or a group message.
#[derive(Clone, Debug)]
struct Wire {
    from: Address,
    to: Address,
    bytes: Vec<u8>,
    group: bool,
}

/// What one device's application keeps: what it read, and its backup.
#[derive(Default)]
struct App {
    /// Plaintexts read (as the app's inbox rows would hold them).
    read: BTreeMap<Vec<u8>, usize>,
    backup: Option<(MemoryStore, BTreeMap<Vec<u8>, usize>, usize)>,
    /// Group messages that failed for now (transient), to offer again.
    parked: Vec<Wire>,
    in_group: bool,
    /// `ResendDue` events of a restore, acted on in recovery.
    resend_due: Vec<Event>,
}

struct Sim {
    devices: BTreeMap<Address, Device>,
    apps: BTreeMap<Address, App>,
    queue: Vec<Wire>,
    late: Vec<Wire>,
    /// 1:1 messages that failed for good, for receipts.
    failed: Vec<(Wire, ReceiveError)>,
    /// (recipient, plaintext) expected exactly once; the sender and its
    /// send number (to forget sends a restore takes back).
    expected: Vec<(Address, Vec<u8>, Address, usize)>,
    /// Sends per device, as its store knows them (restored with it).
    sends: BTreeMap<Address, usize>,
    /// Sends a restore took back: (sender, first forgotten send number,
    /// last + 1).
    forgotten: Vec<(Address, usize, usize)>,
    /// Every (sender, ratchet key, counter, recipient) and (sender, state,
    /// index) used.
    used_1to1: BTreeSet<(Address, Address, [u8; 32], u32)>,
    used_group: BTreeSet<(Address, Vec<u8>)>,
    now: u64,
}

fn message_id(bytes: &[u8]) -> Option<([u8; 32], u32)> {
    if let Ok(m) = NormalMessage::decode(bytes) {
        return Some((*m.ratchet_key().as_bytes(), m.counter()));
    }
    let p = PreKeyMessage::decode(bytes).ok()?;
    Some((*p.message().ratchet_key().as_bytes(), p.message().counter()))
}

/// The state id and index of a group message (docs/PROTOCOL.md §12.4):
/// 16 bytes, then a varint.
fn group_message_id(bytes: &[u8]) -> Vec<u8> {
    let mut id = bytes[2..18].to_vec();
    for &b in &bytes[18..] {
        id.push(b);
        if b & 0x80 == 0 {
            break;
        }
    }
    id
}

impl Sim {
    fn new(late_group: &[bool]) -> Self {
        let all = everyone();
        let mut devices = BTreeMap::new();
        let mut apps = BTreeMap::new();
        for (i, a) in all.iter().enumerate() {
            let config = ConversationConfig::default();
            let mut d: Device = Conversations::open(MemoryStore::new(), [7; 32], a.clone(), config).unwrap();
            for (user, n) in [("alice", 3u32), ("bob", 2), ("carol", 2)] {
                let ids: Vec<u32> = (1..=n).collect();
                d.set_devices(user, &ids).unwrap();
            }
            let mut app = App::default();
            if !late_group[i] {
                d.create_group(G, &all).unwrap();
                app.in_group = true;
            }
            devices.insert(a.clone(), d);
            apps.insert(a.clone(), app);
        }
        Sim {
            devices,
            apps,
            queue: Vec::new(),
            late: Vec::new(),
            failed: Vec::new(),
            expected: Vec::new(),
            sends: BTreeMap::new(),
            forgotten: Vec::new(),
            used_1to1: BTreeSet::new(),
            used_group: BTreeSet::new(),
            now: NOW,
        }
    }

    /// Runs `f` on device `at` with a bundle source over the others.
    fn with<T>(&mut self, at: &Address, f: impl FnOnce(&mut Device, &mut Source<'_>, u64) -> T) -> T {
        let mut d = self.devices.remove(at).unwrap();
        let now = self.now;
        let devices = &mut self.devices;
        let mut source = |need: &[Address]| -> Result<Vec<(Address, PreKeyBundle)>, BundleSourceError> {
            Ok(need.iter().filter_map(|a| devices.get_mut(a).map(|x| (a.clone(), bundle(x)))).collect())
        };
        let out = f(&mut d, &mut source, now);
        self.devices.insert(at.clone(), d);
        out
    }

    /// Bundles of `need`, from their devices.
    fn bundles(&mut self, need: &[Address]) -> Vec<(Address, PreKeyBundle)> {
        need.iter().map(|a| (a.clone(), bundle(self.devices.get_mut(a).unwrap()))).collect()
    }

    /// Records the 1:1 messages `from` sent, checking no key is used twice.
    fn sent_1to1(&mut self, from: &Address, messages: &[(Address, Vec<u8>)]) {
        for (to, bytes) in messages {
            let (key, counter) = message_id(bytes).unwrap();
            assert!(self.used_1to1.insert((from.clone(), to.clone(), key, counter)), "a 1:1 message key used twice");
        }
    }

    fn next_send(&mut self, from: &Address) -> usize {
        let n = self.sends.entry(from.clone()).or_default();
        *n += 1;
        *n
    }

    fn route(&mut self, wire: Wire, fate: Fate) {
        match fate {
            Fate::Deliver => self.queue.push(wire),
            Fate::Lose => {}
            Fate::Duplicate => {
                self.queue.push(wire.clone());
                self.late.push(wire);
            }
            Fate::Corrupt => {
                let bit = wire.bytes.len() * 8 - 1;
                self.queue.push(Wire { bytes: flip(&wire.bytes, bit), ..wire });
            }
            Fate::Delay => self.late.push(wire),
        }
    }

    fn direct(&mut self, from: &Address, user: &str, fates: Option<&[Fate]>) {
        let n = self.next_send(from);
        let text = format!("{from} to {user} #{n}").into_bytes();
        let out = self.with(from, |d, source, now| d.send_fetching(user, &text, &mut &mut *source, now)).unwrap();
        self.sent_1to1(from, &out.messages);
        self.on_events(from, &out.events);
        for (i, (to, bytes)) in out.messages.into_iter().enumerate() {
            self.expected.push((to.clone(), text.clone(), from.clone(), n));
            let fate = fates.map_or(Fate::Deliver, |f| f[i % f.len()]);
            self.route(Wire { from: from.clone(), to, bytes, group: false }, fate);
        }
    }

    fn group(&mut self, from: &Address, fates: Option<&[Fate]>) {
        if !self.apps[from].in_group {
            return;
        }
        let n = self.next_send(from);
        let text = format!("{from} to the group #{n}").into_bytes();
        let out = self.with(from, |d, source, now| d.send_group_fetching(G, &text, &mut &mut *source, now)).unwrap();
        assert!(self.used_group.insert((from.clone(), group_message_id(&out.message))), "a (state, index) used twice");
        self.sent_1to1(from, &out.distributions.messages);
        self.on_events(from, out.events());
        // Distributions travel reliably with the message in this model
        // only when the message does: each meets the fate of the message
        // to its device.
        let members: Vec<Address> = everyone().into_iter().filter(|m| m != from).collect();
        for (i, to) in members.iter().enumerate() {
            self.expected.push((to.clone(), text.clone(), from.clone(), n));
            let fate = fates.map_or(Fate::Deliver, |f| f[i % f.len()]);
            if let Some((_, bytes)) = out.distributions.messages.iter().find(|(a, _)| a == to) {
                self.route(Wire { from: from.clone(), to: to.clone(), bytes: bytes.clone(), group: false }, fate);
            }
            self.route(Wire { from: from.clone(), to: to.clone(), bytes: out.message.clone(), group: true }, fate);
        }
    }

    /// Sends again what `at` owes `to` (after a receipt, a resync, or a
    /// `ResendDue` event).
    fn resend(&mut self, at: &Address, to: &Address) {
        let out = self.with(at, |d, source, now| d.resend(to, &mut &mut *source, now)).unwrap();
        RESENT.fetch_add(out.messages.len(), Ordering::Relaxed);
        self.dispatch(at, out);
    }

    /// Puts what `at` sent (an operation's messages) on the reliable
    /// queue, after checking its keys, and acts on its events.
    fn dispatch(&mut self, at: &Address, out: dmseal::Outgoing) {
        self.sent_1to1(at, &out.messages);
        self.on_events(at, &out.events);
        self.queue.extend(out.messages.into_iter().map(|(to, bytes)| Wire { from: at.clone(), to, bytes, group: false }));
    }

    /// Acts on the events of an operation of `at`.
    fn on_events(&mut self, at: &Address, events: &[Event]) {
        for e in events {
            if let Event::ResendDue { address } = e {
                self.resend(at, address);
            }
        }
    }

    fn count_read(&mut self, at: &Address, plaintext: &[u8]) {
        *self.apps.get_mut(at).unwrap().read.entry(plaintext.to_vec()).or_default() += 1;
    }

    /// Delivers one message as an application would.
    fn deliver(&mut self, w: Wire) {
        let (at, from) = (w.to.clone(), w.from.clone());
        let now = self.now;
        let result = if w.group {
            self.devices.get_mut(&at).unwrap().receive_group(G, &from, &w.bytes, now)
        } else {
            self.devices.get_mut(&at).unwrap().receive(&from, &w.bytes, now)
        };
        if std::env::var_os("DMSEAL_RECOVERY_DEBUG").is_some() {
            eprintln!(
                "{} -> {} ({}): {:?}",
                from,
                at,
                if w.group { "group" } else { "1:1" },
                result.as_ref().map(|r| (
                    r.kind(),
                    String::from_utf8_lossy(r.plaintext()).into_owned(),
                    r.events().to_vec()
                ))
            );
        }
        match result {
            Ok(r) => {
                let kind = r.kind();
                let plaintext = r.plaintext().to_vec();
                let events = r.events().to_vec();
                self.devices.get_mut(&at).unwrap().commit_received(r, vec![]).unwrap();
                self.on_events(&at, &events);
                match kind {
                    ReceivedKind::Message | ReceivedKind::GroupMessage => self.count_read(&at, &plaintext),
                    ReceivedKind::RetryRequested => self.resend(&at, &from),
                    ReceivedKind::GroupKeysRequested => {
                        let mut bundles = Vec::new();
                        let out = loop {
                            match self.devices.get_mut(&at).unwrap().send_group_keys(G, &bundles, now) {
                                Err(SendError::NeedBundles(need)) if bundles.is_empty() => {
                                    bundles = self.bundles(&need);
                                }
                                other => break other.unwrap(),
                            }
                        };
                        self.dispatch(&at, out);
                    }
                    _ => {}
                }
            }
            Err(e) if w.group && e.is_transient() => self.apps.get_mut(&at).unwrap().parked.push(w),
            Err(ReceiveError::Group(GroupError::Duplicate)) if w.group => {}
            Err(e) => {
                FAILED.fetch_add(1, Ordering::Relaxed);
                if w.group {
                    // Read already, or never readable here: ask for it.
                    self.apps.get_mut(&at).unwrap().parked.push(w);
                } else {
                    self.failed.push((w, e));
                }
            }
        }
    }

    fn drain(&mut self) {
        let mut rounds = 0;
        while !self.queue.is_empty() {
            rounds += 1;
            assert!(rounds < 1000, "the network never settles");
            for w in core::mem::take(&mut self.queue) {
                self.deliver(w);
            }
        }
    }

    fn snapshot(&mut self, at: &Address) {
        let store = self.devices[at].store().snapshot();
        let app = self.apps.get_mut(at).unwrap();
        let sends = self.sends.get(at).copied().unwrap_or(0);
        app.backup = Some((store, app.read.clone(), sends));
    }

    fn restore(&mut self, at: &Address) {
        let Some((store, read, sends)) = self.apps.get_mut(at).unwrap().backup.take() else { return };
        RESTORES.fetch_add(1, Ordering::Relaxed);
        // The backup stays a backup: it can be restored again.
        let copy = store.snapshot();
        let mut d: Device = Conversations::open(store, [7; 32], at.clone(), ConversationConfig::default()).unwrap();
        let events = d.restored_from_backup(self.now).unwrap();
        self.devices.insert(at.clone(), d);
        // Sent again once a session can start: in the first recovery round.
        self.apps.get_mut(at).unwrap().resend_due.extend(events);
        let in_group = self.devices[at].group_members(G).is_ok();
        let app = self.apps.get_mut(at).unwrap();
        app.backup = Some((copy, read.clone(), sends));
        app.read = read;
        app.in_group = in_group;
        let now = self.sends.get(at).copied().unwrap_or(0);
        self.forgotten.push((at.clone(), sends + 1, now + 1));
        self.sends.insert(at.clone(), sends.max(now));
    }

    fn create_group(&mut self, at: &Address) {
        if !self.apps[at].in_group {
            self.devices.get_mut(at).unwrap().create_group(G, &everyone()).unwrap();
            self.apps.get_mut(at).unwrap().in_group = true;
        }
    }

    /// One round of recovery over the reliable network.
    fn recover(&mut self, restored: &BTreeSet<Address>, first: bool) {
        self.now += 2 * HOUR;
        let all = everyone();
        if first {
            for at in restored {
                for peer in all.iter().filter(|p| *p != at) {
                    let out = self.with(at, |d, source, now| d.request_resync(peer, &mut &mut *source, now)).unwrap();
                    self.dispatch(at, out);
                }
                let due = core::mem::take(&mut self.apps.get_mut(at).unwrap().resend_due);
                self.on_events(at, &due);
            }
            self.drain();
        }
        // Ticks: one message each way and one to the group from everyone,
        // so a gap at the end of a chain shows.
        for from in &all {
            for user in ["alice", "bob", "carol"].into_iter().filter(|u| *u != from.user()) {
                self.direct(from, user, None);
            }
            self.group(from, None);
        }
        self.drain();
        // Parked group messages are offered again; those that still fail
        // are asked for, with their keys.
        for at in &all {
            let parked = core::mem::take(&mut self.apps.get_mut(at).unwrap().parked);
            for w in parked {
                let now = self.now;
                match self.devices.get_mut(at).unwrap().receive_group(G, &w.from, &w.bytes, now) {
                    Ok(r) => {
                        let (kind, plaintext) = (r.kind(), r.plaintext().to_vec());
                        self.devices.get_mut(at).unwrap().commit_received(r, vec![]).unwrap();
                        if kind == ReceivedKind::GroupMessage {
                            self.count_read(at, &plaintext);
                        }
                    }
                    Err(ReceiveError::Group(GroupError::Duplicate)) => {}
                    Err(e) => {
                        if !self.apps[at].in_group {
                            continue;
                        }
                        if e.is_transient() {
                            let mut bundles = Vec::new();
                            let out = loop {
                                match self.devices.get_mut(at).unwrap().request_group_keys(G, &w.from, &bundles, now) {
                                    Err(SendError::NeedBundles(need)) if bundles.is_empty() => {
                                        bundles = self.bundles(&need);
                                    }
                                    other => break other.unwrap(),
                                }
                            };
                            self.dispatch(at, out);
                        }
                        let out = self
                            .with(at, |d, source, now| {
                                d.send_group_retry_receipt(G, &w.from, &w.bytes, &mut &mut *source, now)
                            })
                            .unwrap();
                        RECEIPTS.fetch_add(1, Ordering::Relaxed);
                        self.dispatch(at, out);
                    }
                }
            }
        }
        // 1:1 failures: heal when the failure says so, then a receipt.
        for (w, e) in core::mem::take(&mut self.failed) {
            if e.suggests_healing() {
                match self.with(&w.to, |d, source, now| d.heal(&w.from, &mut &mut *source, now)) {
                    Ok(out) => {
                        HEALS.fetch_add(1, Ordering::Relaxed);
                        self.dispatch(&w.to, out);
                    }
                    Err(SendError::HealedRecently { .. }) => {}
                    Err(other) => panic!("heal failed: {other:?}"),
                }
            }
            let out = match self
                .with(&w.to, |d, source, now| d.send_retry_receipt(&w.from, &w.bytes, &mut &mut *source, now))
            {
                Ok(out) => out,
                Err(SendError::NotAMessage) => continue,
                Err(other) => panic!("receipt failed: {other:?}"),
            };
            RECEIPTS.fetch_add(1, Ordering::Relaxed);
            self.dispatch(&w.to, out);
        }
        self.drain();
        // What is missing: skipped 1:1 keys, and group indices skipped.
        for at in &all {
            for peer in all.iter().filter(|p| *p != at) {
                let out = self.with(at, |d, source, now| d.request_missing(peer, &mut &mut *source, now)).unwrap();
                RECEIPTS.fetch_add(out.messages.len(), Ordering::Relaxed);
                self.dispatch(at, out);
                if self.apps[at].in_group {
                    let out = self
                        .with(at, |d, source, now| d.request_missing_group(G, peer, &mut &mut *source, now))
                        .unwrap();
                    RECEIPTS.fetch_add(out.messages.len(), Ordering::Relaxed);
                    self.dispatch(at, out);
                }
            }
        }
        self.drain();
    }
}

/// Runs a schedule, then recovery, and checks the invariants; the first
/// broken one as an error.
pub(crate) fn run_steps(late_group: &[bool], steps: &[Step], order: u64) -> Result<(), String> {
    let all = everyone();
    let mut sim = Sim::new(late_group);
    let mut restored = BTreeSet::new();
    for step in steps {
        match step {
            Step::Direct { from, to, fates } => {
                // To another user (copies go to the sender's other devices).
                let from = &all[*from];
                let others: Vec<&str> = ["alice", "bob", "carol"].into_iter().filter(|u| *u != from.user()).collect();
                sim.direct(from, others[*to % 2], Some(fates));
            }
            Step::Group { from, fates } => sim.group(&all[*from], Some(fates)),
            Step::Snapshot(at) => sim.snapshot(&all[*at]),
            Step::Restore(at) => {
                if sim.apps[&all[*at]].backup.is_some() {
                    sim.restore(&all[*at]);
                    restored.insert(all[*at].clone());
                }
            }
            Step::CreateGroup(at) => sim.create_group(&all[*at]),
        }
        sim.drain();
    }
    // Late copies arrive in a shuffled order; every device has the group.
    let mut late = core::mem::take(&mut sim.late);
    if !late.is_empty() {
        let k = (order % late.len() as u64) as usize;
        late.rotate_left(k);
    }
    sim.queue = late;
    sim.drain();
    for at in &all {
        sim.create_group(at);
    }
    for round in 0..4 {
        sim.recover(&restored, round == 0);
    }
    // Exactly once, except what a restore took back from its sender (at
    // most once: a recipient may have read it before).
    let forgotten =
        |from: &Address, n: usize| sim.forgotten.iter().any(|(a, lo, hi)| a == from && (*lo..*hi).contains(&n));
    let mut expected: BTreeMap<(Address, Vec<u8>), (usize, bool)> = BTreeMap::new();
    for (to, text, from, n) in &sim.expected {
        let e = expected.entry((to.clone(), text.clone())).or_default();
        e.0 += 1;
        e.1 |= forgotten(from, *n);
    }
    for ((to, text), (copies, taken_back)) in &expected {
        let read = sim.apps[to].read.get(text).copied().unwrap_or(0);
        if *copies != 1 {
            return Err(format!("{copies} copies of {:?} to {to}", String::from_utf8_lossy(text)));
        }
        let ok = if *taken_back { read <= 1 } else { read == 1 };
        if !ok {
            return Err(format!("{:?} read {read} times at {to}", String::from_utf8_lossy(text)));
        }
    }
    for (at, app) in &sim.apps {
        for text in app.read.keys() {
            if !expected.contains_key(&(at.clone(), text.clone())) {
                return Err(format!("{at} read what was not sent to it: {:?}", String::from_utf8_lossy(text)));
            }
        }
    }
    SENT.fetch_add(expected.len(), Ordering::Relaxed);
    if std::env::var_os("DMSEAL_RECOVERY_STATS").is_some() {
        let [s, f, h, r, x, t] =
            [&SENT, &FAILED, &HEALS, &RECEIPTS, &RESENT, &RESTORES].map(|c| c.load(Ordering::Relaxed));
        eprintln!("totals: {s} messages, {f} failed deliveries, {h} heals, {r} receipts, {x} re-sent, {t} restores");
    }
    Ok(())
}


/// The fuzz entry: the bytes choose which devices create the group late,
/// the order of late copies, and up to 24 steps; the invariants must hold.
pub(crate) fn run(data: &[u8]) {
    let mut bytes = data.iter().copied();
    let mut next = move || bytes.next();
    let Some(first) = next() else { return };
    let late_group: Vec<bool> = (0..7).map(|i| first & (1 << i) != 0).collect();
    let order = u64::from(next().unwrap_or(0));
    let fate = |b: u8| match b % 14 {
        0..=7 => Fate::Deliver,
        8 | 9 => Fate::Lose,
        10 => Fate::Duplicate,
        11 => Fate::Corrupt,
        _ => Fate::Delay,
    };
    let mut steps = Vec::new();
    while steps.len() < 24 {
        let Some(kind) = next() else { break };
        let device = usize::from(next().unwrap_or(0) % 7);
        let step = match kind % 13 {
            0..=5 | 10..=12 => {
                let n = 1 + usize::from(next().unwrap_or(0) % 7);
                let fates: Vec<Fate> = (0..n).map(|_| fate(next().unwrap_or(0))).collect();
                if kind % 13 < 6 {
                    Step::Direct { from: device, to: usize::from(kind / 13 % 2), fates }
                } else {
                    Step::Group { from: device, fates }
                }
            }
            6 => Step::Snapshot(device),
            7 => Step::Restore(device),
            8 => Step::CreateGroup(device),
            _ => Step::Group { from: device, fates: vec![Fate::Deliver] },
        };
        steps.push(step);
    }
    if let Err(broken) = run_steps(&late_group, &steps, order) {
        panic!("{broken}: {steps:?}");
    }
}
