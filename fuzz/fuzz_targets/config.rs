//! Arbitrary bytes as a configuration file: `config::from_str` answers Ok or Err, never panics,
//! and every error names the file and a position inside it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| datasync_warden_parsers::oracle::check_config(data));
