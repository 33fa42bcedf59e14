//! Per-tenant request rate limits, answered 429 with Retry-After.
//!
//! A tenant's `requests_per_second` holds for its reads and, apart, for its
//! writes, across the whole deployment: each process enforces its share,
//! the limit divided by the number of processes that run its roles behind
//! the router (`LRS_REPLICAS`), which spreads requests evenly
//! (docs/OPERATIONS.md).

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};
use lrs_core::{Principal, TenantId};

use crate::error::ApiError;

/// Which budget of a tenant a request draws from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Budget {
    /// GET and HEAD.
    Reads,
    /// Everything else.
    Writes,
}

/// A token bucket and the rate it was made for.
type Bucket = (u32, Arc<DefaultDirectRateLimiter>);

/// One token bucket per tenant and budget, sized by this process's share of
/// the tenant's `requests_per_second`.
pub(crate) struct RateLimits {
    replicas: NonZeroU32,
    buckets: Mutex<HashMap<(TenantId, Budget), Bucket>>,
}

impl RateLimits {
    /// Limits of a process that is one of `replicas` serving the same roles.
    pub(crate) fn new(replicas: u32) -> Self {
        Self { replicas: NonZeroU32::new(replicas).unwrap_or(NonZeroU32::MIN), buckets: Mutex::default() }
    }

    /// This process's share of a tenant limit: at least one request per second.
    fn share(&self, limit: NonZeroU32) -> NonZeroU32 {
        NonZeroU32::new(limit.get().div_ceil(self.replicas.get())).unwrap_or(NonZeroU32::MIN)
    }

    /// Takes one request from the caller's tenant bucket, or answers 429.
    pub(crate) fn check(&self, principal: &Principal, budget: Budget) -> Result<(), ApiError> {
        let Some(limit) = principal.requests_per_second.and_then(NonZeroU32::new) else { return Ok(()) };
        let rate = self.share(limit);
        let bucket = {
            let mut buckets = self.buckets.lock().expect("rate limit lock");
            let entry = buckets
                .entry((principal.tenant.clone(), budget))
                .or_insert_with(|| (rate.get(), Arc::new(DefaultDirectRateLimiter::direct(Quota::per_second(rate)))));
            if entry.0 != rate.get() {
                *entry = (rate.get(), Arc::new(DefaultDirectRateLimiter::direct(Quota::per_second(rate))));
            }
            entry.1.clone()
        };
        bucket.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            let what = match budget {
                Budget::Reads => "reads",
                Budget::Writes => "writes",
            };
            ApiError::TooManyRequests(
                format!("tenant {} is over its {limit} {what} per second", principal.tenant),
                seconds,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(limit: u32) -> Principal {
        let mut principal = Principal::with_all_scopes(TenantId::parse("t").unwrap(), serde_json::json!({}));
        principal.requests_per_second = Some(limit);
        principal
    }

    fn admitted(limits: &RateLimits, principal: &Principal, budget: Budget, tries: usize) -> usize {
        (0..tries).filter(|_| limits.check(principal, budget).is_ok()).count()
    }

    #[test]
    fn each_replica_admits_its_share_and_reads_and_writes_have_their_own_budget() {
        let principal = principal(10);
        let alone = RateLimits::new(1);
        assert_eq!(admitted(&alone, &principal, Budget::Writes, 50), 10);
        assert_eq!(admitted(&alone, &principal, Budget::Reads, 50), 10, "reads are not spent by writes");
        let one_of_three = RateLimits::new(3);
        assert_eq!(admitted(&one_of_three, &principal, Budget::Writes, 50), 4, "ceil(10 / 3)");
        assert_eq!(admitted(&RateLimits::new(20), &principal, Budget::Writes, 50), 1, "never below 1/s");
    }
}
