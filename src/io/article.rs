//! The article record, where it came from, how its fields map to input columns, and the text embedded.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::{InputColumns, ReadError};

/// One input record that can be embedded.
#[derive(Clone, Debug, PartialEq)]
pub struct Article {
    /// 0-based position of the record in the input (bad records included).
    pub position: u64,
    pub location: Location,
    /// The id column's value, or (none or empty) one newsclust makes: `#` and `position`
    /// (`made_up_id`).
    pub id: String,
    /// The record had no id: `id` was made from its position.
    pub made_up_id: bool,
    pub title: String,
    pub text: String,
    pub date: Option<String>,
    pub label: Option<String>,
    /// Values of [`InputColumns::extra`], in that order.
    pub extra: Vec<Option<String>>,
}

/// Where a record sits in its file: a 1-based line (CSV, JSONL) or a 0-based row (Parquet).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    Line(u64),
    Row(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Row(n) => write!(f, "row {n}"),
        }
    }
}

/// A record that was skipped, with the reason.
#[derive(Clone, Debug, PartialEq)]
pub struct BadRecord {
    pub path: PathBuf,
    pub location: Location,
    pub reason: String,
}

impl fmt::Display for BadRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.path.display(),
            self.location,
            self.reason
        )
    }
}

/// The article fields an input column can fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Field {
    Id,
    Title,
    Text,
    Date,
    Label,
}

impl Field {
    pub const ALL: [Field; 5] = [
        Field::Id,
        Field::Title,
        Field::Text,
        Field::Date,
        Field::Label,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::Title => "title",
            Field::Text => "text",
            Field::Date => "date",
            Field::Label => "label",
        }
    }
}

impl FromStr for Field {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Field::ALL
            .into_iter()
            .find(|f| f.name() == s.trim())
            .ok_or_else(|| {
                format!("unknown field '{s}': expected one of id, title, text, date, label")
            })
    }
}

/// `FIELD=COLUMN`, as given to `--field` (for example `text=description`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldOverride {
    pub field: Field,
    pub column: String,
}

impl FromStr for FieldOverride {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (field, column) = s
            .split_once('=')
            .ok_or_else(|| format!("expected FIELD=COLUMN, got '{s}'"))?;
        let column = column.trim();
        if column.is_empty() {
            return Err(format!("empty column name in '{s}'"));
        }
        Ok(Self {
            field: field.parse()?,
            column: column.to_string(),
        })
    }
}

/// Which input column fills each field (by default the column named like the field).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FieldMap {
    overrides: Vec<FieldOverride>,
}

impl FieldMap {
    pub fn new(overrides: Vec<FieldOverride>) -> Self {
        Self { overrides }
    }

    /// The column name that fills `field`.
    pub fn column(&self, field: Field) -> &str {
        self.overrides
            .iter()
            .rev()
            .find(|o| o.field == field)
            .map(|o| o.column.as_str())
            .unwrap_or(field.name())
    }

    fn overridden(&self, field: Field) -> bool {
        self.overrides.iter().any(|o| o.field == field)
    }

    /// Is `name` a column this map knows by name (a field's default or an override's column)?
    pub fn knows(&self, name: &str) -> bool {
        Field::ALL.iter().any(|f| f.name() == name)
            || self.overrides.iter().any(|o| o.column == name)
    }
}

/// The positions of the field columns among an input's columns, and which columns pass through.
#[derive(Clone, Debug)]
pub(crate) struct ColumnPlan {
    index: [Option<usize>; 5],
    extra: Vec<usize>,
    pub columns: InputColumns,
}

impl ColumnPlan {
    /// Matches `names` (the input's columns, in order) against `fields`. Columns named `_` are ignored.
    pub fn new(path: &Path, names: &[String], fields: &FieldMap) -> Result<Self, ReadError> {
        let path = path.to_path_buf();
        // Two columns of one name: which one a field means is unclear, and passed through they
        // would make an output that pandas and pyarrow refuse to read.
        for (i, name) in names.iter().enumerate() {
            if name == "_" || name.is_empty() {
                continue;
            }
            if let Some(j) = names[i + 1..].iter().position(|n| n == name) {
                return Err(ReadError::DuplicateColumn {
                    path,
                    name: name.clone(),
                    first: i + 1,
                    second: i + j + 2,
                });
            }
        }
        let mut index = [None; 5];
        for (slot, field) in Field::ALL.into_iter().enumerate() {
            let wanted = fields.column(field);
            index[slot] = names.iter().position(|n| n == wanted);
            if index[slot].is_none() && fields.overridden(field) {
                return Err(ReadError::NoSuchColumn {
                    path,
                    field: field.name(),
                    wanted: wanted.to_string(),
                    columns: names.to_vec(),
                });
            }
        }
        if index[1].is_none() && index[2].is_none() {
            return Err(ReadError::NothingToEmbed {
                path,
                title: fields.column(Field::Title).to_string(),
                text: fields.column(Field::Text).to_string(),
                columns: names.to_vec(),
            });
        }
        let used: Vec<usize> = index.iter().flatten().copied().collect();
        let extra: Vec<usize> = (0..names.len())
            .filter(|i| !used.contains(i) && names[*i] != "_" && !names[*i].is_empty())
            .collect();
        // A passed-through column named like an output column is renamed `input_…`; that name
        // must not be another passed-through column's.
        for &i in &extra {
            let out = super::format::columns::output_name(&names[i]);
            if out != names[i] && extra.iter().any(|&j| names[j] == out) {
                return Err(ReadError::RenamedColumnTaken {
                    path,
                    name: names[i].clone(),
                    renamed: out,
                });
            }
        }
        let columns = InputColumns {
            has_date: index[3].is_some(),
            has_label: index[4].is_some(),
            extra: extra.iter().map(|&i| names[i].clone()).collect(),
        };
        Ok(Self {
            index,
            extra,
            columns,
        })
    }

    /// Builds the article from a record, `value(i)` giving column `i` as text (None when null).
    pub fn article(
        &self,
        position: u64,
        location: Location,
        mut value: impl FnMut(usize) -> Option<String>,
    ) -> Article {
        let mut get = |slot: usize| self.index[slot].and_then(&mut value);
        // Empty when the record has none: the reader numbers it by its place in the whole input.
        let id = get(0).map(|s| s.trim().to_string()).unwrap_or_default();
        let title = get(1).unwrap_or_default();
        let text = get(2).unwrap_or_default();
        let date = get(3).filter(|s| !s.trim().is_empty());
        let label = get(4).filter(|s| !s.trim().is_empty());
        let extra = self.extra.iter().map(|&i| value(i)).collect();
        Article {
            position,
            location,
            id,
            made_up_id: false,
            title,
            text,
            date,
            label,
            extra,
        }
    }
}

/// What text is embedded for an article: the chosen fields, trimmed, the empty ones left out,
/// joined by `separator`. The default is `title + ". " + text`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextSpec {
    pub fields: Vec<Field>,
    pub separator: String,
}

impl Default for TextSpec {
    fn default() -> Self {
        Self {
            fields: vec![Field::Title, Field::Text],
            separator: ". ".to_string(),
        }
    }
}

impl TextSpec {
    /// The text to embed, or `None` when every chosen field is empty after trimming.
    pub fn compose(&self, article: &Article) -> Option<String> {
        self.compose_with(|field| match field {
            Field::Id => Some(article.id.as_str()),
            Field::Title => Some(article.title.as_str()),
            Field::Text => Some(article.text.as_str()),
            Field::Date => article.date.as_deref(),
            Field::Label => article.label.as_deref(),
        })
    }

    /// [`Self::compose`] from each field's value (`None`: absent), wherever the fields are kept.
    pub fn compose_with<'a>(&self, value: impl Fn(Field) -> Option<&'a str>) -> Option<String> {
        let mut out = String::new();
        for &field in &self.fields {
            let value = value(field).unwrap_or("").trim();
            if value.is_empty() {
                continue;
            }
            if !out.is_empty() {
                out.push_str(&self.separator);
            }
            out.push_str(value);
        }
        (!out.is_empty()).then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(title: &str, text: &str) -> Article {
        Article {
            position: 0,
            location: Location::Line(1),
            id: "0".into(),
            made_up_id: false,
            title: title.into(),
            text: text.into(),
            date: None,
            label: None,
            extra: vec![],
        }
    }

    #[test]
    fn composes_title_and_text() {
        let spec = TextSpec::default();
        assert_eq!(
            spec.compose(&article("Chip deal", "Two firms agree."))
                .as_deref(),
            Some("Chip deal. Two firms agree.")
        );
        assert_eq!(
            spec.compose(&article("  ", "Only body. ")).as_deref(),
            Some("Only body.")
        );
        assert_eq!(
            spec.compose(&article("Only title", "")).as_deref(),
            Some("Only title")
        );
        assert_eq!(spec.compose(&article(" \t", "\n")), None);
        let text_only = TextSpec {
            fields: vec![Field::Text],
            separator: " ".into(),
        };
        assert_eq!(text_only.compose(&article("T", "B")).as_deref(), Some("B"));
    }

    #[test]
    fn field_overrides_parse_and_apply() {
        let o: FieldOverride = "text=description".parse().unwrap();
        assert_eq!(o.field, Field::Text);
        assert!("body=x".parse::<FieldOverride>().is_err());
        assert!("text".parse::<FieldOverride>().is_err());
        let map = FieldMap::new(vec![o]);
        assert_eq!(map.column(Field::Text), "description");
        assert_eq!(map.column(Field::Title), "title");
        assert!(map.knows("description") && map.knows("label") && !map.knows("body"));
    }

    #[test]
    fn plan_refuses_column_names_the_output_could_not_keep_apart() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p = Path::new("x.csv");
        let plan = |v: &[&str], map: &FieldMap| ColumnPlan::new(p, &names(v), map);
        let none = FieldMap::default();
        let err = plan(&["id", "title", "src", "src"], &none).unwrap_err();
        assert!(
            err.to_string()
                .contains("column 'src' appears twice (columns 3 and 4)"),
            "{err}"
        );
        // Ignored columns may repeat.
        assert!(plan(&["_", "title", "_"], &none).is_ok());
        // `text` is an output column: a passed-through `text` becomes `input_text` ...
        let body = FieldMap::new(vec!["text=body".parse().unwrap()]);
        let ok = plan(&["title", "text", "body"], &body).unwrap();
        assert_eq!(ok.columns.extra, ["text"]);
        assert_eq!(
            crate::io::format::columns::output_name("text"),
            "input_text"
        );
        // ... which must not be another passed-through column's name.
        let err = plan(&["title", "text", "body", "input_text"], &body).unwrap_err();
        assert!(err.to_string().contains("written as 'input_text'"), "{err}");
    }

    #[test]
    fn plan_requires_a_text_column_and_existing_overrides() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let p = Path::new("x.csv");
        assert!(ColumnPlan::new(p, &names(&["id", "url"]), &FieldMap::default()).is_err());
        let map = FieldMap::new(vec!["text=body".parse().unwrap()]);
        let err = ColumnPlan::new(p, &names(&["title", "text"]), &map).unwrap_err();
        assert!(err.to_string().contains("no column 'body'"), "{err}");
        let plan = ColumnPlan::new(
            p,
            &names(&["title", "source", "_", "date"]),
            &FieldMap::default(),
        )
        .unwrap();
        assert_eq!(plan.columns.extra, vec!["source".to_string()]);
        assert!(plan.columns.has_date && !plan.columns.has_label);
        let row = ["T", "S", "ignored", "2025-01-01"];
        let a = plan.article(7, Location::Line(9), |i| Some(row[i].to_string()));
        // No id column: left empty for the reader, which numbers records across its files.
        assert_eq!(
            (a.id.as_str(), a.title.as_str(), a.date.as_deref()),
            ("", "T", Some("2025-01-01"))
        );
        assert_eq!(a.extra, vec![Some("S".to_string())]);
    }
}
