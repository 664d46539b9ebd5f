//! The `aliyun-cas-exporter` binary: flags in, library out.

use aliyun_cas_exporter::app::{ConfigSource, Exporter, StartError, check_credentials};
use aliyun_cas_exporter::cli::{Cli, Command, DEFAULT_LISTEN_ADDRESS, DEMO_LISTEN_ADDRESS};
use aliyun_cas_exporter::config::Config;
use aliyun_cas_exporter::env::Env;
use aliyun_cas_exporter::http::ReloadRequest;
use aliyun_cas_exporter::http::WebOptions;
use aliyun_cas_exporter::http::web_config::WebGuard;
use aliyun_cas_exporter::metrics::{REVISION, VERSION};
use aliyun_cas_exporter::shard::Shard;
use aliyun_cas_exporter::simulator::{Simulator, SimulatorSpec};
use aliyun_cas_exporter::{demo, logging};
use clap::Parser;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

/// How long blocking work (a password check) may hold up the exit once serving ended.
const BLOCKING_GRACE: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let env = Env::process();
    let code = runtime.block_on(async {
        if let (true, Some(path)) = (cli.config_check, cli.config_file.as_deref()) {
            return check_config(path, cli.web_config_file.as_deref(), &env).await;
        }
        logging::init(cli.log_level, cli.log_format);
        match run(cli, &env).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!("{error}");
                ExitCode::FAILURE
            }
        }
    });
    // Dropping the runtime would wait for every blocking task, and a bcrypt check at a
    // high cost runs for seconds: a SIGTERM must end the process promptly all the same.
    runtime.shutdown_timeout(BLOCKING_GRACE);
    code
}

async fn run(cli: Cli, env: &Env) -> Result<(), StartError> {
    let shutdown = shutdown_on_signal();
    if let Some(Command::Simulate { jobs, listen }) = cli.command {
        let spec = SimulatorSpec::load(&jobs)?;
        let simulator = Simulator::start(spec, listen).await?;
        tracing::info!(address = %simulator.address(), role = "simulator", "listening");
        shutdown.cancelled().await;
        simulator.shutdown().await;
        return Ok(());
    }
    let default_address = if cli.demo {
        DEMO_LISTEN_ADDRESS
    } else {
        DEFAULT_LISTEN_ADDRESS
    };
    let web = WebOptions {
        listen_address: cli
            .listen_address
            .unwrap_or_else(|| default_address.to_owned()),
        telemetry_path: cli.telemetry_path,
        enable_lifecycle: cli.enable_lifecycle,
        max_requests: cli.max_requests,
        max_connections: cli
            .max_connections
            .unwrap_or_else(aliyun_cas_exporter::http::serve::default_max_connections),
        config_file: cli.web_config_file,
    };
    if let Some(half) = aliyun_cas_exporter::http::serve::half_the_file_limit()
        && (web.max_connections == 0 || web.max_connections > half)
    {
        tracing::warn!(
            max_connections = web.max_connections,
            "--web.max-connections is 0 (no cap) or above half the open-file limit: a flood of connections can leave no file descriptor for polling the API; keep it at most {half}, or raise the limit (ulimit -n, LimitNOFILE)"
        );
    }
    let hostname = env.var("HOSTNAME");
    let shard = Shard::resolve(cli.shard_index, cli.shard_count, hostname.as_deref())?;
    let (simulator, config, source) = match cli.config_file {
        Some(path) => {
            let config = Config::load(&path, env)?;
            if let Some(warning) = config.permission_warning(&path) {
                tracing::warn!("{warning}");
            }
            (None, config, ConfigSource::File(path))
        }
        None if cli.demo => {
            let (simulator, config) = demo::start().await?;
            (Some(simulator), config, ConfigSource::Fixed)
        }
        None => return Err(StartError::NoConfiguration),
    };
    log_start(&config, &source, &web.listen_address);
    let exporter = Exporter::bind(&config, source, env, &web, shard, shutdown).await?;
    reload_on_hangup(exporter.reload_handle());
    exporter.run().await;
    if let Some(simulator) = simulator {
        simulator.shutdown().await;
    }
    Ok(())
}

/// The line every Prometheus exporter starts with: what runs, and on what.
fn log_start(config: &Config, source: &ConfigSource, listen_address: &str) {
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
        static_jobs = config.accounts.iter().map(|a| a.jobs.len()).sum::<usize>(),
        discovery_accounts = config
            .accounts
            .iter()
            .filter(|a| a.discovery.is_some())
            .count(),
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

/// `--config.check`: plain lines for a person or a CI job, exit 0 when valid.
async fn check_config(path: &Path, web_config: Option<&Path>, env: &Env) -> ExitCode {
    let web = match web_config.map(WebGuard::load).transpose() {
        Ok(guard) => guard.map(|guard| {
            for warning in guard.permission_warnings() {
                eprintln!("warning: {warning}");
            }
            guard.current()
        }),
        Err(error) => {
            eprintln!("web config (--web.config.file): {error}");
            return ExitCode::FAILURE;
        }
    };
    if let (Some(policy), Some(file)) = (web, web_config) {
        println!(
            "{}: valid (TLS: {}, basic auth: {})",
            file.display(),
            if policy.tls().is_some() { "on" } else { "off" },
            if policy.requires_auth() { "on" } else { "off" },
        );
    }
    let name = path.display();
    let checked = match Config::load(path, env) {
        Err(error) => Err(error.to_string()),
        Ok(config) => match check_credentials(&config, env).await {
            Ok(()) => {
                if let Some(warning) = config.permission_warning(path) {
                    eprintln!("warning: {warning}");
                }
                Ok(config)
            }
            Err(error) => Err(format!("{name}: {error}")),
        },
    };
    match checked {
        Ok(config) => {
            let jobs: usize = config.accounts.iter().map(|a| a.jobs.len()).sum();
            let discovering = config
                .accounts
                .iter()
                .filter(|a| a.discovery.is_some())
                .count();
            println!(
                "{name}: valid (accounts: {}, jobs listed by ID: {jobs}, accounts with discovery: {discovering})",
                config.accounts.len()
            );
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Asks for a reload on every SIGHUP; the outcome is logged by the exporter.
fn reload_on_hangup(reloads: mpsc::Sender<ReloadRequest>) {
    tokio::spawn(async move {
        let Ok(mut hangups) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            tracing::warn!(
                "cannot listen for SIGHUP; reload through POST /-/reload with --web.enable-lifecycle"
            );
            return;
        };
        while hangups.recv().await.is_some() {
            tracing::info!("SIGHUP: reloading the configuration");
            let (reply, _answer) = oneshot::channel();
            if reloads.send(reply).await.is_err() {
                return;
            }
        }
    });
}

/// A token cancelled by the first SIGINT or SIGTERM.
fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut stream) => {
                    stream.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = terminate => {}
        }
        tracing::info!("shutting down");
        trigger.cancel();
    });
    token
}
