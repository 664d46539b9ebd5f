//! Any text as a web config file: accepted or refused, never a panic; no secret in the refusal.
#![no_main]

use aliyun_cas_exporter::http::web_config::WebConfig;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        match WebConfig::parse(text, "web.yml", Path::new("/nonexistent")) {
            Ok(config) => {
                // Debug output is what a panic or a log would show: never a hash or inline key.
                let debug = format!("{config:?}");
                for (_, hash) in &config.users {
                    assert!(!debug.contains(hash.expose()), "{debug}");
                }
            }
            Err(error) => assert!(error.to_string().contains("web.yml"), "{error}"),
        }
    }
});
