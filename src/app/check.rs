//! `--config.check` and `--config.check.credentials`: what a person or a CI job
//! reads about a configuration, on standard output and error.

use super::{AppError, check_credentials};
use crate::config::Config;
use crate::credentials::{CredentialsError, NOT_FOUND_ADVICE};
use crate::env::Env;
use crate::http::web_config::WebGuard;
use std::path::Path;

/// `--config.check`: plain lines for a person or a CI job; true when valid. No
/// network call unless `resolve_credentials` (`--config.check.credentials`).
pub async fn check_config(
    path: &Path,
    web_config: Option<&Path>,
    env: &Env,
    resolve_credentials: bool,
) -> bool {
    let web = match web_config.map(WebGuard::load).transpose() {
        Ok(guard) => guard.map(|guard| {
            for warning in guard.permission_warnings() {
                eprintln!("warning: {warning}");
            }
            guard.current()
        }),
        Err(error) => {
            eprintln!("web config (--web.config.file): {error}");
            return false;
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
    let config = match Config::load(path, env) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return false;
        }
    };
    if let Some(warning) = config.permission_warning(path) {
        eprintln!("warning: {warning}");
    }
    let sources = if resolve_credentials {
        match check_credentials(&config, env).await {
            Ok(obtained) => obtained
                .into_iter()
                .map(|o| format!("obtained from {} (AccessKey {})", o.provider, o.key_hint))
                .collect(),
            Err(error) => {
                eprintln!("{name}: {}", credentials_failure(&error));
                return false;
            }
        }
    } else {
        config
            .accounts
            .iter()
            .map(|account| account.credentials.describe(env))
            .collect::<Vec<_>>()
    };
    println!(
        "{name}: valid (accounts: {}, jobs listed by ID: {}, accounts with discovery: {})",
        config.accounts.len(),
        config.listed_jobs(),
        config.discovering_accounts()
    );
    for (account, source) in config.accounts.iter().zip(sources) {
        println!("  account {}: endpoint {}", account.name, account.endpoint);
        println!("  account {}: credentials: {source}", account.name);
    }
    true
}

/// A failure to obtain credentials, with the default chain's places one a line:
/// on one line they run to a thousand characters.
fn credentials_failure(error: &AppError) -> String {
    match error {
        AppError::Credentials {
            account,
            source: CredentialsError::NotFound { tried },
        } => format!(
            "account {account}: no credentials found; tried, in order:\n{}\n{NOT_FOUND_ADVICE}",
            tried
                .iter()
                .map(|place| format!("  {place}"))
                .collect::<Vec<_>>()
                .join("\n")
        ),
        error => error.to_string(),
    }
}
