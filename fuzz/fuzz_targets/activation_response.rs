//! Arbitrary bytes as the agent's answer, both as a redirect `Location` and as a `no_redirect`
//! body: the parsers never panic, and any key they return matches the key pattern and appears
//! verbatim in the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| datasync_warden_parsers::oracle::check_activation_response(data));
