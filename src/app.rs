//! Wires a validated configuration into a running exporter: credentials,
//! client, poller and web server, until the shutdown token fires.

use crate::api::{Client, ClientOptions};
use crate::config::Config;
use crate::credentials::{CredentialsError, CredentialsProvider, StaticProvider};
use crate::http::serve::serve;
use crate::http::{ExporterService, WebOptions, listen_address};
use crate::metrics::SelfMetrics;
use crate::poller::{Poller, PollerOptions};
use crate::snapshot::SnapshotStore;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How long scrapes in flight may finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(5);

/// Why the exporter could not start.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No credentials.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    /// The HTTP client could not be built.
    #[error("cannot build the API client: {0}")]
    Client(#[from] crate::api::ApiError),
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}; pick a free address with --web.listen-address")]
    Bind {
        /// The address asked for.
        address: String,
        /// Why.
        source: std::io::Error,
    },
}

/// Chooses the credentials: those in the config file, else the environment's.
pub fn credentials_provider(
    config: &Config,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Arc<dyn CredentialsProvider>, CredentialsError> {
    if let Some(credentials) = &config.credentials {
        return Ok(Arc::new(StaticProvider::new("config", credentials.clone())));
    }
    match StaticProvider::from_environment(env)? {
        Some(provider) => Ok(Arc::new(provider)),
        None => Err(CredentialsError::NotFound),
    }
}

/// A bound, not yet serving exporter: lets callers learn the port before it runs.
pub struct Exporter {
    listener: TcpListener,
    service: Arc<ExporterService>,
    poller: Poller,
}

impl Exporter {
    /// Builds every part and binds the listen address.
    pub async fn bind(
        config: &Config,
        credentials: Arc<dyn CredentialsProvider>,
        web: &WebOptions,
    ) -> Result<Self, AppError> {
        let self_metrics = SelfMetrics::default();
        let client = Client::new(
            ClientOptions {
                endpoint: config.endpoint.clone(),
                connect_timeout: config.connect_timeout,
                request_timeout: config.request_timeout,
            },
            Arc::clone(&credentials),
            Arc::new(self_metrics.clone()),
        )?;
        let store = Arc::new(SnapshotStore::default());
        let poller = Poller::new(
            Arc::new(client),
            PollerOptions {
                jobs: config.jobs.clone(),
                interval: config.interval,
                stale_after: config.stale_after,
                concurrency: config.concurrency,
            },
            Arc::clone(&store),
        );
        let address = listen_address(&web.listen_address);
        let listener = TcpListener::bind(&address)
            .await
            .map_err(|source| AppError::Bind { address, source })?;
        let service = Arc::new(ExporterService::new(
            web.telemetry_path.clone(),
            store,
            self_metrics,
        ));
        if let Ok(initial) = credentials.credentials() {
            tracing::info!(
                provider = credentials.name(),
                access_key_id = %initial.key_id_hint(),
                endpoint = %config.endpoint,
                jobs = config.jobs.len(),
                interval = %humantime::format_duration(config.interval),
                "exporter configured"
            );
        }
        Ok(Self {
            listener,
            service,
            poller,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Polls and serves until `shutdown` fires.
    pub async fn run(self, shutdown: CancellationToken) {
        if let Some(address) = self.local_addr() {
            tracing::info!(address = %address, "listening");
        }
        let poller = tokio::spawn(self.poller.run(shutdown.clone()));
        serve(self.listener, self.service, shutdown, DRAIN).await;
        let _ = poller.await;
        tracing::info!("stopped");
    }
}
