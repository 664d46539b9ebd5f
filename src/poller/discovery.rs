//! Listing every deployment job of an account, page by page.

use super::Caller;
use crate::api::model::DeploymentJob;
use crate::api::{ApiError, LIST_DEPLOYMENT_JOB};

/// The page size the exporter asks for (the API's default and documented maximum).
pub const PAGE_SIZE: u32 = 50;
/// A bound on pages per listing (50,000 jobs), should `Total` ever be wrong.
const MAX_PAGES: u32 = 1000;
/// A bound on jobs per listing, whatever `Total` says or pages hold: what
/// [`MAX_PAGES`] full pages hold.
pub const MAX_JOBS: usize = MAX_PAGES as usize * PAGE_SIZE as usize;

/// Every job ListDeploymentJob returns, across all pages. A listing that ends
/// short of its `Total`, or runs past the page bound, is an error: the jobs it
/// missed must not look as if they had vanished.
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
        if jobs.len() + got > MAX_JOBS {
            return Err(incomplete(format!(
                "more than {MAX_JOBS} jobs, the most a listing holds"
            )));
        }
        jobs.extend(data);
        let total = match listed.total {
            Some(total) if total > MAX_JOBS as i64 => {
                return Err(incomplete(format!(
                    "Total is {total}, beyond the {MAX_JOBS} jobs a listing holds"
                )));
            }
            Some(total) if total < 0 => {
                tracing::warn!(
                    account = caller.account(),
                    total,
                    "ListDeploymentJob's Total is negative; pages are read until one is not full"
                );
                None
            }
            total => total.and_then(|t| usize::try_from(t).ok()),
        };
        let more = match total {
            Some(total) if jobs.len() < total && got == 0 => {
                return Err(incomplete(format!(
                    "page {page} was empty after {} of {total} jobs",
                    jobs.len()
                )));
            }
            Some(total) => jobs.len() < total,
            // Without a total, a full page means there may be another.
            None => got == PAGE_SIZE as usize,
        };
        if !more {
            return Ok(jobs);
        }
    }
    Err(incomplete(format!("more than {MAX_PAGES} pages")))
}

fn incomplete(detail: String) -> ApiError {
    ApiError::Decode {
        status: 200,
        detail: format!("the job listing is incomplete ({detail}); the jobs found before are kept"),
    }
}
