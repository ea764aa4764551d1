//! Fuzz target `interaction`: see `fuzz/logic/interaction.rs`.
#![no_main]

mod logic {
    include!("../logic/interaction.rs");
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
