//! Fair sharing of guest CPU between orgs.
//!
//! Guest code runs only while the future driving its instance is polled, and
//! each poll is short: the epoch callback (see `runtime`) ends a poll at
//! every epoch tick. So the scheduler gates *polls*: a guest future may be
//! polled only while it holds one of a fixed number of run slots (one per
//! core by default), and gives its slot back when the poll returns — when it
//! finished, waits on a host call (a sleeping guest holds nothing), or was
//! stopped at a tick. A guest stopped at a tick does not run again by
//! itself: it queues behind every other guest that wants a slot.
//!
//! Waiting guests queue per org, and a freed slot goes to the waiting org
//! with the least *virtual runtime*: the CPU time its guests have used,
//! divided by its weight (the org's `cpu-weight`), as in Linux's CFS. So
//! two busy orgs get equal CPU whether one runs 1 or 60 guests at a time. An
//! org that becomes busy starts a little ahead of the least-served busy org,
//! so a short request of an org that was idle runs next (after at most one
//! tick), and an idle org banks no credit.
//!
//! While several orgs are busy, none holds more than its weight's part of
//! the slots (at least one), so one org's spinning guests leave the other
//! cores to the others' requests and to the server's own work on them; an
//! org counts as busy for a few ticks after its last guest ended. The
//! scheduler is work-conserving for an org alone: it may use every slot. Time is measured per poll
//! with the monotonic clock; the same measure enforces each guest's CPU
//! deadline ([`CpuMeter`]) and feeds `berth_org_cpu_seconds_total` and
//! `berth_plugin_cpu_seconds_total`.
//!
//! Its work per guest does not grow with the number of orgs: only orgs with
//! live guests are compared, and lingering idle orgs are forgotten in the
//! order they went idle.

use crate::common::metrics::PluginMetrics;
use std::cell::Cell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// An org's CPU weight when none is configured.
pub const DEFAULT_CPU_WEIGHT: u32 = 1;

/// Ticks an org stays busy after its last guest ended: the gaps between
/// the short requests of a steadily served org are much shorter, so such an
/// org keeps its share of slots between them.
const LINGER_TICKS: u32 = 5;

/// Where the virtual runtime of the first busy org starts (any value works:
/// only differences between busy orgs matter; a large one leaves room for
/// the head start of orgs that become busy later).
const VRUNTIME_BASE: u64 = 1 << 40;

/// Shares run slots between the guests of every org.
pub struct CpuScheduler {
    slots: usize,
    /// Head start, in virtual nanoseconds, of an org that becomes busy.
    wake_bonus: u64,
    /// How long an org stays busy after its last guest ended.
    linger: Duration,
    weight_of: Box<dyn Fn(&str) -> u32 + Send + Sync>,
    state: Mutex<State>,
    /// Whether any guest waits for a slot (read without the lock by the
    /// epoch callback, to decide whether a guest must give its slot up).
    contended: AtomicBool,
}

/// The scheduler's shared state, behind one short-held lock.
#[derive(Default)]
struct State {
    /// Slots in use: polls under way plus slots handed to a waiter that has
    /// not been polled yet.
    taken: usize,
    /// Guests waiting in all queues.
    waiting: usize,
    /// Orgs with live guests, or whose last guest ended within the linger.
    busy: HashMap<String, BusyOrg>,
    /// The orgs of `busy` with live guests: the only ones a new guest is
    /// compared with and a free slot can go to, so that scheduling costs
    /// the same with ten orgs as with ten thousand.
    live: HashSet<String>,
    /// Orgs whose last guest ended, oldest first, with when it ended: who
    /// to forget once the linger has passed, without scanning `busy`.
    idle: VecDeque<(Instant, String)>,
    /// The sum of the busy orgs' weights.
    total_weight: u64,
    next_ticket: u64,
}

/// An org with live guests, or that had some a moment ago.
struct BusyOrg {
    weight: u64,
    /// CPU nanoseconds its guests used, divided by its weight.
    vruntime: u64,
    /// Its guests alive (running, waiting or blocked in host calls).
    guests: usize,
    /// Slots held by (or handed to) its *long-running* guests: those stopped
    /// at a tick at least once. Only these count against its share, so
    /// short requests never wait for their own org's.
    long_holding: usize,
    /// When its last guest ended, while it has none.
    idle_since: Option<Instant>,
    queue: VecDeque<Waiter>,
}

/// A guest waiting for a slot.
struct Waiter {
    ticket: u64,
    waker: Waker,
    granted: Arc<AtomicBool>,
    /// Whether the guest is long-running (see [`BusyOrg::long_holding`]).
    long_running: bool,
}

thread_local! {
    /// Set while this thread polls a guest: a guest started from inside
    /// another guest's host call runs on its caller's slot.
    static POLLING_GUEST: Cell<bool> = const { Cell::new(false) };
}

/// The most slots an org of `weight` may hold while orgs of `total_weight`
/// are busy: its weight's part of `slots`, at least one.
fn share(slots: usize, weight: u64, total_weight: u64) -> usize {
    let share = (slots as u64).saturating_mul(weight) / total_weight.max(1);
    usize::try_from(share.max(1)).unwrap_or(usize::MAX)
}

impl State {
    /// Forgets orgs idle for longer than `linger` (each idle spell is
    /// queued once, so this costs one step per org that went idle).
    fn forget_idle(&mut self, linger: Duration) {
        while let Some((since, _)) = self.idle.front()
            && since.elapsed() > linger
        {
            let Some((since, org)) = self.idle.pop_front() else {
                break;
            };
            // Only if it is still idle since then (not busy again).
            if self
                .busy
                .get(&org)
                .is_some_and(|b| b.idle_since == Some(since))
                && let Some(busy) = self.busy.remove(&org)
            {
                self.total_weight -= busy.weight;
            }
        }
    }

    /// Records that `org` has a live guest again (or for the first time).
    fn became_live(&mut self, org: &str) {
        if !self.live.contains(org) {
            self.live.insert(org.to_owned());
        }
    }

    /// Records that `org`'s last guest ended now.
    fn became_idle(&mut self, org: &str, now: Instant) {
        self.live.remove(org);
        self.idle.push_back((now, org.to_owned()));
    }
}

impl CpuScheduler {
    /// A scheduler with `slots` run slots (at least one) and epoch ticks of
    /// `tick`: an org that becomes busy gets a head start of one tick and
    /// stays busy for a few ticks after its last guest ended. Each org is
    /// weighed by `weight_of(org)`, read when it becomes busy.
    pub fn new(
        slots: usize,
        tick: Duration,
        weight_of: impl Fn(&str) -> u32 + Send + Sync + 'static,
    ) -> Self {
        Self {
            slots: slots.max(1),
            wake_bonus: u64::try_from(tick.as_nanos()).unwrap_or(u64::MAX),
            linger: tick * LINGER_TICKS,
            weight_of: Box::new(weight_of),
            state: Mutex::default(),
            contended: AtomicBool::new(false),
        }
    }

    /// Wraps `guest`, a future running one instance of `org`'s plugin, so
    /// that it runs only on a slot, charging its CPU time to `meter`, to
    /// `metrics` and to the org's fair share.
    pub fn schedule<F: Future>(
        self: &Arc<Self>,
        org: &str,
        meter: Arc<CpuMeter>,
        metrics: Arc<PluginMetrics>,
        guest: F,
    ) -> FairGuest<F> {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.forget_idle(self.linger);
        let least_other = (state.live.iter())
            .filter(|name| name.as_str() != org)
            .filter_map(|name| state.busy.get(name))
            .map(|busy| busy.vruntime)
            .min();
        // Becoming busy: start no further ahead than one tick of the
        // least-served busy org (no banked credit).
        let floor = least_other.map(|least| least.saturating_sub(self.wake_bonus));
        match state.busy.get_mut(org) {
            Some(busy) => {
                if busy.guests == 0 {
                    busy.idle_since = None;
                    busy.vruntime = busy.vruntime.max(floor.unwrap_or(0));
                }
                busy.guests += 1;
            }
            None => {
                let weight = u64::from((self.weight_of)(org).max(1));
                state.total_weight += weight;
                state.busy.insert(
                    org.to_owned(),
                    BusyOrg {
                        weight,
                        vruntime: floor.unwrap_or(VRUNTIME_BASE),
                        guests: 1,
                        long_holding: 0,
                        idle_since: None,
                        queue: VecDeque::new(),
                    },
                );
            }
        }
        state.became_live(org);
        drop(state);
        FairGuest {
            scheduler: self.clone(),
            org: org.to_owned(),
            ticket,
            granted: Arc::new(AtomicBool::new(false)),
            queued: false,
            long_running: false,
            holds_long_slot: false,
            polling: false,
            meter,
            metrics,
            guest,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether some guest waits for a run slot: then a guest reaching a
    /// tick must give its slot up and queue ([`CpuMeter::preempt`]);
    /// otherwise it only yields to the executor and runs on.
    pub fn contended(&self) -> bool {
        self.contended.load(Ordering::Relaxed)
    }

    /// Publishes whether guests wait, before the lock is released.
    fn publish(&self, state: &State) {
        self.contended.store(state.waiting > 0, Ordering::Relaxed);
    }

    /// Takes a slot for `guest` now, or queues it; returns whether it holds one.
    fn enter<F>(&self, guest: &mut FairGuest<F>, waker: &Waker) -> bool {
        let mut state = self.lock();
        if guest.granted.swap(false, Ordering::Relaxed) {
            guest.queued = false;
            guest.holds_long_slot = guest.long_running;
            return true;
        }
        if guest.queued {
            if let Some(waiter) = state
                .busy
                .get_mut(&guest.org)
                .and_then(|busy| busy.queue.iter_mut().find(|w| w.ticket == guest.ticket))
            {
                waiter.waker.clone_from(waker);
            }
            return false;
        }
        let slots = self.slots;
        let (taken, waiting) = (state.taken, state.waiting);
        if let Some(busy) = state.busy.get(&guest.org)
            && waiting == 0
            && taken < slots
            && (!guest.long_running
                || busy.long_holding < share(slots, busy.weight, state.total_weight))
        {
            state.taken += 1;
            if guest.long_running
                && let Some(busy) = state.busy.get_mut(&guest.org)
            {
                busy.long_holding += 1;
            }
            guest.holds_long_slot = guest.long_running;
            return true;
        }
        // Others wait, no slot is free or the org holds its share: queue up
        // and let the fairest go.
        Self::enqueue(&mut state, guest, waker);
        let wake = self.dispatch(&mut state);
        self.publish(&state);
        drop(state);
        Self::wake_others(wake, guest);
        let mine = guest.granted.swap(false, Ordering::Relaxed);
        if mine {
            guest.queued = false;
            guest.holds_long_slot = guest.long_running;
        }
        mine
    }

    /// Gives back `guest`'s slot after a poll that took `spent`. With
    /// `requeue` (the guest was stopped at a tick and wants to go on), the
    /// guest queues for its next turn: its task will be polled again by the
    /// executor anyway and finds out then whether it got a slot.
    fn leave<F>(&self, guest: &mut FairGuest<F>, spent: Duration, requeue: Option<&Waker>) {
        let mut state = self.lock();
        state.taken -= 1;
        if let Some(busy) = state.busy.get_mut(&guest.org) {
            if guest.holds_long_slot {
                busy.long_holding -= 1;
            }
            let nanos = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
            busy.vruntime = busy.vruntime.saturating_add(nanos / busy.weight);
        }
        guest.holds_long_slot = false;
        if let Some(waker) = requeue {
            guest.long_running = true;
            Self::enqueue(&mut state, guest, waker);
        }
        let wake = self.dispatch(&mut state);
        self.publish(&state);
        drop(state);
        Self::wake_others(wake, guest);
    }

    /// Puts `guest` at the back of its org's queue.
    fn enqueue<F>(state: &mut State, guest: &mut FairGuest<F>, waker: &Waker) {
        if let Some(busy) = state.busy.get_mut(&guest.org) {
            busy.queue.push_back(Waiter {
                ticket: guest.ticket,
                waker: waker.clone(),
                granted: guest.granted.clone(),
                long_running: guest.long_running,
            });
            state.waiting += 1;
            guest.queued = true;
        }
    }

    /// Wakes the waiters handed a slot, except `guest` itself, which is
    /// being polled (or will be, having yielded) and sees its grant then.
    fn wake_others<F>(wake: Vec<Waiter>, guest: &FairGuest<F>) {
        for waiter in wake.into_iter().filter(|w| w.ticket != guest.ticket) {
            waiter.waker.wake();
        }
    }

    /// Forgets a guest that ended (or was dropped) in any state.
    fn exit<F>(&self, guest: &FairGuest<F>) {
        let mut state = self.lock();
        let granted = guest.granted.swap(false, Ordering::Relaxed);
        if granted || guest.polling {
            // Handed a slot it will never use, or holding one from a poll
            // that panicked: pass it on.
            state.taken -= 1;
        }
        let mut dequeued = false;
        if let Some(busy) = state.busy.get_mut(&guest.org) {
            if (granted && guest.long_running) || (guest.polling && guest.holds_long_slot) {
                busy.long_holding -= 1;
            } else if !granted
                && !guest.polling
                && guest.queued
                && let Some(at) = busy.queue.iter().position(|w| w.ticket == guest.ticket)
            {
                busy.queue.remove(at);
                dequeued = true;
            }
            busy.guests -= 1;
            if busy.guests == 0 {
                let now = Instant::now();
                busy.idle_since = Some(now);
                state.became_idle(&guest.org, now);
            }
        }
        if dequeued {
            state.waiting -= 1;
        }
        let wake = self.dispatch(&mut state);
        self.publish(&state);
        drop(state);
        wake.into_iter().for_each(|w| w.waker.wake());
    }

    /// Hands free slots to waiters, least virtual runtime first; an org's
    /// long-running guests only while they hold less than its share.
    /// Returns the waiters to wake.
    fn dispatch(&self, state: &mut State) -> Vec<Waiter> {
        let mut wake = Vec::new();
        if state.taken >= self.slots || state.waiting == 0 {
            return wake;
        }
        state.forget_idle(self.linger);
        while state.taken < self.slots && state.waiting > 0 {
            let (slots, total_weight) = (self.slots, state.total_weight);
            // Waiting guests are live: only live orgs can have a queue.
            let next = (state.live.iter())
                .filter_map(|name| {
                    let busy = state.busy.get(name)?;
                    let capped = busy.long_holding >= share(slots, busy.weight, total_weight);
                    let at = busy
                        .queue
                        .iter()
                        .position(|w| !(w.long_running && capped))?;
                    Some((busy.vruntime, name, at))
                })
                .min()
                .map(|(_, name, at)| (name.clone(), at));
            // None: every waiting org's long-running guests hold its share,
            // and the free slots stay with the busy orgs' short requests.
            let Some((name, at)) = next else {
                break;
            };
            let Some(busy) = state.busy.get_mut(&name) else {
                break;
            };
            let Some(next) = busy.queue.remove(at) else {
                break;
            };
            if next.long_running {
                busy.long_holding += 1;
            }
            state.waiting -= 1;
            state.taken += 1;
            next.granted.store(true, Ordering::Relaxed);
            wake.push(next);
        }
        wake
    }
}

/// A guest's CPU time: what its finished polls used, plus the poll under
/// way. Shared between the guest's future and its store, whose epoch
/// callback reads it to enforce the CPU deadline and marks a poll it stops
/// at a tick.
pub struct CpuMeter {
    origin: Instant,
    /// Nanoseconds used by finished polls.
    spent: AtomicU64,
    /// When the poll under way started, in nanoseconds after `origin`
    /// (meaningless while no poll runs).
    poll_started: AtomicU64,
    /// Set when the poll under way reached a tick.
    ticked: AtomicBool,
    /// Set when the poll under way was stopped at a tick to give its slot up.
    preempted: AtomicBool,
}

impl Default for CpuMeter {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            spent: AtomicU64::new(0),
            poll_started: AtomicU64::new(0),
            ticked: AtomicBool::new(false),
            preempted: AtomicBool::new(false),
        }
    }
}

impl CpuMeter {
    /// Marks the guest as having run through a tick: it is long-running
    /// from now on (see [`BusyOrg::long_holding`]).
    pub fn ticked(&self) {
        self.ticked.store(true, Ordering::Relaxed);
    }

    /// Marks the poll under way as stopped at a tick to give its slot up
    /// (the guest yields and wants to go on), so its next turn is decided
    /// by the scheduler.
    pub fn preempt(&self) {
        self.preempted.store(true, Ordering::Relaxed);
    }

    /// CPU time used so far, counting the poll under way (call it from
    /// inside a poll, as the epoch callback is).
    pub fn used(&self) -> Duration {
        let now = self.nanos_since_origin();
        let current = now.saturating_sub(self.poll_started.load(Ordering::Relaxed));
        Duration::from_nanos(self.spent.load(Ordering::Relaxed).saturating_add(current))
    }

    fn nanos_since_origin(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn poll_starts(&self) {
        let now = self.nanos_since_origin();
        self.poll_started.store(now, Ordering::Relaxed);
    }

    /// Ends a poll; returns its length.
    fn poll_ends(&self) -> Duration {
        let spent = self
            .nanos_since_origin()
            .saturating_sub(self.poll_started.load(Ordering::Relaxed));
        self.spent.fetch_add(spent, Ordering::Relaxed);
        Duration::from_nanos(spent)
    }
}

/// A guest future that runs only on a slot of its [`CpuScheduler`].
pub struct FairGuest<F> {
    scheduler: Arc<CpuScheduler>,
    org: String,
    ticket: u64,
    /// Set by the scheduler when it hands this guest a slot.
    granted: Arc<AtomicBool>,
    /// Whether this guest sits in its org's queue.
    queued: bool,
    /// Whether it was stopped at a tick before (see [`BusyOrg::long_holding`]).
    long_running: bool,
    /// Whether the slot it holds counts as a long-running guest's.
    holds_long_slot: bool,
    /// Whether a poll of it holds a slot now (false again after the poll,
    /// unless the poll panicked: dropping the guest then gives it back).
    polling: bool,
    meter: Arc<CpuMeter>,
    metrics: Arc<PluginMetrics>,
    guest: F,
}

impl<F: Future + Unpin> Future for FairGuest<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        if POLLING_GUEST.get() {
            // Nested in another guest's poll: that guest's slot covers it.
            this.meter.poll_starts();
            let result = Pin::new(&mut this.guest).poll(cx);
            this.meter.poll_ends();
            return result;
        }
        let scheduler = this.scheduler.clone();
        if !scheduler.enter(this, cx.waker()) {
            return Poll::Pending;
        }
        this.polling = true;
        this.meter.poll_starts();
        let result = {
            let _polling = PollingGuest::start();
            Pin::new(&mut this.guest).poll(cx)
        };
        this.polling = false;
        let spent = this.meter.poll_ends();
        this.metrics.used_cpu(spent);
        if this.meter.ticked.swap(false, Ordering::Relaxed) {
            this.long_running = true;
        }
        let preempted = this.meter.preempted.swap(false, Ordering::Relaxed);
        let requeue = (preempted && result.is_pending()).then_some(cx.waker());
        scheduler.leave(this, spent, requeue);
        result
    }
}

/// Marks this thread as polling a guest until dropped (also when the poll
/// panics, so the thread is not left marked).
struct PollingGuest;

impl PollingGuest {
    fn start() -> Self {
        POLLING_GUEST.set(true);
        Self
    }
}

impl Drop for PollingGuest {
    fn drop(&mut self) {
        POLLING_GUEST.set(false);
    }
}

impl<F> Drop for FairGuest<F> {
    fn drop(&mut self) {
        self.scheduler.exit(self);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::metrics::Metrics;
    use std::sync::atomic::AtomicUsize;

    /// A guest that burns `slice` of CPU per poll, `polls` times, stopped
    /// at a "tick" after each slice, as the epoch callback stops guests.
    struct Burner {
        slice: Duration,
        polls: usize,
        done: Arc<AtomicUsize>,
        meter: Arc<CpuMeter>,
    }

    impl Future for Burner {
        type Output = ();

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
            let started = Instant::now();
            while started.elapsed() < self.slice {
                std::hint::spin_loop();
            }
            self.done.fetch_add(1, Ordering::Relaxed);
            self.polls -= 1;
            if self.polls == 0 {
                Poll::Ready(())
            } else {
                self.meter.preempt();
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    fn burner(slice: Duration, polls: usize, done: &Arc<AtomicUsize>) -> Burner {
        Burner {
            slice,
            polls,
            done: done.clone(),
            meter: Arc::default(),
        }
    }

    /// Schedules `burner` for `org` on `scheduler`.
    fn scheduled(
        scheduler: &Arc<CpuScheduler>,
        metrics: &Metrics,
        org: &str,
        burner: Burner,
    ) -> FairGuest<Burner> {
        let meter = burner.meter.clone();
        scheduler.schedule(org, meter, Arc::new(metrics.plugin(org, "burner")), burner)
    }

    fn scheduler(slots: usize, weights: &[(&'static str, u32)]) -> Arc<CpuScheduler> {
        let weights: HashMap<&str, u32> = weights.iter().copied().collect();
        Arc::new(CpuScheduler::new(
            slots,
            Duration::from_millis(1),
            move |org| weights.get(org).copied().unwrap_or(DEFAULT_CPU_WEIGHT),
        ))
    }

    /// Spawns `count` burners for `org` on a current-thread runtime; returns
    /// the counter of their finished polls.
    fn burners(
        scheduler: &Arc<CpuScheduler>,
        metrics: &Metrics,
        org: &str,
        count: usize,
    ) -> Arc<AtomicUsize> {
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..count {
            let burner = burner(Duration::from_micros(200), 1_000_000, &done);
            tokio::task::spawn_local(scheduled(scheduler, metrics, org, burner));
        }
        done
    }

    /// Runs burners of two orgs on one slot for `time`; returns each org's polls.
    fn contend(weights: &[(&'static str, u32)], a: usize, b: usize) -> (usize, usize) {
        let scheduler = scheduler(1, weights);
        let metrics = Metrics::default();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let local = tokio::task::LocalSet::new();
        let (done_a, done_b) = local.block_on(&runtime, async {
            let done_a = burners(&scheduler, &metrics, "a", a);
            let done_b = burners(&scheduler, &metrics, "b", b);
            tokio::time::sleep(Duration::from_millis(300)).await;
            (done_a, done_b)
        });
        (
            done_a.load(Ordering::Relaxed),
            done_b.load(Ordering::Relaxed),
        )
    }

    #[test]
    fn orgs_share_equally_whatever_their_number_of_guests() {
        let (a, b) = contend(&[], 12, 1);
        let share = a as f64 / (a + b) as f64;
        assert!((0.4..0.6).contains(&share), "a {a} b {b}");
    }

    #[test]
    fn weights_skew_the_share() {
        let (a, b) = contend(&[("a", 3)], 2, 2);
        let share = a as f64 / (a + b) as f64;
        assert!((0.65..0.85).contains(&share), "a {a} b {b}");
    }

    /// A guest of `org` that never finishes, to drive the slots by hand.
    fn idle_guest(
        scheduler: &Arc<CpuScheduler>,
        metrics: &Metrics,
        org: &str,
    ) -> FairGuest<std::future::Pending<()>> {
        let metrics = Arc::new(metrics.plugin(org, "p"));
        scheduler.schedule(org, Arc::default(), metrics, std::future::pending())
    }

    #[test]
    fn an_org_alone_uses_every_slot() {
        let scheduler = scheduler(2, &[]);
        let metrics = Metrics::default();
        let gate = |org| idle_guest(&scheduler, &metrics, org);
        let mut first = gate("a");
        let mut second = gate("a");
        let waker = Waker::noop();
        assert!(scheduler.enter(&mut first, waker));
        assert!(scheduler.enter(&mut second, waker));
        let mut third = gate("b");
        assert!(!scheduler.enter(&mut third, waker), "no slot is free");
        scheduler.leave(&mut first, Duration::from_millis(5), None);
        assert!(
            scheduler.enter(&mut third, waker),
            "the freed slot was handed on"
        );
    }

    #[test]
    fn a_dropped_waiter_passes_its_slot_on() {
        let scheduler = scheduler(1, &[]);
        let metrics = Metrics::default();
        let gate = |org| idle_guest(&scheduler, &metrics, org);
        let waker = Waker::noop();
        let mut running = gate("a");
        assert!(scheduler.enter(&mut running, waker));
        let mut granted_then_dropped = gate("b");
        assert!(!scheduler.enter(&mut granted_then_dropped, waker));
        let mut next = gate("b");
        assert!(!scheduler.enter(&mut next, waker));
        scheduler.leave(&mut running, Duration::from_millis(1), None);
        assert!(granted_then_dropped.granted.load(Ordering::Relaxed));
        drop(granted_then_dropped);
        assert!(scheduler.enter(&mut next, waker), "the slot was passed on");
        scheduler.leave(&mut next, Duration::from_millis(1), None);
        drop(next);
        drop(running);
        let state = scheduler.lock();
        assert_eq!((state.taken, state.waiting), (0, 0));
        assert!(
            state
                .busy
                .values()
                .all(|b| b.guests == 0 && b.long_holding == 0)
        );
    }

    /// A guest whose poll panics.
    struct Panicking;

    impl Future for Panicking {
        type Output = ();

        fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
            panic!("a host function panicked")
        }
    }

    #[test]
    fn a_guest_whose_poll_panics_gives_its_slot_back() {
        let scheduler = scheduler(1, &[]);
        let metrics = Metrics::default();
        let panicking = scheduler.schedule(
            "a",
            Arc::default(),
            Arc::new(metrics.plugin("a", "p")),
            Panicking,
        );
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut panicking = std::pin::pin!(panicking);
            let _ = panicking
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()));
        }));
        assert!(caught.is_err());
        assert!(!POLLING_GUEST.get(), "the thread is not left marked");
        let mut next = idle_guest(&scheduler, &metrics, "b");
        assert!(
            scheduler.enter(&mut next, Waker::noop()),
            "the slot came back"
        );
    }

    #[test]
    fn a_busy_neighbour_caps_an_org_at_its_share_until_it_goes_idle() {
        let scheduler = scheduler(2, &[]);
        let metrics = Metrics::default();
        let gate = |org| idle_guest(&scheduler, &metrics, org);
        let waker = Waker::noop();
        let (mut a1, mut a2) = (gate("a"), gate("a"));
        assert!(scheduler.enter(&mut a1, waker));
        assert!(
            scheduler.enter(&mut a2, waker),
            "alone, `a` may use both slots"
        );
        let mut b = gate("b");
        assert!(!scheduler.enter(&mut b, waker));
        scheduler.leave(&mut a1, Duration::from_millis(1), Some(waker));
        assert!(
            scheduler.enter(&mut b, waker),
            "`b` gets the first slot freed"
        );
        scheduler.leave(&mut a2, Duration::from_millis(1), Some(waker));
        assert!(scheduler.enter(&mut a1, waker));
        scheduler.leave(&mut b, Duration::from_micros(50), None);
        drop(b);
        assert!(
            !scheduler.enter(&mut a2, waker),
            "`b` is still busy for a moment: `a` keeps to one slot"
        );
        std::thread::sleep(Duration::from_millis(10));
        scheduler.leave(&mut a1, Duration::from_millis(1), Some(waker));
        assert!(scheduler.enter(&mut a1, waker) && scheduler.enter(&mut a2, waker));
    }

    #[test]
    fn orgs_that_went_idle_are_forgotten_so_scheduling_does_not_grow_with_orgs() {
        let scheduler = scheduler(2, &[]);
        let metrics = Metrics::default();
        let guests: Vec<_> = (0..1000)
            .map(|n| idle_guest(&scheduler, &metrics, &format!("org-{n}")))
            .collect();
        assert_eq!(scheduler.lock().live.len(), 1000);
        drop(guests);
        {
            let state = scheduler.lock();
            assert_eq!((state.live.len(), state.busy.len()), (0, 1000));
        }
        // Past the linger (5 ticks of 1 ms), the next guest forgets them.
        std::thread::sleep(Duration::from_millis(10));
        let next = idle_guest(&scheduler, &metrics, "next");
        let state = scheduler.lock();
        assert_eq!((state.live.len(), state.busy.len()), (1, 1));
        assert_eq!(state.total_weight, u64::from(DEFAULT_CPU_WEIGHT));
        assert!(state.idle.is_empty());
        drop(state);
        drop(next);
    }

    #[test]
    fn cpu_time_is_counted_per_org_and_plugin() {
        let scheduler = scheduler(1, &[]);
        let metrics = Metrics::default();
        let burner = burner(Duration::from_millis(5), 2, &Arc::default());
        let meter = burner.meter.clone();
        let guest = scheduler.schedule(
            "a",
            meter.clone(),
            Arc::new(metrics.plugin("a", "p")),
            burner,
        );
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(guest);
        let spent = meter.spent.load(Ordering::Relaxed);
        assert!(spent >= 10_000_000, "{spent} ns");
        // Both series say what the meter counted (however long a loaded
        // machine made the bursts take).
        let text = metrics.encode();
        let seconds = |series: &str| -> f64 {
            let line = text
                .lines()
                .find(|l| l.starts_with(series))
                .unwrap_or_else(|| panic!("{text}"));
            line[series.len()..].trim().parse().unwrap()
        };
        for series in [
            r#"berth_org_cpu_seconds_total{org="a"}"#,
            r#"berth_plugin_cpu_seconds_total{org="a",plugin="p"}"#,
        ] {
            let reported = seconds(series);
            assert!(
                (reported - spent as f64 / 1e9).abs() < 1e-6,
                "{series} {reported} vs {spent} ns"
            );
        }
    }
}
