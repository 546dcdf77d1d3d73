//! Secret values by name: environment variables natively, Worker secrets in a Worker.

use std::collections::BTreeMap;
use std::fmt;

pub trait Secrets: Send + Sync + fmt::Debug {
    fn get(&self, name: &str) -> Option<String>;
}

/// A fixed set of secrets (tests, or values collected by a runtime shell).
#[derive(Debug, Default, Clone)]
pub struct StaticSecrets(pub BTreeMap<String, String>);

impl Secrets for StaticSecrets {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}
