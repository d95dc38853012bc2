//! The clock port. Every expiry rule reads time from here, never from the system directly, so
//! tests and `portal-local` can move time forward.

use std::sync::atomic::{AtomicI64, Ordering};

use time::OffsetDateTime;

pub trait Clock: Send + Sync {
    fn now(&self) -> OffsetDateTime;

    /// Epoch seconds.
    fn epoch(&self) -> i64 {
        self.now().unix_timestamp()
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// System time plus an offset that only moves forward (`POST /_dev/clock`, tests).
#[derive(Debug, Default)]
pub struct AdjustableClock {
    offset_seconds: AtomicI64,
}

impl AdjustableClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward; negative amounts are ignored (time never runs backwards).
    pub fn advance(&self, seconds: i64) -> OffsetDateTime {
        self.offset_seconds
            .fetch_add(seconds.max(0), Ordering::SeqCst);
        self.now()
    }
}

impl Clock for AdjustableClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + time::Duration::seconds(self.offset_seconds.load(Ordering::SeqCst))
    }
}

/// Formats a time as RFC 3339 UTC with second precision, as the contract shows times.
pub fn rfc3339(at: OffsetDateTime) -> String {
    let at = at.replace_nanosecond(0).unwrap_or(at);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Formats epoch seconds as RFC 3339 UTC.
pub fn rfc3339_epoch(epoch: i64) -> String {
    OffsetDateTime::from_unix_timestamp(epoch)
        .map(rfc3339)
        .unwrap_or_default()
}
