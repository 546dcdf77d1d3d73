//! Structured logs: one JSON object per line on the Worker's console (`wrangler tail`, Logpush,
//! and the local harness parse them). Every line has an `event`. Never put a secret in a line.

use serde::Serialize;
use serde_json::{json, Value};

/// Any event: `{"event": <event>, ...fields}` (`fields` must be an object).
pub fn event_line(event: &str, fields: Value) -> String {
    let mut line = json!({ "event": event });
    if let (Some(line), Value::Object(fields)) = (line.as_object_mut(), fields) {
        line.extend(fields);
    }
    line.to_string()
}

/// A serializable line (it carries its own `event` field).
pub fn to_line(value: &impl Serialize) -> String {
    serde_json::to_string(value)
        .unwrap_or_else(|e| event_line("log_error", json!({ "reason": e.to_string() })))
}

/// Current size of the wasm linear memory in bytes. Linear memory never shrinks, so this is the
/// high-water mark of the isolate so far.
pub fn wasm_memory_bytes() -> u64 {
    #[cfg(target_arch = "wasm32")]
    {
        core::arch::wasm32::memory_size(0) as u64 * 65_536
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}

/// Writes one line to the console.
pub fn emit(line: &str) {
    #[cfg(target_arch = "wasm32")]
    worker::console_log!("{line}");
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{line}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_one_object_per_line() {
        let line: Value = serde_json::from_str(&event_line(
            "http_error",
            json!({"path": "/replay", "status": 500}),
        ))
        .unwrap();
        assert_eq!(
            line,
            json!({"event": "http_error", "path": "/replay", "status": 500})
        );
        assert!(!event_line("x", json!({"a": "b\nc"})).contains('\n'));
    }
}
