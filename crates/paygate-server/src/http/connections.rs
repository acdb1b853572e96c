//! Who may hold a connection, and for how long: caps on open connections in
//! all and per client IP (IPv6 counted per /64), and the activity record that
//! lets the listener close a connection that has no request in progress.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::ConnectionLimits;

/// The address a limit counts: IPv4 as is, IPv6 by its /64 network.
pub fn client_bucket(ip: IpAddr) -> IpAddr {
    match super::client_ip::canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

/// Admits connections within the configured caps.
pub struct ConnectionGate {
    total: Arc<Semaphore>,
    per_ip: Arc<Mutex<HashMap<IpAddr, u32>>>,
    max_per_ip: u32,
}

/// A connection's place; giving it back happens on drop.
pub struct Admission {
    _permit: OwnedSemaphorePermit,
    bucket: Option<IpAddr>,
    per_ip: Arc<Mutex<HashMap<IpAddr, u32>>>,
}

impl ConnectionGate {
    pub fn new(limits: &ConnectionLimits) -> Self {
        Self {
            total: Arc::new(Semaphore::new(limits.max_total as usize)),
            per_ip: Arc::new(Mutex::new(HashMap::new())),
            max_per_ip: limits.max_per_ip,
        }
    }

    /// A place for a connection from `peer`, or `None` when a cap is reached.
    /// Trusted proxies carry many clients and are not capped per IP.
    pub fn admit(&self, peer: IpAddr, trusted_proxy: bool) -> Option<Admission> {
        let permit = self.total.clone().try_acquire_owned().ok()?;
        let bucket = if trusted_proxy {
            None
        } else {
            let bucket = client_bucket(peer);
            let mut counts = self.per_ip.lock().ok()?;
            let count = counts.entry(bucket).or_insert(0);
            if *count >= self.max_per_ip {
                return None;
            }
            *count += 1;
            Some(bucket)
        };
        Some(Admission {
            _permit: permit,
            bucket,
            per_ip: self.per_ip.clone(),
        })
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let Some(bucket) = self.bucket else { return };
        if let Ok(mut counts) = self.per_ip.lock() {
            if let Some(count) = counts.get_mut(&bucket) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    counts.remove(&bucket);
                }
            }
        }
    }
}

/// Requests in progress on one connection, and when the last one ended.
pub struct Activity {
    started: Instant,
    in_flight: AtomicUsize,
    /// Milliseconds after `started` when the connection last became idle.
    idle_since_ms: AtomicU64,
}

impl Activity {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            started: Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since_ms: AtomicU64::new(0),
        })
    }

    /// Marks a request as started; the returned guard marks it finished.
    pub fn begin(self: &Arc<Self>) -> Busy {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    /// How long the connection has had no request in progress (zero while busy).
    pub fn idle_for(&self) -> Duration {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return Duration::ZERO;
        }
        let since = Duration::from_millis(self.idle_since_ms.load(Ordering::SeqCst));
        self.started.elapsed().saturating_sub(since)
    }
}

/// A request in progress.
pub struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let now = u64::try_from(self.0.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.idle_since_ms.store(now, Ordering::SeqCst);
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_per_ip: u32, max_total: u32) -> ConnectionLimits {
        ConnectionLimits {
            max_per_ip,
            max_total,
            ..ConnectionLimits::default()
        }
    }

    #[test]
    fn caps_per_ip_and_in_total() {
        let gate = ConnectionGate::new(&limits(2, 3));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = gate.admit(a, false);
        let second = gate.admit(a, false);
        assert!(first.is_some() && second.is_some());
        assert!(gate.admit(a, false).is_none(), "third from one IP");
        let third = gate.admit(b, false);
        assert!(third.is_some());
        assert!(gate.admit(b, false).is_none(), "total cap");
        drop(first);
        assert!(gate.admit(b, false).is_some(), "a closed connection frees its place");
    }

    #[test]
    fn ipv6_counts_per_64_and_proxies_are_exempt() {
        let gate = ConnectionGate::new(&limits(1, 100));
        let _one = gate.admit("2001:db8:1:2::1".parse().unwrap(), false).unwrap();
        assert!(gate.admit("2001:db8:1:2::ffff".parse().unwrap(), false).is_none());
        assert!(gate.admit("2001:db8:1:3::1".parse().unwrap(), false).is_some());
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let held: Vec<_> = (0..5).filter_map(|_| gate.admit(proxy, true)).collect();
        assert_eq!(held.len(), 5);
    }

    #[test]
    fn activity_is_idle_only_without_requests() {
        let activity = Activity::new();
        let busy = activity.begin();
        assert_eq!(activity.idle_for(), Duration::ZERO);
        drop(busy);
        assert!(activity.idle_for() < Duration::from_secs(1));
    }
}
