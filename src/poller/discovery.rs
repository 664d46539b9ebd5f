//! Listing every deployment job of an account, page by page.

use super::Caller;
use crate::api::model::DeploymentJob;
use crate::api::{ApiError, LIST_DEPLOYMENT_JOB};

/// The page size the exporter asks for (the API's default and documented maximum).
pub const PAGE_SIZE: u32 = 50;
/// A bound on pages per listing (50,000 jobs), should `Total` ever be wrong.
const MAX_PAGES: u32 = 1000;

/// Every job ListDeploymentJob returns, across all pages.
pub(super) async fn list_all(caller: &Caller) -> Result<Vec<DeploymentJob>, ApiError> {
    let mut jobs = Vec::new();
    for page in 1..=MAX_PAGES {
        let client = caller.client();
        let listed = caller
            .call(LIST_DEPLOYMENT_JOB, None, move || {
                let client = client.clone();
                async move { client.list_deployment_jobs(page, PAGE_SIZE).await }
            })
            .await?;
        let data = listed.data.unwrap_or_default();
        let got = data.len();
        jobs.extend(data);
        let total = listed
            .total
            .and_then(|t| usize::try_from(t).ok())
            .unwrap_or(0);
        if got == 0 || jobs.len() >= total {
            break;
        }
    }
    Ok(jobs)
}
