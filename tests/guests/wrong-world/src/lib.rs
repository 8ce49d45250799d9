//! A component of another world: exports `answer` instead of the wicket evaluator.
wit_bindgen::generate!({ world: "other", path: "wit" });

struct Other;

impl Guest for Other {
    fn answer() -> u32 {
        42
    }
}

export!(Other);
