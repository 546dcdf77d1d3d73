//! Vars, secrets and bindings from a Worker's `Env`, by name.

use worker::wasm_bindgen::JsValue;
use worker::{js_sys, Bucket, Env};

use crate::vars::ConfigError;

/// A var or secret as a string (`None` when unset or not a string).
pub fn env_string(env: &Env, name: &str) -> Option<String> {
    js_sys::Reflect::get(env, &JsValue::from_str(name))
        .ok()
        .and_then(|v| v.as_string())
}

/// An R2 bucket binding; the error says what it is for and where to declare it.
pub fn bucket(
    env: &Env,
    binding: &str,
    what: &str,
    wrangler_file: &str,
) -> Result<Bucket, ConfigError> {
    env.bucket(binding).map_err(|e| {
        ConfigError(format!("R2 binding {binding} ({what}) is missing: add it to [[r2_buckets]] in {wrangler_file} ({e})"))
    })
}
