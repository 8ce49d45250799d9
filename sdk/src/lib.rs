//! wicket-sdk
