//! ListWorkerResource (spec section 5.4): one job's worker tasks, the
//! resources they deploy to and how each ended.

use super::lenient;
use crate::acs::text;
use serde::Deserialize;

/// Worker statuses that say a resource did not end up with the new
/// certificate, in the order they are listed: the worst first.
pub const PROBLEM_STATUSES: [&str; 4] = ["error", "rollback_error", "rollback", "rollback_success"];

/// One worker task as ListWorkerResource's `Data[]` describes it. Texts arrive
/// bounded as label values (see `lenient::label`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkerResource {
    /// The worker ID.
    #[serde(default, deserialize_with = "lenient::int")]
    pub id: Option<i64>,
    /// `error`, `rollback_success` and the like.
    #[serde(default, deserialize_with = "lenient::label")]
    pub status: Option<String>,
    /// The other cloud (`Tencent`, ...); absent for Alibaba Cloud.
    #[serde(default, deserialize_with = "lenient::label")]
    pub cloud_name: Option<String>,
    /// The product, such as `CDN` or `SLB`.
    #[serde(default, deserialize_with = "lenient::label")]
    pub cloud_product: Option<String>,
    /// The region as the other cloud names it.
    #[serde(default, deserialize_with = "lenient::label")]
    pub cloud_region: Option<String>,
    /// The Alibaba Cloud region.
    #[serde(default, deserialize_with = "lenient::label")]
    pub region_id: Option<String>,
    /// The instance (load balancer, WAF instance, ...).
    #[serde(default, deserialize_with = "lenient::label")]
    pub instance_id: Option<String>,
    /// The listener of a load balancer.
    #[serde(default, deserialize_with = "lenient::label")]
    pub listener_id: Option<String>,
    /// The listener's port.
    #[serde(default, deserialize_with = "lenient::int")]
    pub port: Option<i64>,
    /// The domain, for products that serve one (CDN, OSS, WAF, ...).
    #[serde(default, deserialize_with = "lenient::label")]
    pub resource_domain: Option<String>,
}

impl WorkerResource {
    /// The worker ID, when it is a positive integer: the one key of its series.
    pub fn worker_id(&self) -> Option<u64> {
        self.id
            .and_then(|id| u64::try_from(id).ok())
            .filter(|id| *id > 0)
    }

    /// What a person calls the resource: the domain, else the listener as
    /// `InstanceId:Port`, else the listener or instance ID; empty when none is known.
    pub fn resource(&self) -> String {
        if let Some(domain) = &self.resource_domain {
            return domain.clone();
        }
        let port = self.port.filter(|p| (1..=65_535).contains(p));
        match (&self.instance_id, port, &self.listener_id) {
            // Both parts are bounded label values; together they are bounded again.
            (Some(instance), Some(port), _) => {
                text::label_value(format!("{instance}:{port}")).unwrap_or_default()
            }
            (_, _, Some(listener)) => listener.clone(),
            (Some(instance), None, None) => instance.clone(),
            (None, _, None) => String::new(),
        }
    }

    /// The other cloud's name; empty for Alibaba Cloud (absent, or `aliyun`).
    pub fn cloud(&self) -> &str {
        match self.cloud_name.as_deref() {
            Some(name) if !name.eq_ignore_ascii_case("aliyun") => name,
            _ => "",
        }
    }

    /// The region as the resource's own cloud names it: `CloudRegion` for another
    /// cloud (its `RegionId` is the Alibaba Cloud region CAS works from), else
    /// `RegionId`; empty when unknown.
    pub fn region(&self) -> &str {
        let (own, other) = if self.cloud().is_empty() {
            (&self.region_id, &self.cloud_region)
        } else {
            (&self.cloud_region, &self.region_id)
        };
        own.as_deref().or(other.as_deref()).unwrap_or_default()
    }
}

/// ListWorkerResource: one page of a job's worker tasks.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct WorkerPage {
    /// Worker tasks in all pages (of the status asked for).
    #[serde(default, deserialize_with = "lenient::int")]
    pub total: Option<i64>,
    /// The worker tasks of this page; `None` when the field is missing or not a list.
    #[serde(default, deserialize_with = "lenient::objects")]
    pub data: Option<Vec<WorkerResource>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_worker_resource_sample() {
        let body = r#"{"RequestId":"9E1D5C2A-33F1-4B6E-9C0D-5A6B7C8D9E0F","CurrentPage":1,"ShowSize":50,"Total":1,
 "Data":[{"Id":5550001,"JobId":8888,"UserId":1666884370000785,"Status":"error","CloudProduct":"SLB",
  "CloudRegion":"cn-hangzhou","RegionId":"cn-hangzhou","InstanceId":"lb-bp1xxxx","ListenerId":"lsn-xxxx",
  "Port":443,"DefaultResource":true,"ResourceId":777001,"ResourceCertId":11111,"ResourceDomain":"api.example.com",
  "CertId":12345,"CertInstanceId":"cas-ivauto-xxxx","CertName":"cert-example","CertDomain":"api.example.com",
  "GmtCreate":"1714550000","GmtModified":"1714550960"}]}"#;
        let page: WorkerPage = serde_json::from_str(body).unwrap();
        assert_eq!(page.total, Some(1));
        let worker = &page.data.unwrap()[0];
        assert_eq!(
            *worker,
            WorkerResource {
                id: Some(5_550_001),
                status: Some("error".into()),
                cloud_name: None,
                cloud_product: Some("SLB".into()),
                cloud_region: Some("cn-hangzhou".into()),
                region_id: Some("cn-hangzhou".into()),
                instance_id: Some("lb-bp1xxxx".into()),
                listener_id: Some("lsn-xxxx".into()),
                port: Some(443),
                resource_domain: Some("api.example.com".into()),
            }
        );
        assert_eq!(worker.worker_id(), Some(5_550_001));
        assert_eq!(worker.resource(), "api.example.com");
        assert_eq!((worker.cloud(), worker.region()), ("", "cn-hangzhou"));
    }

    #[test]
    fn odd_shapes_lose_only_what_cannot_be_read() {
        let worker = |json: &str| serde_json::from_str::<WorkerResource>(json).unwrap();
        // Numbers as strings, a listener without a domain, another cloud.
        let slb = worker(
            r#"{"Id":"42","Status":"rollback_error","CloudName":"Tencent","CloudProduct":"TencentCLB",
                "CloudRegion":"ap-guangzhou","InstanceId":"lb-1","ListenerId":"lsn-1","Port":"8443","DefaultResource":1}"#,
        );
        assert_eq!(slb.worker_id(), Some(42));
        assert_eq!(slb.resource(), "lb-1:8443");
        assert_eq!((slb.cloud(), slb.region()), ("Tencent", "ap-guangzhou"));
        // No port: the listener; no listener either: the instance; nothing: empty.
        assert_eq!(
            worker(r#"{"InstanceId":"lb-1","ListenerId":"lsn-1","Port":0}"#).resource(),
            "lsn-1"
        );
        assert_eq!(worker(r#"{"InstanceId":"waf-1"}"#).resource(), "waf-1");
        let empty = worker(r#"{"Id":0,"CloudName":"aliyun","ResourceDomain":""}"#);
        assert_eq!(empty.resource(), "");
        assert_eq!((empty.cloud(), empty.region()), ("", ""));
        assert_eq!(empty.worker_id(), None, "0 is no worker ID");
        assert_eq!(worker(r#"{"Id":-3}"#).worker_id(), None);
        assert_eq!(worker(r#"{"Id":"x"}"#).worker_id(), None);
        // A page whose Data is not a list, or whose entries are not objects.
        let page = |json: &str| serde_json::from_str::<WorkerPage>(json).unwrap();
        assert_eq!(page(r#"{"Total":"3","Data":{}}"#).total, Some(3));
        assert_eq!(page(r#"{"Data":"x"}"#).data, None);
        assert_eq!(page(r#"{"Data":[1,null,{"Id":7}]}"#).data.unwrap().len(), 1);
    }
}
