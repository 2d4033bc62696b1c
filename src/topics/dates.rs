//! Document dates as days since 1970-01-01 (UTC), from the forms news data carries: ISO 8601 /
//! RFC 3339 (`2017-03-01`, `2017-03-01T12:00:00Z`, `…+02:00`, a space for the `T` as in
//! TechCrunch's `2017-03-01 12:00:00`), RFC 2822 (`Wed, 01 Mar 2017 12:00:00 +0000`) and the US
//! `M/D/YYYY H:MM` (Hacker News); and the periods they are binned into.

/// Days from 1970-01-01 to the civil date `y-m-d` (proleptic Gregorian; after Howard Hinnant's
/// `days_from_civil`, <http://howardhinnant.github.io/date_algorithms.html>).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number (the inverse of `days_from_civil`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// A checked date's day number.
fn date(y: i64, m: u32, d: u32) -> Option<i64> {
    ((1..=9999).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m))
        .then(|| days_from_civil(y, m, d))
}

fn number(s: &str) -> Option<u32> {
    (!s.is_empty() && s.len() <= 4 && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// `HH:MM[:SS[.fff]]` → seconds into the day.
fn time_of_day(s: &str) -> Option<i64> {
    let mut parts = s.split(':');
    let h = number(parts.next()?)?;
    let m = number(parts.next()?)?;
    let sec = match parts.next() {
        Some(x) => number(x.split(['.', ',']).next()?)?,
        None => 0,
    };
    (parts.next().is_none() && h < 24 && m < 60 && sec <= 60)
        .then_some(h as i64 * 3600 + m as i64 * 60 + sec as i64)
}

/// A zone: `Z`, `UT`, `GMT`, `±HH:MM`, `±HHMM`, `±HH`, or a US zone of RFC 2822 → seconds east.
fn zone(s: &str) -> Option<i64> {
    match s {
        "Z" | "z" | "UT" | "UTC" | "GMT" => return Some(0),
        "EST" => return Some(-5 * 3600),
        "EDT" => return Some(-4 * 3600),
        "CST" => return Some(-6 * 3600),
        "CDT" => return Some(-5 * 3600),
        "MST" => return Some(-7 * 3600),
        "MDT" => return Some(-6 * 3600),
        "PST" => return Some(-8 * 3600),
        "PDT" => return Some(-7 * 3600),
        _ => {}
    }
    let sign = match s.as_bytes().first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = s[1..].chars().filter(|c| *c != ':').collect();
    let (h, m) = match digits.len() {
        2 => (number(&digits)?, 0),
        4 => (number(&digits[..2])?, number(&digits[2..])?),
        _ => return None,
    };
    (h < 24 && m < 60).then_some(sign * (h as i64 * 3600 + m as i64 * 60))
}

/// The UTC day of a date, a time of day and a zone.
fn utc_day(day: i64, seconds: i64, east: i64) -> i64 {
    day + (seconds - east).div_euclid(86_400)
}

/// ISO 8601 / RFC 3339, with `T` or a space between date and time.
fn iso(s: &str) -> Option<i64> {
    let (d, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], s[i + 1..].trim()),
        None => (s, ""),
    };
    let mut parts = d.split('-');
    let (y, m, dd) = (
        number(parts.next()?)?,
        number(parts.next()?)?,
        number(parts.next()?)?,
    );
    if parts.next().is_some() || d.len() != 10 {
        return None;
    }
    let day = date(y as i64, m, dd)?;
    if rest.is_empty() {
        return Some(day);
    }
    // The zone starts at Z or at a sign after the time.
    let at = rest
        .find(['Z', 'z', '+'])
        .or_else(|| rest.rfind('-'))
        .unwrap_or(rest.len());
    let (time, tz) = (rest[..at].trim(), rest[at..].trim());
    let secs = time_of_day(time)?;
    let east = if tz.is_empty() { 0 } else { zone(tz)? };
    Some(utc_day(day, secs, east))
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

/// RFC 2822: `[Day,] DD Mon YYYY [HH:MM[:SS] [zone]]`.
fn rfc2822(s: &str) -> Option<i64> {
    let s = match s.split_once(',') {
        Some((_, rest)) => rest,
        None => s,
    };
    let mut words = s.split_whitespace();
    let d = number(words.next()?)?;
    let month = words.next()?.to_ascii_lowercase();
    let m = MONTHS.iter().position(|n| month.starts_with(n))? as u32 + 1;
    let y = number(words.next()?)?;
    let day = date(y as i64, m, d)?;
    let Some(time) = words.next() else {
        return Some(day);
    };
    let secs = time_of_day(time)?;
    let east = match words.next() {
        Some(tz) => zone(tz)?,
        None => 0,
    };
    words.next().is_none().then(|| utc_day(day, secs, east))
}

/// `M/D/YYYY[ H:MM[:SS]]` (US order), times taken as UTC.
fn us(s: &str) -> Option<i64> {
    let mut words = s.split_whitespace();
    let mut parts = words.next()?.split('/');
    let (m, d, y) = (
        number(parts.next()?)?,
        number(parts.next()?)?,
        number(parts.next()?)?,
    );
    if parts.next().is_some() || y < 1000 {
        return None;
    }
    let day = date(y as i64, m, d)?;
    match words.next() {
        None => Some(day),
        Some(t) => {
            let secs = time_of_day(t)?;
            // An AM/PM marker.
            let secs = match words.next().map(|w| w.to_ascii_lowercase()) {
                None => secs,
                Some(w) if w == "am" => secs % (12 * 3600),
                Some(w) if w == "pm" => secs % (12 * 3600) + 12 * 3600,
                Some(_) => return None,
            };
            words.next().is_none().then(|| utc_day(day, secs, 0))
        }
    }
}

/// The UTC day a date names, in any of the forms above; `None` for anything else.
pub fn parse(text: &str) -> Option<i64> {
    let s = text.trim();
    if s.is_empty() {
        return None;
    }
    iso(s).or_else(|| us(s)).or_else(|| rfc2822(s))
}

/// How dates are grouped into periods.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum TimeBins {
    Day,
    /// Weeks start on Monday (ISO 8601).
    Week,
    Month,
    Quarter,
    Year,
}

impl TimeBins {
    /// The first day of the period `day` falls in.
    pub fn start(self, day: i64) -> i64 {
        let (y, m, _) = civil_from_days(day);
        match self {
            TimeBins::Day => day,
            // 1970-01-01 was a Thursday: Monday is 3 days before.
            TimeBins::Week => day - (day + 3).rem_euclid(7),
            TimeBins::Month => days_from_civil(y, m, 1),
            TimeBins::Quarter => days_from_civil(y, (m - 1) / 3 * 3 + 1, 1),
            TimeBins::Year => days_from_civil(y, 1, 1),
        }
    }

    /// The default for dates spanning `days`: some 10 to 60 periods where the span allows.
    pub fn for_span(days: i64) -> Self {
        [
            (60, TimeBins::Day),
            (420, TimeBins::Week),
            (1800, TimeBins::Month),
            (7300, TimeBins::Quarter),
        ]
        .into_iter()
        .find(|(most, _)| days <= *most)
        .map_or(TimeBins::Year, |(_, bins)| bins)
    }

    pub fn name(self) -> &'static str {
        match self {
            TimeBins::Day => "day",
            TimeBins::Week => "week",
            TimeBins::Month => "month",
            TimeBins::Quarter => "quarter",
            TimeBins::Year => "year",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(day: i64) -> (i64, u32, u32) {
        civil_from_days(day)
    }

    #[test]
    fn the_forms_news_data_uses_parse_to_their_utc_day() {
        let day = |y, m, d| days_from_civil(y, m, d);
        assert_eq!(day(1970, 1, 1), 0);
        assert_eq!(day(2000, 3, 1), 11_017);
        for (text, want) in [
            ("2017-03-01", day(2017, 3, 1)),
            ("2017-03-01T12:00:00Z", day(2017, 3, 1)),
            ("2017-03-01T23:30:00-02:00", day(2017, 3, 2)),
            ("2017-03-01T01:00:00+05:30", day(2017, 2, 28)),
            ("2017-03-01T12:00:00.123+0000", day(2017, 3, 1)),
            ("2016-12-31 23:59:59", day(2016, 12, 31)),
            ("Wed, 01 Mar 2017 12:00:00 +0000", day(2017, 3, 1)),
            ("1 Mar 2017 22:00 PST", day(2017, 3, 2)),
            ("Tue, 29 Feb 2016 08:00:00 GMT", day(2016, 2, 29)),
            ("3/1/2017 9:05", day(2017, 3, 1)),
            ("12/31/2016 11:59 pm", day(2016, 12, 31)),
            ("  7/4/2015 ", day(2015, 7, 4)),
        ] {
            assert_eq!(parse(text), Some(want), "{text}");
        }
        for bad in [
            "",
            "yesterday",
            "2017-02-30",
            "2017-13-01",
            "2017-03-01T25:00:00",
            "31/12/2016",
            "Mon, 32 Mar 2017",
            "1488369600",
            "2017-03-01T12:00:00 nowhere",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn periods_start_where_readers_expect() {
        let d = days_from_civil(2017, 8, 17); // a Thursday
        assert_eq!(ymd(TimeBins::Day.start(d)), (2017, 8, 17));
        assert_eq!(ymd(TimeBins::Week.start(d)), (2017, 8, 14));
        assert_eq!(ymd(TimeBins::Month.start(d)), (2017, 8, 1));
        assert_eq!(ymd(TimeBins::Quarter.start(d)), (2017, 7, 1));
        assert_eq!(ymd(TimeBins::Year.start(d)), (2017, 1, 1));
        // Before 1970 too.
        let old = days_from_civil(1969, 12, 31); // a Wednesday
        assert_eq!(ymd(TimeBins::Week.start(old)), (1969, 12, 29));
        for day in [-800_000, -1, 0, 59, 11_016, 2_932_896] {
            let (y, m, dd) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, dd), day);
        }
        assert_eq!(TimeBins::for_span(0), TimeBins::Day);
        assert_eq!(TimeBins::for_span(365), TimeBins::Week);
        assert_eq!(TimeBins::for_span(3 * 365), TimeBins::Month);
        assert_eq!(TimeBins::for_span(10 * 365), TimeBins::Quarter);
        assert_eq!(TimeBins::for_span(40 * 365), TimeBins::Year);
    }
}
