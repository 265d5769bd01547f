//! `orderflow down --aws`: removes a stack `deploy` made (it carries the
//! [`DEPLOYED_BY_TAG`]) and the artifact bucket `deploy` created for it; refuses any
//! other stack, so a mistyped `--stack` never deletes someone else's.

use crate::stacks::deploy::{DEPLOYED_BY, DEPLOYED_BY_TAG, artifact_bucket_name, failed_resources};
use crate::stacks::target::Clients;
use crate::{CliError, Result};
use std::time::{Duration, Instant};

const DELETE_TIMEOUT: Duration = Duration::from_secs(1800);

/// What was removed.
#[derive(Debug)]
pub struct Destroyed {
    /// The artifact bucket, when there was one, and how many objects it held.
    pub bucket: Option<(String, usize)>,
}

/// Deletes the stack (waiting until it is gone) and then its artifact bucket.
pub async fn destroy(clients: &Clients, stack: &str) -> Result<Destroyed> {
    let cfn = clients.cloudformation();
    let described = cfn.describe_stacks().stack_name(stack).send().await;
    let found = match described {
        Ok(output) => output.stacks().first().cloned(),
        Err(e) if toolkit::aws::sdk_error_text(&e).contains("does not exist") => None,
        Err(e) => return Err(CliError::aws("DescribeStacks", e)),
    };
    let Some(found) = found else {
        return Err(CliError::Usage(format!("there is no stack {stack} to remove")));
    };
    let ours = found.tags().iter().any(|t| t.key() == Some(DEPLOYED_BY_TAG) && t.value() == Some(DEPLOYED_BY));
    if !ours {
        return Err(CliError::Usage(format!(
            "stack {stack} was not deployed by orderflow (no {DEPLOYED_BY_TAG} tag): not removing it; \
             if it is yours, `aws cloudformation delete-stack --stack-name {stack}`"
        )));
    }
    let started_at = chrono::Utc::now().timestamp() - 1;
    cfn.delete_stack().stack_name(stack).send().await.map_err(|e| CliError::aws("DeleteStack", e))?;
    wait_until_deleted(clients, stack, started_at).await?;
    let bucket = artifact_bucket_name(clients, stack).await?;
    let removed = remove_bucket(clients, &bucket).await?;
    Ok(Destroyed { bucket: removed.map(|objects| (bucket, objects)) })
}

async fn wait_until_deleted(clients: &Clients, stack: &str, started_at: i64) -> Result<()> {
    let deadline = Instant::now() + DELETE_TIMEOUT;
    while Instant::now() < deadline {
        match crate::stacks::stack::StackInfo::find(clients, stack).await? {
            None => return Ok(()),
            Some(info) if info.status == "DELETE_COMPLETE" => return Ok(()),
            Some(info) if info.status == "DELETE_FAILED" => {
                let failures = failed_resources(clients, stack, started_at).await;
                return Err(CliError::Deploy { stack: stack.to_string(), reason: format!("delete failed{failures}") });
            }
            Some(_) => tokio::time::sleep(Duration::from_secs(2)).await,
        }
    }
    Err(CliError::Failed(format!("stack {stack} not deleted within {} s", DELETE_TIMEOUT.as_secs())))
}

/// Empties and deletes the bucket; `None` when there was none.
async fn remove_bucket(clients: &Clients, bucket: &str) -> Result<Option<usize>> {
    let s3 = clients.s3();
    if s3.head_bucket().bucket(bucket).send().await.is_err() {
        return Ok(None);
    }
    let mut removed = 0;
    let mut pages = s3.list_objects_v2().bucket(bucket).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| CliError::aws("ListObjectsV2", e))?;
        for key in page.contents().iter().filter_map(|o| o.key()) {
            s3.delete_object().bucket(bucket).key(key).send().await.map_err(|e| CliError::aws("DeleteObject", e))?;
            removed += 1;
        }
    }
    s3.delete_bucket().bucket(bucket).send().await.map_err(|e| CliError::aws("DeleteBucket", e))?;
    Ok(Some(removed))
}
