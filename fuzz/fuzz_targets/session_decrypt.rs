//! Fuzz target `session_decrypt`: see `fuzz/logic/session_decrypt.rs`.
#![no_main]

mod logic {
    include!("../logic/session_decrypt.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
