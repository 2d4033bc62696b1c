//! Topics over time: each topic's documents per period (day, week, month, quarter or year of
//! their dates), their share of the period's dated documents, and the period's own keywords
//! (c-TF-IDF over the topic-period cells, as BERTopic's `topics_over_time` does per period).

use std::collections::BTreeMap;

use super::ctfidf;
use super::dates::{parse, TimeBins};
use super::keywords::terms;
use super::vocab::{Surfaces, Vocab};

/// One topic in one period.
#[derive(Clone, Debug, PartialEq)]
pub struct Period {
    pub topic: usize,
    /// The period's first day, in days since 1970-01-01.
    pub start: i64,
    pub count: u64,
    /// Of the period's documents with a date (assigned to a topic or not).
    pub share: f64,
    pub keywords: Vec<String>,
}

/// What the dates gave: the rows, the bins used, and how many dates were read or not.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct DateCounts {
    pub parsed: u64,
    /// Present but in no form newsclust reads (the first few are in `examples`).
    pub unparsed: u64,
    pub missing: u64,
    pub examples: Vec<String>,
    /// The bins used (`None`: no dated document).
    pub bins: Option<TimeBins>,
    pub periods: usize,
    /// The first and last day seen, as YYYY-MM-DD.
    pub first: Option<String>,
    pub last: Option<String>,
}

/// ISO date of a day number.
pub fn iso_day(day: i64) -> String {
    let (y, m, d) = super::dates::civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Bins `dates` (one per document, `None` where missing) into periods of `bins` (chosen from the
/// span when `None`) and counts each topic's documents there; `top` keywords per cell from
/// `texts`. Documents without a readable date are counted, not binned.
pub fn over_time(
    dates: &[Option<String>],
    assignments: &[Option<usize>],
    texts: &[String],
    vocab: &Vocab,
    bins: Option<TimeBins>,
    top: usize,
) -> (Vec<Period>, DateCounts) {
    let mut counts = DateCounts::default();
    let days: Vec<Option<i64>> = dates
        .iter()
        .map(|d| match d.as_deref().map(str::trim) {
            None | Some("") => {
                counts.missing += 1;
                None
            }
            Some(text) => {
                let day = parse(text);
                match day {
                    Some(_) => counts.parsed += 1,
                    None => {
                        counts.unparsed += 1;
                        if counts.examples.len() < 3 {
                            counts.examples.push(text.to_string());
                        }
                    }
                }
                day
            }
        })
        .collect();
    let (Some(first), Some(last)) = (days.iter().flatten().min(), days.iter().flatten().max())
    else {
        return (Vec::new(), counts);
    };
    let bins = bins.unwrap_or_else(|| TimeBins::for_span(last - first));
    counts.bins = Some(bins);
    counts.first = Some(iso_day(*first));
    counts.last = Some(iso_day(*last));
    // Documents per period (all dated ones), and each (topic, period) cell's documents.
    let mut per_period: BTreeMap<i64, u64> = BTreeMap::new();
    let mut cells: BTreeMap<(usize, i64), Vec<usize>> = BTreeMap::new();
    for (i, day) in days.iter().enumerate() {
        let Some(day) = day else { continue };
        let start = bins.start(*day);
        *per_period.entry(start).or_default() += 1;
        if let Some(topic) = assignments[i] {
            cells.entry((topic, start)).or_default().push(i);
        }
    }
    counts.periods = per_period.len();
    let mut surfaces = Surfaces::default();
    let classes: Vec<Vec<Vec<String>>> = cells
        .values()
        .map(|rows| {
            rows.iter()
                .map(|&i| terms(&texts[i], vocab, &mut surfaces))
                .collect()
        })
        .collect();
    // A term in one document of one cell says little of a period: at least 2 documents.
    let keywords = ctfidf::keywords(&classes, 2, top);
    let rows = cells
        .iter()
        .zip(keywords)
        .map(|(((topic, start), rows), k)| Period {
            topic: *topic,
            start: *start,
            count: rows.len() as u64,
            share: rows.len() as f64 / per_period[start] as f64,
            keywords: k.terms.iter().map(|t| surfaces.show_all(t)).collect(),
        })
        .collect();
    (rows, counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_count_each_topic_and_its_share_and_bad_dates_are_counted() {
        let dates: Vec<Option<String>> = [
            Some("2017-03-01"),
            Some("2017-03-02 10:00:00"),
            Some("Thu, 02 Mar 2017 08:00:00 +0000"),
            Some("3/20/2017 9:00"),
            Some("someday"),
            None,
            Some("  "),
            Some("2017-03-21"),
        ]
        .into_iter()
        .map(|d| d.map(String::from))
        .collect();
        let assignments = [
            Some(0),
            Some(0),
            Some(1),
            Some(1),
            Some(0),
            Some(1),
            None,
            Some(0),
        ];
        let texts: Vec<String> = [
            "chip supply tightens",
            "chip supply shortage",
            "cloud deal",
            "cloud deal signed",
            "x",
            "y",
            "z",
            "chip plant",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let (rows, counts) = over_time(&dates, &assignments, &texts, &Vocab::default(), None, 3);
        assert_eq!((counts.parsed, counts.unparsed, counts.missing), (5, 1, 2));
        assert_eq!(counts.examples, ["someday"]);
        // 20 days apart: daily periods.
        assert_eq!(counts.bins, Some(TimeBins::Day));
        let cell = |t: usize, day: &str| {
            rows.iter()
                .find(|r| r.topic == t && iso_day(r.start) == day)
        };
        assert_eq!(cell(0, "2017-03-01").unwrap().count, 1);
        let second = cell(0, "2017-03-02").unwrap();
        assert_eq!((second.count, second.share), (1, 0.5));
        assert_eq!(cell(1, "2017-03-02").unwrap().share, 0.5);
        assert_eq!(cell(1, "2017-03-20").unwrap().share, 1.0);
        assert_eq!(rows.len(), 5);
        // Weekly: the two March 1-2 chip stories share a cell, with their keywords.
        let (rows, _) = over_time(
            &dates,
            &assignments,
            &texts,
            &Vocab::default(),
            Some(TimeBins::Week),
            3,
        );
        let week = rows
            .iter()
            .find(|r| r.topic == 0 && iso_day(r.start) == "2017-02-27")
            .unwrap();
        assert_eq!(week.count, 2);
        assert!(
            week.keywords.iter().any(|k| k.contains("chip")),
            "{:?}",
            week.keywords
        );
        // All dates equal: one daily period, each topic's share of it.
        let same = vec![Some("2017-03-01".to_string()); 4];
        let (rows, counts) = over_time(
            &same,
            &[Some(0), Some(1), Some(1), None],
            &texts[..4],
            &Vocab::default(),
            None,
            3,
        );
        assert_eq!((counts.bins, counts.periods), (Some(TimeBins::Day), 1));
        let shares: Vec<(usize, f64)> = rows.iter().map(|r| (r.topic, r.share)).collect();
        assert_eq!(shares, [(0, 0.25), (1, 0.5)]);
        // No readable date: no rows, and the counts say why.
        let none = vec![Some("soon".to_string()), None];
        let (rows, counts) = over_time(
            &none,
            &[Some(0), Some(0)],
            &texts[..2],
            &Vocab::default(),
            None,
            3,
        );
        assert!(rows.is_empty());
        assert_eq!((counts.unparsed, counts.missing, counts.bins), (1, 1, None));
    }
}
