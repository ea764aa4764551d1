//! Fuzz target `conversation_receive`: see `fuzz/logic/conversation_receive.rs`.
#![no_main]

mod logic {
    include!("../logic/conversation_receive.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
