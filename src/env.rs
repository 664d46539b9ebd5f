//! The environment variables the exporter reads, injected: the binary passes
//! the process's, tests a fixed set, so no test depends on the machine it runs on.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// Answers a variable's name with its value, if set.
type Lookup = dyn Fn(&str) -> Option<String> + Send + Sync;

/// Where environment variables are read from.
#[derive(Clone)]
pub struct Env(Arc<Lookup>);

impl Env {
    /// The process's environment.
    pub fn process() -> Self {
        Self::from_fn(|name| std::env::var(name).ok())
    }

    /// The variables `lookup` answers with.
    pub fn from_fn(lookup: impl Fn(&str) -> Option<String> + Send + Sync + 'static) -> Self {
        Self(Arc::new(lookup))
    }

    /// Exactly the variables in `pairs`, and no others.
    pub fn from_pairs(pairs: &[(&str, &str)]) -> Self {
        let vars: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Self::from_fn(move |name| vars.get(name).cloned())
    }

    /// No variables at all.
    pub fn empty() -> Self {
        Self::from_pairs(&[])
    }

    /// The variable `name` as set, empty or not.
    pub fn var(&self, name: &str) -> Option<String> {
        (self.0)(name)
    }

    /// The variable `name` unless it is unset or empty (the SDKs treat both alike).
    pub fn non_empty(&self, name: &str) -> Option<String> {
        self.var(name).filter(|v| !v.is_empty())
    }

    /// Whether `name` is `true`, in any case, as the SDKs read their switches.
    pub fn flag(&self, name: &str) -> bool {
        self.var(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

impl fmt::Debug for Env {
    // Values can be secrets (ALIBABA_CLOUD_ACCESS_KEY_SECRET): never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Env")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_the_given_pairs() {
        let env = Env::from_pairs(&[("A", "x"), ("EMPTY", ""), ("ON", "TRUE")]);
        assert_eq!(env.var("A").as_deref(), Some("x"));
        assert_eq!(env.var("EMPTY").as_deref(), Some(""));
        assert_eq!(env.non_empty("EMPTY"), None);
        assert_eq!(env.var("PATH"), None);
        assert!(env.flag("ON"));
        assert!(!env.flag("A"));
        assert!(!env.flag("UNSET"));
        assert_eq!(format!("{env:?}"), "Env");
    }
}
