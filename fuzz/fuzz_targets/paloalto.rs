//! The PAN-OS parser: syslog CSV / CEF / LEEF / JSON lines, and whole XML API answers.
#![no_main]
use libfuzzer_sys::fuzz_target;
use logfetch_connectors::{ParseContext, ParseOutcome};

fn check(o: ParseOutcome) {
    if let ParseOutcome::Events(evs) = o {
        for ev in &evs {
            let mut buf = Vec::new();
            logfetch_common::write_event(&mut buf, ev, logfetch_common::Format::Ocsf);
            serde_json::from_slice::<serde_json::Value>(&buf).expect("valid JSON");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let parser = logfetch_connectors::registry::parser_for("paloalto").unwrap();
    let ctx = ParseContext::new("fuzz", chrono_tz::America::New_York);
    if text.trim_start().starts_with('<') && !text.trim_start().starts_with("<1") {
        let _ = parser.parse_document(text, &ctx, &mut |o| check(o));
    } else {
        check(parser.parse(text, &ctx));
    }
});
