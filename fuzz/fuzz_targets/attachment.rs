//! Fuzz target `attachment`: see `fuzz/logic/attachment.rs`.
#![no_main]

mod logic {
    include!("../logic/attachment.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
