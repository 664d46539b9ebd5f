//! Region IDs and the CAS endpoint each resolves to, as the official SDK
//! resolves them, and the nearest known name to a word that is none.

use std::fmt;

/// The host every region of the SDK's endpoint map resolves to.
pub const CENTRAL_HOST: &str = "cas.aliyuncs.com";

/// Where a region's CAS endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    /// In the SDK's endpoint map: always `cas.aliyuncs.com`, whatever the network.
    Central,
    /// Not in the map: the SDK's rule `cas[-<network>].<region>.aliyuncs.com`.
    Regional,
}

/// Every region ID the exporter resolves, in one table.
///
/// `Central` rows are the `_endpoint_map` of the official client, copied whole:
/// aliyun/alibabacloud-python-sdk, cas-20200407/alibabacloud_cas20200407/client.py
/// (commit 05cf338590ff337c1dd2564a994acc7fc30aee4e), the same map
/// alibabacloud-cas20200407 3.9.4 ships (spec section 1.1). `Regional` rows are
/// the public regions of Alibaba Cloud's region list that the map lacks, so the
/// SDK's rule names their endpoint. A region missing here can still be reached
/// by writing its host name.
const REGIONS: [(&str, Host); 67] = [
    ("ap-northeast-1", Host::Regional),
    ("ap-northeast-2", Host::Regional),
    ("ap-northeast-2-pop", Host::Central),
    ("ap-south-1", Host::Regional),
    ("ap-southeast-1", Host::Regional),
    ("ap-southeast-2", Host::Regional),
    ("ap-southeast-3", Host::Central),
    ("ap-southeast-5", Host::Central),
    ("ap-southeast-6", Host::Regional),
    ("ap-southeast-7", Host::Regional),
    ("cn-beijing", Host::Central),
    ("cn-beijing-finance-1", Host::Central),
    ("cn-beijing-finance-pop", Host::Central),
    ("cn-beijing-gov-1", Host::Central),
    ("cn-beijing-nu16-b01", Host::Central),
    ("cn-chengdu", Host::Central),
    ("cn-edge-1", Host::Central),
    ("cn-fujian", Host::Central),
    ("cn-fuzhou", Host::Regional),
    ("cn-guangzhou", Host::Regional),
    ("cn-haidian-cm12-c01", Host::Central),
    ("cn-hangzhou", Host::Central),
    ("cn-hangzhou-bj-b01", Host::Central),
    ("cn-hangzhou-finance", Host::Central),
    ("cn-hangzhou-internal-prod-1", Host::Central),
    ("cn-hangzhou-internal-test-1", Host::Central),
    ("cn-hangzhou-internal-test-2", Host::Central),
    ("cn-hangzhou-internal-test-3", Host::Central),
    ("cn-hangzhou-test-306", Host::Central),
    ("cn-heyuan", Host::Regional),
    ("cn-hongkong", Host::Central),
    ("cn-hongkong-finance-pop", Host::Central),
    ("cn-huhehaote", Host::Central),
    ("cn-huhehaote-nebula-1", Host::Central),
    ("cn-nanjing", Host::Regional),
    ("cn-north-2-gov-1", Host::Central),
    ("cn-qingdao", Host::Central),
    ("cn-qingdao-nebula", Host::Central),
    ("cn-shanghai", Host::Central),
    ("cn-shanghai-et15-b01", Host::Central),
    ("cn-shanghai-et2-b01", Host::Central),
    ("cn-shanghai-finance-1", Host::Central),
    ("cn-shanghai-inner", Host::Central),
    ("cn-shanghai-internal-test-1", Host::Central),
    ("cn-shenzhen", Host::Central),
    ("cn-shenzhen-finance-1", Host::Central),
    ("cn-shenzhen-inner", Host::Central),
    ("cn-shenzhen-st4-d01", Host::Central),
    ("cn-shenzhen-su18-b01", Host::Central),
    ("cn-wuhan", Host::Central),
    ("cn-wuhan-lr", Host::Regional),
    ("cn-wulanchabu", Host::Central),
    ("cn-yushanfang", Host::Central),
    ("cn-zhangbei", Host::Central),
    ("cn-zhangbei-na61-b01", Host::Central),
    ("cn-zhangjiakou", Host::Central),
    ("cn-zhangjiakou-na62-a01", Host::Central),
    ("cn-zhengzhou-nebula-1", Host::Central),
    ("eu-central-1", Host::Regional),
    ("eu-west-1", Host::Central),
    ("eu-west-1-oxs", Host::Central),
    ("me-central-1", Host::Regional),
    ("me-east-1", Host::Regional),
    ("na-south-1", Host::Regional),
    ("rus-west-1-pop", Host::Central),
    ("us-east-1", Host::Central),
    ("us-west-1", Host::Central),
];

/// The presets: a short name for the region of each site's documented endpoint.
pub const PRESETS: [(&str, &str); 4] = [
    ("cn", "cn-hangzhou"),
    ("china", "cn-hangzhou"),
    ("intl", "ap-southeast-1"),
    ("international", "ap-southeast-1"),
];

/// Which network the API is reached over, as the SDK's `network` setting says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Network {
    /// The Internet endpoint.
    #[default]
    Public,
    /// The endpoint inside a VPC (`cas-vpc.<region>.aliyuncs.com`).
    Vpc,
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Network::Public => "public",
            Network::Vpc => "vpc",
        })
    }
}

/// The region a preset or region ID names (any letter case), if it is one.
pub fn region_of(word: &str) -> Option<&'static str> {
    let word = word.to_ascii_lowercase();
    PRESETS
        .iter()
        .find(|(preset, _)| *preset == word)
        .map(|(_, region)| *region)
        .or_else(|| {
            REGIONS
                .iter()
                .find(|(id, _)| *id == word)
                .map(|(id, _)| *id)
        })
}

/// The CAS host of a region from [`region`]: the map wins over the network, as in the SDK.
pub fn host(region: &str, network: Network) -> String {
    let central = REGIONS
        .iter()
        .any(|(id, host)| *id == region && *host == Host::Central);
    match network {
        _ if central => CENTRAL_HOST.to_owned(),
        Network::Public => format!("cas.{region}.aliyuncs.com"),
        Network::Vpc => format!("cas-vpc.{region}.aliyuncs.com"),
    }
}

/// The preset or region ID `word` was most likely meant to be: one or two typing
/// mistakes away, or a region written without its prefix (`hangzhou`); none
/// when several names are as likely.
pub fn suggestion(word: &str) -> Option<&'static str> {
    let word = word.to_ascii_lowercase();
    let names = PRESETS
        .iter()
        .map(|(preset, _)| *preset)
        .chain(REGIONS.iter().map(|(id, _)| *id));
    let distance = names
        .clone()
        .map(|name| strsim::osa_distance(&word, name))
        .min()?;
    // Short words are a few edits from everything: only a close match counts.
    if distance <= 2 && distance * 3 <= word.chars().count() {
        return only(names.filter(|name| strsim::osa_distance(&word, name) == distance));
    }
    only(names.filter(|name| name.split_once('-').is_some_and(|(_, rest)| rest == word)))
}

/// The one name of `names`, if there is exactly one.
fn only<'a>(mut names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let name = names.next()?;
    names.next().is_none().then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_holds_the_sdk_map_whole_and_each_id_once() {
        let central: Vec<&str> = REGIONS
            .iter()
            .filter(|(_, host)| *host == Host::Central)
            .map(|(id, _)| *id)
            .collect();
        assert_eq!(central.len(), 51, "the SDK's endpoint_map has 51 entries");
        let mut ids: Vec<&str> = REGIONS.iter().map(|(id, _)| *id).collect();
        let written = ids.clone();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids, written, "sorted, without repeats");
    }

    #[test]
    fn words_close_to_a_name_are_suggested() {
        for (word, expected) in [
            ("internatinal", Some("international")),
            ("cn-hangzou", Some("cn-hangzhou")),
            ("eu-centrla-1", Some("eu-central-1")),
            ("EU-CENTRAL1", Some("eu-central-1")),
            ("hangzhou", Some("cn-hangzhou")),
            ("beijing", Some("cn-beijing")),
            ("intel", Some("intl")),
            // As near to several names as to any one: a guess would mislead.
            ("east-1", None),
            ("west-1", None),
            ("south-1", None),
            ("central-1", None),
            ("ap-southeast-4", None),
            ("us", None),
            ("localhost", None),
            ("production", None),
        ] {
            assert_eq!(suggestion(word), expected, "{word}");
        }
    }
}
