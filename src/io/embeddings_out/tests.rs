//! The writer's row groups, order and sync modes.

use super::*;
use crate::io::Location;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn row(i: u64) -> EmbeddedArticle {
    EmbeddedArticle {
        article: Article {
            position: i,
            location: Location::Line(i + 1),
            id: format!("a{i}"),
            made_up_id: false,
            title: format!("title {i}"),
            text: String::new(),
            date: None,
            label: None,
            extra: Vec::new(),
        },
        n_tokens: 3,
        truncated: false,
    }
}

/// Row groups fill across writes of any size, encode on tasks of their own (more of them
/// than may be under way at once), and every row and vector comes back in order.
#[test]
fn row_groups_encode_side_by_side_and_rows_come_back_in_order() {
    rows_come_back_in_order(WriteSync::Start);
}

/// The same with every row group synced before the next (the earlier way).
#[test]
fn waiting_for_each_group_on_the_disk_writes_the_same_rows() {
    rows_come_back_in_order(WriteSync::Wait);
}

fn rows_come_back_in_order(sync: WriteSync) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("emb.parquet");
    let columns = InputColumns::default();
    let mut w = EmbeddingsWriter::create(&out, &columns, 2, Vec::new(), sync).unwrap();
    let groups = 2 * IN_FLIGHT + 1;
    let total = (groups * ROW_GROUP_ROWS) as u64 + 1000;
    let mut next = 0u64;
    while next < total {
        let end = (next + 3001).min(total);
        let rows: Vec<_> = (next..end).map(row).collect();
        let vectors: Vec<f32> = (next..end).flat_map(|i| [i as f32, -(i as f32)]).collect();
        w.write(&rows, vectors).unwrap();
        next = end;
    }
    assert_eq!(w.groups, groups, "every full group handed out");
    assert!(
        w.encoding.len() < IN_FLIGHT,
        "at most {IN_FLIGHT} groups under way"
    );
    assert!(!out.exists(), "the file appears only when finished");
    let (_, times) = w.finish_timed().unwrap();
    assert_eq!(times.row_groups, groups + 1);

    let meta = ParquetRecordBatchReaderBuilder::try_new(File::open(&out).unwrap())
        .unwrap()
        .metadata()
        .clone();
    let sizes: Vec<i64> = meta.row_groups().iter().map(|g| g.num_rows()).collect();
    let mut expected = vec![ROW_GROUP_ROWS as i64; groups];
    expected.push(1000);
    assert_eq!(sizes, expected);
    let file = File::open(&out).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let mut seen = 0u64;
    for batch in reader {
        let batch = batch.unwrap();
        let list = batch
            .column_by_name("embedding")
            .unwrap()
            .as_any()
            .downcast_ref::<FixedSizeListArray>()
            .unwrap();
        let values = list
            .values()
            .as_any()
            .downcast_ref::<Float32Array>()
            .unwrap();
        for r in 0..batch.num_rows() {
            let i = seen as f32;
            assert_eq!(values.value(2 * r), i);
            assert_eq!(values.value(2 * r + 1), -i);
            seen += 1;
        }
    }
    assert_eq!(seen, total);
}
