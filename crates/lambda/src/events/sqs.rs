//! SQS batches in, and the `batchItemFailures` answer out.

use icebreak_protocol::{Error, ErrorKind};
use serde::{Deserialize, Serialize};

/// One SQS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqsRecord {
    /// `messageId`, reported back in `batchItemFailures`.
    pub(crate) message_id: String,
    /// The message body: a direct event.
    pub(crate) body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RawRecord {
    #[serde(default)]
    message_id: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    event_source: Option<String>,
}

/// The messages of an SQS event; every record must come from SQS and have an id.
pub(crate) fn records(records: Vec<RawRecord>) -> Result<Vec<SqsRecord>, Error> {
    records
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            if r.event_source.as_deref() != Some("aws:sqs") {
                return Err(Error::new(
                    ErrorKind::InvalidEvent,
                    format!("record {i} is not an SQS message (eventSource is not \"aws:sqs\")"),
                ));
            }
            let message_id = r.message_id.filter(|m| !m.is_empty()).ok_or_else(|| {
                Error::new(
                    ErrorKind::InvalidEvent,
                    format!("SQS record {i} has no messageId"),
                )
            })?;
            Ok(SqsRecord {
                message_id,
                body: r.body.unwrap_or_default(),
            })
        })
        .collect()
}

/// One failed SQS message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ItemFailure {
    /// The message id.
    pub(crate) item_identifier: String,
}

/// The answer to an SQS batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SqsBatchResponse {
    /// Exactly the messages that failed.
    pub(crate) batch_item_failures: Vec<ItemFailure>,
}
