//! The process pool's frame decoder: every byte string is a sequence of frames or an error,
//! never a panic, a hang or an allocation sized by an untrusted length.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match weft_process::fuzz_decode(data) {
        // Each frame takes at least a header and a kind byte.
        Ok(frames) => assert!(frames * 9 <= data.len()),
        Err(reason) => assert!(!reason.is_empty()),
    }
});
