//! The settings a module parsed last, kept with their JSON text.
//!
//! The host hands a module its settings as JSON text on every call. Parsing them (and whatever
//! a policy builds while deserializing, such as a compiled pattern) is most of what a small
//! policy does per decision. The host checks a module's settings once when it loads the chain,
//! and then starts every decision's fresh instance from a snapshot of the module taken right
//! after that check (see the host's `policy::prepare`): so the settings the check parsed are
//! already in memory when `evaluate` receives the same text, and are used as they are.
//!
//! The cache holds one entry: a chain entry's module only ever sees its own settings. Text that
//! differs, even by a space, is parsed afresh, so a cached value is always exactly what parsing
//! the text would give.
//!
//! It lives in a `static` behind a spin lock: a guest has one thread, so the lock is never
//! contended; it only makes the `static` shareable without `unsafe`.

use alloc::string::String;

/// One `(settings JSON, parsed and validated settings)` pair.
pub struct SettingsCache<S> {
    slot: spin::Mutex<Option<(String, S)>>,
}

impl<S> SettingsCache<S> {
    /// An empty cache.
    pub const fn new() -> Self {
        Self {
            slot: spin::Mutex::new(None),
        }
    }

    /// Runs `f` with the settings cached for exactly `json`, if any; otherwise with `parse`'s
    /// answer, which is kept (replacing the entry) when it is `Ok`.
    pub(crate) fn with<R, E>(
        &self,
        json: String,
        parse: impl FnOnce(&str) -> Result<S, E>,
        f: impl FnOnce(Result<&S, E>) -> R,
    ) -> R {
        // Held for the call: `parse` and `f` are the SDK's and a policy's pure code, which
        // never reach the export functions again.
        let mut slot = self.slot.lock();
        if let Some((cached, settings)) = slot.as_ref()
            && *cached == json
        {
            return f(Ok(settings));
        }
        match parse(&json) {
            Ok(settings) => f(Ok(&slot.insert((json, settings)).1)),
            Err(error) => f(Err(error)),
        }
    }
}

impl<S> Default for SettingsCache<S> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use core::cell::Cell;

    #[test]
    fn parses_once_per_text_and_again_when_the_text_changes() {
        let cache = SettingsCache::<u64>::new();
        let parses = Cell::new(0);
        let parse = |json: &str| {
            parses.set(parses.get() + 1);
            json.trim().parse::<u64>().map_err(|e| e.to_string())
        };
        let read = |json: &str| cache.with(json.into(), parse, |s| s.copied());

        assert_eq!(read("7"), Ok(7));
        assert_eq!(read("7"), Ok(7));
        assert_eq!(parses.get(), 1, "the same text is parsed once");
        assert_eq!(read(" 7"), Ok(7));
        assert_eq!(
            parses.get(),
            2,
            "different text is parsed, even if it means the same"
        );
        assert!(read("x").is_err());
        assert_eq!(
            read(" 7"),
            Ok(7),
            "a failed parse keeps the last good entry"
        );
        assert_eq!(parses.get(), 3);
        assert_eq!(read("8"), Ok(8));
        assert_eq!(
            read(" 7"),
            Ok(7),
            "one entry: the previous text is parsed again"
        );
        assert_eq!(parses.get(), 5);
    }
}
