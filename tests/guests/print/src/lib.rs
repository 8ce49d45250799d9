//! Prints a line to stdout and one to stderr while validating its settings and while deciding
//! (what the author guide suggests for debugging, and what a Python traceback does), then
//! denies naming what it printed: printing must neither crash the host nor block.
#[path = "../../common.rs"]
mod common;
use common::*;

struct Print;

impl Guest for Print {
    fn validate_settings(settings: String) -> Result<(), String> {
        println!("print guest: validating {settings}");
        eprintln!("print guest: on stderr while validating");
        Ok(())
    }

    fn evaluate(_settings: String, requester: Identity, _request: AccessRequest) -> Decision {
        println!("print guest: deciding for {}", requester.subject);
        eprintln!("print guest: on stderr while deciding");
        Decision::Deny(format!("printed while deciding for {}", requester.subject))
    }
}

export!(Print);
