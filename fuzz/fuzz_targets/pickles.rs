//! Fuzz target `pickles`: see `fuzz/logic/pickles.rs`.
#![no_main]

mod logic {
    include!("../logic/pickles.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
