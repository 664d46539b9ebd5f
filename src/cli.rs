//! Command-line flags, named as in other Prometheus exporters.

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Where the exporter listens unless told otherwise.
pub const DEFAULT_LISTEN_ADDRESS: &str = ":19525";
/// Where demo mode listens unless told otherwise: made-up data stays on this machine.
pub const DEMO_LISTEN_ADDRESS: &str = "127.0.0.1:19525";

/// `--version` output: version and git revision.
const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (revision ",
    env!("ALIYUN_CAS_EXPORTER_REVISION"),
    ")"
);

/// What `--help` says of the exit status.
const EXIT_STATUS: &str = "Exit status: 0 when the exporter stopped on a signal, or when --config.check or --config.check.credentials found everything valid; 1 when the configuration, the credentials or the start failed (the message says what and where); 2 for a mistake in the flags.";

/// Prometheus exporter for Alibaba Cloud CAS deployment jobs.
#[derive(Debug, Parser)]
#[command(name = "aliyun-cas-exporter", version = LONG_VERSION, after_help = EXIT_STATUS)]
pub struct Cli {
    /// Configuration file (YAML).
    #[arg(long = "config.file", value_name = "PATH")]
    pub config_file: Option<PathBuf>,

    /// Validate the configuration file offline, with no secret needed: print each account's endpoint and credential source, and exit.
    #[arg(long = "config.check", requires = "config_file")]
    pub config_check: bool,

    /// As --config.check, and also obtain each account's credentials (this may ask STS, the ECS metadata service or a credentials URI).
    #[arg(long = "config.check.credentials", requires = "config_file")]
    pub config_check_credentials: bool,

    /// Run against a built-in simulator of the CAS API: no Alibaba Cloud account needed.
    #[arg(long, conflicts_with = "config_file")]
    pub demo: bool,

    /// Address to serve metrics on (`:port` for every interface) [default: :19525, or 127.0.0.1:19525 with --demo].
    #[arg(long = "web.listen-address", value_name = "ADDRESS")]
    pub listen_address: Option<String>,

    /// Path under which metrics are served.
    #[arg(long = "web.telemetry-path", value_name = "PATH", default_value = "/metrics", value_parser = telemetry_path)]
    pub telemetry_path: String,

    /// Requests handled at once; more are answered 503 (0: no limit).
    #[arg(long = "web.max-requests", value_name = "N", default_value_t = 40)]
    pub max_requests: usize,

    /// Connections open at once; beyond, a new one makes the oldest close (0: no limit) [default: 512, or half the open-file limit when that is lower].
    #[arg(long = "web.max-connections", value_name = "N")]
    pub max_connections: Option<usize>,

    /// TLS, basic-auth and header settings in the exporter-toolkit web config format (re-read when it or its files change).
    #[arg(long = "web.config.file", value_name = "PATH")]
    pub web_config_file: Option<PathBuf>,

    /// Allow `POST /-/reload` to read the configuration again (SIGHUP always does).
    #[arg(long = "web.enable-lifecycle")]
    pub enable_lifecycle: bool,

    /// This replica's shard, from 0 [default: from a host name ending in -N, as StatefulSet pods have].
    #[arg(
        long = "shard.index",
        value_name = "N",
        env = "ALIYUN_CAS_EXPORTER_SHARD_INDEX"
    )]
    pub shard_index: Option<u32>,

    /// How many replicas share the jobs; each polls its shard with its share of every rate limit.
    #[arg(
        long = "shard.count",
        value_name = "N",
        env = "ALIYUN_CAS_EXPORTER_SHARD_COUNT",
        default_value_t = 1
    )]
    pub shard_count: u32,

    /// Only log messages of this level or more severe.
    #[arg(long = "log.level", value_enum, default_value_t = LogLevel::Info)]
    pub log_level: LogLevel,

    /// Log line format.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt)]
    pub log_format: LogFormat,

    /// A subcommand instead of the exporter.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the strict CAS API simulator on a loopback address.
    Simulate {
        /// Jobs, AccessKeys and faults to simulate (YAML or JSON).
        #[arg(long, value_name = "PATH")]
        jobs: PathBuf,
        /// Address to listen on.
        #[arg(long, value_name = "ADDRESS", default_value = "127.0.0.1:19526")]
        listen: std::net::SocketAddr,
    },
}

/// Log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogLevel {
    /// Everything, including each failed call in full (strings to sign) and each discovery listing.
    Debug,
    /// Start-up, shutdown and problems.
    Info,
    /// Problems only.
    Warn,
    /// Failures only.
    Error,
}

/// Log formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `key=value` pairs.
    Logfmt,
    /// One JSON object per line.
    Json,
}

fn telemetry_path(value: &str) -> Result<String, String> {
    if !value.starts_with('/') || value.len() < 2 || value.starts_with("/-/") {
        return Err("must start with '/', and be neither '/' nor under '/-/'".into());
    }
    if value.starts_with("//") {
        return Err("must not start with '//', which a URL reads as a host name".into());
    }
    // RFC 3986 path characters, as a request's path arrives: anything else is percent-encoded.
    let bytes = value.as_bytes();
    for (at, &byte) in bytes.iter().enumerate() {
        let allowed = byte.is_ascii_alphanumeric() || b"/-._~!$&'()*+,;=:@%".contains(&byte);
        if !allowed {
            let shown = value[at..].chars().next().unwrap_or_default();
            return Err(format!(
                "must be an absolute URL path: {shown:?} at byte {at} is not allowed in one; percent-encode it (e.g. a space as %20)"
            ));
        }
        if byte == b'%'
            && !bytes
                .get(at + 1..at + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
        {
            return Err(format!(
                "must be an absolute URL path: '%' at byte {at} does not start a percent-encoded byte such as %20"
            ));
        }
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn exporter_flag_names() {
        let cli = Cli::try_parse_from([
            "x",
            "--config.file=c.yaml",
            "--web.listen-address=127.0.0.1:0",
            "--web.telemetry-path=/m",
            "--log.level=debug",
            "--log.format=json",
        ])
        .unwrap();
        assert_eq!(cli.config_file.unwrap().to_str(), Some("c.yaml"));
        assert_eq!(cli.listen_address.as_deref(), Some("127.0.0.1:0"));
        assert_eq!(cli.telemetry_path, "/m");
        assert_eq!(cli.log_level, LogLevel::Debug);
        assert_eq!(cli.log_format, LogFormat::Json);
        assert!(Cli::try_parse_from(["x", "--demo", "--config.file=c.yaml"]).is_err());
        assert!(Cli::try_parse_from(["x", "--config.check.credentials"]).is_err());
        let check = Cli::try_parse_from(["x", "--config.check.credentials", "--config.file=c"]);
        assert!(check.unwrap().config_check_credentials);
        assert!(Cli::try_parse_from(["x", "--web.telemetry-path=/"]).is_err());
    }

    #[test]
    fn the_telemetry_path_must_be_a_url_path() {
        for good in ["/metrics", "/a%20b", "/x/y.z~_-", "/a:b@c;d=e"] {
            assert_eq!(telemetry_path(good).as_deref(), Ok(good));
        }
        let refused = [
            (
                "/a b",
                "must be an absolute URL path: ' ' at byte 2 is not allowed in one; percent-encode it (e.g. a space as %20)",
            ),
            (
                "/m?x=1",
                "must be an absolute URL path: '?' at byte 2 is not allowed in one; percent-encode it (e.g. a space as %20)",
            ),
            (
                "/m#top",
                "must be an absolute URL path: '#' at byte 2 is not allowed in one; percent-encode it (e.g. a space as %20)",
            ),
            (
                "/m\t",
                "must be an absolute URL path: '\\t' at byte 2 is not allowed in one; percent-encode it (e.g. a space as %20)",
            ),
            (
                "/mé",
                "must be an absolute URL path: 'é' at byte 2 is not allowed in one; percent-encode it (e.g. a space as %20)",
            ),
            (
                "/m%2",
                "must be an absolute URL path: '%' at byte 2 does not start a percent-encoded byte such as %20",
            ),
            (
                "/m%zz",
                "must be an absolute URL path: '%' at byte 2 does not start a percent-encoded byte such as %20",
            ),
            (
                "//metrics",
                "must not start with '//', which a URL reads as a host name",
            ),
            (
                "metrics",
                "must start with '/', and be neither '/' nor under '/-/'",
            ),
        ];
        for (value, expected) in refused {
            assert_eq!(telemetry_path(value).unwrap_err(), expected, "{value:?}");
        }
        let error = Cli::try_parse_from(["x", "--web.telemetry-path", "/a b"])
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("invalid value '/a b' for '--web.telemetry-path <PATH>'"),
            "{error}"
        );
    }
}
