//! Any text as a configuration file: it is accepted or refused, never a panic.
#![no_main]

use aliyun_cas_exporter::config::Config;
use aliyun_cas_exporter::env::Env;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let env = Env::from_pairs(&[("SET", "value")]);
        if let Err(error) = Config::parse(text, "fuzz.yaml", &env) {
            // Every refusal names the file, so the user knows where to look.
            assert!(error.to_string().contains("fuzz.yaml"), "{error}");
        }
    }
});
