//! The `aliyun-cas-exporter` binary: flags in, library out.

use aliyun_cas_exporter::app::{ConfigSource, Exporter, StartError, check_config, log_start};
use aliyun_cas_exporter::cli::{Cli, Command, DEFAULT_LISTEN_ADDRESS, DEMO_LISTEN_ADDRESS};
use aliyun_cas_exporter::config::Config;
use aliyun_cas_exporter::env::Env;
use aliyun_cas_exporter::http::ReloadRequest;
use aliyun_cas_exporter::http::WebOptions;
use aliyun_cas_exporter::shard::Shard;
use aliyun_cas_exporter::simulator::{Simulator, SimulatorSpec};
use aliyun_cas_exporter::{demo, logging};
use clap::Parser;
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
        let check = cli.config_check || cli.config_check_credentials;
        if let (true, Some(path)) = (check, cli.config_file.as_deref()) {
            let web_config = cli.web_config_file.as_deref();
            let valid = check_config(path, web_config, &env, cli.config_check_credentials).await;
            return if valid {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
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
