//! Any bytes as an API answer: parsing, bounding and comparing must never panic.
#![no_main]

use aliyun_cas_exporter::api::model::{
    DeploymentJob, DeploymentJobStatus, ErrorBody, MAX_PRODUCTS_PER_JOB,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut status) = serde_json::from_slice::<DeploymentJobStatus>(data) {
        status.bound_products();
        let names: std::collections::HashSet<_> = status
            .product_worker_count
            .iter()
            .flatten()
            .filter_map(|p| p.product_name.as_deref())
            .collect();
        assert!(names.len() <= MAX_PRODUCTS_PER_JOB);
        assert_eq!(status.bound_products(), 0, "bounding twice changed the answer");
        status.drop_implausible();
        assert!(status.drop_implausible().is_empty(), "dropping twice changed the answer");
    }
    if let Ok(mut job) = serde_json::from_slice::<DeploymentJob>(data) {
        job.drop_implausible();
        assert!(job.drop_implausible().is_empty(), "dropping twice changed the answer");
    }
    let _ = serde_json::from_slice::<ErrorBody>(data);
});
