//! Fuzz target `recovery`: see `fuzz/logic/recovery.rs`.
#![no_main]

mod logic {
    #![allow(dead_code)]
    include!("../logic/recovery.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
