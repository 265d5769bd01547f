//! `orderflow rebuild time-index`: gives each stored event that has no `timeBucket` (stored
//! by a build before the store's time index existed) its bucket, so `status` and the
//! dashboard see it. One scan of the store for items without the attribute, then a
//! conditional update per item: run it again and it finds nothing left to do; stop it and
//! the next run carries on. The update is a MODIFY on the table's stream, which every
//! consumer ignores (they take INSERTs only).

use crate::{CliError, Result};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use toolkit::envelope::StreamId;
use toolkit::store::time_index::{TIME_BUCKET, time_bucket};

/// Updates in flight at once.
const WRITERS: usize = 16;

#[derive(Debug, Clone)]
pub struct Backfilled {
    /// Events given their bucket by this run.
    pub indexed: usize,
    pub elapsed: Duration,
    /// False when `limit` stopped it with events left.
    pub complete: bool,
}

/// Indexes every event that lacks a bucket (at most `limit` when given).
pub async fn backfill(client: &Client, table: &str, limit: Option<usize>) -> Result<Backfilled> {
    let started = Instant::now();
    let mut pages = unindexed(client, table).into_paginator().items().send();
    let (mut indexed, mut writes) = (0, tokio::task::JoinSet::new());
    while let Some(item) = pages.next().await {
        if limit.is_some_and(|limit| indexed >= limit) {
            drain(&mut writes).await?;
            return Ok(Backfilled { indexed, elapsed: started.elapsed(), complete: false });
        }
        let item = item.map_err(|e| CliError::aws("Scan", e))?;
        let (client, table) = (client.clone(), table.to_string());
        writes.spawn(async move { set_bucket(&client, &table, &item).await });
        indexed += 1;
        if writes.len() >= WRITERS {
            writes.join_next().await.map(|done| done.map_err(|e| CliError::Failed(e.to_string()))?).transpose()?;
        }
    }
    drain(&mut writes).await?;
    Ok(Backfilled { indexed, elapsed: started.elapsed(), complete: true })
}

/// How many stored events lack a bucket.
pub async fn count_unindexed(client: &Client, table: &str) -> Result<usize> {
    let mut pages = unindexed(client, table).into_paginator().items().send();
    let mut count = 0;
    while let Some(item) = pages.next().await {
        item.map_err(|e| CliError::aws("Scan", e))?;
        count += 1;
    }
    Ok(count)
}

type Item = HashMap<String, AttributeValue>;

/// The scan for stored events without a bucket: their keys and time only.
fn unindexed(client: &Client, table: &str) -> aws_sdk_dynamodb::operation::scan::builders::ScanFluentBuilder {
    client
        .scan()
        .table_name(table)
        .filter_expression("attribute_not_exists(#b)")
        .projection_expression("streamId, version, occurredAt")
        .expression_attribute_names("#b", TIME_BUCKET)
}

async fn set_bucket(client: &Client, table: &str, item: &Item) -> Result<()> {
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let (Some(stream), Some(version), Some(occurred_at)) =
        (text("streamId"), item.get("version").cloned(), text("occurredAt"))
    else {
        return Err(CliError::Failed(format!("a stored item without streamId, version or occurredAt: {item:?}")));
    };
    let at: DateTime<Utc> = DateTime::parse_from_rfc3339(&occurred_at)
        .map_err(|e| CliError::Failed(format!("{stream}: occurredAt `{occurred_at}`: {e}")))?
        .to_utc();
    let bucket = time_bucket(&StreamId::new(stream.clone()), at);
    let result = client
        .update_item()
        .table_name(table)
        .key("streamId", AttributeValue::S(stream))
        .key("version", version)
        .update_expression("SET #b = :b")
        .condition_expression("attribute_exists(streamId) AND attribute_not_exists(#b)")
        .expression_attribute_names("#b", TIME_BUCKET)
        .expression_attribute_values(":b", AttributeValue::S(bucket))
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        // Indexed meanwhile (another run): nothing to do.
        Err(e) if e.as_service_error().is_some_and(UpdateItemError::is_conditional_check_failed_exception) => Ok(()),
        Err(e) => Err(CliError::aws("UpdateItem", e)),
    }
}

async fn drain(writes: &mut tokio::task::JoinSet<Result<()>>) -> Result<()> {
    while let Some(done) = writes.join_next().await {
        done.map_err(|e| CliError::Failed(e.to_string()))??;
    }
    Ok(())
}
