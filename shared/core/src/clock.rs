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

/// How far an [`AdjustableClock`] may move in all: 10 years (of 365 days).
pub const MAX_ADVANCE_SECONDS: i64 = 10 * 365 * 86_400;

/// System time plus an offset that only moves forward (`POST /_dev/clock`, tests), by at most
/// [`MAX_ADVANCE_SECONDS`] in all, so every time the domain computes stays far inside the
/// ranges of `time` and of epoch-second arithmetic.
#[derive(Debug, Default)]
pub struct AdjustableClock {
    offset_seconds: AtomicI64,
}

impl AdjustableClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the clock forward by `seconds`, or, when that is negative or would take the total
    /// past [`MAX_ADVANCE_SECONDS`], leaves it unchanged and answers `None`. Atomic: concurrent
    /// calls never pass the bound together.
    pub fn advance(&self, seconds: i64) -> Option<OffsetDateTime> {
        if !(0..=MAX_ADVANCE_SECONDS).contains(&seconds) {
            return None;
        }
        self.offset_seconds
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |offset| {
                offset
                    .checked_add(seconds)
                    .filter(|total| *total <= MAX_ADVANCE_SECONDS)
            })
            .ok()?;
        Some(self.now())
    }

    /// How far the clock has been moved in all (seconds).
    pub fn offset_seconds(&self) -> i64 {
        self.offset_seconds.load(Ordering::SeqCst)
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

/// Parses an RFC 3339 time (any offset) into epoch milliseconds.
pub fn parse_rfc3339_millis(raw: &str) -> Option<i64> {
    let at =
        OffsetDateTime::parse(raw.trim(), &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_parses_to_milliseconds() {
        assert_eq!(parse_rfc3339_millis("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_rfc3339_millis("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_rfc3339_millis("yesterday"), None);
    }

    #[test]
    fn the_adjustable_clock_moves_zero_to_ten_years_in_all() {
        let clock = AdjustableClock::new();
        assert!(clock.advance(-1).is_none());
        assert!(clock.advance(i64::MAX).is_none());
        assert!(clock.advance(MAX_ADVANCE_SECONDS + 1).is_none());
        assert_eq!(clock.offset_seconds(), 0);
        assert!(clock.advance(0).is_some());
        assert!(clock.advance(MAX_ADVANCE_SECONDS - 10).is_some());
        assert!(clock.advance(11).is_none());
        assert_eq!(clock.offset_seconds(), MAX_ADVANCE_SECONDS - 10);
        assert!(clock.advance(10).is_some());
        assert!(clock.advance(1).is_none());
        assert_eq!(clock.offset_seconds(), MAX_ADVANCE_SECONDS);
    }
}
