//! Counts SDK operations at the client boundary (an interceptor), for tests and benchmarks that
//! report how many DynamoDB requests a flow makes. Retries of one operation count once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
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

    /// Runs once per operation (serialisation precedes the retry loop); the operation's name
    /// is the suffix of its `x-amz-target` header (`DynamoDB_20120810.GetItem`).
    fn read_after_serialization(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let name = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown")
            .to_owned();
        if let Ok(mut c) = self.calls.lock() {
            *c.entry(name).or_default() += 1;
        }
        Ok(())
    }
}
