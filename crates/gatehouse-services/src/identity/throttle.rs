//! Login throttling, per e-mail and per source address: a few free failures,
//! then each failure doubles the wait, and past a threshold the key is locked
//! for a while. A blocked attempt is refused (429 with Retry-After) before any
//! password work. Unknown e-mails are throttled exactly like known ones, so the
//! throttle reveals nothing either. Held in memory per node.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many failures a key may have before waits begin.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub free_failures: u32,
    /// Failures after which the key is locked for `lockout`.
    pub lockout_after: u32,
    pub lockout: Duration,
    /// The first wait; each further failure doubles it, up to `lockout`.
    pub first_wait: Duration,
}

impl ThrottlePolicy {
    /// `free_failures` free, then doubling waits from 1 s, locked for 15 minutes at twice that many.
    pub fn with_free_failures(free_failures: u32) -> ThrottlePolicy {
        ThrottlePolicy {
            free_failures,
            lockout_after: free_failures.saturating_mul(2),
            lockout: Duration::from_secs(15 * 60),
            first_wait: Duration::from_secs(1),
        }
    }

    /// Per e-mail: 5 free tries, then 1 s, 2 s, 4 s ..., locked for 15 minutes at 10.
    pub const PER_ACCOUNT: ThrottlePolicy = ThrottlePolicy {
        free_failures: 5,
        lockout_after: 10,
        lockout: Duration::from_secs(15 * 60),
        first_wait: Duration::from_secs(1),
    };
    /// Per source address: more room (many people behind one NAT), same shape.
    pub const PER_SOURCE: ThrottlePolicy = ThrottlePolicy {
        free_failures: 20,
        lockout_after: 40,
        lockout: Duration::from_secs(15 * 60),
        first_wait: Duration::from_secs(1),
    };

    fn wait_after(&self, failures: u32) -> Duration {
        if failures >= self.lockout_after {
            return self.lockout;
        }
        if failures < self.free_failures {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free_failures).min(20);
        self.first_wait.saturating_mul(1 << doublings).min(self.lockout)
    }
}

/// Most keys remembered; past it, forgotten keys are those idle longest.
const KEYS_MAX: usize = 100_000;
/// A key with no failure for this long starts afresh.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    blocked_until: Instant,
    last: Instant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    Blocked { retry_after: Duration },
}

/// What a failure led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureOutcome {
    pub failures: u32,
    /// The failure that just happened locked the key.
    pub locked: bool,
}

#[derive(Default)]
pub struct LoginThrottle {
    keys: Mutex<HashMap<String, Failures>>,
}

impl LoginThrottle {
    /// Whether an attempt under every one of these keys may go ahead now.
    pub fn check(&self, keys: &[&str], now: Instant) -> Verdict {
        let Ok(entries) = self.keys.lock() else { return Verdict::Allowed };
        let wait = keys
            .iter()
            .filter_map(|key| entries.get(*key))
            .filter(|failures| now.duration_since(failures.last) < FORGET_AFTER)
            .map(|failures| failures.blocked_until.saturating_duration_since(now))
            .max()
            .unwrap_or(Duration::ZERO);
        if wait.is_zero() {
            Verdict::Allowed
        } else {
            Verdict::Blocked { retry_after: wait }
        }
    }

    /// Records a failure under `key`.
    pub fn fail(&self, key: &str, policy: ThrottlePolicy, now: Instant) -> FailureOutcome {
        let Ok(mut entries) = self.keys.lock() else { return FailureOutcome { failures: 0, locked: false } };
        if entries.len() >= KEYS_MAX {
            entries.retain(|_, failures| now.duration_since(failures.last) < FORGET_AFTER);
            if entries.len() >= KEYS_MAX {
                entries.clear();
            }
        }
        let failures = entries.entry(key.to_owned()).or_insert(Failures { count: 0, blocked_until: now, last: now });
        if now.duration_since(failures.last) >= FORGET_AFTER {
            failures.count = 0;
        }
        failures.count = failures.count.saturating_add(1);
        failures.last = now;
        failures.blocked_until = now + policy.wait_after(failures.count);
        FailureOutcome { failures: failures.count, locked: failures.count == policy.lockout_after }
    }

    /// A success clears the key.
    pub fn succeed(&self, key: &str) {
        if let Ok(mut entries) = self.keys.lock() {
            entries.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_after_the_free_failures_then_lock() {
        let policy = ThrottlePolicy::PER_ACCOUNT;
        let waits: Vec<u64> = (1..=11).map(|n| policy.wait_after(n).as_secs()).collect();
        assert_eq!(waits, [0, 0, 0, 0, 1, 2, 4, 8, 16, 900, 900]);
    }

    #[test]
    fn blocked_keys_are_refused_until_their_wait_is_over() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        for _ in 0..4 {
            throttle.fail("ana@example.com", ThrottlePolicy::PER_ACCOUNT, t0);
        }
        assert_eq!(throttle.check(&["ana@example.com"], t0), Verdict::Allowed);
        throttle.fail("ana@example.com", ThrottlePolicy::PER_ACCOUNT, t0);
        assert_eq!(
            throttle.check(&["ana@example.com", "192.0.2.1"], t0),
            Verdict::Blocked { retry_after: Duration::from_secs(1) }
        );
        assert_eq!(throttle.check(&["ana@example.com"], t0 + Duration::from_secs(1)), Verdict::Allowed);
        assert_eq!(throttle.check(&["bo@example.com"], t0), Verdict::Allowed, "other keys are untouched");
        throttle.succeed("ana@example.com");
        assert_eq!(throttle.check(&["ana@example.com"], t0), Verdict::Allowed);
    }

    #[test]
    fn the_tenth_failure_locks() {
        let throttle = LoginThrottle::default();
        let t0 = Instant::now();
        let outcomes: Vec<bool> = (0..10).map(|_| throttle.fail("k", ThrottlePolicy::PER_ACCOUNT, t0).locked).collect();
        assert_eq!(outcomes.iter().filter(|locked| **locked).count(), 1);
        assert!(outcomes[9]);
        assert_eq!(throttle.check(&["k"], t0), Verdict::Blocked { retry_after: Duration::from_secs(900) });
    }
}
