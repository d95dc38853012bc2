//! One retry loop for optimistic writes: read, decide, write on the version read; when the
//! write loses to a concurrent change, read again. Contention is resolved here, within a few
//! attempts, rather than reported; only a store that keeps losing answers `503`.

use std::future::Future;
use std::time::Duration;

use crate::error::{DomainError, DomainResult};
use crate::store::StoreError;

/// Attempts of one optimistic read-modify-write.
const ATTEMPTS: u32 = 8;

/// Runs `attempt` until it answers `Some` (done) rather than `None` (its conditional write
/// lost; read again), pausing briefly and with jitter between attempts.
pub async fn optimistic<T, F, Fut>(mut attempt: F) -> DomainResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = DomainResult<Option<T>>>,
{
    for n in 0..ATTEMPTS {
        if let Some(done) = attempt().await? {
            return Ok(done);
        }
        let jitter = crate::tokens::random_below(10).map_or(0, u64::from);
        tokio::time::sleep(Duration::from_millis((2u64 << n.min(5)) + jitter)).await;
    }
    Err(DomainError::Store(StoreError::Contention))
}

/// Whether a conditional write went through (`true`) or lost to a concurrent change
/// (`false`); any other failure is an error.
pub fn won(result: Result<(), StoreError>) -> DomainResult<bool> {
    match result {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed | StoreError::TransactionConflict(_)) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test]
    async fn retries_until_the_write_goes_through() {
        let tries = Cell::new(0);
        let out = optimistic(|| {
            tries.set(tries.get() + 1);
            let n = tries.get();
            async move { Ok((n == 3).then_some(n)) }
        })
        .await
        .unwrap();
        assert_eq!(out, 3);
    }

    #[tokio::test]
    async fn keeps_losing_is_contention_and_errors_stop_at_once() {
        let lost = optimistic(|| async { Ok(None::<()>) }).await;
        assert!(matches!(
            lost,
            Err(DomainError::Store(StoreError::Contention))
        ));
        let tries = Cell::new(0);
        let failed = optimistic(|| {
            tries.set(tries.get() + 1);
            async { Err::<Option<()>, _>(DomainError::NotFound) }
        })
        .await;
        assert!(matches!(failed, Err(DomainError::NotFound)));
        assert_eq!(tries.get(), 1);
    }
}
