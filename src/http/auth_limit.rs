//! Failed API-key attempts per client address (SPEC section 6): past the limit, a failed
//! attempt answers 429 with `Retry-After` instead of 401. Only failures count, so a valid
//! key is never slowed by it.
//!
//! Its memory is bounded whatever clients do: IPv6 addresses count by their /64 (one
//! host usually holds a whole /64, so counting single addresses would let it both dodge
//! the limit and grow the table), and past `MAX_TRACKED` buckets, addresses not already
//! tracked share one overflow bucket until idle ones are swept out.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Buckets tracked at most: some tens of bytes each, so a few MiB.
const MAX_TRACKED: usize = 65_536;

/// A full table is swept of recovered buckets at most this often (a sweep walks it all).
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The bucket of addresses that arrive while the table is full.
const OVERFLOW: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

/// Shared by every worker (governor's keyed limiter is lock-free per key).
pub struct AuthFailureLimit {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
    max_tracked: usize,
    last_sweep: Mutex<Instant>,
}

impl AuthFailureLimit {
    /// `per_minute` failures per address (a burst of that many, then one every
    /// 60/`per_minute` seconds); 0 turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        Self::with_capacity(per_minute, MAX_TRACKED)
    }

    fn with_capacity(per_minute: u32, max_tracked: usize) -> Self {
        Self {
            limiter: NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
            max_tracked,
            last_sweep: Mutex::new(Instant::now()),
        }
    }

    /// Counts one failed attempt from `address`: `Err(wait)` once it is over the limit.
    pub fn record_failure(&self, address: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        let mut bucket = bucket_of(address);
        if limiter.len() >= self.max_tracked {
            self.sweep(limiter);
            if limiter.len() >= self.max_tracked {
                bucket = OVERFLOW;
            }
        }
        limiter
            .check_key(&bucket)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Drops the buckets that have recovered, at most once per `SWEEP_INTERVAL`.
    fn sweep(&self, limiter: &DefaultKeyedRateLimiter<IpAddr>) {
        let Ok(mut last) = self.last_sweep.try_lock() else {
            return; // Another worker is sweeping.
        };
        if last.elapsed() < SWEEP_INTERVAL {
            return;
        }
        limiter.retain_recent();
        limiter.shrink_to_fit();
        *last = Instant::now();
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.limiter.as_ref().map_or(0, |l| l.len())
    }
}

/// IPv4 addresses count alone, IPv6 ones by their /64.
fn bucket_of(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_past_the_limit_are_refused_per_address() {
        let limit = AuthFailureLimit::new(3);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(limit.record_failure(a).is_ok());
        }
        let wait = limit.record_failure(a).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        assert!(
            limit.record_failure(b).is_ok(),
            "another address has its own budget"
        );
    }

    #[test]
    fn zero_turns_the_limit_off() {
        let limit = AuthFailureLimit::new(0);
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..1000 {
            assert!(limit.record_failure(a).is_ok());
        }
    }

    #[test]
    fn a_scan_from_many_addresses_cannot_grow_the_table_past_its_bound() {
        let limit = AuthFailureLimit::with_capacity(60, 100);
        for i in 0..10_000u32 {
            let _ = limit.record_failure(IpAddr::V4(i.into()));
        }
        assert!(limit.tracked() <= 101, "{} buckets", limit.tracked());
        // The overflow bucket is shared, so the scan as a whole is limited too.
        assert!(limit.record_failure(IpAddr::V4(99_999u32.into())).is_err());
    }

    #[test]
    fn an_ipv6_host_counts_by_its_64_prefix() {
        let limit = AuthFailureLimit::new(2);
        let in_one_64 = ["2001:db8::1", "2001:db8::2", "2001:db8::ffff:1"];
        let results: Vec<bool> = in_one_64
            .iter()
            .map(|a| limit.record_failure(a.parse().unwrap()).is_ok())
            .collect();
        assert_eq!(results, [true, true, false]);
        assert!(
            limit
                .record_failure("2001:db8:0:1::1".parse().unwrap())
                .is_ok()
        );
    }
}
