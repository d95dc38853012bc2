//! Messaging adapters that fail, and a server that uses them (delivery-failure tests).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use portal_core::messaging::{DeliveryError, Email, Mailer, Sms, SmsSender};
use portal_core::store::Store;
use portal_local::Options;

use super::app::{Backend, TestApp, store_for};

/// An SMS sender whose every send fails, as SNS refusing a message would; counts attempts.
#[derive(Default)]
pub struct FailingSms {
    pub attempts: AtomicUsize,
}

#[async_trait]
impl SmsSender for FailingSms {
    async fn send_sms(&self, _sms: Sms) -> Result<(), DeliveryError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Err(DeliveryError::Failed("simulated SNS failure".into()))
    }
}

/// A mailer whose every send fails; counts attempts.
#[derive(Default)]
pub struct FailingMailer {
    pub attempts: AtomicUsize,
}

#[async_trait]
impl Mailer for FailingMailer {
    async fn send_email(&self, _email: Email) -> Result<(), DeliveryError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        Err(DeliveryError::Failed("simulated SES failure".into()))
    }
}

impl TestApp {
    /// A server with tenant `swim` (as [`TestApp::spawn`]) whose mail and/or SMS go through
    /// the given senders instead of the outbox.
    pub async fn spawn_with_messaging(
        backend: Backend,
        mailer: Option<Arc<dyn Mailer>>,
        sms: Option<Arc<dyn SmsSender>>,
    ) -> TestApp {
        Self::spawn_on_with(store_for(backend).await, mailer, sms).await
    }

    /// A server with tenant `swim` on a store the test keeps a handle to.
    pub async fn spawn_on(store: Arc<dyn Store>) -> TestApp {
        Self::spawn_on_with(store, None, None).await
    }

    async fn spawn_on_with(
        store: Arc<dyn Store>,
        mailer: Option<Arc<dyn Mailer>>,
        sms: Option<Arc<dyn SmsSender>>,
    ) -> TestApp {
        let running = portal_local::spawn(Options {
            store,
            mailer,
            sms,
            port: 0,
            portal_url: Some("https://portal.test".into()),
        })
        .await
        .expect("server starts");
        let app = TestApp {
            running,
            client: reqwest::Client::new(),
            account: "swim".into(),
        };
        app.create_tenant("swim", "owner").await;
        app
    }
}
