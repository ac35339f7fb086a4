//! The config file parser and checker: any text gives a config or located errors, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = std::path::Path::new("fuzz.toml");
    if let Ok(cfg) = logfetch_config::Config::parse(text, path) {
        let _ = cfg.check(text, path, &["cisco", "paloalto", "sentinelone", "zscaler", "test"]);
    }
});
