//! The `wicket` binary.

fn main() {}
