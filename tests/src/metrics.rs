//! A strict reader of the Prometheus text format (version 0.0.4), as a scraper parses
//! `/metrics`: every sample belongs to a family declared by `# TYPE` before it, names and labels
//! are well formed, values are numbers, and a histogram's buckets are cumulative and end with
//! `+Inf` equal to its `_count`.

use std::collections::BTreeMap;

/// One sample: `name{labels} value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's name (with `_total`, `_bucket`, ... as written).
    pub name: String,
    /// Its labels, unescaped.
    pub labels: BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// A parsed exposition: the declared type of each family and every sample in order.
#[derive(Debug, Default)]
pub struct Exposition {
    /// Family name → `counter`, `gauge`, `histogram`, ...
    pub types: BTreeMap<String, String>,
    /// Every sample.
    pub samples: Vec<Sample>,
}

impl Exposition {
    /// The value of the sample `name` whose labels are exactly `labels`.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|s| s.value)
    }
}

fn is_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn number(text: &str) -> Result<f64, String> {
    match text {
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        "NaN" => Ok(f64::NAN),
        _ => text
            .parse()
            .map_err(|_| format!("`{text}` is not a number")),
    }
}

/// `{a="x",b="y"}` (the braces included) → labels and the rest of the line.
fn labels(text: &str) -> Result<(BTreeMap<String, String>, &str), String> {
    let mut labels = BTreeMap::new();
    let mut rest = &text[1..];
    loop {
        rest = rest.trim_start_matches(',');
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((labels, after));
        }
        let (key, after) = rest
            .split_once("=\"")
            .ok_or_else(|| format!("a label without `=\"` in `{text}`"))?;
        if !is_name(key) || key.starts_with("__") {
            return Err(format!("`{key}` is not a label name"));
        }
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    _ => return Err(format!("a bad escape in `{text}`")),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => return Err(format!("an unterminated label value in `{text}`")),
            }
        };
        if labels.insert(key.to_owned(), value).is_some() {
            return Err(format!("the label `{key}` twice in `{text}`"));
        }
        rest = &after[end + 1..];
        if !rest.starts_with(',') && !rest.starts_with('}') {
            return Err(format!("labels not separated by `,` in `{text}`"));
        }
    }
}

/// The family a sample `name` belongs to, given the declared families.
fn family_of<'a>(name: &'a str, types: &BTreeMap<String, String>) -> Option<&'a str> {
    if types.contains_key(name) {
        return Some(name);
    }
    ["_bucket", "_sum", "_count"]
        .iter()
        .filter_map(|suffix| name.strip_suffix(suffix))
        .find(|base| types.get(*base).is_some_and(|t| t == "histogram"))
}

/// Parses `text`, refusing anything a strict scraper would.
pub fn parse(text: &str) -> Result<Exposition, String> {
    let mut exposition = Exposition::default();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            if let Some(rest) = comment.strip_prefix("TYPE ") {
                let (name, kind) = rest
                    .split_once(' ')
                    .ok_or_else(|| format!("a bad TYPE line `{line}`"))?;
                if !is_name(name) {
                    return Err(format!("`{name}` is not a metric name"));
                }
                if !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind) {
                    return Err(format!("`{kind}` is not a metric type"));
                }
                if exposition
                    .types
                    .insert(name.to_owned(), kind.to_owned())
                    .is_some()
                {
                    return Err(format!("`{name}` declared twice"));
                }
            } else if let Some(rest) = comment.strip_prefix("HELP ") {
                let name = rest.split(' ').next().unwrap_or_default();
                if !is_name(name) {
                    return Err(format!("`{name}` is not a metric name"));
                }
            }
            continue;
        }
        let end = line
            .find(['{', ' '])
            .ok_or_else(|| format!("no value in `{line}`"))?;
        let name = &line[..end];
        if !is_name(name) {
            return Err(format!("`{name}` is not a metric name"));
        }
        let (labels, rest) = if line[end..].starts_with('{') {
            labels(&line[end..])?
        } else {
            (BTreeMap::new(), &line[end..])
        };
        let value = rest
            .strip_prefix(' ')
            .ok_or_else(|| format!("no space before the value in `{line}`"))?;
        let value = number(value.split(' ').next().unwrap_or_default())?;
        if family_of(name, &exposition.types).is_none() {
            return Err(format!("`{name}` has no `# TYPE` before it"));
        }
        exposition.samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    check_histograms(&exposition)?;
    Ok(exposition)
}

/// Every histogram's buckets are cumulative and its `+Inf` bucket is its count.
fn check_histograms(exposition: &Exposition) -> Result<(), String> {
    for (family, _) in exposition.types.iter().filter(|(_, t)| *t == "histogram") {
        let bucket = format!("{family}_bucket");
        let mut last = 0.0;
        let mut infinite = None;
        for sample in exposition.samples.iter().filter(|s| s.name == bucket) {
            if sample.value < last {
                return Err(format!("`{family}` buckets are not cumulative"));
            }
            last = sample.value;
            if sample.labels.get("le").map(String::as_str) == Some("+Inf") {
                infinite = Some(sample.value);
            }
        }
        let count = exposition.value(&format!("{family}_count"), &[]);
        if infinite.is_none() || infinite != count {
            return Err(format!(
                "`{family}`: the `+Inf` bucket {infinite:?} is not the count {count:?}"
            ));
        }
    }
    Ok(())
}

/// Bounds on a histogram's quantile `q` from its buckets: the smallest `le` whose bucket holds
/// at least `q` of the count (`+Inf` when only the last does).
pub fn quantile_bound(exposition: &Exposition, family: &str, q: f64) -> Option<f64> {
    let count = exposition.value(&format!("{family}_count"), &[])?;
    let bucket = format!("{family}_bucket");
    exposition
        .samples
        .iter()
        .filter(|s| s.name == bucket)
        .find(|s| s.value >= q * count)
        .and_then(|s| number(s.labels.get("le")?).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_well_formed_exposition() {
        let text = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\\n\"} 3\n\
                    # TYPE h histogram\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 0.3\nh_count 2\n";
        let parsed = parse(text).unwrap();
        assert_eq!(parsed.value("a_total", &[("x", "q\"\n")]), Some(3.0));
        assert_eq!(quantile_bound(&parsed, "h", 0.5), Some(0.1));
        assert_eq!(quantile_bound(&parsed, "h", 0.99), Some(f64::INFINITY));
    }

    #[test]
    fn refuses_what_a_scraper_would() {
        for bad in [
            "a 1\n",
            "# TYPE a counter\na{x=\"1\" 1\n",
            "# TYPE a counter\na{x=\"1\"} one\n",
            "# TYPE a counter\na{x=\"1\",x=\"2\"} 1\n",
            "# TYPE a counter\n# TYPE a counter\n",
            "# TYPE a counter\n1a 1\n",
            "# TYPE h histogram\nh_bucket{le=\"0.1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",
            "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n",
        ] {
            assert!(parse(bad).is_err(), "accepted:\n{bad}");
        }
    }
}
