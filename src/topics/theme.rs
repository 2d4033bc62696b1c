//! Themes: the kinds of change a reader follows ("alliance changes", "chip supply", "layoffs"),
//! each a short name and a one-line description. The built-in list is `vocab/themes.txt`; a
//! user's file has the same `name: description` lines. A topic takes the theme whose embedded
//! description is most similar to its centroid, when the cosine similarity reaches a threshold.

use std::collections::HashMap;

use super::{Encoder, NameError};
use crate::matrix::{dot, Matrix};

/// Words in a theme name at most (a label has 4).
pub const MAX_NAME_WORDS: usize = 3;

/// The cosine similarity a theme needs, calibrated by hand on judged topics (README: "Themes").
pub const DEFAULT_THRESHOLD: f32 = 0.28;

/// One theme.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Theme {
    pub name: String,
    pub description: String,
}

/// What is wrong with a theme file, and on which line (1-based; 0: the file as a whole).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{}{problem}", if *.line > 0 { format!("line {}: ", .line) } else { String::new() })]
pub struct ThemeError {
    pub line: usize,
    pub problem: String,
}

/// A checked list of themes: at least one, names unique (ignoring case), each with a
/// description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Themes(Vec<Theme>);

impl Themes {
    /// The built-in themes.
    pub fn builtin() -> Self {
        Self::parse(include_str!("vocab/themes.txt")).expect("the built-in themes parse")
    }

    /// Parses `name: description` lines; blank lines and `#` comments are skipped.
    pub fn parse(text: &str) -> Result<Self, ThemeError> {
        let mut themes = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for (n, raw) in text.lines().enumerate() {
            let line = n + 1;
            let err = |problem: String| ThemeError { line, problem };
            let body = raw.split('#').next().unwrap_or("").trim();
            if body.is_empty() {
                continue;
            }
            let Some((name, description)) = body.split_once(':') else {
                return Err(err(format!("expected `name: description`, found {body:?}")));
            };
            let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
            let description = description.trim();
            if name.is_empty() {
                return Err(err("the theme has no name before `:`".into()));
            }
            if description.is_empty() {
                return Err(err(format!("theme {name:?} has no description after `:`")));
            }
            if name.split(' ').count() > MAX_NAME_WORDS {
                return Err(err(format!(
                    "theme name {name:?} has more than {MAX_NAME_WORDS} words"
                )));
            }
            if let Some(first) = seen.insert(name.to_lowercase(), line) {
                return Err(err(format!("theme {name:?} is already on line {first}")));
            }
            themes.push(Theme {
                name,
                description: description.to_string(),
            });
        }
        if themes.is_empty() {
            return Err(ThemeError {
                line: 0,
                problem: "no themes: the file has no `name: description` line".into(),
            });
        }
        Ok(Self(themes))
    }

    pub fn list(&self) -> &[Theme] {
        &self.0
    }
}

/// Themes ready to match: their embedded descriptions and the threshold.
pub struct ThemeMatcher {
    pub themes: Themes,
    /// One unit-length row per theme: "name: description" embedded.
    pub vectors: Matrix,
    pub threshold: f32,
}

impl ThemeMatcher {
    pub fn new(themes: Themes, encoder: &dyn Encoder, threshold: f32) -> Result<Self, NameError> {
        let texts: Vec<String> = themes
            .list()
            .iter()
            .map(|t| format!("{}: {}", t.name, t.description))
            .collect();
        let vectors = encoder.encode(&texts).map_err(|source| NameError::Encode {
            what: "themes",
            source,
        })?;
        Ok(Self {
            themes,
            vectors,
            threshold,
        })
    }

    /// The most similar theme to each topic centroid and its similarity, whether or not it
    /// passes the threshold ([`Self::pick`] applies it).
    pub fn nearest(&self, centroids: &Matrix) -> Vec<(usize, f32)> {
        (0..centroids.rows())
            .map(|t| {
                (0..self.vectors.rows())
                    .map(|j| (j, dot(centroids.row(t), self.vectors.row(j))))
                    .fold((0, f32::NEG_INFINITY), |b, x| if x.1 > b.1 { x } else { b })
            })
            .collect()
    }

    /// Each topic's theme name and similarity, when it reaches the threshold.
    pub fn pick(&self, centroids: &Matrix) -> Vec<Option<(String, f32)>> {
        self.nearest(centroids)
            .into_iter()
            .map(|(j, sim)| {
                (sim >= self.threshold).then(|| (self.themes.list()[j].name.clone(), sim))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_list_parses() {
        let t = Themes::builtin();
        assert!(t.list().len() >= 20);
        assert!(t.list().iter().any(|x| x.name == "chip supply"));
    }

    #[test]
    fn bad_files_name_the_line() {
        let e = Themes::parse("# mine\nlayoffs: jobs cut\n\nno colon here\n").unwrap_err();
        assert_eq!(e.line, 4);
        assert!(
            e.to_string()
                .starts_with("line 4: expected `name: description`"),
            "{e}"
        );
        let e = Themes::parse("layoffs: jobs cut\nLayoffs: again\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: theme \"Layoffs\" is already on line 1"
        );
        let e = Themes::parse("# only comments\n\n").unwrap_err();
        assert_eq!(e.line, 0);
        assert!(e.to_string().starts_with("no themes"), "{e}");
        assert_eq!(Themes::parse("chips:\n").unwrap_err().line, 1);
        assert_eq!(Themes::parse(": jobs\n").unwrap_err().line, 1);
        assert_eq!(
            Themes::parse("one two three four: x\n").unwrap_err().line,
            1
        );
        let ok = Themes::parse("chip  supply : fabs and foundries # note\n").unwrap();
        assert_eq!(ok.list()[0].name, "chip supply");
        assert_eq!(ok.list()[0].description, "fabs and foundries");
    }
}
