//! The retry schedule: after the n-th failed attempt, wait about the n-th
//! configured delay (with jitter, so a recovering receiver is not hit by
//! every retry at once); after the last, the delivery has failed.

use rand::Rng;

/// Seconds until the next attempt after `failed_attempts` failures, or
/// `None` when the schedule is spent.
pub fn next_delay(schedule: &[u64], failed_attempts: usize, jitter_percent: u64, rng: &mut impl Rng) -> Option<i64> {
    let index = failed_attempts.checked_sub(1)?;
    let base = i64::try_from(*schedule.get(index)?).unwrap_or(i64::MAX / 2);
    let spread = base.saturating_mul(i64::try_from(jitter_percent).unwrap_or(0)) / 100;
    let jitter = if spread > 0 { rng.gen_range(-spread..=spread) } else { 0 };
    Some((base + jitter).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_the_schedule_then_ends() {
        let schedule = [10, 60, 600, 3600, 21_600];
        let mut rng = rand::thread_rng();
        for _ in 0..200 {
            let d = next_delay(&schedule, 1, 10, &mut rng).unwrap();
            assert!((9..=11).contains(&d), "{d}");
            let d = next_delay(&schedule, 5, 10, &mut rng).unwrap();
            assert!((19_440..=23_760).contains(&d), "{d}");
        }
        assert_eq!(next_delay(&schedule, 2, 0, &mut rng), Some(60));
        assert_eq!(next_delay(&schedule, 6, 10, &mut rng), None);
        assert_eq!(next_delay(&schedule, 0, 10, &mut rng), None);
        assert_eq!(next_delay(&[], 1, 10, &mut rng), None);
        assert_eq!(next_delay(&[1], 1, 50, &mut rng), Some(1));
    }

    #[test]
    fn jitter_spreads_retries() {
        let mut rng = rand::thread_rng();
        let delays: std::collections::HashSet<i64> =
            (0..100).filter_map(|_| next_delay(&[3600], 1, 10, &mut rng)).collect();
        assert!(delays.len() > 10);
    }
}
