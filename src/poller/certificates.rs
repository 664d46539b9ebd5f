//! A job's certificates as ListDeploymentJobCert lists them, made fit to
//! export: one entry per certificate ID, a bounded number, validity times
//! outside the years 2000 to 2200 refused.

use crate::api::model::{ImplausibleCertTime, JobCertificate, JobCertificates};
use std::collections::HashSet;
use std::sync::Arc;

/// The most certificates one job exports: far above what a deployment job
/// deploys, so only a broken answer reaches it.
pub const MAX_CERTS_PER_JOB: usize = 100;

/// What the exporter keeps of one listing, and what it refused.
#[derive(Debug, PartialEq)]
pub(super) struct Admitted {
    /// The certificates kept, in the order listed.
    pub(super) certificates: Arc<[JobCertificate]>,
    /// Times refused, each with its reason.
    pub(super) refused: Vec<ImplausibleCertTime>,
    /// Entries left out: no usable certificate ID, or beyond [`MAX_CERTS_PER_JOB`].
    pub(super) skipped: usize,
}

/// Keeps the first entry of each certificate ID, up to [`MAX_CERTS_PER_JOB`].
pub(super) fn admit(listed: JobCertificates) -> Admitted {
    let mut seen = HashSet::new();
    let mut certificates = Vec::new();
    let mut refused = Vec::new();
    let mut skipped = 0;
    let mut listed = listed.data.unwrap_or_default();
    // In ID order (stable: the first entry of an ID stays first), so that an API listing
    // them in another order each time changes nothing served and logs nothing again.
    listed.sort_by_key(|cert| cert.id());
    for mut cert in listed {
        match cert.id() {
            Some(id) if seen.contains(&id) => {}
            Some(id) if certificates.len() < MAX_CERTS_PER_JOB => {
                seen.insert(id);
                refused.extend(cert.drop_implausible());
                certificates.push(cert);
            }
            _ => skipped += 1,
        }
    }
    Admitted {
        certificates: certificates.into(),
        refused,
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_nameless_and_implausible_entries() {
        let listed: JobCertificates = serde_json::from_str(
            r#"{"Data":[{"CertId":1,"CommonName":"a","NotAfterTime":1746057599},
                {"CertId":"1","CommonName":"again"},{"CommonName":"no id"},
                {"CertId":2,"NotAfterTime":1746057599000,"NotBeforeTime":12}]}"#,
        )
        .unwrap();
        let admitted = admit(listed);
        let kept: Vec<(Option<i64>, Option<f64>, Option<f64>)> = admitted
            .certificates
            .iter()
            .map(|c| (c.cert_id, c.not_before_time, c.not_after_time))
            .collect();
        assert_eq!(
            kept,
            [
                (Some(1), None, Some(1_746_057_599.0)),
                (Some(2), None, Some(1_746_057_599.0))
            ]
        );
        assert_eq!(admitted.certificates[0].common_name.as_deref(), Some("a"));
        assert_eq!(admitted.skipped, 1);
        assert_eq!(
            admitted.refused,
            [ImplausibleCertTime {
                cert_id: 2,
                field: "NotBeforeTime",
                value: 12.0
            }]
        );
    }

    #[test]
    fn the_count_is_bounded() {
        let data: Vec<String> = (1..=150).map(|i| format!(r#"{{"CertId":{i}}}"#)).collect();
        let listed: JobCertificates =
            serde_json::from_str(&format!(r#"{{"Data":[{}]}}"#, data.join(","))).unwrap();
        let admitted = admit(listed);
        assert_eq!(admitted.certificates.len(), MAX_CERTS_PER_JOB);
        assert_eq!(admitted.skipped, 50);
        assert_eq!(admit(JobCertificates::default()).certificates.len(), 0);
    }
}
