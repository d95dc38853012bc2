//! Counts SDK operations at the client boundary (an interceptor), for tests and benchmarks that
//! report how many DynamoDB requests a flow makes. Retries of one operation count once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::ConfigBag;

/// Operations seen, by name (e.g. `GetItem`), shared by every clone.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    calls: Arc<Mutex<BTreeMap<String, usize>>>,
}

impl CallCounter {
    /// The counts so far, by operation.
    pub fn snapshot(&self) -> BTreeMap<String, usize> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn total(&self) -> usize {
        self.snapshot().values().sum()
    }

    pub fn reset(&self) {
        if let Ok(mut c) = self.calls.lock() {
            c.clear();
        }
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "CallCounter"
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = cfg
            .load::<Metadata>()
            .map(|m| m.name().to_owned())
            .unwrap_or_else(|| "unknown".into());
        if let Ok(mut c) = self.calls.lock() {
            *c.entry(name).or_default() += 1;
        }
        Ok(())
    }
}
