//! Failed API-key attempts per client address (SPEC section 6): past the limit, a failed
//! attempt answers 429 with `Retry-After` instead of 401. Only failures count, so a valid
//! key is never slowed by it.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Addresses tracked before idle ones are dropped, so a scan from many addresses cannot
/// grow the table without bound.
const MAX_TRACKED_ADDRESSES: usize = 100_000;

/// Shared by every worker (governor's keyed limiter is lock-free per key).
pub struct AuthFailureLimit {
    limiter: Option<DefaultKeyedRateLimiter<IpAddr>>,
}

impl AuthFailureLimit {
    /// `per_minute` failures per address (a burst of that many, then one every
    /// 60/`per_minute` seconds); 0 turns the limit off.
    pub fn new(per_minute: u32) -> Self {
        Self {
            limiter: NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))),
        }
    }

    /// Counts one failed attempt from `address`: `Err(wait)` once it is over the limit.
    pub fn record_failure(&self, address: IpAddr) -> Result<(), Duration> {
        let Some(limiter) = &self.limiter else {
            return Ok(());
        };
        if limiter.len() > MAX_TRACKED_ADDRESSES {
            limiter.retain_recent();
        }
        limiter
            .check_key(&address)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
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
}
