//! Fuzz target `decode_wire`: see `fuzz/logic/decode_wire.rs`.
#![no_main]

mod logic {
    include!("../logic/decode_wire.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
