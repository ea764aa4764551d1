//! Fuzz target `content`: see `fuzz/logic/content.rs`.
#![no_main]

mod logic {
    include!("../logic/content.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
