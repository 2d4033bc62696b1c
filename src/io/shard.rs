//! One shard of a job split over machines: shard I of N takes a contiguous run of the input's
//! records (by their position in the whole input, so every record is in exactly one shard, in
//! input order) and writes `part-IIIII-of-NNNNN.parquet` under the output prefix. The index and
//! count come from `--shard I/N` or, with `--shard auto`, from the scheduler's array-job
//! variables (Kubernetes Indexed Jobs, AWS Batch array jobs, Slurm job arrays).

use std::ops::Range;
use std::str::FromStr;

use crate::setting::Setting;

/// Shard `index` (from 0) of `count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardError {
    #[error("'{0}': give the shard as I/N, I from 0 to N-1 (e.g. 0/4)")]
    Form(String),
    #[error("shard {index}/{count}: the index must be below the count")]
    Range { index: u64, count: u64 },
    #[error("{} auto: no array-job index in the environment (JOB_COMPLETION_INDEX for a Kubernetes Indexed Job, AWS_BATCH_JOB_ARRAY_INDEX for AWS Batch, SLURM_ARRAY_TASK_ID for Slurm)", Setting::Shard)]
    NoIndex,
    #[error("{} auto: {var}={value} is not a whole number", Setting::Shard)]
    NotANumber { var: &'static str, value: String },
    #[error(
        "{} auto: {var} gives the index but nothing gives the count; give {}",
        Setting::Shard,
        Setting::ShardCount
    )]
    NoCount { var: &'static str },
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let form = || ShardError::Form(s.to_string());
        let (i, n) = s.split_once('/').ok_or_else(form)?;
        let (index, count) = (
            i.trim().parse::<u32>().map_err(|_| form())?,
            n.trim().parse::<u32>().map_err(|_| form())?,
        );
        Self::new(index.into(), count.into())
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    pub fn new(index: u64, count: u64) -> Result<Self, ShardError> {
        if index >= count {
            return Err(ShardError::Range { index, count });
        }
        match (u32::try_from(index), u32::try_from(count)) {
            (Ok(index), Ok(count)) if count <= MAX_COUNT => Ok(Self { index, count }),
            _ => Err(ShardError::Form(format!("{index}/{count}"))),
        }
    }

    /// The shard the scheduler's variables name (`var` looks one up): Kubernetes
    /// `JOB_COMPLETION_INDEX` (the count from `count`), AWS Batch `AWS_BATCH_JOB_ARRAY_INDEX`
    /// and `AWS_BATCH_JOB_ARRAY_SIZE`, Slurm `SLURM_ARRAY_TASK_ID` less `SLURM_ARRAY_TASK_MIN`
    /// and `SLURM_ARRAY_TASK_COUNT`. `count`, when given, wins over the environment's.
    pub fn from_env(
        var: impl Fn(&str) -> Option<String>,
        count: Option<u32>,
    ) -> Result<Self, ShardError> {
        let number = |name: &'static str| -> Result<Option<u64>, ShardError> {
            match var(name) {
                None => Ok(None),
                Some(v) if v.trim().is_empty() => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<u64>()
                    .map(Some)
                    .map_err(|_| ShardError::NotANumber {
                        var: name,
                        value: v,
                    }),
            }
        };
        let given = count.map(u64::from);
        let schedulers: [(&'static str, Option<&'static str>, Option<&'static str>); 3] = [
            ("JOB_COMPLETION_INDEX", None, None),
            (
                "AWS_BATCH_JOB_ARRAY_INDEX",
                None,
                Some("AWS_BATCH_JOB_ARRAY_SIZE"),
            ),
            (
                "SLURM_ARRAY_TASK_ID",
                Some("SLURM_ARRAY_TASK_MIN"),
                Some("SLURM_ARRAY_TASK_COUNT"),
            ),
        ];
        for (index_var, min_var, count_var) in schedulers {
            let Some(index) = number(index_var)? else {
                continue;
            };
            let min = match min_var {
                Some(v) => number(v)?.unwrap_or(0),
                None => 0,
            };
            let from_env = match count_var {
                Some(v) => number(v)?,
                None => None,
            };
            let count = given
                .or(from_env)
                .ok_or(ShardError::NoCount { var: index_var })?;
            return Self::new(index.saturating_sub(min), count);
        }
        Err(ShardError::NoIndex)
    }

    /// The file this shard writes under its output prefix.
    pub fn part_name(&self) -> String {
        format!("part-{:05}-of-{:05}.parquet", self.index, self.count)
    }

    /// The shard a part file's name says it is (`part-IIIII-of-NNNNN.parquet`).
    pub fn of_part_name(name: &str) -> Option<Self> {
        let rest = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
        let (i, n) = rest.split_once("-of-")?;
        if i.len() != 5 || n.len() != 5 {
            return None;
        }
        Self::new(i.parse().ok()?, n.parse().ok()?).ok()
    }

    /// The positions this shard takes of an input of `total` records: the `index`-th of
    /// `count` near-equal contiguous runs.
    pub fn slice(&self, total: u64) -> Range<u64> {
        let at = |i: u32| (u128::from(total) * u128::from(i) / u128::from(self.count)) as u64;
        at(self.index)..at(self.index + 1)
    }
}

/// Part names have five digits.
const MAX_COUNT: u32 = 99_999;

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn shards_parse_name_their_parts_and_slice_every_record_once() {
        let s: Shard = "2/4".parse().unwrap();
        assert_eq!((s.index, s.count), (2, 4));
        assert_eq!(s.part_name(), "part-00002-of-00004.parquet");
        assert_eq!(Shard::of_part_name(&s.part_name()), Some(s));
        assert_eq!(Shard::of_part_name("part-2-of-4.parquet"), None);
        assert!(matches!(
            "4/4".parse::<Shard>(),
            Err(ShardError::Range { .. })
        ));
        assert!(matches!("x".parse::<Shard>(), Err(ShardError::Form(_))));
        assert!("1/0".parse::<Shard>().is_err());
        for total in [0u64, 1, 3, 10, 304, 7_600] {
            for count in [1u32, 2, 3, 4, 7, 16] {
                let mut next = 0;
                for index in 0..count {
                    let r = Shard { index, count }.slice(total);
                    assert_eq!(r.start, next, "contiguous");
                    assert!(
                        r.end - r.start <= total / u64::from(count) + 1,
                        "near-equal"
                    );
                    next = r.end;
                }
                assert_eq!(next, total, "every record in one shard");
            }
        }
    }

    #[test]
    fn auto_reads_each_scheduler() {
        let k8s = [("JOB_COMPLETION_INDEX", "3")];
        assert_eq!(
            Shard::from_env(env(&k8s), Some(4)),
            Ok(Shard { index: 3, count: 4 })
        );
        assert_eq!(
            Shard::from_env(env(&k8s), None),
            Err(ShardError::NoCount {
                var: "JOB_COMPLETION_INDEX"
            })
        );
        let batch = [
            ("AWS_BATCH_JOB_ARRAY_INDEX", "0"),
            ("AWS_BATCH_JOB_ARRAY_SIZE", "8"),
        ];
        assert_eq!(
            Shard::from_env(env(&batch), None),
            Ok(Shard { index: 0, count: 8 })
        );
        // Slurm arrays often count from 1 (--array=1-4).
        let slurm = [
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        assert_eq!(
            Shard::from_env(env(&slurm), None),
            Ok(Shard { index: 3, count: 4 })
        );
        assert_eq!(Shard::from_env(env(&[]), Some(4)), Err(ShardError::NoIndex));
        let bad = [("JOB_COMPLETION_INDEX", "three")];
        assert!(matches!(
            Shard::from_env(env(&bad), Some(4)),
            Err(ShardError::NotANumber { .. })
        ));
        let beyond = [("JOB_COMPLETION_INDEX", "4")];
        assert!(matches!(
            Shard::from_env(env(&beyond), Some(4)),
            Err(ShardError::Range { .. })
        ));
    }
}
