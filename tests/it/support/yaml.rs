//! Builders for the two YAML files tests write, the simulator's spec and the
//! exporter's configuration, so that a test names only the keys it sets.
//! Values are YAML as written in those files (`1h`, `{request: 300ms}`);
//! a test whose text is itself under test (a parse error at a line and
//! column) writes its file literally instead.

use super::{ConfigFile, config_file, simulator, spec};
use aliyun_cas_exporter::simulator::{Simulator, SimulatorSpec};
use std::fmt::Display;

/// A simulator spec: access keys, then top-level settings, then jobs.
#[derive(Default)]
pub struct SimSpec {
    keys: Vec<Vec<String>>,
    settings: String,
    jobs: String,
}

impl SimSpec {
    /// A spec with no keys, settings or jobs yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an access key the simulator accepts.
    pub fn key(mut self, id: &str, secret: &str) -> Self {
        self.keys.push(vec![
            format!("id: {}", quoted(id)),
            format!("secret: {}", quoted(secret)),
        ]);
        self
    }

    /// The key added last must come with `token`.
    pub fn security_token(self, token: &str) -> Self {
        self.with_key_field("security_token", quoted(token))
    }

    /// The key added last is refused `actions` with `Forbidden.RAM`.
    pub fn denied_actions(self, actions: &[&str]) -> Self {
        self.with_key_field("denied_actions", format!("[{}]", actions.join(", ")))
    }

    /// The key added last belongs to `account`, which has rate limits of its own.
    pub fn account(self, account: &str) -> Self {
        self.with_key_field("account", quoted(account))
    }

    fn with_key_field(mut self, name: &str, value: String) -> Self {
        self.keys
            .last_mut()
            .expect("a key to qualify: call key() first")
            .push(format!("{name}: {value}"));
        self
    }

    /// Sets the top-level `key` to `value`.
    pub fn set(mut self, key: &str, value: impl Display) -> Self {
        self.settings.push_str(&format!("{key}: {value}\n"));
        self
    }

    /// Adds one job, written as a flow mapping: `{id: 1, workers: {CDN: 1}}`.
    pub fn job(mut self, job: &str) -> Self {
        self.jobs.push_str(&format!("  - {job}\n"));
        self
    }

    /// Adds jobs already written as entries of the `jobs:` list (`SAMPLE_JOB`, `job_list`).
    pub fn jobs(mut self, entries: &str) -> Self {
        self.jobs.push_str(entries);
        self
    }

    /// The spec's text.
    pub fn yaml(&self) -> String {
        let mut text = String::from("access_keys:\n");
        for key in &self.keys {
            text.push_str(&format!("  - {{{}}}\n", key.join(", ")));
        }
        text.push_str(&self.settings);
        if !self.jobs.is_empty() {
            text.push_str("jobs:\n");
            text.push_str(&self.jobs);
        }
        text
    }

    /// The parsed spec.
    pub fn parse(&self) -> SimulatorSpec {
        spec(&self.yaml())
    }

    /// A simulator playing this spec on a free loopback port.
    pub async fn start(&self) -> Simulator {
        simulator(&self.yaml()).await
    }
}

/// An exporter configuration: the endpoint, then settings, then the jobs listed by ID.
pub struct ConfigBuilder {
    text: String,
    jobs: Option<String>,
}

impl ConfigBuilder {
    /// A configuration that polls `sim`.
    pub fn new(sim: &Simulator) -> Self {
        Self {
            text: format!("endpoint: {}\n", sim.endpoint()),
            jobs: None,
        }
    }

    /// Sets `interval`, how often each job is polled.
    pub fn interval(self, interval: &str) -> Self {
        self.set("interval", interval)
    }

    /// Sets the top-level `key` to `value`.
    pub fn set(mut self, key: &str, value: impl Display) -> Self {
        self.text.push_str(&format!("{key}: {value}\n"));
        self
    }

    /// Adds a `credentials:` section with `fields`, in block style so that `${VARIABLE}`
    /// references need no quotes; without fields, no section (the default chain).
    pub fn credentials(mut self, fields: &[(&str, &str)]) -> Self {
        if fields.is_empty() {
            return self;
        }
        self.text.push_str("credentials:\n");
        for (name, value) in fields {
            self.text.push_str(&format!("  {name}: {value}\n"));
        }
        self
    }

    /// Lists jobs by ID.
    pub fn jobs(mut self, ids: impl IntoIterator<Item = u64>) -> Self {
        let ids: Vec<String> = ids.into_iter().map(|id| id.to_string()).collect();
        self.jobs = Some(format!("jobs: [{}]\n", ids.join(", ")));
        self
    }

    /// The configuration's text.
    pub fn yaml(&self) -> String {
        format!("{}{}", self.text, self.jobs.as_deref().unwrap_or_default())
    }

    /// The configuration written to a fresh file.
    pub fn file(&self) -> ConfigFile {
        config_file(&self.yaml())
    }
}

/// `text` as a double-quoted scalar: JSON's escapes are YAML's, so any text stays itself.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).expect("a string serialises")
}
