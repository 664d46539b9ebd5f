//! ListDeploymentJobCert (spec section 5.6): the certificates one job deploys,
//! with their validity.

use super::lenient;
use serde::Deserialize;

/// 2000-01-01T00:00:00Z: no certificate CAS deploys was valid before.
pub const EARLIEST_CERT_TIME: f64 = 946_684_800.0;
/// 2201-01-01T00:00:00Z: no certificate is valid after the year 2200.
pub const LATEST_CERT_TIME: f64 = 7_289_654_400.0;

/// A certificate as ListDeploymentJobCert's `Data[]` describes it. Texts arrive
/// bounded as label values (see `lenient::label`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobCertificate {
    /// The certificate ID.
    #[serde(default, deserialize_with = "lenient::int")]
    pub cert_id: Option<i64>,
    /// The certificate's name in CAS.
    #[serde(default, deserialize_with = "lenient::label")]
    pub cert_name: Option<String>,
    /// The subject's common name.
    #[serde(default, deserialize_with = "lenient::label")]
    pub common_name: Option<String>,
    /// `DV`, `OV`, `EV`, ...
    #[serde(default, deserialize_with = "lenient::label")]
    pub cert_type: Option<String>,
    /// `upload`, `buy` or `free`.
    #[serde(default, deserialize_with = "lenient::label")]
    pub cert_order_type: Option<String>,
    /// `issued`, `willExpired`, `expired`, ...
    #[serde(default, deserialize_with = "lenient::label")]
    pub status_code: Option<String>,
    /// Valid from, Unix seconds (sent as seconds; milliseconds are normalised).
    #[serde(default, deserialize_with = "lenient::unix_time")]
    pub not_before_time: Option<f64>,
    /// Valid until, Unix seconds (sent as seconds; milliseconds are normalised).
    #[serde(default, deserialize_with = "lenient::unix_time")]
    pub not_after_time: Option<f64>,
}

/// A certificate time outside the years 2000 to 2200: a unit or a value gone
/// wrong, refused rather than served as an expiry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "the {field} of certificate {cert_id} is {value:?} seconds, outside the years 2000 to \
     2200 (a wrong unit or a broken value); it is not exported"
)]
pub struct ImplausibleCertTime {
    /// The certificate.
    pub cert_id: u64,
    /// `NotBeforeTime` or `NotAfterTime`.
    pub field: &'static str,
    /// The value as read, in seconds.
    pub value: f64,
}

impl JobCertificate {
    /// The certificate ID, when it is a positive integer: the key of its series.
    pub fn id(&self) -> Option<u64> {
        self.cert_id
            .and_then(|id| u64::try_from(id).ok())
            .filter(|id| *id > 0)
    }

    /// Leaves out each validity time outside the years 2000 to 2200 and says why.
    pub fn drop_implausible(&mut self) -> Vec<ImplausibleCertTime> {
        let cert_id = self.id().unwrap_or_default();
        let mut refused = Vec::new();
        for (field, value) in [
            ("NotBeforeTime", &mut self.not_before_time),
            ("NotAfterTime", &mut self.not_after_time),
        ] {
            if let Some(v) = *value
                && !(EARLIEST_CERT_TIME..LATEST_CERT_TIME).contains(&v)
            {
                refused.push(ImplausibleCertTime {
                    cert_id,
                    field,
                    value: v,
                });
                *value = None;
            }
        }
        refused
    }
}

/// ListDeploymentJobCert: every certificate of one job (the call is not paged).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobCertificates {
    /// The certificates; `None` when the field is missing or not a list.
    #[serde(default, deserialize_with = "lenient::objects")]
    pub data: Option<Vec<JobCertificate>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_deployment_job_cert_sample() {
        let body = r#"{"RequestId":"1B2C3D4E-5F60-7182-93A4-B5C6D7E8F90A",
 "Data":[{"CertId":12345,"CertInstanceId":"cas-ivauto-xxxx","CertName":"cert-example","CommonName":"www.example.com",
  "Sans":["www.example.com","example.com"],"Algorithm":"RSA","CertType":"DV","CertOrderType":"buy","IsTrustee":false,
  "Month":12,"NotBeforeTime":1714521600,"NotAfterTime":1746057599,"StatusCode":"issued"}]}"#;
        let list: JobCertificates = serde_json::from_str(body).unwrap();
        let mut cert = list.data.unwrap().remove(0);
        assert_eq!(
            cert,
            JobCertificate {
                cert_id: Some(12345),
                cert_name: Some("cert-example".into()),
                common_name: Some("www.example.com".into()),
                cert_type: Some("DV".into()),
                cert_order_type: Some("buy".into()),
                status_code: Some("issued".into()),
                not_before_time: Some(1_714_521_600.0),
                not_after_time: Some(1_746_057_599.0),
            }
        );
        assert_eq!(cert.id(), Some(12345));
        assert!(cert.drop_implausible().is_empty());
    }

    #[test]
    fn strings_milliseconds_and_missing_fields() {
        let mut cert: JobCertificate = serde_json::from_str(
            r#"{"CertId":"77","NotBeforeTime":"1714521600000","NotAfterTime":"","CommonName":"a.example.com"}"#,
        )
        .unwrap();
        assert_eq!(cert.id(), Some(77));
        assert_eq!(cert.not_before_time, Some(1_714_521_600.0));
        assert_eq!(cert.not_after_time, None);
        assert_eq!(cert.cert_name, None);
        assert!(cert.drop_implausible().is_empty());
        let nameless: JobCertificate = serde_json::from_str(r#"{"CertId":0}"#).unwrap();
        assert_eq!(nameless.id(), None);
    }

    #[test]
    fn years_outside_2000_to_2200_are_refused_with_a_reason() {
        let mut cert: JobCertificate = serde_json::from_str(
            r#"{"CertId":5,"NotBeforeTime":946684799,"NotAfterTime":7289654400}"#,
        )
        .unwrap();
        let refused = cert.drop_implausible();
        assert_eq!(
            refused,
            [
                ImplausibleCertTime {
                    cert_id: 5,
                    field: "NotBeforeTime",
                    value: 946_684_799.0
                },
                ImplausibleCertTime {
                    cert_id: 5,
                    field: "NotAfterTime",
                    value: 7_289_654_400.0
                },
            ]
        );
        assert_eq!((cert.not_before_time, cert.not_after_time), (None, None));
        assert_eq!(
            refused[1].to_string(),
            "the NotAfterTime of certificate 5 is 7289654400.0 seconds, outside the years 2000 \
             to 2200 (a wrong unit or a broken value); it is not exported"
        );
        // The edges themselves are plausible; microseconds read as milliseconds are not.
        let mut edge: JobCertificate = serde_json::from_str(
            r#"{"CertId":6,"NotBeforeTime":946684800,"NotAfterTime":7289654399}"#,
        )
        .unwrap();
        assert!(edge.drop_implausible().is_empty());
        let mut micro: JobCertificate =
            serde_json::from_str(r#"{"CertId":7,"NotAfterTime":1746057599000000}"#).unwrap();
        assert_eq!(micro.drop_implausible().len(), 1);
    }
}
