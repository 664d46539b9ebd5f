//! Properties over generated files: whatever the text, a configuration or a located refusal.

use super::*;
use proptest::prelude::*;

proptest! {
    #[test]
    fn any_text_is_parsed_or_refused_with_a_located_message(text in "\\PC{0,200}") {
        if let Err(error) = Config::parse(&text, "cfg.yaml", &Env::empty()) {
            prop_assert!(error.to_string().starts_with("cfg.yaml"), "{}", error);
        }
    }

    #[test]
    fn distinct_positive_job_ids_come_back_in_order(ids in proptest::collection::btree_set(1u64..=crate::api::model::MAX_JOB_ID, 1..30), seed in any::<u64>()) {
        let mut ids: Vec<u64> = ids.into_iter().collect();
        let len = ids.len();
        for i in 0..len {
            ids.swap(i, (seed.wrapping_mul(i as u64 + 3) % len as u64) as usize);
        }
        let text = format!("jobs: [{}]\n", ids.iter().map(u64::to_string).collect::<Vec<_>>().join(", "));
        let config = Config::parse(&text, "cfg.yaml", &Env::empty()).unwrap();
        prop_assert_eq!(&config.accounts[0].jobs, &ids);
    }

    #[test]
    fn any_duration_or_count_in_any_key_is_taken_or_refused_without_panic(
        key in 0usize..12,
        value in prop_oneof![
            any::<u64>().prop_map(|n| format!("{n}s")),
            any::<u64>().prop_map(|n| format!("{n}ns")),
            any::<u32>().prop_map(|n| format!("{n}d")),
            any::<u64>().prop_map(|n| format!("{n}y")),
            (0u64..MAX_DURATION.as_secs() + 2).prop_map(|n| format!("{n}s")),
            any::<u64>().prop_map(|n| n.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>().prop_map(|n| format!("{n:?}")),
        ],
    ) {
        const KEYS: [&str; 12] = [
            "interval: {}", "settled_interval: {}", "stale_after: {}", "job_info_interval: {}",
            "timeouts: {connect: {}}", "timeouts: {request: {}}", "retries: {base_delay: {}}",
            "retries: {max_delay: {}}", "discovery: {refresh_interval: {}}", "concurrency: {}",
            "retries: {max_attempts: {}}", "rate_limit: {describe_deployment_job_status: {}}",
        ];
        let text = format!("jobs: [1]\n{}\n", KEYS[key].replacen("{}", &value, 1));
        match Config::parse(&text, "cfg.yaml", &Env::empty()) {
            Ok(config) => {
                let p = &config.polling;
                for d in [p.interval, p.settled_interval, p.stale_after, p.job_info_interval, p.connect_timeout, p.request_timeout, config.retries.max_delay] {
                    prop_assert!(d <= MAX_DURATION * STALE_INTERVALS, "{:?}", d);
                }
                prop_assert!(p.concurrency <= MAX_CONCURRENCY);
            }
            Err(error) => prop_assert!(error.to_string().starts_with("cfg.yaml"), "{}", error),
        }
    }

    #[test]
    fn durations_round_trip(seconds in 1u64..86_400) {
        let text = format!("jobs: [1]\ninterval: {seconds}s\nstale_after: {}s\nsettled_interval: {}s\n", seconds * 5, seconds.max(600));
        let config = Config::parse(&text, "cfg.yaml", &Env::empty());
        // A request timeout of 10 s must stay under the interval.
        if seconds > 10 {
            prop_assert_eq!(config.unwrap().polling.interval, Duration::from_secs(seconds));
        } else {
            prop_assert!(config.is_err());
        }
    }
}
