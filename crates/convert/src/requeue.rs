//! Work a conversion leaves to other invocations (slices of a large object, objects past the
//! invocation's budget) goes back on the Worker's own queue as notification-shaped messages, so a
//! continuation is consumed, retried and dead-lettered like any notification.

use async_trait::async_trait;
use icepipe_core::convert::{HandedOn, Requeue, RequeueError};
use icepipe_core::raw::notification::Notification;
use worker::send::{SendFuture, SendWrapper};
use worker::Queue;

/// Messages per `sendBatch` (the Queues limit).
const SEND_BATCH: usize = 100;

#[derive(Debug)]
pub struct QueueRequeue {
    queue: SendWrapper<Queue>,
    account: String,
    bucket: String,
}

impl QueueRequeue {
    pub fn new(queue: Queue, account: &str, bucket: &str) -> Self {
        Self {
            queue: SendWrapper(queue),
            account: account.to_string(),
            bucket: bucket.to_string(),
        }
    }

    fn message(&self, work: &HandedOn) -> Notification {
        let notification = Notification::for_object(
            &self.account,
            &self.bucket,
            &work.key,
            work.size,
            &work.etag,
            work.created_ms,
        );
        match &work.slice {
            Some(slice) => notification.for_slice(slice.clone()),
            None => notification,
        }
    }
}

#[async_trait]
impl Requeue for QueueRequeue {
    async fn send(&self, work: &[HandedOn]) -> Result<(), RequeueError> {
        let messages: Vec<Notification> = work.iter().map(|w| self.message(w)).collect();
        for chunk in messages.chunks(SEND_BATCH) {
            let chunk = chunk.to_vec();
            SendFuture::new(self.queue.send_batch(chunk))
                .await
                .map_err(|e| RequeueError {
                    destination: "the raw-events queue".into(),
                    messages: work.len(),
                    reason: e.to_string(),
                    // A queue send fails on a limit or an outage: the message is tried again.
                    transient: true,
                })?;
        }
        Ok(())
    }
}
