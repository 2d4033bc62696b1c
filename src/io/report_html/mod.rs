//! `report.html`: one self-contained page a person opens beside the Parquet outputs (a topic map,
//! topic sizes, topics over time, the topic tree, a table of topics, the run's configuration and
//! timings). The data travels inside the page as JSON; `page.js` draws it with inline SVG. Nothing
//! is fetched: the page's content security policy forbids every request.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};

use super::atomic::AtomicFile;
use super::publish::Staged;
use super::WriteError;
use crate::topics::hierarchy::Node;
use crate::topics::over_time::{iso_day, Period};
use crate::topics::Topic;

const CSS: &str = include_str!("page.css");
const BODY: &str = include_str!("body.html");
const JS: &str = include_str!("page.js");

/// Keywords and representative titles per topic the page shows, and how long a title may be.
const KEYWORDS: usize = 8;
const TITLES: usize = 3;
const TITLE_CHARS: usize = 140;
/// (topic, period) cells the page carries at most: the largest topics' cells, whole, up to this.
pub const MAX_CELLS: usize = 20_000;

/// What the report shows. `titles[i]` are topic `i`'s representative titles (nearest first),
/// `positions[i]` its place on the map; `periods` is `None` when the documents have no date
/// column (and empty when none of their dates could be read); `run` is `run.json`'s content.
pub struct ReportInput<'a> {
    pub topics: &'a [Topic],
    pub titles: &'a [Vec<String>],
    pub positions: &'a [[f32; 2]],
    pub nodes: &'a [Node],
    pub periods: Option<&'a [Period]>,
    pub run: &'a Value,
}

/// The page, whole.
pub fn render(input: &ReportInput<'_>) -> String {
    let data = script_safe(&data(input).to_string());
    let mut page = String::with_capacity(CSS.len() + BODY.len() + JS.len() + data.len() + 1024);
    page.push_str(concat!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; ",
        "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
        "<title>newsclust report</title>\n<style>\n"
    ));
    page.push_str(CSS);
    page.push_str("</style>\n</head>\n<body>\n");
    page.push_str(BODY);
    page.push_str("<script type=\"application/json\" id=\"data\">");
    page.push_str(&data);
    page.push_str("</script>\n<script>\n");
    page.push_str(JS);
    page.push_str("</script>\n</body>\n</html>\n");
    page
}

/// Stages the page at `path` (published with the other outputs).
pub fn write_report(
    path: &Path,
    input: &ReportInput<'_>,
    staged: &mut Staged,
) -> Result<(), WriteError> {
    let (guard, mut file) = AtomicFile::create(path).map_err(|e| WriteError::new(path, e))?;
    file.write_all(render(input).as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| WriteError::new(path, e))?;
    staged.push(guard);
    Ok(())
}

/// JSON that may stand inside a `<script>` element: no `<`, `>` or `&` (so no `</script>` or
/// `<!--` in a title ends it early) and no line or paragraph separator, each written as its
/// `\uXXXX` escape. They only occur inside JSON strings, where the escape means the same.
fn script_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len() + json.len() / 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

fn round(x: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    if x.is_finite() {
        (x * scale).round() / scale
    } else {
        0.0
    }
}

/// At most `chars` characters of `text`, an ellipsis where it was cut.
pub fn cut(text: &str, chars: usize) -> String {
    let text = text.trim();
    match text.char_indices().nth(chars) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", text[..end].trim_end()),
    }
}

fn data(input: &ReportInput<'_>) -> Value {
    let topics: Vec<Value> = input
        .topics
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let [x, y] = input.positions.get(i).copied().unwrap_or_default();
            let titles: Vec<String> = input
                .titles
                .get(i)
                .map(|v| v.iter().take(TITLES).map(|s| cut(s, TITLE_CHARS)).collect())
                .unwrap_or_default();
            json!({
                "id": t.id,
                "label": t.label,
                "theme": t.theme,
                "phrase": t.phrase,
                "keywords": &t.keywords[..t.keywords.len().min(KEYWORDS)],
                "size": t.size,
                "share": round(t.share, 6),
                "x": round(x as f64, 5),
                "y": round(y as f64, 5),
                "titles": titles,
            })
        })
        .collect();
    let tree: Vec<Value> = input
        .nodes
        .iter()
        .map(|n| {
            let leaf = n.children.is_empty();
            json!({
                "id": n.id,
                "parent": n.parent,
                "children": n.children,
                "distance": round(n.distance, 6),
                "size": n.size,
                "label": n.label,
                "topic": if leaf { n.topic_ids.first().copied() } else { None },
            })
        })
        .collect();
    json!({
        "topics": topics,
        "tree": tree,
        "over_time": input.periods.map(|p| over_time(input.topics, p)),
        "run": input.run,
    })
}

/// The periods' starts (days since 1970 and ISO dates) and the cells `[topic, period index,
/// count, share, keywords]` of the largest topics, up to [`MAX_CELLS`].
fn over_time(topics: &[Topic], periods: &[Period]) -> Value {
    let mut starts: Vec<i64> = periods.iter().map(|p| p.start).collect();
    starts.sort_unstable();
    starts.dedup();
    let mut cells_of: std::collections::BTreeMap<usize, Vec<&Period>> = Default::default();
    for p in periods {
        cells_of.entry(p.topic).or_default().push(p);
    }
    let mut by_size: Vec<&Topic> = topics.iter().collect();
    by_size.sort_by(|a, b| b.size.cmp(&a.size).then(a.id.cmp(&b.id)));
    let (mut cells, mut shown, mut left_out) = (Vec::new(), Vec::new(), 0usize);
    for t in by_size {
        let Some(own) = cells_of.get(&t.id) else {
            continue;
        };
        if cells.len() + own.len() > MAX_CELLS {
            left_out += 1;
            continue;
        }
        shown.push(t.id);
        for p in own {
            let at = starts.binary_search(&p.start).unwrap_or_default();
            let keywords: Vec<&str> = p.keywords.iter().take(3).map(String::as_str).collect();
            cells.push(json!([
                t.id,
                at,
                p.count,
                round(p.share, 5),
                keywords.join(", ")
            ]));
        }
    }
    json!({
        "days": starts,
        "starts": starts.iter().map(|&d| iso_day(d)).collect::<Vec<_>>(),
        "cells": cells,
        "topics_left_out": left_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_end_its_script_element() {
        let json = serde_json::to_string(&json!({"t": "a</script><b>x</b>&\u{2028}"})).unwrap();
        let safe = script_safe(&json);
        assert!(!safe.contains('<') && !safe.contains('>') && !safe.contains('&'));
        let back: Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back["t"], "a</script><b>x</b>&\u{2028}");
    }

    #[test]
    fn the_page_parts_hold_no_closing_tag_of_their_element() {
        assert!(!JS.to_ascii_lowercase().contains("</script"));
        assert!(!CSS.to_ascii_lowercase().contains("</style"));
        // No request leaves the page: nothing names another origin (the SVG namespace is a
        // name, not an address).
        let js = JS.replace("http://www.w3.org/2000/svg", "");
        for part in [CSS, BODY, js.as_str()] {
            assert!(!part.contains("http:") && !part.contains("https:") && !part.contains("//cdn"));
        }
        assert!(
            !JS.contains("fetch(") && !JS.contains("XMLHttpRequest") && !JS.contains("import(")
        );
    }

    #[test]
    fn titles_are_cut_at_a_character_with_an_ellipsis() {
        assert_eq!(cut("  short  ", 10), "short");
        assert_eq!(cut("ééééé ééééé", 6), "ééééé…");
        assert_eq!(cut("abc", 3), "abc");
    }
}
