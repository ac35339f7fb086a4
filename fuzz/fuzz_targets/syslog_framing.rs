//! The TCP syslog frame decoder (LF and octet-counting), fed the input in arbitrary pieces.
#![no_main]
use libfuzzer_sys::fuzz_target;
use logfetch_connectors::syslog::framing::FrameDecoder;

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let max = 64 + (split as usize) * 8;
    let mut dec = FrameDecoder::new(max);
    let step = 1 + split as usize % 97;
    for chunk in rest.chunks(step) {
        for f in dec.feed(chunk) {
            assert!(f.bytes.len() <= max, "frame longer than the limit");
        }
    }
    if let Some(f) = dec.finish() {
        assert!(f.bytes.len() <= max);
    }
});
