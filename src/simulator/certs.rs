//! The certificates a job deploys: the defaults of each `certs` entry filled
//! in, and their ListDeploymentJobCert objects (spec section 5.6).

use super::spec::{CertSpec, JobSpec};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::time::Duration;

/// The `StatusCode` values of spec section 5.6, which `certs[].status_code` may take.
pub const STATUS_CODES: [&str; 13] = [
    "payed",
    "checking",
    "checkedFail",
    "revoked",
    "revokeChecking",
    "issued",
    "trustee",
    "upload",
    "willExpired",
    "expired",
    "validity",
    "refund",
    "closed",
];

/// How long after the simulator's start a certificate expires unless its spec says otherwise.
const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(90 * 24 * 3600);

/// The certificate of a job that names none: 1,000,000,000 plus the job ID
/// (taken modulo 8 × 10^18, so that any job ID gives a positive int64).
pub fn derived_cert_id(job_id: u64) -> u64 {
    1_000_000_000 + job_id % 8_000_000_000_000_000_000
}

/// The job's certificates: `certs`, else one per `cert_ids` entry, else the derived one.
pub fn job_certs(job: &JobSpec) -> Cow<'_, [CertSpec]> {
    match &job.certs {
        Some(certs) => Cow::Borrowed(certs),
        None if job.cert_ids.is_empty() => {
            Cow::Owned(vec![CertSpec::with_id(derived_cert_id(job.id))])
        }
        None => Cow::Owned(
            job.cert_ids
                .iter()
                .map(|id| CertSpec::with_id(*id))
                .collect(),
        ),
    }
}

/// Whether the job deploys certificate `id`: ListDeploymentJob's `CertId` filter.
pub fn has_cert(job: &JobSpec, id: u64) -> bool {
    match &job.certs {
        Some(certs) => certs.iter().any(|c| c.id == id),
        None if job.cert_ids.is_empty() => derived_cert_id(job.id) == id,
        None => job.cert_ids.contains(&id),
    }
}

/// `CertCount`: `certificates` when written, else how many certificates the job deploys.
pub fn cert_count(job: &JobSpec) -> i64 {
    job.certificates.unwrap_or_else(|| match &job.certs {
        Some(certs) => certs.len() as i64,
        None => job.cert_ids.len().max(1) as i64,
    })
}

/// The first domain of the job's `cert_domain` (a comma-separated list), trimmed.
pub fn first_domain(job: &JobSpec) -> &str {
    job.cert_domain.split(',').next().unwrap_or_default().trim()
}

/// `CertName`.
pub fn cert_name(cert: &CertSpec) -> String {
    cert.name
        .clone()
        .unwrap_or_else(|| format!("cert-{}", cert.id))
}

/// `CertInstanceId`: the certificate's ID in hexadecimal after CAS's `cas-ivauto-` prefix.
pub fn cert_instance_id(cert: &CertSpec) -> String {
    format!("cas-ivauto-{:x}", cert.id)
}

/// `CommonName`.
pub fn common_name(job: &JobSpec, cert: &CertSpec) -> String {
    cert.common_name
        .clone()
        .unwrap_or_else(|| first_domain(job).to_owned())
}

/// `OrderId`: 7,000,000 plus the certificate ID (modulo 10^18, to stay an int64).
pub fn order_id(cert: &CertSpec) -> u64 {
    7_000_000 + cert.id % 1_000_000_000_000_000_000
}

/// One `Data[]` object of ListDeploymentJobCert, its validity counted from
/// `started_unix_secs`, the simulator's start.
pub fn cert_body(job: &JobSpec, cert: &CertSpec, started_unix_secs: u64) -> Map<String, Value> {
    let not_after = match (cert.expires_in, cert.expired_ago) {
        (_, Some(ago)) => started_unix_secs.saturating_sub(ago.as_secs()),
        (Some(within), None) => started_unix_secs + within.as_secs(),
        (None, None) => started_unix_secs + DEFAULT_EXPIRES_IN.as_secs(),
    };
    let not_before = not_after.saturating_sub(cert.valid_for.as_secs());
    let common_name = common_name(job, cert);
    let sans = cert
        .sans
        .clone()
        .unwrap_or_else(|| vec![common_name.clone()]);
    let order_type = cert.order_type.as_deref().unwrap_or(&job.cert_type);
    let mut body = Map::new();
    body.insert("CertId".into(), cert.id.into());
    body.insert("CertInstanceId".into(), cert_instance_id(cert).into());
    body.insert("CertName".into(), cert_name(cert).into());
    body.insert("CommonName".into(), common_name.into());
    body.insert("Sans".into(), sans.into());
    body.insert("Algorithm".into(), "RSA".into());
    body.insert("CertType".into(), cert.cert_type.as_str().into());
    body.insert("CertOrderType".into(), order_type.into());
    body.insert("IsTrustee".into(), false.into());
    body.insert("Month".into(), 12.into());
    body.insert("NotBeforeTime".into(), not_before.into());
    body.insert("NotAfterTime".into(), not_after.into());
    body.insert("OrderId".into(), order_id(cert).into());
    body.insert("StatusCode".into(), cert.status_code.as_str().into());
    for (name, value) in &cert.override_fields {
        body.insert(name.clone(), value.clone());
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn job(yaml: &str) -> JobSpec {
        crate::yaml::from_str(yaml, "a test job").unwrap()
    }

    const START: u64 = 1_714_550_400;
    const DAY: u64 = 24 * 3600;

    #[test]
    fn a_job_without_certificates_deploys_one_derived_from_its_id() {
        let spec = job("id: 8888\ncert_domain: '*.example.com, example.com'\ncert_type: free\n");
        let certs = job_certs(&spec);
        assert_eq!(*certs, [CertSpec::with_id(1_000_008_888)]);
        assert_eq!(cert_count(&spec), 1);
        assert!(has_cert(&spec, 1_000_008_888));
        assert!(!has_cert(&spec, 8888));
        assert_eq!(
            Value::Object(cert_body(&spec, &certs[0], START)),
            json!({"CertId": 1_000_008_888_u64, "CertInstanceId": "cas-ivauto-3b9aecb8",
                "CertName": "cert-1000008888", "CommonName": "*.example.com", "Sans": ["*.example.com"],
                "Algorithm": "RSA", "CertType": "DV", "CertOrderType": "free", "IsTrustee": false,
                "Month": 12, "NotBeforeTime": START + 90 * DAY - 365 * DAY,
                "NotAfterTime": START + 90 * DAY, "OrderId": 1_007_008_888_u64, "StatusCode": "issued"})
        );
        // The largest job IDs still give a positive int64.
        assert_eq!(
            derived_cert_id(u64::MAX),
            1_000_000_000 + 2_446_744_073_709_551_615
        );
    }

    #[test]
    fn cert_ids_generate_certificates_and_count_them() {
        let spec = job("id: 1\ncert_ids: [5, 6, 7]\n");
        let ids: Vec<u64> = job_certs(&spec).iter().map(|c| c.id).collect();
        assert_eq!(ids, [5, 6, 7]);
        assert_eq!(cert_count(&spec), 3);
        assert!(has_cert(&spec, 6) && !has_cert(&spec, derived_cert_id(1)));
        assert_eq!(
            cert_count(&job("id: 1\ncert_ids: [5]\ncertificates: 4\n")),
            4
        );
        let none = job("id: 1\ncerts: []\ncert_ids: []\n");
        assert_eq!((job_certs(&none).len(), cert_count(&none)), (0, 0));
        assert!(!has_cert(&none, derived_cert_id(1)));
    }

    #[test]
    fn every_default_can_be_overridden() {
        let spec = job(concat!(
            "id: 2\ncert_domain: shop.example.com\ncerts:\n",
            "  - {id: 12345, name: cert-example, common_name: www.example.com, sans: [www.example.com, example.com],\n",
            "     cert_type: OV, order_type: upload, status_code: willExpired, expires_in: 6d, valid_for: 30d}\n",
            "  - {id: 77, expired_ago: 2d, override_fields: {NotAfterTime: '1714550400000', Month: null}}\n",
        ));
        let certs = job_certs(&spec);
        assert_eq!(cert_count(&spec), 2);
        assert_eq!(
            Value::Object(cert_body(&spec, &certs[0], START)),
            json!({"CertId": 12345, "CertInstanceId": "cas-ivauto-3039", "CertName": "cert-example",
                "CommonName": "www.example.com", "Sans": ["www.example.com", "example.com"],
                "Algorithm": "RSA", "CertType": "OV", "CertOrderType": "upload", "IsTrustee": false,
                "Month": 12, "NotBeforeTime": START + 6 * DAY - 30 * DAY, "NotAfterTime": START + 6 * DAY,
                "OrderId": 7_012_345, "StatusCode": "willExpired"})
        );
        let expired = cert_body(&spec, &certs[1], START);
        assert_eq!(expired["NotAfterTime"], json!("1714550400000"));
        assert_eq!(expired["Month"], Value::Null);
        assert_eq!(expired["NotBeforeTime"], json!(START - 2 * DAY - 365 * DAY));
        assert_eq!(expired["CommonName"], json!("shop.example.com"));
        assert_eq!(expired["CertOrderType"], json!("buy"));
    }
}
