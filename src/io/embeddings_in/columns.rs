//! One batch's columns as newsclust reads them: the vectors (any float list type, checked row
//! by row) and text columns.

use arrow_array::cast::AsArray;
use arrow_array::types::Float32Type;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};
use arrow_schema::DataType;

use super::Problem;
use crate::io::format::columns;

/// For a column type that can hold vectors, its fixed length if the type has one.
pub(super) fn vector_type(dt: &DataType) -> Option<Option<usize>> {
    let float = |f: &arrow_schema::FieldRef| {
        matches!(
            f.data_type(),
            DataType::Float16 | DataType::Float32 | DataType::Float64
        )
    };
    match dt {
        DataType::FixedSizeList(item, n) if float(item) => Some(Some(*n as usize)),
        DataType::List(item) | DataType::LargeList(item) if float(item) => Some(None),
        _ => None,
    }
}

/// Appends the vectors of one batch's embedding column (rows numbered from `first`) to
/// `values`, in f32. Every vector must be there, have `dim` finite values (the first one sets
/// `dim` when the column type does not), and the error names the first row that does not.
pub(super) fn vectors(
    col: &ArrayRef,
    first: usize,
    dim: &mut Option<usize>,
    values: &mut Vec<f32>,
) -> Result<(), Problem> {
    // Each row's range in the list's values, whatever the list type.
    let (items, ranges): (&ArrayRef, Vec<std::ops::Range<usize>>) = match col.data_type() {
        DataType::FixedSizeList(_, _) => {
            let list = col.as_fixed_size_list();
            let n = list.value_length() as usize;
            let ranges = (0..list.len())
                .map(|i| {
                    let start = list.value_offset(i) as usize;
                    start..start + n
                })
                .collect();
            (list.values(), ranges)
        }
        DataType::List(_) => {
            let list = col.as_list::<i32>();
            let o = list.value_offsets();
            let ranges = (0..list.len()).map(|i| o[i] as usize..o[i + 1] as usize);
            (list.values(), ranges.collect())
        }
        DataType::LargeList(_) => {
            let list = col.as_list::<i64>();
            let o = list.value_offsets();
            let ranges = (0..list.len()).map(|i| o[i] as usize..o[i + 1] as usize);
            (list.values(), ranges.collect())
        }
        other => return Err(Problem::NotVectors(other.clone())),
    };
    let items = arrow_cast::cast(items, &DataType::Float32).map_err(|source| Problem::Column {
        column: columns::EMBEDDING.to_string(),
        source,
    })?;
    let items = items.as_primitive::<Float32Type>();
    for (i, range) in ranges.into_iter().enumerate() {
        let row = first + i;
        if col.is_null(i) {
            return Err(Problem::MissingVector(row));
        }
        let want = *dim.get_or_insert(range.len());
        if range.len() != want {
            return Err(Problem::VectorLength {
                row,
                got: range.len(),
                want,
            });
        }
        if items.null_count() > 0 && range.clone().any(|j| items.is_null(j)) {
            return Err(Problem::MissingValue(row));
        }
        let v = &items.values()[range];
        if v.iter().any(|x| !x.is_finite()) {
            return Err(Problem::NotFinite(row));
        }
        values.extend_from_slice(v);
    }
    Ok(())
}

pub(super) fn strings(batch: &RecordBatch, name: &str) -> Result<Vec<Option<String>>, Problem> {
    let not_text = || Problem::NotText(name.to_string());
    let col = batch.column_by_name(name).ok_or_else(not_text)?;
    let col = arrow_cast::cast(col, &DataType::Utf8).map_err(|source| Problem::Column {
        column: name.to_string(),
        source,
    })?;
    let col = col
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(not_text)?;
    Ok((0..col.len())
        .map(|i| (!col.is_null(i)).then(|| col.value(i).to_string()))
        .collect())
}
