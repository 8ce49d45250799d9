//! Links wasi-libc's string routines into `no_std` guests.
//!
//! Built for `wasm32-wasi*` without `std`, nothing provides `memcmp`, `memcpy`, `memmove` and
//! `memset`, which compiled Rust code calls; wasi-libc (shipped with the Rust target) has them
//! as self-contained functions that import nothing. With `std`, `std` links wasi-libc itself.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let with_std = std::env::var_os("CARGO_FEATURE_STD").is_some();
    if arch == "wasm32" && os == "wasi" && !with_std {
        println!("cargo::rustc-link-lib=c");
    }
}
