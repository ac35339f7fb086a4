//! The zscaler record parser on arbitrary lines; every event it makes must encode to valid JSON.
#![no_main]
use libfuzzer_sys::fuzz_target;
use logfetch_connectors::{ParseContext, ParseOutcome};

fuzz_target!(|data: &[u8]| {
    let Ok(line) = std::str::from_utf8(data) else { return };
    let parser = logfetch_connectors::registry::parser_for("zscaler").unwrap();
    let ctx = ParseContext::new("fuzz", chrono_tz::Europe::Berlin);
    if let ParseOutcome::Events(evs) = parser.parse(line, &ctx) {
        for ev in &evs {
            for f in [logfetch_common::Format::Ocsf, logfetch_common::Format::Ecs] {
                let mut buf = Vec::new();
                logfetch_common::write_event(&mut buf, ev, f);
                serde_json::from_slice::<serde_json::Value>(&buf).expect("valid JSON");
            }
        }
    }
});
