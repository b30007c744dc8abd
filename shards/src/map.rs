//! One version of the map: an [`Assignment`] for every gene, kept gene by gene (1024 entries:
//! a lookup is an index) and written as ranges of neighbouring genes with the same assignment.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::RangeInclusive;

use crate::GENE_COUNT;

/// Longest shard name.
const NAME_LEN_MAX: usize = 32;

/// The name of a shard: lowercase ASCII letters, digits, `-` and `_`, 1 to 32 of them.
/// Configuration maps it to a database URL.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShardName(String);

impl ShardName {
    /// The shard every deployment starts with: all genes, the database it was configured with.
    pub fn default_shard() -> Self {
        Self(event_store::follower::DEFAULT_SHARD.to_owned())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::str::FromStr for ShardName {
    type Err = MapError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let valid = !name.is_empty()
            && name.len() <= NAME_LEN_MAX
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(MapError::BadName(name.to_owned()))
        }
    }
}

impl fmt::Display for ShardName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a gene's streams are read from and written to. The two differ only while a move has
/// switched the reads and not yet the writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The shard that answers reads of the gene.
    pub read: ShardName,
    /// The shard that takes the gene's appends.
    pub write: ShardName,
}

impl Assignment {
    /// Reads and writes on `shard`.
    pub fn on(shard: ShardName) -> Self {
        Self {
            read: shard.clone(),
            write: shard,
        }
    }
}

/// Neighbouring genes with one assignment, as the map is stored and printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneRange {
    /// The genes, both ends included.
    pub genes: RangeInclusive<u16>,
    /// Their assignment.
    pub assignment: Assignment,
}

/// Why a map cannot be built or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// A shard name with other characters than `a-z 0-9 - _`, empty or longer than 32.
    #[error("bad shard name {0:?}: 1 to 32 of a-z, 0-9, '-' and '_'")]
    BadName(String),
    /// A gene outside `0..1024`.
    #[error("gene {0} is outside 0-1023")]
    GeneOutOfRange(u32),
    /// Ranges that leave a gene without an assignment or give one two.
    #[error("the ranges do not cover every gene exactly once: gene {gene} is {problem}")]
    NotAPartition {
        /// The first gene found uncovered or covered twice.
        gene: u16,
        /// `missing` or `assigned twice`.
        problem: &'static str,
    },
    /// Version 0 or a version that does not follow the map it changes.
    #[error("version {0} is not a valid map version (they start at 1)")]
    BadVersion(u64),
}

/// One version of the map: every gene's assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardMap {
    version: u64,
    genes: Vec<Assignment>,
}

impl ShardMap {
    /// Version 1: every gene read from and written to `shard`. What a deployment with one
    /// database has, and keeps until it adds one.
    pub fn single(shard: ShardName) -> Self {
        Self {
            version: 1,
            genes: vec![Assignment::on(shard); usize::from(GENE_COUNT)],
        }
    }

    /// The map `version` made of `ranges`, which must cover every gene exactly once.
    pub fn from_ranges(version: u64, ranges: &[GeneRange]) -> Result<Self, MapError> {
        if version == 0 {
            return Err(MapError::BadVersion(version));
        }
        let mut genes: Vec<Option<Assignment>> = vec![None; usize::from(GENE_COUNT)];
        for range in ranges {
            let (from, to) = (*range.genes.start(), *range.genes.end());
            if to >= GENE_COUNT {
                return Err(MapError::GeneOutOfRange(u32::from(to)));
            }
            for gene in from..=to {
                let slot = &mut genes[usize::from(gene)];
                if slot.is_some() {
                    return Err(MapError::NotAPartition {
                        gene,
                        problem: "assigned twice",
                    });
                }
                *slot = Some(range.assignment.clone());
            }
        }
        let genes = genes
            .into_iter()
            .zip(0..GENE_COUNT)
            .map(|(slot, gene)| {
                slot.ok_or(MapError::NotAPartition {
                    gene,
                    problem: "missing",
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { version, genes })
    }

    /// The version: the newest stored one is in force.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Where `gene` is read from and written to.
    ///
    /// # Panics
    /// When `gene` is not below [`GENE_COUNT`]; a gene comes from `ids`, which masks it.
    pub fn assignment(&self, gene: u16) -> &Assignment {
        &self.genes[usize::from(gene)]
    }

    /// The map as ranges of neighbouring genes with one assignment, in gene order.
    pub fn ranges(&self) -> Vec<GeneRange> {
        let mut ranges: Vec<GeneRange> = Vec::new();
        for (gene, assignment) in (0..GENE_COUNT).zip(&self.genes) {
            match ranges.last_mut() {
                Some(last) if &last.assignment == assignment => {
                    last.genes = *last.genes.start()..=gene;
                }
                _ => ranges.push(GeneRange {
                    genes: gene..=gene,
                    assignment: assignment.clone(),
                }),
            }
        }
        ranges
    }

    /// Every shard the map names, for reads or writes.
    pub fn shards(&self) -> BTreeSet<&ShardName> {
        self.genes
            .iter()
            .flat_map(|a| [&a.read, &a.write])
            .collect()
    }

    /// The next version, with the reads of `genes` on `to` (a move's third step).
    pub fn with_reads_on(
        &self,
        genes: RangeInclusive<u16>,
        to: &ShardName,
    ) -> Result<Self, MapError> {
        self.next(genes, |assignment| assignment.read = to.clone())
    }

    /// The next version, with the writes of `genes` on `to` (a move's fourth step).
    pub fn with_writes_on(
        &self,
        genes: RangeInclusive<u16>,
        to: &ShardName,
    ) -> Result<Self, MapError> {
        self.next(genes, |assignment| assignment.write = to.clone())
    }

    fn next(
        &self,
        genes: RangeInclusive<u16>,
        change: impl Fn(&mut Assignment),
    ) -> Result<Self, MapError> {
        if *genes.end() >= GENE_COUNT {
            return Err(MapError::GeneOutOfRange(u32::from(*genes.end())));
        }
        let mut next = self.clone();
        next.version = self
            .version
            .checked_add(1)
            .ok_or(MapError::BadVersion(self.version))?;
        for gene in genes {
            change(&mut next.genes[usize::from(gene)]);
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn name(text: &str) -> ShardName {
        text.parse().expect("a valid shard name")
    }

    #[test]
    fn names_are_checked() {
        assert!("s2".parse::<ShardName>().is_ok());
        assert!("orders_eu-1".parse::<ShardName>().is_ok());
        for bad in ["", "S2", "a b", "ü", &"x".repeat(33)] {
            assert_eq!(
                bad.parse::<ShardName>(),
                Err(MapError::BadName(bad.to_owned()))
            );
        }
    }

    #[test]
    fn a_single_map_is_one_range_on_one_shard() {
        let map = ShardMap::single(ShardName::default_shard());
        assert_eq!(map.version(), 1);
        assert_eq!(
            map.ranges(),
            [GeneRange {
                genes: 0..=1023,
                assignment: Assignment::on(ShardName::default_shard()),
            }]
        );
        assert_eq!(map.shards().len(), 1);
    }

    #[test]
    fn a_move_switches_reads_then_writes_in_two_versions() {
        let map = ShardMap::single(name("a"));
        let reads = map.with_reads_on(0..=511, &name("b")).expect("in range");
        assert_eq!(reads.version(), 2);
        assert_eq!(reads.assignment(0).read, name("b"));
        assert_eq!(reads.assignment(0).write, name("a"));
        assert_eq!(reads.assignment(512), &Assignment::on(name("a")));
        let writes = reads.with_writes_on(0..=511, &name("b")).expect("in range");
        assert_eq!(writes.version(), 3);
        assert_eq!(writes.assignment(511), &Assignment::on(name("b")));
        assert_eq!(writes.ranges().len(), 2);
        assert_eq!(
            map.with_reads_on(1000..=1024, &name("b")),
            Err(MapError::GeneOutOfRange(1024))
        );
    }

    #[test]
    fn ranges_must_cover_every_gene_once() {
        let on_a = Assignment::on(name("a"));
        let half = |genes| GeneRange {
            genes,
            assignment: on_a.clone(),
        };
        assert_eq!(
            ShardMap::from_ranges(2, &[half(0..=511)]),
            Err(MapError::NotAPartition {
                gene: 512,
                problem: "missing"
            })
        );
        assert_eq!(
            ShardMap::from_ranges(2, &[half(0..=600), half(600..=1023)]),
            Err(MapError::NotAPartition {
                gene: 600,
                problem: "assigned twice"
            })
        );
        assert_eq!(
            ShardMap::from_ranges(0, &[half(0..=1023)]),
            Err(MapError::BadVersion(0))
        );
    }

    proptest! {
        /// Any sequence of moves gives a map whose ranges read back as the same map, cover
        /// every gene once, and never merge neighbours with one assignment.
        #[test]
        fn ranges_read_back_as_the_same_map(
            moves in proptest::collection::vec((0u16..1024, 0u16..1024, 0usize..3, any::<bool>()), 0..12)
        ) {
            let shards = [name("a"), name("b"), name("c")];
            let mut map = ShardMap::single(shards[0].clone());
            for (x, y, to, reads) in moves {
                let genes = x.min(y)..=x.max(y);
                map = if reads {
                    map.with_reads_on(genes, &shards[to])
                } else {
                    map.with_writes_on(genes, &shards[to])
                }
                .expect("genes in range");
            }
            let ranges = map.ranges();
            prop_assert_eq!(&ShardMap::from_ranges(map.version(), &ranges).expect("a partition"), &map);
            prop_assert_eq!(*ranges[0].genes.start(), 0);
            prop_assert_eq!(*ranges[ranges.len() - 1].genes.end(), GENE_COUNT - 1);
            for pair in ranges.windows(2) {
                prop_assert_eq!(*pair[0].genes.end() + 1, *pair[1].genes.start());
                prop_assert_ne!(&pair[0].assignment, &pair[1].assignment);
            }
        }
    }
}
