//! `wicket policy new <name> --lang rust|python|javascript|c [--dir D]`: a standalone policy
//! project (build script, settings, cases file, README, a test) that builds and passes
//! `wicket policy test` as created. The files are in `templates/`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};

use crate::cli::{Error, Result};

/// The version of `wicket-sdk` and of the `wicket:policy` WIT package a Rust project depends on.
const SDK_VERSION: &str = "0.2.0";
/// The `wicket:policy` contract Python, JavaScript and C projects are built against.
const WIT: &str = include_str!("../../../../wit/policy.wit");
/// The `wicket-sdk` of the checkout this binary was built from, when it is still there.
const BUILT_FROM_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk");

/// Arguments of `wicket policy new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The policy's name: lowercase letters, digits and `-`, starting with a letter.
    name: String,
    /// The language of the policy.
    #[arg(long, value_enum)]
    lang: Language,
    /// Where to create the project; must not exist or be empty [default: ./<name>].
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The `sdk` directory of a Wicket checkout a Rust project depends on by path [default: the
    /// one this `wicket` was built from; without it, `wicket-sdk` from crates.io].
    #[arg(long)]
    sdk: Option<PathBuf>,
}

/// The languages a project can be created in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Language {
    Rust,
    Python,
    Javascript,
    C,
}

/// One file of a project: its path in the project, its text (with `@...@` placeholders) and
/// whether it is a script.
struct File {
    path: &'static str,
    text: &'static str,
    executable: bool,
}

const fn file(path: &'static str, text: &'static str) -> File {
    File {
        path,
        text,
        executable: false,
    }
}

const fn script(path: &'static str, text: &'static str) -> File {
    File {
        path,
        text,
        executable: true,
    }
}

/// The files every project has.
const COMMON: &[File] = &[
    file(
        "settings.json",
        include_str!("templates/common/settings.json"),
    ),
    file("cases.json", include_str!("templates/common/cases.json")),
    file(
        "request.json",
        include_str!("templates/common/request.json"),
    ),
    file(".gitignore", include_str!("templates/common/gitignore")),
];

const RUST: &[File] = &[
    file("Cargo.toml", include_str!("templates/rust/Cargo.toml")),
    file(
        "rust-toolchain.toml",
        include_str!("../../../../rust-toolchain.toml"),
    ),
    file("src/lib.rs", include_str!("templates/rust/lib.rs")),
    file(
        "tests/cases.rs",
        include_str!("templates/rust/cases_test.rs"),
    ),
    file("README.md", include_str!("templates/rust/README.md")),
    script("build.sh", include_str!("templates/rust/build.sh")),
    script("test.sh", include_str!("templates/rust/test.sh")),
];

const PYTHON: &[File] = &[
    file("app.py", include_str!("templates/python/app.py")),
    file("wit/policy.wit", WIT),
    // The same pin as Wicket's examples, so that one installation serves both.
    file(
        "tools/requirements.txt",
        include_str!("../../../../examples/policies/python/requirements.txt"),
    ),
    file("README.md", include_str!("templates/python/README.md")),
    script("build.sh", include_str!("templates/python/build.sh")),
    script("test.sh", include_str!("templates/python/test.sh")),
];

const JAVASCRIPT: &[File] = &[
    file("policy.js", include_str!("templates/javascript/policy.js")),
    file("wit/policy.wit", WIT),
    file(
        "tools/package.json",
        include_str!("../../../../examples/policies/javascript/package.json"),
    ),
    file(
        "tools/package-lock.json",
        include_str!("../../../../examples/policies/javascript/package-lock.json"),
    ),
    file("README.md", include_str!("templates/javascript/README.md")),
    script("build.sh", include_str!("templates/javascript/build.sh")),
    script("test.sh", include_str!("templates/javascript/test.sh")),
];

const C: &[File] = &[
    file("@CRATE@.c", include_str!("templates/c/source.c")),
    file(
        "json.c",
        include_str!("../../../../examples/policies/c/json.c"),
    ),
    file(
        "json.h",
        include_str!("../../../../examples/policies/c/json.h"),
    ),
    file("wit/policy.wit", WIT),
    file("README.md", include_str!("templates/c/README.md")),
    script("build.sh", include_str!("templates/c/build.sh")),
    script("test.sh", include_str!("templates/c/test.sh")),
];

/// Creates the project and prints what it holds and what to run next.
pub fn run(args: &NewArgs) -> Result<ExitCode> {
    check_name(&args.name)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(Error::Invalid(format!(
            "`{}` exists and is not empty",
            dir.display()
        )));
    }
    let sdk = match args.lang {
        Language::Rust => Some(sdk_dependency(args.sdk.as_deref())?),
        _ => None,
    };
    let names = Names::new(&args.name, sdk.as_ref().map(|sdk| sdk.line.as_str()));
    let files = match args.lang {
        Language::Rust => RUST,
        Language::Python => PYTHON,
        Language::Javascript => JAVASCRIPT,
        Language::C => C,
    };
    for file in COMMON.iter().chain(files) {
        write(&dir, file, &names)?;
    }
    println!(
        "created the {} policy `{}` in {}",
        args.lang
            .to_possible_value()
            .map(|value| value.get_name().to_owned())
            .unwrap_or_default(),
        args.name,
        dir.display()
    );
    if let Some(sdk) = sdk {
        // The checkout's lock, which cargo trims to the project's dependencies: the SDK builds
        // with the versions it was tested with, offline if they are downloaded.
        if let Some(lock) = &sdk.lock {
            let to = dir.join("Cargo.lock");
            std::fs::copy(lock, &to).map_err(|source| Error::Write { path: to, source })?;
        }
        println!("wicket-sdk: {} ({})", sdk.line, sdk.source);
    }
    println!("next: cd {} && ./test.sh", dir.display());
    Ok(ExitCode::SUCCESS)
}

/// Names are crate names, file names and part of messages: keep them plain.
fn check_name(name: &str) -> Result<()> {
    let plain = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !plain {
        return Err(Error::Invalid(format!(
            "invalid policy name `{name}`: use lowercase letters, digits and `-`, starting with a letter"
        )));
    }
    let names = Names::new(name, None);
    if RESERVED.contains(&names.krate.as_str()) || RESERVED.contains(&names.ty.as_str()) {
        return Err(Error::Invalid(format!(
            "invalid policy name `{name}`: Rust or the SDK already use that name"
        )));
    }
    Ok(())
}

/// Names a project cannot take: Rust keywords, crates of the standard library, the types a Rust
/// project's `src/lib.rs` names (its policy type is the name in CamelCase), and `json` (a C
/// project's `<name>.c` beside its `json.c`).
const RESERVED: &[&str] = &[
    "abstract",
    "alloc",
    "as",
    "async",
    "await",
    "become",
    "box",
    "break",
    "const",
    "continue",
    "core",
    "crate",
    "do",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "final",
    "fn",
    "for",
    "gen",
    "if",
    "impl",
    "in",
    "json",
    "let",
    "loop",
    "macro",
    "match",
    "mod",
    "move",
    "mut",
    "override",
    "priv",
    "proc_macro",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "std",
    "struct",
    "super",
    "test",
    "trait",
    "true",
    "try",
    "type",
    "typeof",
    "unsafe",
    "unsized",
    "use",
    "virtual",
    "where",
    "while",
    "yield",
    "AccessRequest",
    "Decision",
    "Deserialize",
    "Grant",
    "Identity",
    "Policy",
    "Result",
    "Settings",
    "String",
    "Vec",
];

/// The `wicket-sdk` line of a Rust project's `Cargo.toml`, where it comes from, and the
/// `Cargo.lock` of that checkout, if any.
struct SdkDependency {
    line: String,
    source: &'static str,
    lock: Option<PathBuf>,
}

fn sdk_dependency(chosen: Option<&Path>) -> Result<SdkDependency> {
    if let Some(dir) = chosen {
        let dir = std::fs::canonicalize(dir)
            .ok()
            .filter(|dir| is_sdk(dir))
            .ok_or_else(|| {
                Error::Invalid(format!("`{}` is not a wicket-sdk directory", dir.display()))
            })?;
        return Ok(path_dependency(&dir, "the directory given with --sdk"));
    }
    match std::fs::canonicalize(BUILT_FROM_SDK) {
        Ok(dir) if is_sdk(&dir) => Ok(path_dependency(
            &dir,
            "the checkout this wicket was built from",
        )),
        _ => Ok(SdkDependency {
            line: format!("wicket-sdk = \"{SDK_VERSION}\""),
            source: "crates.io; --sdk <dir> depends on a checkout instead",
            lock: None,
        }),
    }
}

fn path_dependency(dir: &Path, source: &'static str) -> SdkDependency {
    // A TOML basic string: backslashes and quotes escaped.
    let path = dir
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    let lock = dir.parent().map(|checkout| checkout.join("Cargo.lock"));
    SdkDependency {
        line: format!("wicket-sdk = {{ path = \"{path}\" }}"),
        source,
        lock: lock.filter(|lock| lock.is_file()),
    }
}

/// Whether `dir` holds the manifest of `wicket-sdk`.
fn is_sdk(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .is_ok_and(|manifest| manifest.contains("name = \"wicket-sdk\""))
}

/// The values of the placeholders.
struct Names {
    /// `@NAME@`: the policy's name (`on-call`).
    name: String,
    /// `@CRATE@`: as a Rust crate or C file name (`on_call`).
    krate: String,
    /// `@TYPE@`: as a Rust type (`OnCall`).
    ty: String,
    /// `@SDK_DEPENDENCY@`: the `wicket-sdk` line of `Cargo.toml`.
    sdk: String,
}

impl Names {
    fn new(name: &str, sdk: Option<&str>) -> Self {
        let ty = name
            .split('-')
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect();
        Self {
            name: name.to_owned(),
            krate: name.replace('-', "_"),
            ty,
            sdk: sdk.unwrap_or_default().to_owned(),
        }
    }

    fn fill(&self, text: &str) -> String {
        text.replace("@NAME@", &self.name)
            .replace("@CRATE@", &self.krate)
            .replace("@TYPE@", &self.ty)
            .replace("@SDK_VERSION@", SDK_VERSION)
            .replace("@SDK_DEPENDENCY@", &self.sdk)
    }
}

fn write(dir: &Path, file: &File, names: &Names) -> Result<()> {
    let path = dir.join(names.fill(file.path));
    let failed = |source| Error::Write {
        path: path.clone(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(failed)?;
    }
    std::fs::write(&path, names.fill(file.text)).map_err(failed)?;
    #[cfg(unix)]
    if file.executable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).map_err(failed)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::one_word("oncall", "oncall", "Oncall")]
    #[case::words("on-call-2", "on_call_2", "OnCall2")]
    fn names_become_crate_and_type_names(
        #[case] name: &str,
        #[case] krate: &str,
        #[case] ty: &str,
    ) {
        let names = Names::new(name, None);
        assert_eq!((names.krate.as_str(), names.ty.as_str()), (krate, ty));
    }

    #[rstest]
    #[case::upper("OnCall")]
    #[case::digit_first("1policy")]
    #[case::path("../x")]
    #[case::underscore("on_call")]
    #[case::trailing_dash("on-")]
    #[case::empty("")]
    #[case::keyword("fn")]
    #[case::std_crate("core")]
    #[case::sdk_type("policy")]
    #[case::sdk_type_in_words("access-request")]
    #[case::c_json_reader("json")]
    fn names_that_are_not_plain_are_refused(#[case] name: &str) {
        let error = check_name(name).unwrap_err().one_line();
        assert!(error.starts_with("invalid policy name"), "{error}");
    }

    #[test]
    fn the_sdk_version_is_the_sdk_crate_s_and_the_wit_package_s() {
        let manifest = include_str!("../../../../sdk/Cargo.toml");
        assert!(
            manifest.contains(&format!("\nversion = \"{SDK_VERSION}\"\n")),
            "sdk/Cargo.toml"
        );
        let wit = include_str!("../../../../wit/policy.wit");
        assert!(
            wit.contains(&format!("package wicket:policy@{SDK_VERSION};")),
            "wit/policy.wit"
        );
    }

    #[test]
    fn the_sdk_is_a_path_dependency_on_a_checkout_with_its_lock() {
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let sdk = sdk_dependency(Some(&checkout.join("sdk"))).unwrap();
        let dir = checkout.join("sdk").canonicalize().unwrap();
        assert_eq!(
            sdk.line,
            format!("wicket-sdk = {{ path = \"{}\" }}", dir.display())
        );
        assert_eq!(sdk.lock, Some(dir.parent().unwrap().join("Cargo.lock")));

        let elsewhere = tempfile::tempdir().unwrap();
        let error = sdk_dependency(Some(elsewhere.path()))
            .err()
            .unwrap()
            .one_line();
        assert!(error.ends_with("is not a wicket-sdk directory"), "{error}");
    }

    #[test]
    fn a_non_empty_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
        let args = NewArgs {
            name: "on-call".into(),
            lang: Language::Python,
            dir: Some(dir.path().to_owned()),
            sdk: None,
        };
        let error = run(&args).unwrap_err().one_line();
        assert!(error.ends_with("exists and is not empty"), "{error}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("keep.txt")).unwrap(),
            "mine"
        );
    }
}
