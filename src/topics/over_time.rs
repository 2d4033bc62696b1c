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

/// The dates of a corpus read one at a time: how many were read or not, and the first and last day.
#[derive(Clone, Debug, Default)]
pub struct DateScan {
    pub counts: DateCounts,
    span: Option<(i64, i64)>,
}

impl DateScan {
    /// Reads one document's date (`None` or blank: missing); its day, when readable.
    pub fn add(&mut self, date: Option<&str>) -> Option<i64> {
        let counts = &mut self.counts;
        match date.map(str::trim) {
            None | Some("") => {
                counts.missing += 1;
                None
            }
            Some(text) => {
                let day = parse(text);
                match day {
                    Some(d) => {
                        counts.parsed += 1;
                        let (a, b) = self.span.get_or_insert((d, d));
                        *a = (*a).min(d);
                        *b = (*b).max(d);
                    }
                    None => {
                        counts.unparsed += 1;
                        if counts.examples.len() < 3 {
                            counts.examples.push(text.to_string());
                        }
                    }
                }
                day
            }
        }
    }

    /// The periods to count in (`given`, else chosen from the span), and the counts saying so;
    /// `None` when no date was readable.
    pub fn periods(self, given: Option<TimeBins>) -> (Option<Cells>, DateCounts) {
        let mut counts = self.counts;
        let Some((first, last)) = self.span else {
            return (None, counts);
        };
        let bins = given.unwrap_or_else(|| TimeBins::for_span(last - first));
        counts.bins = Some(bins);
        counts.first = Some(iso_day(first));
        counts.last = Some(iso_day(last));
        (Some(Cells::new(bins)), counts)
    }
}

/// Documents counted per (topic, period) cell, with each cell's terms, a document at a time.
#[derive(Clone, Debug)]
pub struct Cells {
    bins: TimeBins,
    /// Dated documents per period, assigned or not.
    per_period: BTreeMap<i64, u64>,
    /// Each cell's class in `terms`, and its documents.
    cells: BTreeMap<(usize, i64), (usize, u64)>,
    terms: ctfidf::TermCounts,
    surfaces: Surfaces,
}

impl Cells {
    fn new(bins: TimeBins) -> Self {
        Self {
            bins,
            per_period: BTreeMap::new(),
            cells: BTreeMap::new(),
            terms: ctfidf::TermCounts::new(0),
            surfaces: Surfaces::default(),
        }
    }

    /// Counts one dated document (of `topic`, or none), its text's terms in its cell.
    pub fn add(&mut self, day: i64, topic: Option<usize>, text: &str, vocab: &Vocab) {
        let start = self.bins.start(day);
        *self.per_period.entry(start).or_default() += 1;
        if let Some(topic) = topic {
            let next = self.cells.len();
            let cell = self.cells.entry((topic, start)).or_insert((next, 0));
            cell.1 += 1;
            let class = cell.0;
            let t = terms(text, vocab, &mut self.surfaces);
            self.terms.add(class, &t);
        }
    }

    /// The rows, by topic then period, `top` keywords each; `counts.periods` is set. `topic`
    /// renames the topics counted (a streamed corpus counts before topics are numbered by size).
    pub fn finish(
        self,
        top: usize,
        counts: &mut DateCounts,
        topic: impl Fn(usize) -> Option<usize>,
    ) -> Vec<Period> {
        counts.periods = self.per_period.len();
        // A term in one document of one cell says little of a period: at least 2 documents.
        let keywords = self.terms.keywords(2, top);
        let mut rows: Vec<Period> = self
            .cells
            .iter()
            .filter_map(|(&(t, start), &(class, count))| {
                Some(Period {
                    topic: topic(t)?,
                    start,
                    count,
                    share: count as f64 / self.per_period[&start] as f64,
                    keywords: keywords
                        .get(class)
                        .map(|k| k.terms.iter().map(|t| self.surfaces.show_all(t)).collect())
                        .unwrap_or_default(),
                })
            })
            .collect();
        rows.sort_by_key(|r| (r.topic, r.start));
        rows
    }
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
    let mut scan = DateScan::default();
    let days: Vec<Option<i64>> = dates.iter().map(|d| scan.add(d.as_deref())).collect();
    let (cells, mut counts) = scan.periods(bins);
    let Some(mut cells) = cells else {
        return (Vec::new(), counts);
    };
    for (i, day) in days.iter().enumerate() {
        if let Some(day) = day {
            cells.add(*day, assignments[i], &texts[i], vocab);
        }
    }
    let rows = cells.finish(top, &mut counts, Some);
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
