//! The compiled-module cache holds native code that Wicket loads and runs, so it is used only
//! while the current user alone controls it: a cache directory another user owns, or that
//! its group or others may write, is not used (modules are compiled instead), and a symbolic
//! link planted at a cached module's path is neither loaded through nor written through.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use wicket::policy::{EngineConfig, Limits, PolicyEngine};

/// Loads `group-access` with a new engine caching in `cache`: whether it came from the cache.
fn load(cache: &Path) -> bool {
    let engine = PolicyEngine::new(&EngineConfig {
        cache_dir: Some(cache.to_owned()),
        ..EngineConfig::default()
    })
    .expect("an engine");
    engine
        .load(
            "group-access",
            wicket::embedded::GROUP_ACCESS,
            Limits::default(),
        )
        .expect("the module loads")
        .from_cache()
}

/// The compiled modules in `dir`.
fn artifacts(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("the cache directory")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension() == Some("cwasm".as_ref()))
        .collect();
    found.sort();
    found
}

/// A cache filled by a first load, which a second load uses.
fn filled_cache(root: &Path, name: &str) -> PathBuf {
    let cache = root.join(name);
    assert!(!load(&cache), "the first load compiles");
    assert!(load(&cache), "a private cache is used");
    assert_eq!(artifacts(&cache).len(), 1);
    cache
}

#[test]
fn a_cache_directory_others_may_write_is_not_used() {
    let root = tempfile::tempdir().expect("a temporary directory");
    for mode in [0o777, 0o775, 0o757] {
        let cache = filled_cache(root.path(), &format!("cache-{mode:o}"));
        let before = std::fs::read(&artifacts(&cache)[0]).expect("the artifact");
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(mode)).expect("chmod");
        assert!(
            !load(&cache),
            "a cache writable by others (mode {mode:o}) must not be loaded from"
        );
        assert_eq!(
            std::fs::read_dir(&cache).expect("the cache").count(),
            1,
            "and nothing is written there"
        );
        assert_eq!(
            std::fs::read(&artifacts(&cache)[0]).expect("the artifact"),
            before
        );
    }
}

#[test]
fn a_cache_directory_of_another_user_is_not_used() {
    let root = tempfile::tempdir().expect("a temporary directory");
    let cache = filled_cache(root.path(), "cache");
    if let Err(error) = std::os::unix::fs::chown(&cache, Some(65534), Some(65534)) {
        eprintln!("not root ({error}): this case needs a directory of another user");
        return;
    }
    assert!(
        !load(&cache),
        "a cache owned by uid 65534 must not be loaded from"
    );
}

#[test]
fn a_symbolic_link_at_a_cached_module_is_not_followed() {
    let root = tempfile::tempdir().expect("a temporary directory");
    let elsewhere = filled_cache(root.path(), "elsewhere");
    let target = artifacts(&elsewhere).remove(0);
    let compiled = std::fs::read(&target).expect("the artifact");
    let cache = root.path().join("cache");
    std::fs::create_dir(&cache).expect("mkdir");
    std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let planted = cache.join(target.file_name().expect("a name"));
    std::os::unix::fs::symlink(&target, &planted).expect("plant a link");

    assert!(!load(&cache), "the module is not loaded through the link");
    let written = std::fs::symlink_metadata(&planted).expect("the cached module");
    assert!(
        written.is_file(),
        "the link was replaced by the compiled module"
    );
    assert_eq!(written.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        std::fs::read(&target).expect("the link's target"),
        compiled,
        "nothing was written through the link"
    );
    assert!(load(&cache), "the cache serves from the file it wrote");
    assert_eq!(
        std::fs::read_dir(&cache).expect("the cache").count(),
        1,
        "no temporary file is left"
    );
}
