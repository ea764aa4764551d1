//! Fuzz target `group_decrypt`: see `fuzz/logic/group_decrypt.rs`.
#![no_main]

mod logic {
    include!("../logic/group_decrypt.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
