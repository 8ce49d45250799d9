//! Exports `wicket:policy/evaluator@0.1.0` by name, but `evaluate` has another signature.
wit_bindgen::generate!({ world: "wrong-signature", path: "wit" });

use exports::wicket::policy::evaluator::Guest;

struct WrongSignature;

impl Guest for WrongSignature {
    fn validate_settings(_settings: String) -> Result<(), String> {
        Ok(())
    }

    fn evaluate(settings: String) -> u32 {
        u32::try_from(settings.len()).unwrap_or(u32::MAX)
    }
}

export!(WrongSignature);
