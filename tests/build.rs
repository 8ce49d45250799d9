//! Builds the guests in `guests/` to wasm32-wasip2 components (a nested `cargo build` with its
//! own target directory, `target/guests`) and writes their paths as constants, plus a
//! `foreach_guest!` macro listing them, to `$OUT_DIR/guests.rs`.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(
        std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"),
    );
    let guests = manifest_dir.join("guests");
    let target_dir = manifest_dir.join("..").join("target").join("guests");
    println!("cargo:rerun-if-changed={}", guests.display());
    println!(
        "cargo:rerun-if-changed={}",
        manifest_dir.join("../wit").display()
    );

    let members = [
        "allow",
        "infinite-loop",
        "big-alloc",
        "recursion",
        "panic",
        "huge-reason",
        "read-file",
        "read-env",
        "read-clock",
        "socket",
        "counter",
        "reject-settings",
        "wrong-world",
        "wrong-signature",
        "relay",
        "deny",
        "needs-approval",
        "print",
        "sleep",
        "legacy",
    ];
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&guests)
        .args([
            "build",
            "--locked",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir)
        // Flags and wrappers meant for the outer build (e.g. clippy) must not leak in.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("running cargo to build the test guests");
    assert!(status.success(), "building the test guests failed");

    let release = target_dir.join("wasm32-wasip2").join("release");
    let mut code = String::new();
    let mut names = String::new();
    for member in members {
        let file = member.replace('-', "_");
        let path = release.join(format!("{file}.wasm"));
        assert!(
            path.is_file(),
            "guest `{member}` was not built at {}",
            path.display()
        );
        code.push_str(&format!(
            "/// The `{member}` guest component.\npub const {}: &str = {:?};\n",
            file.to_uppercase(),
            path.display().to_string()
        ));
        names.push_str(&format!("        $mac!({file});\n"));
    }
    code.push_str(&format!(
        "/// Calls `$mac!(name)` for every guest, so a test can require one case per guest.\n\
         #[macro_export]\nmacro_rules! foreach_guest {{\n    ($mac:ident) => {{\n{names}    }};\n}}\n"
    ));
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("guests.rs");
    std::fs::write(out, code).expect("writing guests.rs");
}
