//! Listing every deployment job of an account, page by page.

use super::caller::Caller;
use crate::api::model::DeploymentJob;
use crate::api::{Action, ApiError};
use crate::config::Discovery;

/// The page size the exporter asks for (the API's default and documented maximum).
pub const PAGE_SIZE: u32 = 50;
/// A bound on pages per listing (50,000 jobs), should `Total` ever be wrong.
const MAX_PAGES: u32 = 1000;
/// A bound on jobs per listing, whatever `Total` says or pages hold: what
/// [`MAX_PAGES`] full pages hold.
pub const MAX_JOBS: usize = MAX_PAGES as usize * PAGE_SIZE as usize;

/// Whether a listed job passes every filter of `discovery`.
pub(super) fn accepts(discovery: &Discovery, job: &DeploymentJob) -> bool {
    let field = |value: &Option<String>| value.as_deref().unwrap_or_default().to_owned();
    let in_list =
        |list: &[String], value: &Option<String>| list.is_empty() || list.contains(&field(value));
    let name = field(&job.name);
    in_list(&discovery.job_types, &job.job_type)
        && in_list(&discovery.statuses, &job.status)
        && discovery
            .name_include
            .as_ref()
            .is_none_or(|r| r.is_match(&name))
        && discovery
            .name_exclude
            .as_ref()
            .is_none_or(|r| !r.is_match(&name))
}

/// Every job ListDeploymentJob returns, across all pages. A listing that ends
/// short of its `Total`, or runs past the page bound, is an error: the jobs it
/// missed must not look as if they had vanished.
pub(super) async fn list_all(caller: &Caller) -> Result<Vec<DeploymentJob>, ApiError> {
    let mut jobs = Vec::new();
    for page in 1..=MAX_PAGES {
        let listed = caller
            .call(Action::ListDeploymentJob, None, move |client| async move {
                client.list_deployment_jobs(page, PAGE_SIZE).await
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acs::answering;
    use crate::config::Config;
    use crate::env::Env;
    use std::sync::atomic::Ordering;

    #[test]
    fn discovery_filters() {
        let parse = |text: &str| {
            let config = Config::parse(text, "cfg.yaml", &Env::empty()).unwrap();
            config.accounts[0].discovery.clone().unwrap()
        };
        let discovery = parse(
            "discovery:\n  job_types: [user]\n  statuses: [processing]\n  name_include: ^prod-\n  name_exclude: -test$\n",
        );
        let job = |name: &str, job_type: &str, status: &str| DeploymentJob {
            name: Some(name.into()),
            job_type: Some(job_type.into()),
            status: Some(status.into()),
            ..Default::default()
        };
        assert!(accepts(&discovery, &job("prod-www", "user", "processing")));
        assert!(!accepts(
            &discovery,
            &job("prod-www-test", "user", "processing")
        ));
        assert!(!accepts(
            &discovery,
            &job("stage-www", "user", "processing")
        ));
        assert!(!accepts(
            &discovery,
            &job("prod-www", "cloud", "processing")
        ));
        assert!(!accepts(&discovery, &job("prod-www", "user", "success")));
        let all = parse("discovery: {}\n");
        assert!(accepts(&all, &DeploymentJob::default()));
    }

    use crate::poller::caller::test_caller as caller;

    fn page(total: &str, ids: impl Iterator<Item = u64>) -> String {
        let data: Vec<String> = ids.map(|id| format!(r#"{{"Id":{id}}}"#)).collect();
        format!(r#"{{"Total":{total},"Data":[{}]}}"#, data.join(","))
    }

    #[tokio::test]
    async fn huge_negative_or_absent_totals_neither_loop_nor_hoard() {
        let (endpoint, served) = answering(page("9223372036854775807", 1..=50)).await;
        let error = list_all(&caller(&endpoint)).await.unwrap_err().to_string();
        assert!(
            error.contains("Total is 9223372036854775807, beyond the 50000 jobs"),
            "{error}"
        );
        assert_eq!(
            served.load(Ordering::SeqCst),
            1,
            "refused at the first page"
        );

        let (endpoint, _) = answering(page("-1", 1..=3)).await;
        assert_eq!(list_all(&caller(&endpoint)).await.unwrap().len(), 3);
        let (endpoint, _) = answering(page("null", 1..=3)).await;
        assert_eq!(list_all(&caller(&endpoint)).await.unwrap().len(), 3);

        // Pages far larger than asked for: refused once past the bound, not held.
        let (endpoint, served) = answering(page("60000", 1..=(MAX_JOBS as u64 + 1))).await;
        let error = list_all(&caller(&endpoint)).await.unwrap_err().to_string();
        assert!(error.contains("more than 50000 jobs"), "{error}");
        assert_eq!(served.load(Ordering::SeqCst), 1);

        // Full pages that never end, with a Total that says so: bounded by the job count.
        let (endpoint, served) = answering(page("50000", 1..=50)).await;
        let jobs = list_all(&caller(&endpoint)).await.unwrap();
        assert_eq!(jobs.len(), MAX_JOBS);
        assert_eq!(served.load(Ordering::SeqCst), MAX_PAGES as usize);
    }
}
