//! Per-tenant request rate limits, answered 429 with Retry-After.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota};
use lrs_core::{Principal, TenantId};

use crate::error::ApiError;

/// One token bucket per tenant, sized by the tenant's `requests_per_second`.
#[derive(Default)]
pub(crate) struct RateLimits {
    buckets: Mutex<HashMap<TenantId, (u32, Arc<DefaultDirectRateLimiter>)>>,
}

impl RateLimits {
    /// Takes one request from the caller's tenant bucket, or answers 429.
    pub(crate) fn check(&self, principal: &Principal) -> Result<(), ApiError> {
        let Some(rate) = principal.requests_per_second.and_then(NonZeroU32::new) else { return Ok(()) };
        let bucket = {
            let mut buckets = self.buckets.lock().expect("rate limit lock");
            let entry = buckets
                .entry(principal.tenant.clone())
                .or_insert_with(|| (rate.get(), Arc::new(DefaultDirectRateLimiter::direct(Quota::per_second(rate)))));
            if entry.0 != rate.get() {
                *entry = (rate.get(), Arc::new(DefaultDirectRateLimiter::direct(Quota::per_second(rate))));
            }
            entry.1.clone()
        };
        bucket.check().map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            ApiError::TooManyRequests(
                format!("tenant {} is over its {rate} requests per second", principal.tenant),
                seconds,
            )
        })
    }
}
