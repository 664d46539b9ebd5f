//! Wires a validated configuration into a running exporter: per account a
//! client and a poller, the web server, and reloads, until shutdown.

mod check;
mod poll_thread;
mod supervise;

pub use check::check_config;

use crate::api::{Client, ClientOptions, RequestObserver};
use crate::config::{AccountConfig, Config, ConfigError, CredentialsConfig};
use crate::credentials::{
    BuildContext, CredentialsError, CredentialsProvider, RefreshObserver, build, resolve_chain,
};
use crate::env::Env;
use crate::http::serve::{ConnectionLimits, release_free_memory, serve};
use crate::http::web_config::{WebConfigError, WebGuard};
use crate::http::{ExporterService, ReloadRequest, WebOptions, listen_address};
use crate::metrics::{REVISION, SelfMetrics, VERSION};
use crate::poller::{AccountPoller, AccountSettings};
use crate::shard::{Shard, ShardError};
use crate::simulator::SimulatorError;
use crate::snapshot::SnapshotStore;
use poll_thread::PollThread;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use supervise::{RESTART_AFTER, supervise};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The longest reason for a refused reload that the log and the HTTP answer carry.
const MAX_REFUSAL_BYTES: usize = 4096;

/// How long scrapes in flight may finish after a shutdown signal.
const DRAIN: Duration = Duration::from_secs(5);

/// Why the exporter could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// No credentials for an account.
    #[error("account {account}: {source}")]
    Credentials {
        /// The account.
        account: String,
        /// Why.
        source: CredentialsError,
    },
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
    /// The configuration file is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The web config file (TLS, basic auth, headers) is wrong.
    #[error("web config (--web.config.file): {0}")]
    WebConfig(#[from] WebConfigError),
    /// The thread the pollers run on could not start.
    #[error(
        "cannot start the poller thread: {0}; the system is out of threads or memory (see ulimit -u and the memory limit)"
    )]
    PollThread(std::io::Error),
}

/// Why the binary could not start: what it logs before it exits with status 1.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The simulator, run on its own or for demo mode, could not start.
    #[error(transparent)]
    Simulator(#[from] SimulatorError),
    /// The shard flags do not name a shard.
    #[error(transparent)]
    Shard(#[from] ShardError),
    /// The configuration file could not be read or is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The exporter could not be built or bound.
    #[error(transparent)]
    Exporter(#[from] AppError),
    /// Neither a configuration file nor demo mode was asked for.
    #[error(
        "no configuration: pass --config.file PATH (see config.example.yaml), or --demo to try the exporter against the built-in simulator"
    )]
    NoConfiguration,
}

/// Counts an account's credential refreshes in the self-metrics.
struct RefreshMetrics {
    metrics: SelfMetrics,
    account: String,
}

impl RefreshObserver for RefreshMetrics {
    fn watching(&self, provider: &str) {
        self.metrics.credentials_watched(&self.account, provider);
    }

    fn refreshed(&self, expiration: Option<SystemTime>) {
        self.metrics
            .credentials_refreshed(&self.account, expiration);
    }

    fn refresh_failed(&self, provider: &str) {
        self.metrics
            .credentials_refresh_failed(&self.account, provider);
    }
}

/// Obtains an account's credentials: from the provider its file names, else
/// from the first place of the default chain that yields them. Temporary
/// credentials are fetched now, then refreshed until `stop`.
pub async fn credentials_provider(
    account: &AccountConfig,
    env: &Env,
    metrics: &SelfMetrics,
    stop: CancellationToken,
) -> Result<Arc<dyn CredentialsProvider>, AppError> {
    let ctx = BuildContext::from_env(
        env,
        Arc::new(RefreshMetrics {
            metrics: metrics.clone(),
            account: account.name.clone(),
        }),
        stop,
    );
    let result = match &account.credentials {
        CredentialsConfig::Provider(spec) => build(spec, &ctx).await,
        CredentialsConfig::Chain(options) => resolve_chain(env, options, &ctx).await,
    };
    result.map_err(|source| AppError::Credentials {
        account: account.name.clone(),
        source,
    })
}

/// What `--config.check.credentials` found for one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Obtained {
    /// The account.
    pub account: String,
    /// The provider that yielded the credentials.
    pub provider: &'static str,
    /// The AccessKey ID's first four characters.
    pub key_hint: String,
}

/// Obtains every account's credentials, as `--config.check.credentials` does.
pub async fn check_credentials(config: &Config, env: &Env) -> Result<Vec<Obtained>, AppError> {
    let stop = CancellationToken::new();
    let metrics = SelfMetrics::default();
    let mut obtained = Vec::with_capacity(config.accounts.len());
    for account in &config.accounts {
        let provider = match credentials_provider(account, env, &metrics, stop.clone()).await {
            Ok(provider) => provider,
            Err(error) => {
                stop.cancel();
                return Err(error);
            }
        };
        obtained.push(Obtained {
            account: account.name.clone(),
            provider: provider.name(),
            key_hint: provider
                .credentials()
                .map(|c| c.key_id_hint())
                .unwrap_or_default(),
        });
    }
    stop.cancel();
    Ok(obtained)
}

/// Where the configuration comes from, to read it again on reload.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// A file, read again on each reload.
    File(PathBuf),
    /// Built in (demo mode): nothing to reload.
    Fixed,
}

/// A running account poller and the means to update or stop it.
struct RunningAccount {
    settings: watch::Sender<Arc<AccountSettings>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
    /// Stops the refreshing of the credentials the current settings use.
    credentials_stop: CancellationToken,
}

/// An account's settings, built and checked, with what the log says about them.
struct Prepared {
    name: String,
    credentials_stop: CancellationToken,
    settings: AccountSettings,
    provider: &'static str,
    key_hint: String,
    endpoint: String,
    discovery: bool,
}

/// Every account's poller, with what they share.
struct Pollers {
    store: Arc<SnapshotStore>,
    metrics: SelfMetrics,
    shard: Shard,
    env: Env,
    shutdown: CancellationToken,
    thread: PollThread,
    running: BTreeMap<String, RunningAccount>,
}

impl Pollers {
    async fn settings(
        &self,
        account: &AccountConfig,
        config: &Config,
    ) -> Result<Prepared, AppError> {
        let credentials_stop = self.shutdown.child_token();
        let credentials =
            credentials_provider(account, &self.env, &self.metrics, credentials_stop.clone())
                .await?;
        let client = Client::new(
            ClientOptions {
                account: account.name.clone(),
                endpoint: account.endpoint.clone(),
                connect_timeout: config.polling.connect_timeout,
                request_timeout: config.polling.request_timeout,
                user_agent_suffix: self.env.non_empty("ALIBABA_CLOUD_USER_AGENT"),
            },
            Arc::clone(&credentials),
            Arc::new(self.metrics.clone()) as Arc<dyn RequestObserver>,
        )
        .inspect_err(|_| credentials_stop.cancel())?;
        let settings = AccountSettings {
            client: Arc::new(client),
            static_jobs: account.jobs.clone(),
            discovery: account.discovery.clone(),
            rate_limit: account.rate_limit.map(|_, rate| self.shard.share(*rate)),
            polling: config.polling.clone(),
            retries: config.retries,
            worker_detail: config.worker_detail,
            certificate_detail: config.certificate_detail,
        };
        Ok(Prepared {
            name: account.name.clone(),
            credentials_stop,
            settings,
            provider: credentials.name(),
            key_hint: credentials
                .credentials()
                .map(|c| c.key_id_hint())
                .unwrap_or_default(),
            endpoint: account.endpoint.to_string(),
            discovery: account.discovery.is_some(),
        })
    }

    /// Builds every account's settings first, so that a bad one changes nothing.
    async fn prepare(&self, config: &Config) -> Result<Vec<Prepared>, AppError> {
        let mut prepared: Vec<Prepared> = Vec::with_capacity(config.accounts.len());
        for account in &config.accounts {
            match self.settings(account, config).await {
                Ok(p) => prepared.push(p),
                Err(error) => {
                    prepared.iter().for_each(|p| p.credentials_stop.cancel());
                    return Err(error);
                }
            }
        }
        Ok(prepared)
    }

    /// Starts, updates and stops pollers so that exactly `prepared` run.
    async fn apply(&mut self, prepared: Vec<Prepared>) {
        let names: Vec<String> = prepared.iter().map(|p| p.name.clone()).collect();
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|n| !names.contains(n))
            .cloned()
            .collect();
        for name in gone {
            if let Some(account) = self.running.remove(&name) {
                account.stop.cancel();
                account.credentials_stop.cancel();
                // The supervisor returns once its poller's task has ended: no publish
                // can then land over the removal. (Aborting the supervisor instead
                // would leave its poller's task to end on its own, later.)
                let _ = account.task.await;
            }
            self.store.remove(&name);
            tracing::info!(account = %name, "account removed");
        }
        let mut started = Vec::new();
        for Prepared {
            name,
            credentials_stop,
            settings,
            provider,
            key_hint,
            endpoint,
            discovery,
        } in prepared
        {
            tracing::info!(
                account = %name,
                provider,
                access_key_id = %key_hint,
                endpoint = %endpoint,
                jobs = settings.static_jobs.len(),
                discovery,
                "account configured"
            );
            let settings = Arc::new(settings);
            if let Some(running) = self.running.get_mut(&name) {
                running.settings.send_replace(settings);
                // The poller now signs with the new credentials: the old ones need no more refreshing.
                std::mem::replace(&mut running.credentials_stop, credentials_stop).cancel();
                continue;
            }
            let (tx, rx) = watch::channel(settings);
            let new_poller = {
                let (name, store, metrics, shard) = (
                    name.clone(),
                    Arc::clone(&self.store),
                    self.metrics.clone(),
                    self.shard,
                );
                move || {
                    AccountPoller::new(
                        &name,
                        rx.clone(),
                        Arc::clone(&store),
                        metrics.clone(),
                        shard,
                    )
                }
            };
            started.push((name, tx, new_poller(), new_poller, credentials_stop));
        }
        // Every new account has published its initial snapshot before any starts polling.
        for (name, tx, poller, new_poller, credentials_stop) in started {
            let stop = self.shutdown.child_token();
            let (account, poller_stop) = (name.clone(), stop.clone());
            let task = self.thread.spawn(async move {
                let first = poller.run(poller_stop.clone());
                let again = || new_poller().run(poller_stop.clone());
                supervise(&account, first, again, poller_stop.clone(), RESTART_AFTER).await;
            });
            self.running.insert(
                name,
                RunningAccount {
                    settings: tx,
                    stop,
                    task,
                    credentials_stop,
                },
            );
        }
    }
}

/// A bound, not yet serving exporter: lets callers learn the port before it runs.
pub struct Exporter {
    listener: TcpListener,
    service: Arc<ExporterService>,
    guard: Option<Arc<WebGuard>>,
    pollers: Pollers,
    source: ConfigSource,
    reloads: mpsc::Receiver<ReloadRequest>,
    reload_sender: mpsc::Sender<ReloadRequest>,
    limits: ConnectionLimits,
}

impl Exporter {
    /// Builds every part and binds the listen address.
    pub async fn bind(
        config: &Config,
        source: ConfigSource,
        env: &Env,
        web: &WebOptions,
        shard: Shard,
        shutdown: CancellationToken,
    ) -> Result<Self, AppError> {
        let metrics = SelfMetrics::default();
        metrics.set_shard(shard);
        metrics.config_loaded(true, SystemTime::now());
        let store = Arc::new(SnapshotStore::default());
        let mut pollers = Pollers {
            store: Arc::clone(&store),
            metrics: metrics.clone(),
            shard,
            env: env.clone(),
            thread: PollThread::start(shutdown.clone()).map_err(AppError::PollThread)?,
            shutdown,
            running: BTreeMap::new(),
        };
        let prepared = pollers.prepare(config).await?;
        let guard = match &web.config_file {
            Some(path) => Some(Arc::new(WebGuard::load(path)?)),
            None => None,
        };
        let address = listen_address(&web.listen_address);
        let listener = crate::http::serve::bind(&address)
            .await
            .map_err(|source| AppError::Bind { address, source })?;
        let (reload_sender, reloads) = mpsc::channel(4);
        let lifecycle = web.enable_lifecycle.then(|| reload_sender.clone());
        let service = Arc::new(ExporterService::new(
            web.telemetry_path.clone(),
            store,
            metrics,
            lifecycle,
            web.max_requests,
            guard.clone(),
        ));
        pollers.apply(prepared).await;
        if shard.count > 1 {
            tracing::info!(
                index = shard.index,
                count = shard.count,
                "polling one shard of the jobs"
            );
        }
        Ok(Self {
            listener,
            service,
            guard,
            pollers,
            source,
            reloads,
            reload_sender,
            limits: ConnectionLimits {
                max_connections: web.max_connections,
                ..ConnectionLimits::default()
            },
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// A handle that asks for a reload, as SIGHUP does.
    pub fn reload_handle(&self) -> mpsc::Sender<ReloadRequest> {
        self.reload_sender.clone()
    }

    /// Polls and serves until the shutdown token fires; reloads on request.
    pub async fn run(mut self) {
        if let Some(address) = self.local_addr() {
            let policy = self.guard.as_ref().map(|g| g.current());
            tracing::info!(
                address = %address,
                tls = policy.as_ref().is_some_and(|p| p.tls().is_some()),
                basic_auth = policy.as_ref().is_some_and(|p| p.requires_auth()),
                "listening"
            );
        }
        let shutdown = self.pollers.shutdown.clone();
        let server = tokio::spawn(serve(
            self.listener,
            self.service,
            shutdown.clone(),
            DRAIN,
            self.limits,
            self.guard,
        ));
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(reply) = self.reloads.recv() => {
                    // Shutdown wins over a reload still reading or checking its file.
                    tokio::select! {
                        result = reload(&mut self.pollers, &self.source) => {
                            let _ = reply.send(result);
                        }
                        () = shutdown.cancelled() => break,
                    }
                }
            }
        }
        let _ = server.await;
        for account in self.pollers.running.into_values() {
            let _ = account.task.await;
        }
        tracing::info!("stopped");
    }
}

/// Reads and checks the file on a blocking thread, so that a slow parse holds no
/// async worker, and so that even a bug that panics on some file refuses the
/// reload instead of ending the process.
async fn load_off_workers(path: &Path, env: &Env) -> Result<Config, String> {
    let owned = path.to_owned();
    let env = env.clone();
    match tokio::task::spawn_blocking(move || Config::load(&owned, &env)).await {
        Ok(loaded) => loaded.map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "{}: checking this file failed unexpectedly (a bug; the log has the details): please report it with the file, secrets removed",
            path.display()
        )),
    }
}

/// Reads the configuration again and applies it; a bad one is refused and the running one stays.
async fn reload(pollers: &mut Pollers, source: &ConfigSource) -> Result<(), String> {
    let result = match source {
        ConfigSource::Fixed => {
            Err("there is no configuration file to reload (demo mode)".to_owned())
        }
        ConfigSource::File(path) => match load_off_workers(path, &pollers.env).await {
            Ok(config) => {
                if let Some(warning) = config.permission_warning(path) {
                    tracing::warn!("{warning}");
                }
                pollers.prepare(&config).await.map_err(|e| e.to_string())
            }
            Err(message) => Err(message),
        },
    };
    match result {
        Ok(prepared) => {
            let accounts = prepared.len();
            pollers.apply(prepared).await;
            pollers.metrics.config_loaded(true, SystemTime::now());
            tracing::info!(accounts, "configuration reloaded");
            Ok(())
        }
        Err(message) => {
            // Parsing a large refused file can leave tens of megabytes free but held.
            release_free_memory();
            // Every part of the message is bounded at its source; this bounds their sum.
            let message = crate::acs::text::bounded(&message, MAX_REFUSAL_BYTES).into_owned();
            pollers.metrics.config_loaded(false, SystemTime::now());
            tracing::error!(
                error = %message,
                "configuration reload refused; the running configuration stays: fix the file and reload again"
            );
            Err(message)
        }
    }
}

/// The line every Prometheus exporter starts with: what runs, and on what.
pub fn log_start(config: &Config, source: &ConfigSource, listen_address: &str) {
    let config_file = match source {
        ConfigSource::File(path) => path.display().to_string(),
        ConfigSource::Fixed => "none (demo mode)".to_owned(),
    };
    tracing::info!(
        version = VERSION,
        revision = REVISION,
        config_file,
        listen_address,
        accounts = config.accounts.len(),
        static_jobs = config.listed_jobs(),
        discovery_accounts = config.discovering_accounts(),
        jobs_by_account = jobs_by_account(config),
        "Starting aliyun-cas-exporter"
    );
}

/// Each account's jobs listed by ID, and whether it discovers more: `prod=20+discovery staging=3`.
fn jobs_by_account(config: &Config) -> String {
    let accounts = config.accounts.iter().map(|account| {
        let discovery = if account.discovery.is_some() {
            "+discovery"
        } else {
            ""
        };
        format!("{}={}{discovery}", account.name, account.jobs.len())
    });
    accounts.collect::<Vec<_>>().join(" ")
}
