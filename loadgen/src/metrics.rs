//! A server's Prometheus metrics as `/metrics` gives them (the text format): a sample's value,
//! and a histogram's quantile the way Prometheus's `histogram_quantile` computes it.

/// One sample line: `name{label="value",…} value [timestamp]`.
#[derive(Debug, Clone, PartialEq)]
struct Sample<'a> {
    name: &'a str,
    labels: Vec<(&'a str, String)>,
    value: f64,
}

impl Sample<'_> {
    fn has_labels(&self, wanted: &[(&str, &str)]) -> bool {
        wanted.iter().all(|(k, v)| {
            self.labels
                .iter()
                .any(|(key, value)| key == k && value == v)
        })
    }

    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// The samples of `text`, skipping comments, blank lines and lines that do not parse.
fn samples(text: &str) -> impl Iterator<Item = Sample<'_>> {
    text.lines().filter_map(|line| parse_line(line.trim()))
}

fn parse_line(line: &str) -> Option<Sample<'_>> {
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let name_end = line.find(|c: char| c == '{' || c.is_whitespace())?;
    let name = &line[..name_end];
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let (parsed, after) = parse_labels(inner)?;
        labels = parsed;
        rest = after;
    }
    let value = parse_value(rest.split_whitespace().next()?)?;
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// `key="value",…}` and what follows the closing brace.
fn parse_labels(mut text: &str) -> Option<(Vec<(&str, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        text = text.trim_start_matches([',', ' ']);
        if let Some(after) = text.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, after_key) = text.split_once('=')?;
        let (value, after_value) = unquote(after_key.trim_start().strip_prefix('"')?)?;
        labels.push((key.trim(), value));
        text = after_value;
    }
}

/// A label's value up to its closing quote, unescaped, and what follows the quote.
fn unquote(text: &str) -> Option<(String, &str)> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((value, &text[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => value.push('\n'),
                other => value.push(other),
            },
            c => value.push(c),
        }
    }
    None
}

fn parse_value(text: &str) -> Option<f64> {
    match text {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        other => other.parse().ok(),
    }
}

/// The sum of the samples named `name` that carry every label of `labels`, over the values of
/// the labels not given (a follower's series over the shards, say); `None` when there is
/// none.
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples(text)
        .filter(|s| s.name == name && s.has_labels(labels))
        .map(|s| s.value)
        .reduce(|a, b| a + b)
}

/// A histogram's cumulative buckets, summed over its label sets.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// (upper bound, observations at or below it), by bound, the last at `+Inf`.
    buckets: Vec<(f64, f64)>,
}

impl Histogram {
    /// The histogram `name` (its `<name>_bucket` samples); `None` when it has no buckets.
    pub fn read(text: &str, name: &str) -> Option<Self> {
        let bucket = format!("{name}_bucket");
        let mut buckets: Vec<(f64, f64)> = Vec::new();
        for sample in samples(text).filter(|s| s.name == bucket) {
            let Some(le) = sample.label("le").and_then(parse_value) else {
                continue;
            };
            match buckets.iter_mut().find(|(bound, _)| *bound == le) {
                Some((_, count)) => *count += sample.value,
                None => buckets.push((le, sample.value)),
            }
        }
        if buckets.is_empty() {
            return None;
        }
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        Some(Self { buckets })
    }

    /// Observations in all.
    pub fn count(&self) -> f64 {
        self.buckets.last().map_or(0.0, |(_, count)| *count)
    }

    /// The `q` quantile (0 to 1), interpolated linearly within the bucket it falls in, as
    /// Prometheus's `histogram_quantile` does: the first bucket starts at 0, and a quantile in
    /// the `+Inf` bucket is the largest finite bound. `None` without observations.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total <= 0.0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * total;
        let (mut lower, mut below) = (0.0, 0.0);
        for &(upper, count) in &self.buckets {
            if count >= rank {
                if upper.is_infinite() {
                    return Some(lower);
                }
                let within = count - below;
                if within <= 0.0 {
                    return Some(upper);
                }
                return Some(lower + (upper - lower) * (rank - below) / within);
            }
            (lower, below) = (upper, count);
        }
        Some(lower)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP relay_commit_to_ack_seconds From an event's commit to its JetStream acknowledgement
# TYPE relay_commit_to_ack_seconds histogram
relay_commit_to_ack_seconds_bucket{le="0.01"} 0
relay_commit_to_ack_seconds_bucket{le="0.02"} 50
relay_commit_to_ack_seconds_bucket{le="0.05"} 90
relay_commit_to_ack_seconds_bucket{le="0.1"} 100
relay_commit_to_ack_seconds_bucket{le="+Inf"} 100
relay_commit_to_ack_seconds_sum 2.5
relay_commit_to_ack_seconds_count 100
# TYPE relay_published_total counter
relay_published_total 100
relay_lag_events{relay="relay",shard="default"} 0
relay_lag_events{relay="relay",shard="s2"} 2
relay_lag_events{relay="other, \"quoted\"",shard="default"} 7
"#;

    #[test]
    fn a_quantile_is_interpolated_within_its_bucket() {
        let histogram = Histogram::read(TEXT, "relay_commit_to_ack_seconds").unwrap();
        assert_eq!(histogram.count(), 100.0);
        // rank 99 of 100 lies 9/10 of the way through the bucket 0.05-0.1
        let p99 = histogram.quantile(0.99).unwrap();
        assert!((p99 - 0.095).abs() < 1e-12, "{p99}");
        // rank 50 is the top of the bucket 0.01-0.02
        assert!((histogram.quantile(0.5).unwrap() - 0.02).abs() < 1e-12);
        // rank 25 is half-way through it
        assert!((histogram.quantile(0.25).unwrap() - 0.015).abs() < 1e-12);
    }

    #[test]
    fn the_first_bucket_starts_at_zero_and_the_infinite_one_ends_at_the_largest_bound() {
        let text = "h_bucket{le=\"0.1\"} 10\nh_bucket{le=\"1\"} 10\nh_bucket{le=\"+Inf\"} 20\n";
        let histogram = Histogram::read(text, "h").unwrap();
        assert!((histogram.quantile(0.25).unwrap() - 0.05).abs() < 1e-12);
        assert_eq!(histogram.quantile(0.99), Some(1.0));
    }

    #[test]
    fn an_empty_or_missing_histogram_has_no_quantile() {
        let text = "h_bucket{le=\"0.1\"} 0\nh_bucket{le=\"+Inf\"} 0\n";
        assert_eq!(Histogram::read(text, "h").unwrap().quantile(0.99), None);
        assert_eq!(Histogram::read(TEXT, "missing"), None);
    }

    #[test]
    fn label_sets_of_one_histogram_are_summed() {
        let text = "h_bucket{x=\"a\",le=\"1\"} 1\nh_bucket{x=\"a\",le=\"+Inf\"} 1\n\
                    h_bucket{x=\"b\",le=\"1\"} 2\nh_bucket{x=\"b\",le=\"+Inf\"} 3\n";
        let histogram = Histogram::read(text, "h").unwrap();
        assert_eq!(histogram.count(), 4.0);
        assert_eq!(histogram.quantile(0.99), Some(1.0));
    }

    #[test]
    fn values_are_read_by_name_and_labels() {
        assert_eq!(value(TEXT, "relay_published_total", &[]), Some(100.0));
        assert_eq!(
            value(
                TEXT,
                "relay_lag_events",
                &[("relay", "relay"), ("shard", "default")]
            ),
            Some(0.0)
        );
        assert_eq!(
            value(TEXT, "relay_lag_events", &[("relay", "relay")]),
            Some(2.0),
            "summed over the shards"
        );
        assert_eq!(
            value(TEXT, "relay_lag_events", &[("relay", "other, \"quoted\"")]),
            Some(7.0)
        );
        assert_eq!(value(TEXT, "relay_lag_events", &[]), Some(9.0));
        assert_eq!(value(TEXT, "relay_lag_seconds", &[]), None);
        assert_eq!(
            value("x 1.5e3 1700000000000\n", "x", &[]),
            Some(1_500.0),
            "a timestamp after the value is ignored"
        );
    }
}
