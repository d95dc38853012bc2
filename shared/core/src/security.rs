//! The security policy: every rule of the contract that carries a number, as one value held by
//! [`crate::Portal`]. `Default` is the contract (`API.md`); messages state the numbers from here,
//! so a text can never disagree with the rule it describes.

/// Lockout, session, link, code, invitation and sending-limit rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityPolicy {
    /// Consecutive failures of one login name that lock it.
    pub lockout_failures: usize,
    /// The window the failures must fall in.
    pub lockout_window_seconds: i64,
    /// How long a login stays locked.
    pub lockout_seconds: i64,
    /// A password check still unsettled after this long counts as a failure (its request died).
    pub stale_check_seconds: i64,
    /// A non-persistent session ends after this long without a data-submitting request.
    pub idle_timeout_seconds: i64,
    /// A reset link works this long after it is sent.
    pub reset_link_seconds: i64,
    /// An email validation code works this long, for this many tries.
    pub code_seconds: i64,
    pub code_tries: u32,
    /// A validated email may wait this long for the sign-up form.
    pub verification_seconds: i64,
    /// An invitation works this long; a pending one is kept (resendable) this long after.
    pub invitation_seconds: i64,
    pub invitation_kept_seconds: i64,
    /// At most this many messages of one kind to one address per window.
    pub sends_per_window: usize,
    pub send_window_seconds: i64,
    /// A tenant's validation-code and invitation mails per UTC day, unless its own
    /// `daily_mail_limit` says otherwise: a ceiling on what one tenant (or an attacker cycling
    /// through addresses) can make the shared sender send, far above a busy day's need.
    pub daily_mails_default: u32,
}

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

impl Default for SecurityPolicy {
    fn default() -> Self {
        Self {
            lockout_failures: 5,
            lockout_window_seconds: 15 * MINUTE,
            lockout_seconds: 15 * MINUTE,
            stale_check_seconds: MINUTE,
            idle_timeout_seconds: HOUR,
            reset_link_seconds: 30 * MINUTE,
            code_seconds: 30 * MINUTE,
            code_tries: 5,
            verification_seconds: HOUR,
            invitation_seconds: 7 * DAY,
            invitation_kept_seconds: 30 * DAY,
            sends_per_window: 5,
            send_window_seconds: HOUR,
            daily_mails_default: 1000,
        }
    }
}

/// A duration in words for messages: "30 minutes", "1 hour", "7 days".
pub fn in_words(seconds: i64) -> String {
    let (n, unit) = if seconds % DAY == 0 {
        (seconds / DAY, "day")
    } else if seconds % HOUR == 0 {
        (seconds / HOUR, "hour")
    } else if seconds % MINUTE == 0 {
        (seconds / MINUTE, "minute")
    } else {
        (seconds, "second")
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_the_contract() {
        let p = SecurityPolicy::default();
        assert_eq!(
            (
                p.lockout_failures,
                p.lockout_window_seconds,
                p.lockout_seconds
            ),
            (5, 900, 900)
        );
        assert_eq!(p.idle_timeout_seconds, 3600);
        assert_eq!(
            (p.reset_link_seconds, p.code_seconds, p.code_tries),
            (1800, 1800, 5)
        );
        assert_eq!(p.invitation_seconds, 7 * 24 * 3600);
        assert_eq!((p.sends_per_window, p.send_window_seconds), (5, 3600));
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(in_words(1800), "30 minutes");
        assert_eq!(in_words(3600), "1 hour");
        assert_eq!(in_words(7 * 24 * 3600), "7 days");
        assert_eq!(in_words(90), "90 seconds");
    }
}
