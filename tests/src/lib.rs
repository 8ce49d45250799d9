//! wicket-tests
