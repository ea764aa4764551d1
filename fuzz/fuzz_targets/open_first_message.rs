//! Fuzz target `open_first_message`: see `fuzz/logic/open_first_message.rs`.
#![no_main]

mod logic {
    include!("../logic/open_first_message.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
