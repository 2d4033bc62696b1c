//! Parquet input, read in record batches; every used column is cast to text.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::file::metadata::ParquetMetaDataReader;

use super::article::ColumnPlan;
use super::{Cause, InputColumns, Item, ItemIter, Location, ReadError, ReadOptions};

const BATCH_ROWS: usize = 4096;

/// Opens a Parquet file, local or in object storage.
pub(super) fn open(
    path: &Path,
    file: super::remote::AnyFile,
    options: &ReadOptions,
) -> Result<(InputColumns, ItemIter), ReadError> {
    let perr = |err: parquet::errors::ParquetError| ReadError::Parquet {
        path: path.to_path_buf(),
        row: None,
        source: err.into(),
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(perr)?;
    let schema = builder.schema().clone();
    // Columns that cannot be shown as text (lists, structs, binary) are neither fields nor passed through.
    let mut names = Vec::new();
    for f in schema.fields() {
        if castable(f.data_type()) {
            names.push(f.name().clone());
        } else {
            names.push("_".to_string());
            if options.fields.knows(f.name()) {
                return Err(ReadError::NotText {
                    path: path.to_path_buf(),
                    name: f.name().clone(),
                    data_type: f.data_type().to_string(),
                });
            }
        }
    }
    let plan = ColumnPlan::new(path, &names, &options.fields)?;
    let columns = plan.columns.clone();
    let reader = builder.with_batch_size(BATCH_ROWS).build().map_err(perr)?;
    let iter = ParquetItems {
        path: path.to_path_buf(),
        plan,
        reader,
        batch: Vec::new(),
        row_in_batch: 0,
        rows_in_batch: 0,
        position: 0,
        done: false,
    };
    Ok((columns, Box::new(iter)))
}

fn castable(dt: &DataType) -> bool {
    use DataType::*;
    matches!(
        dt,
        Utf8 | LargeUtf8
            | Utf8View
            | Boolean
            | Int8
            | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Float16
            | Float32
            | Float64
            | Date32
            | Date64
            | Timestamp(_, _)
            | Decimal128(_, _)
    ) || matches!(dt, Dictionary(_, v) if castable(v))
}

/// Timestamps with a named time zone ("UTC", "Europe/Paris": pandas and polars write them) as
/// the same instants labelled `+00:00`: Arrow stores every timestamp as a UTC instant, and
/// naming zones would need the time zone database. Offsets and other columns stay as they are.
fn utc_offset(column: &ArrayRef) -> ArrayRef {
    let DataType::Timestamp(unit, Some(tz)) = column.data_type() else {
        return column.clone();
    };
    if tz.starts_with(['+', '-']) {
        // An offset ("+02:00") formats as it is.
        return column.clone();
    }
    // Between time zones a cast relabels the instants, it does not move them.
    let utc = DataType::Timestamp(*unit, Some("+00:00".into()));
    arrow_cast::cast(column, &utc).unwrap_or_else(|_| column.clone())
}

struct ParquetItems {
    path: PathBuf,
    plan: ColumnPlan,
    reader: ParquetRecordBatchReader,
    /// The current batch, every column cast to text (None for ignored columns).
    batch: Vec<Option<Arc<StringArray>>>,
    row_in_batch: usize,
    rows_in_batch: usize,
    position: u64,
    done: bool,
}

impl ParquetItems {
    fn load(&mut self, batch: RecordBatch) -> Result<(), ReadError> {
        self.batch.clear();
        for column in batch.columns() {
            if !castable(column.data_type()) {
                self.batch.push(None);
                continue;
            }
            let column = utc_offset(column);
            let text =
                arrow_cast::cast(&column, &DataType::Utf8).map_err(|e| ReadError::Parquet {
                    path: self.path.clone(),
                    row: Some(self.position),
                    source: e.into(),
                })?;
            let text = text
                .as_any()
                .downcast_ref::<StringArray>()
                .cloned()
                .map(Arc::new);
            self.batch.push(text);
        }
        self.row_in_batch = 0;
        self.rows_in_batch = batch.num_rows();
        Ok(())
    }
}

impl Iterator for ParquetItems {
    type Item = Result<Item, ReadError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done && self.row_in_batch >= self.rows_in_batch {
            match self.reader.next() {
                None => self.done = true,
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(ReadError::Parquet {
                        path: self.path.clone(),
                        row: Some(self.position),
                        source: e.into(),
                    }));
                }
                Some(Ok(batch)) => {
                    if let Err(e) = self.load(batch) {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
            }
        }
        if self.done {
            return None;
        }
        let row = self.row_in_batch;
        let position = self.position;
        let batch = &self.batch;
        let article = self.plan.article(position, Location::Row(position), |i| {
            let col = batch.get(i)?.as_ref()?;
            (!col.is_null(row)).then(|| col.value(row).to_string())
        });
        self.row_in_batch += 1;
        self.position += 1;
        Some(Ok(Item::Article(article)))
    }
}

/// The rows a Parquet file holds, read from its footer (one record a row).
pub(super) fn rows(path: &Path) -> Result<u64, ReadError> {
    let perr = |source: Cause| ReadError::Parquet {
        path: path.to_path_buf(),
        row: None,
        source,
    };
    let file = super::remote::open(path).map_err(|e| perr(e.into()))?;
    let meta = ParquetMetaDataReader::new()
        .parse_and_finish(&file)
        .map_err(|e| perr(e.into()))?;
    Ok(meta.file_metadata().num_rows().max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{StringArray, TimestampMillisecondArray, TimestampSecondArray};
    use arrow_schema::{Field, Schema, TimeUnit};
    use std::fs::File;

    fn write_titles(path: &Path, titles: &[&str]) {
        let schema = Arc::new(Schema::new(vec![Field::new("title", DataType::Utf8, true)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(titles.to_vec()))],
        )
        .unwrap();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(File::create(path).unwrap(), schema, None)
                .unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
    }

    #[test]
    fn counts_from_footers_are_the_positions_a_reader_yields() {
        use crate::io::ArticleReader;
        let dir = tempfile::tempdir().unwrap();
        // One row without a title: a bad record, still a position.
        write_titles(&dir.path().join("a.parquet"), &["one", "two", ""]);
        write_titles(&dir.path().join("b.parquet"), &["three", "four"]);
        let inputs = vec![dir.path().to_path_buf()];
        let read = |options: &ReadOptions| {
            let n = ArticleReader::open_all(&inputs, options).unwrap().count() as u64;
            (ArticleReader::count(&inputs, options).unwrap(), n)
        };
        assert_eq!(read(&ReadOptions::default()), (5, 5));
        let limited = ReadOptions {
            limit: Some(4),
            ..ReadOptions::default()
        };
        assert_eq!(read(&limited), (4, 4));
        // A CSV file among them: counted by reading.
        std::fs::write(dir.path().join("c.csv"), "title\nfive\nsix\n").unwrap();
        assert_eq!(read(&ReadOptions::default()), (7, 7));
        // A file that is not Parquet under a Parquet name: an error naming it.
        std::fs::remove_file(dir.path().join("c.csv")).unwrap();
        std::fs::write(dir.path().join("d.parquet"), b"no footer").unwrap();
        let err = ArticleReader::count(&inputs, &ReadOptions::default()).unwrap_err();
        assert!(err.to_string().contains("d.parquet"), "{err}");
    }

    #[test]
    fn timestamps_with_named_zones_read_as_utc_instants() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.parquet");
        let ts = |tz: &str| DataType::Timestamp(TimeUnit::Millisecond, Some(tz.into()));
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Utf8, false),
            Field::new("title", DataType::Utf8, false),
            Field::new("date", ts("UTC"), true),
            Field::new("paris", ts("Europe/Paris"), true),
            Field::new(
                "offset",
                DataType::Timestamp(TimeUnit::Second, Some("+02:00".into())),
                true,
            ),
        ]));
        // 2021-05-03T10:30:00Z, and a missing value.
        let ms = [Some(1_620_037_800_000), None];
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["a", "b"])),
                Arc::new(StringArray::from(vec!["A title", "B title"])),
                Arc::new(TimestampMillisecondArray::from(ms.to_vec()).with_timezone("UTC")),
                Arc::new(
                    TimestampMillisecondArray::from(ms.to_vec()).with_timezone("Europe/Paris"),
                ),
                Arc::new(
                    TimestampSecondArray::from(vec![Some(1_620_037_800), None])
                        .with_timezone("+02:00"),
                ),
            ],
        )
        .unwrap();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(File::create(&path).unwrap(), schema, None)
                .unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();

        let file = crate::io::remote::open(&path).unwrap();
        let (columns, items) = open(&path, file, &ReadOptions::default()).unwrap();
        assert!(columns.has_date);
        assert_eq!(columns.extra, ["paris", "offset"]);
        let articles: Vec<_> = items
            .map(|item| match item.unwrap() {
                Item::Article(a) => a,
                Item::Bad(b) => panic!("{b}"),
            })
            .collect();
        let utc = "2021-05-03T10:30:00Z".to_string();
        assert_eq!(articles[0].date.as_ref(), Some(&utc));
        assert_eq!(
            articles[0].extra,
            [Some(utc), Some("2021-05-03T12:30:00+02:00".into())]
        );
        assert_eq!(articles[1].date, None);
        assert_eq!(articles[1].extra, [None, None]);
    }
}
