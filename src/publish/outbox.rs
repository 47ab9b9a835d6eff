//! The MQTT sink's delivery state, apart from the network: events waiting to be sent and those
//! handed to the broker but not yet acknowledged. The no-loss rules live here, where they can be
//! tested without a broker: the broker acknowledges in order, so an acknowledgement retires the
//! oldest message in flight; a lost link puts every unacknowledged message back at the front in
//! its order, to be sent again; over `capacity` waiting, the oldest are dropped and counted.

use std::collections::VecDeque;
use std::time::Duration;

use super::journal::Entry;

/// One message on its way: its journal sequence (0 = not journaled) and what to publish.
pub type Message = Entry;

pub struct Outbox {
    waiting: VecDeque<Message>,
    in_flight: VecDeque<Message>,
    capacity: usize,
    window: usize,
}

impl Outbox {
    /// At most `capacity` waiting (the oldest are dropped beyond), `window` in flight.
    pub fn new(capacity: usize, window: usize, recovered: Vec<Message>) -> Self {
        let mut o = Outbox {
            waiting: recovered.into(),
            in_flight: VecDeque::new(),
            capacity,
            window,
        };
        o.trim();
        o
    }

    /// Queues `m` last; returns how many of the oldest waiting were dropped to make room.
    pub fn push(&mut self, m: Message) -> usize {
        self.waiting.push_back(m);
        self.trim()
    }

    /// Queues `m` first (the `available` announcement after a reconnect).
    pub fn push_first(&mut self, m: Message) {
        self.waiting.push_front(m);
    }

    fn trim(&mut self) -> usize {
        let over = self.waiting.len().saturating_sub(self.capacity);
        self.waiting.drain(..over);
        over
    }

    /// The next message to hand to the broker, when the window has room.
    pub fn take_next(&mut self) -> Option<Message> {
        if self.in_flight.len() >= self.window {
            return None;
        }
        self.waiting.pop_front()
    }

    /// `m` (from `take_next`) was handed to the broker.
    pub fn sent(&mut self, m: Message) {
        self.in_flight.push_back(m);
    }

    /// `m` (from `take_next`) could not be handed over: it goes back first.
    pub fn unsent(&mut self, m: Message) {
        self.waiting.push_front(m);
    }

    /// The broker acknowledged the oldest message in flight; returns it.
    pub fn acked(&mut self) -> Option<Message> {
        self.in_flight.pop_front()
    }

    /// The link dropped: everything unacknowledged is sent again, first and in order.
    pub fn link_lost(&mut self) {
        while let Some(m) = self.in_flight.pop_back() {
            self.waiting.push_front(m);
        }
    }

    /// Messages not yet acknowledged.
    pub fn len(&self) -> usize {
        self.waiting.len() + self.in_flight.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every message not yet acknowledged, in delivery order.
    pub fn pending(&self) -> impl Iterator<Item = &Message> {
        self.in_flight.iter().chain(self.waiting.iter())
    }
}

/// When to try the broker again: doubling from `min` to `max` after each failure, back to `min`
/// once connected. Times are the injected clock's.
pub struct Backoff {
    min: Duration,
    max: Duration,
    delay: Duration,
    next_attempt: Duration,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max,
            delay: min,
            next_attempt: Duration::ZERO,
        }
    }

    /// May we try now?
    pub fn ready(&self, now: Duration) -> bool {
        now >= self.next_attempt
    }

    /// An attempt failed at `now`: wait the current delay, and double it for next time.
    pub fn failed(&mut self, now: Duration) {
        self.next_attempt = now + self.delay;
        self.delay = (self.delay * 2).min(self.max);
    }

    /// Connected: the next failure waits `min` again.
    pub fn reset(&mut self) {
        self.delay = self.min;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(seq: u64) -> Message {
        Entry {
            seq,
            topic: format!("t/{seq}"),
            payload: vec![],
            retain: false,
        }
    }

    fn seqs<'a>(it: impl Iterator<Item = &'a Message>) -> Vec<u64> {
        it.map(|m| m.seq).collect()
    }

    /// Send through a window of 2, lose the link with two in flight: they come back first, in
    /// order, and every message is delivered exactly in sequence afterwards.
    #[test]
    fn a_lost_link_redelivers_in_order() {
        let mut o = Outbox::new(100, 2, vec![]);
        for s in 1..=5 {
            assert_eq!(o.push(m(s)), 0);
        }
        let a = o.take_next().expect("1");
        o.sent(a);
        let b = o.take_next().expect("2");
        o.sent(b);
        assert!(o.take_next().is_none(), "window full");
        assert_eq!(o.acked().map(|m| m.seq), Some(1));
        let c = o.take_next().expect("3");
        o.sent(c);
        o.link_lost();
        assert_eq!(seqs(o.pending()), vec![2, 3, 4, 5]);
        let mut delivered = vec![1];
        while let Some(x) = o.take_next() {
            o.sent(x);
            delivered.extend(o.acked().map(|m| m.seq));
        }
        assert_eq!(delivered, vec![1, 2, 3, 4, 5]);
        assert!(o.is_empty());
    }

    #[test]
    fn a_refused_hand_over_goes_back_first() {
        let mut o = Outbox::new(10, 4, vec![m(1), m(2)]);
        let x = o.take_next().expect("1");
        o.unsent(x);
        assert_eq!(seqs(o.pending()), vec![1, 2]);
        o.push_first(m(0));
        assert_eq!(o.take_next().map(|m| m.seq), Some(0));
    }

    /// Over capacity the oldest waiting are dropped (and counted); what is in flight is kept.
    #[test]
    fn overflow_drops_the_oldest_waiting() {
        let mut o = Outbox::new(3, 1, vec![m(1), m(2), m(3), m(4)]);
        assert_eq!(
            seqs(o.pending()),
            vec![2, 3, 4],
            "recovered beyond capacity"
        );
        let x = o.take_next().expect("2");
        o.sent(x);
        assert_eq!(o.push(m(5)), 0);
        assert_eq!(o.push(m(6)), 1);
        assert_eq!(seqs(o.pending()), vec![2, 4, 5, 6]);
        assert_eq!(o.len(), 4);
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_resets() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(200), ms(5000));
        assert!(b.ready(ms(0)));
        let mut now = ms(1000);
        let mut waits = vec![];
        for _ in 0..7 {
            b.failed(now);
            let mut t = now;
            while !b.ready(t) {
                t += ms(100);
            }
            waits.push((t - now).as_millis());
            now = t;
        }
        assert_eq!(waits, vec![200, 400, 800, 1600, 3200, 5000, 5000]);
        b.reset();
        b.failed(now);
        assert!(!b.ready(now + ms(199)) && b.ready(now + ms(200)));
    }
}
