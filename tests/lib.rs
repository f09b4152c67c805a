//! Cross-crate tests of the ordering engine.
//!
//! The README's code blocks are compiled and run as doc tests of this
//! crate, so the embedding example a newcomer copies always works.
#![forbid(unsafe_code)]
#![doc = include_str!("../README.md")]
