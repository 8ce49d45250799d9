//! The policy passes its cases file natively (`cargo test`), as `wicket policy test` runs it
//! against the built component.

#[test]
fn passes_its_cases() {
    wicket_sdk::testing::run_cases::<@CRATE@::@TYPE@>(include_str!("../cases.json"));
}
