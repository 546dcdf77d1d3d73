//! The queue consumer: every batch of R2 event notifications becomes at most one Iceberg commit per
//! table (the core's [`run_batch`]), then each message is acknowledged or retried on its own.
//!
//! This is the export `#[event(queue)]` would generate, written out because the handler needs
//! the raw JS messages: `worker` 0.8.7 exposes no `attempts`, which the retry delay grows with.
//! The handler never fails: an `Err` (or a panic) would reinitialize the module and acknowledge
//! nothing, so every failure becomes a retry of the messages it concerns.

use icepipe_core::batch::{run_batch, BatchSettings, Disposition, Incoming};
use icepipe_core::raw::notification::Notification;
use serde_json::json;
use worker::js_sys::{self, Object, Reflect, Uint8Array};
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::worker_sys::{
    Context as ContextSys, Message as MessageSys, MessageBatch as MessageBatchSys,
};
use worker::Env;

use icepipe_edge::http::js_error_text;
use icepipe_edge::log::{emit, event_line, wasm_memory_bytes};

use crate::log::{batch_line, note_line};
use crate::wiring::Wiring;

#[wasm_bindgen(
    wasm_bindgen = ::worker::wasm_bindgen,
    wasm_bindgen_futures = ::worker::wasm_bindgen_futures,
    js_sys = ::worker::js_sys
)]
pub async fn queue(batch: MessageBatchSys, env: Env, _ctx: ContextSys) -> Result<JsValue, JsValue> {
    consume(batch, env).await;
    Ok(JsValue::UNDEFINED)
}

async fn consume(batch: MessageBatchSys, env: Env) {
    let messages: Vec<MessageSys> = match batch.messages() {
        Ok(array) => array.iter().map(JsCast::unchecked_into).collect(),
        Err(e) => {
            // Nothing to ack or retry individually: the runtime redelivers the batch.
            emit(&event_line(
                "queue_error",
                json!({ "reason": js_error_text(&e) }),
            ));
            return;
        }
    };
    let incoming: Vec<Incoming> = messages.iter().map(incoming).collect();

    let wiring = match Wiring::from_env(&env) {
        Ok(wiring) => wiring,
        Err(reason) => {
            // A configuration problem: retry everything (after max_retries: the dead-letter queue).
            emit(&event_line(
                "config_error",
                json!({ "reason": reason.to_string() }),
            ));
            let redelivery = icepipe_core::batch::RedeliveryDelay::default();
            for (message, m) in messages.iter().zip(&incoming) {
                retry(message, redelivery.delay_seconds(m.attempts));
            }
            return;
        }
    };
    let settings = BatchSettings {
        namespace_root: wiring.settings.namespace_root.clone(),
        redelivery: wiring.settings.redelivery,
    };
    let report = run_batch(
        incoming,
        wiring.raw.clone(),
        wiring.clock.as_ref(),
        &settings,
        || wiring.converter(&env),
    )
    .await;

    for (message, disposition) in messages.iter().zip(&report.dispositions) {
        match disposition {
            Disposition::Ack => {
                if let Err(e) = message.ack() {
                    emit(&event_line(
                        "ack_error",
                        json!({ "reason": js_error_text(&e) }),
                    ));
                }
            }
            Disposition::Retry { delay_seconds } => retry(message, *delay_seconds),
        }
    }
    for note in &report.notes {
        emit(&note_line(note));
    }
    emit(&batch_line(&report, wasm_memory_bytes()));
}

fn incoming(message: &MessageSys) -> Incoming {
    let message_id = message.id().map(String::from).unwrap_or_default();
    // `attempts` (1 on the first delivery) is on the JS message; worker 0.8.7 has no accessor.
    let attempts = Reflect::get(message, &JsValue::from_str("attempts"))
        .ok()
        .and_then(|v| v.as_f64())
        .map_or(1, |a| a.max(1.0) as u32);
    let body = match message.body() {
        Ok(body) => body_text(&body).and_then(|text| Notification::parse(&text)),
        Err(e) => Err(format!("unreadable message body: {}", js_error_text(&e))),
    };
    Incoming {
        message_id,
        attempts,
        body,
    }
}

/// The body as JSON text, whatever content type it was sent with (json/v8: an object; text: a
/// string; bytes: UTF-8).
fn body_text(body: &JsValue) -> Result<String, String> {
    if let Some(text) = body.as_string() {
        return Ok(text);
    }
    if body.is_instance_of::<js_sys::ArrayBuffer>() || body.is_instance_of::<Uint8Array>() {
        return String::from_utf8(Uint8Array::new(body).to_vec())
            .map_err(|e| format!("message body is not UTF-8: {e}"));
    }
    js_sys::JSON::stringify(body)
        .ok()
        .and_then(|s| s.as_string())
        .ok_or_else(|| "message body cannot be read as JSON".to_string())
}

fn retry(message: &MessageSys, delay_seconds: u32) {
    let options = Object::new();
    let _ = Reflect::set(
        &options,
        &JsValue::from_str("delaySeconds"),
        &JsValue::from_f64(f64::from(delay_seconds)),
    );
    if let Err(e) = message.retry(options.into()) {
        emit(&event_line(
            "retry_error",
            json!({ "reason": js_error_text(&e) }),
        ));
    }
}
