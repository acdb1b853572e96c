//! Where the realtime pump has read the outbox up to. Sequence numbers are
//! taken when an event is inserted but seen when its transaction commits; on
//! PostgreSQL, with several writers (instances), a lower number can commit
//! after a higher one has been read. So the numbers skipped over are awaited
//! for a while and read again, until they show up or are given up (a rolled
//! back transaction never fills its number).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a skipped number is awaited: longer than any write transaction.
pub const AWAIT_SKIPPED: Duration = Duration::from_secs(10);
/// Most skipped numbers awaited at once (a bigger jump is not a gap of
/// transactions in flight).
const MOST_AWAITED: i64 = 512;

#[derive(Debug)]
pub struct Tail {
    /// The highest number pushed.
    high: i64,
    /// Numbers below `high` not seen yet, with when they were skipped.
    awaited: BTreeMap<i64, Instant>,
}

impl Tail {
    /// Starts after `high` (the outbox's end when the pump starts).
    pub fn after(high: i64) -> Self {
        Self {
            high,
            awaited: BTreeMap::new(),
        }
    }

    /// Numbers above this are new.
    pub fn high(&self) -> i64 {
        self.high
    }

    /// Whether `seq` is yet to be pushed: new, or skipped and awaited.
    pub fn is_unseen(&self, seq: i64) -> bool {
        seq > self.high || self.awaited.contains_key(&seq)
    }

    /// Records that `seq` was pushed at `now`.
    pub fn pushed(&mut self, seq: i64, now: Instant) {
        if seq > self.high {
            let skipped_from = (self.high + 1).max(seq - MOST_AWAITED);
            for skipped in skipped_from..seq {
                self.awaited.insert(skipped, now);
            }
            self.high = seq;
        } else {
            self.awaited.remove(&seq);
        }
    }

    /// The skipped numbers still worth reading again at `now`.
    pub fn awaited(&mut self, now: Instant) -> Vec<i64> {
        self.awaited
            .retain(|_, skipped_at| now.duration_since(*skipped_at) < AWAIT_SKIPPED);
        self.awaited.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_committed_late_is_pushed_once_and_a_lost_one_is_given_up() {
        let start = Instant::now();
        let mut tail = Tail::after(10);
        assert!(!tail.is_unseen(10) && tail.is_unseen(11));
        // 11 and 12 are still in flight when 13 is read.
        tail.pushed(13, start);
        assert_eq!(tail.high(), 13);
        assert_eq!(tail.awaited(start), vec![11, 12]);
        assert!(tail.is_unseen(12) && !tail.is_unseen(13));
        // 12 commits late: pushed, and then no longer awaited.
        tail.pushed(12, start + Duration::from_secs(1));
        assert!(!tail.is_unseen(12));
        assert_eq!(tail.awaited(start + Duration::from_secs(1)), vec![11]);
        // 11 never commits (rolled back): given up after the wait.
        assert!(tail.awaited(start + AWAIT_SKIPPED).is_empty());
        assert!(!tail.is_unseen(11));
    }

    #[test]
    fn a_jump_awaits_only_the_numbers_just_below_it() {
        let now = Instant::now();
        let mut tail = Tail::after(0);
        tail.pushed(10_000, now);
        let awaited = tail.awaited(now);
        assert_eq!(awaited.len(), 512);
        assert_eq!(awaited.first(), Some(&(10_000 - 512)));
    }
}
