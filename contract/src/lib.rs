#![doc = include_str!("../README.md")]
#![no_std]

extern crate alloc;

pub mod duration;

pub use duration::{Duration, DurationError};
