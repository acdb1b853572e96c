//! The in-process limiter: per counter, the times of the requests accepted
//! in the current window (a sliding log), so the count over any window is
//! exact. One lock makes a multi-limit decision atomic.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use super::{Check, Decision, LimitFuture, Limiter, Ticket, Usage};

#[derive(Default)]
pub struct MemoryLimiter {
    logs: Mutex<Logs>,
    next_member: AtomicU64,
}

#[derive(Default)]
struct Logs {
    /// Per counter: (accepted at, member id), oldest first.
    by_key: HashMap<String, VecDeque<(i64, u64)>>,
    next_sweep_ms: i64,
    /// The longest window seen, for sweeping idle counters.
    longest_window_ms: i64,
}

fn window_ms(check: &Check) -> i64 {
    i64::try_from(check.limit.window_secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

fn millis(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

impl MemoryLimiter {
    pub fn decide(&self, checks: &[Check], now_ms: i64) -> Decision {
        let member = self.next_member.fetch_add(1, Ordering::Relaxed);
        let mut logs = self.logs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for check in checks {
            logs.longest_window_ms = logs.longest_window_ms.max(window_ms(check));
        }
        if now_ms >= logs.next_sweep_ms {
            let horizon = now_ms - logs.longest_window_ms;
            logs.by_key
                .retain(|_, log| log.back().is_some_and(|(last, _)| *last > horizon));
            logs.next_sweep_ms = now_ms + 10_000;
        }
        let mut usage = Vec::with_capacity(checks.len());
        let mut counts = Vec::with_capacity(checks.len());
        for check in checks {
            let window = window_ms(check);
            let log = logs.by_key.entry(check.key.clone()).or_default();
            // An entry at t counts while t > now - window.
            while log.front().is_some_and(|(t, _)| *t <= now_ms - window) {
                log.pop_front();
            }
            let count = log.len();
            let limit = check.limit.limit as usize;
            let (refused, retry_ms) = if count >= limit {
                // The entry whose expiry frees a slot is the (count - limit + 1)th oldest.
                let freeing = log.get(count - limit).map_or(now_ms, |(t, _)| *t);
                (true, millis(freeing + window - now_ms))
            } else {
                (false, 0)
            };
            counts.push(count);
            usage.push((
                check.name,
                Usage {
                    limit: check.limit.limit,
                    window_secs: check.limit.window_secs,
                    remaining: 0,
                    reset_ms: 0,
                    refused,
                    retry_ms,
                },
            ));
        }
        let allowed = usage.iter().all(|(_, u)| !u.refused);
        let retry_after_ms = usage.iter().map(|(_, u)| u.retry_ms).max().unwrap_or(0);
        let mut tickets = Vec::new();
        for ((check, count), (_, usage)) in checks.iter().zip(counts).zip(usage.iter_mut()) {
            let log = logs.by_key.entry(check.key.clone()).or_default();
            if allowed {
                log.push_back((now_ms, member));
                tickets.push(Ticket {
                    key: check.key.clone(),
                    member: member.to_string(),
                });
            }
            let used = if allowed { count + 1 } else { count };
            usage.remaining = u32::try_from((check.limit.limit as usize).saturating_sub(used)).unwrap_or(0);
            usage.reset_ms = log
                .front()
                .map_or(0, |(oldest, _)| millis(oldest + window_ms(check) - now_ms));
        }
        Decision {
            allowed,
            usage,
            retry_after_ms,
            tickets,
        }
    }

    fn give_back(&self, tickets: &[Ticket]) {
        let mut logs = self.logs.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for ticket in tickets {
            if let Some(log) = logs.by_key.get_mut(&ticket.key) {
                log.retain(|(_, member)| member.to_string() != ticket.member);
            }
        }
    }
}

impl Limiter for MemoryLimiter {
    fn acquire<'a>(&'a self, checks: &'a [Check], now_ms: i64) -> LimitFuture<'a, Decision> {
        let decision = self.decide(checks, now_ms);
        Box::pin(async move { Ok(decision) })
    }

    fn release<'a>(&'a self, tickets: &'a [Ticket]) -> LimitFuture<'a, ()> {
        self.give_back(tickets);
        Box::pin(async move { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Limit;

    fn check(key: &str, limit: u32, window_secs: u64) -> Check {
        Check {
            name: "t",
            key: key.to_owned(),
            limit: Limit { limit, window_secs },
        }
    }

    #[test]
    fn never_more_than_n_in_any_window() {
        let limiter = MemoryLimiter::default();
        let c = [check("k", 3, 10)];
        let accepted: Vec<i64> = (0..200)
            .map(|i| i * 250)
            .filter(|t| limiter.decide(&c, *t).allowed)
            .collect();
        for (i, t) in accepted.iter().enumerate() {
            let in_window = accepted[i..].iter().take_while(|u| **u < t + 10_000).count();
            assert!(in_window <= 3, "window from {t} holds {in_window}");
        }
        assert!(accepted.len() >= 12);
    }

    #[test]
    fn retry_after_is_exact_and_refusals_cost_nothing() {
        let limiter = MemoryLimiter::default();
        let both = [check("a", 2, 60), check("b", 1, 10)];
        assert!(limiter.decide(&both, 0).allowed);
        let refused = limiter.decide(&both, 1_000);
        assert!(!refused.allowed);
        assert_eq!(refused.retry_after_ms, 9_000);
        // `a` was not charged for the refused request.
        assert!(limiter.decide(&both, 10_000).allowed);
        let third = limiter.decide(&both, 20_000);
        assert!(!third.allowed);
        assert_eq!(third.retry_after_ms, 40_000);
        assert!(!limiter.decide(&both, 59_999).allowed);
        assert!(limiter.decide(&both, 60_000).allowed);
    }

    #[test]
    fn released_tickets_free_their_slot() {
        let limiter = MemoryLimiter::default();
        let one = [check("x", 1, 60)];
        let first = limiter.decide(&one, 0);
        assert!(first.allowed);
        assert!(!limiter.decide(&one, 1).allowed);
        limiter.give_back(&first.tickets);
        assert!(limiter.decide(&one, 2).allowed);
    }
}
