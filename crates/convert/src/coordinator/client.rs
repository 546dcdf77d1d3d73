//! The consumer's side of the coordinators: [`DurableCommitter`] is the core's [`Committer`] over
//! the table Durable Objects, [`DurableGate`] the core's [`WriteGate`] over the catalog's budget
//! object. Both speak the JSON of `icepipe_core::committer::protocol`.

use std::time::Duration;

use async_trait::async_trait;
use iceberg::spec::Schema;
use iceberg::TableIdent;
use icepipe_core::catalog::CreateTable;
use icepipe_core::committer::budget::WriteKind;
use icepipe_core::committer::gate::WriteGate;
use icepipe_core::committer::handoff::{HandoffObject, ObjectReport, Submitted};
use icepipe_core::committer::protocol::{
    CommitterRequest, MergeObject, ReserveReply, ReserveRequest, WireError,
};
use icepipe_core::committer::status::CommitterStatus;
use icepipe_core::committer::{Committer, CommitterError, MergeOutcome};
use icepipe_core::raw::footer::MergeKeys;
use icepipe_core::raw::object::{RawObject, RawObjectId};
use serde::de::DeserializeOwned;
use worker::send::{SendFuture, SendWrapper};
use worker::{Env, Method, ObjectNamespace, Request, RequestInit};

use crate::config::{CATALOG_BUDGET_BINDING, COMMITTER_BINDING};

/// Table committers reached through the `COMMITTER` Durable Object binding.
#[derive(Debug, Clone)]
pub struct DurableCommitter {
    namespace: SendWrapper<Option<ObjectNamespace>>,
    missing: Option<String>,
    /// How long a submit waits for the commit inside the coordinator (0: hand over and return).
    submit_wait: Duration,
    /// How long [`Committer::wait`] waits.
    wait: Duration,
}

impl DurableCommitter {
    pub fn new(env: &Env, submit_wait: Duration, wait: Duration) -> Self {
        let (namespace, missing) = match env.durable_object(COMMITTER_BINDING) {
            Ok(namespace) => (Some(namespace), None),
            Err(e) => (
                None,
                Some(format!(
                    "Durable Object binding {COMMITTER_BINDING} is missing: add it to [[durable_objects.bindings]] in wrangler.convert.toml ({e})"
                )),
            ),
        };
        Self {
            namespace: SendWrapper(namespace),
            missing,
            submit_wait,
            wait,
        }
    }

    /// What the table's coordinator holds and has done (for `GET /tables`).
    pub async fn status(&self, table: &TableIdent) -> Result<CommitterStatus, CommitterError> {
        self.call(CommitterRequest::Status {
            table: table.clone(),
        })
        .await
    }

    /// Asks the table's coordinator to run one bounded maintenance step between its commits.
    pub async fn maintain(
        &self,
        table: &TableIdent,
        dry_run: bool,
    ) -> Result<Option<icepipe_core::maintain::StepReport>, CommitterError> {
        self.call(CommitterRequest::Maintain {
            table: table.clone(),
            dry_run,
        })
        .await
    }

    async fn call<T: DeserializeOwned>(
        &self,
        request: CommitterRequest,
    ) -> Result<T, CommitterError> {
        let table = request.table().clone();
        let unavailable = |reason: String| CommitterError::Unavailable {
            table: table.to_string(),
            reason,
        };
        let namespace = self
            .namespace
            .as_ref()
            .ok_or_else(|| CommitterError::Refused {
                table: table.to_string(),
                reason: self.missing.clone().unwrap_or_default(),
            })?;
        let body = serde_json::to_string(&request).map_err(|e| unavailable(e.to_string()))?;
        let (status, text) = post(namespace, &table.to_string(), body)
            .await
            .map_err(|e| unavailable(format!("the request failed: {e}")))?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text)
                .map_err(|e| unavailable(format!("unreadable answer ({e}): {text}")));
        }
        match serde_json::from_str::<WireError>(&text) {
            Ok(wire) => Err(wire.into_error(&table)),
            Err(_) => Err(unavailable(format!("HTTP {status}: {text}"))),
        }
    }
}

#[async_trait]
impl Committer for DurableCommitter {
    async fn lookup(
        &self,
        table: &TableIdent,
        ids: &[RawObjectId],
    ) -> Result<Vec<ObjectReport>, CommitterError> {
        self.call(CommitterRequest::Lookup {
            table: table.clone(),
            ids: ids.to_vec(),
        })
        .await
    }

    async fn create_table(
        &self,
        table: &TableIdent,
        create: CreateTable,
    ) -> Result<(), CommitterError> {
        let _: serde_json::Value = self
            .call(CommitterRequest::CreateTable {
                table: table.clone(),
                create: Box::new(create),
            })
            .await?;
        Ok(())
    }

    async fn merge(
        &self,
        table: &TableIdent,
        object: &RawObject,
        keys: &MergeKeys,
    ) -> Result<MergeOutcome, CommitterError> {
        self.call(CommitterRequest::Merge {
            table: table.clone(),
            object: MergeObject {
                key: object.key.clone(),
                etag: object.etag.clone(),
                size: object.size,
                created_ms: object.created_ms,
            },
            keys: keys.clone(),
        })
        .await
    }

    async fn evolve_schema(
        &self,
        table: &TableIdent,
        proposed: &Schema,
    ) -> Result<(), CommitterError> {
        let _: serde_json::Value = self
            .call(CommitterRequest::EvolveSchema {
                table: table.clone(),
                schema: Box::new(proposed.clone()),
            })
            .await?;
        Ok(())
    }

    async fn submit(
        &self,
        table: &TableIdent,
        slices: Vec<HandoffObject>,
        waiting: &[RawObjectId],
    ) -> Result<Submitted, CommitterError> {
        self.call(CommitterRequest::Submit {
            table: table.clone(),
            slices,
            waiting: waiting.to_vec(),
            wait_ms: self.submit_wait.as_millis() as u64,
        })
        .await
    }

    async fn wait(
        &self,
        table: &TableIdent,
        ids: &[RawObjectId],
    ) -> Result<Submitted, CommitterError> {
        self.call(CommitterRequest::Submit {
            table: table.clone(),
            slices: vec![],
            waiting: ids.to_vec(),
            wait_ms: self.wait.as_millis() as u64,
        })
        .await
    }

    async fn fail(
        &self,
        table: &TableIdent,
        id: &RawObjectId,
        reason: &str,
    ) -> Result<(), CommitterError> {
        let _: serde_json::Value = self
            .call(CommitterRequest::Fail {
                table: table.clone(),
                id: id.clone(),
                reason: reason.to_string(),
            })
            .await?;
        Ok(())
    }
}

/// The catalog's write budget, one Durable Object per warehouse.
#[derive(Debug)]
pub struct DurableGate {
    namespace: SendWrapper<Option<ObjectNamespace>>,
    warehouse: String,
}

impl DurableGate {
    pub fn new(env: &Env, warehouse: &str) -> Self {
        Self {
            namespace: SendWrapper(env.durable_object(CATALOG_BUDGET_BINDING).ok()),
            warehouse: warehouse.to_string(),
        }
    }
}

#[async_trait]
impl WriteGate for DurableGate {
    async fn reserve(&self, kind: WriteKind) -> Result<i64, CommitterError> {
        let unavailable = |reason: String| CommitterError::Unavailable {
            table: format!("(catalog {})", self.warehouse),
            reason: format!("the catalog's write budget: {reason}"),
        };
        let namespace = self.namespace.as_ref().ok_or_else(|| CommitterError::Refused {
            table: format!("(catalog {})", self.warehouse),
            reason: format!("Durable Object binding {CATALOG_BUDGET_BINDING} is missing: add it to [[durable_objects.bindings]] in wrangler.convert.toml"),
        })?;
        let body = serde_json::to_string(&ReserveRequest { kind }).expect("serializes");
        let (status, text) = post(namespace, &self.warehouse, body)
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let reply: ReserveReply = serde_json::from_str(&text)
            .map_err(|e| unavailable(format!("HTTP {status}, unreadable answer ({e}): {text}")))?;
        Ok(reply.at_ms)
    }
}

/// POSTs `body` to the Durable Object named `name`; the answer's status and text.
async fn post(
    namespace: &ObjectNamespace,
    name: &str,
    body: String,
) -> Result<(u16, String), worker::Error> {
    let stub = namespace.id_from_name(name)?.get_stub()?;
    let send = async move {
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(body.into()));
        let req = Request::new_with_init("https://coordinator/", &init)?;
        let mut response = stub.fetch_with_request(req).await?;
        let status = response.status_code();
        let text = response.text().await?;
        Ok::<_, worker::Error>((status, text))
    };
    SendFuture::new(send).await
}
