//! The merge policy: which segments an `index` run rewrites, tiered as tantivy's `LogMergePolicy`.
//!
//! Every segment is one more graph a question searches, so small segments (the output of small
//! runs) are merged as they pile up; but rewriting a segment costs its graph's build, so a full
//! segment is never rewritten only to join others. Segments are placed in tiers by their live
//! rows, each tier `FACTOR` times narrower than the one above: full (at least half of
//! `segment_rows`), then `[full/8, full/2)`, `[full/32, full/8)`, and so on down to a bottom tier
//! that takes everything smaller. A tier holding `FACTOR` segments is merged into one, which lands
//! a tier up (and may fill that one in turn); a segment mostly tombstones (`COMPACT_AT` of its
//! rows) is merged with the rest of its tier, or rewritten alone when it is full. So a tier keeps
//! at most `FACTOR - 1` segments: at most `(FACTOR - 1) × TIERS` graphs besides the full ones,
//! whatever the number of runs, and a run rewrites rows in proportion to what it merges, not to
//! the corpus.

use super::COMPACT_AT;

/// Segments of a tier merged at once (and the ratio between tiers' bounds).
pub const FACTOR: usize = 4;
/// Tiers below the full one; the lowest takes every segment smaller than its bound.
pub const TIERS: u32 = 4;

/// What the policy needs to know of a segment.
#[derive(Debug, Clone, Copy)]
pub struct SegmentSize {
    /// Rows in its files, tombstones included.
    pub rows: usize,
    /// Rows not tombstoned.
    pub live: usize,
}

impl SegmentSize {
    fn mostly_dead(&self) -> bool {
        self.rows > 0 && (self.rows - self.live) as f64 / self.rows as f64 > COMPACT_AT
    }
}

/// The tier of a segment of `live` rows: 0 is full, 1 the one below, …, `TIERS` the bottom.
fn tier(live: usize, segment_rows: usize) -> u32 {
    let mut bound = segment_rows.max(1).div_ceil(2);
    let mut t = 0;
    while live < bound && t < TIERS {
        bound /= FACTOR;
        t += 1;
    }
    t
}

/// Segments the policy treats as one: a segment, or those it decided to merge into one.
struct Group {
    live: usize,
    members: Vec<usize>,
    /// A segment mostly tombstones: its tier is merged even with fewer than `FACTOR` members.
    dead: bool,
    /// Formed by a merge: its members are rewritten.
    merged: bool,
}

/// The segments (positions in `segments`) to merge in this run; empty when none should be.
pub fn choose(segments: &[SegmentSize], segment_rows: usize) -> Vec<usize> {
    let mut chosen = vec![false; segments.len()];
    let mut pool: Vec<Group> = Vec::new();
    for (i, s) in segments.iter().enumerate() {
        if tier(s.live, segment_rows) == 0 {
            // Full: rewritten (alone) when mostly dead, never merged for its size.
            chosen[i] = s.mostly_dead();
        } else {
            pool.push(Group { live: s.live, members: vec![i], dead: s.mostly_dead(), merged: false });
        }
    }
    // Lowest tier first, so that what a tier's merge makes can complete the tier above it.
    for t in (1..=TIERS).rev() {
        let (here, rest): (Vec<Group>, Vec<Group>) = pool.into_iter().partition(|g| tier(g.live, segment_rows) == t);
        pool = rest;
        if here.len() >= FACTOR || here.iter().any(|g| g.dead) {
            let live = here.iter().map(|g| g.live).sum();
            pool.push(Group { live, members: here.into_iter().flat_map(|g| g.members).collect(), dead: false, merged: true });
        } else {
            pool.extend(here);
        }
    }
    for g in pool.into_iter().filter(|g| g.merged) {
        g.members.into_iter().for_each(|i| chosen[i] = true);
    }
    (0..segments.len()).filter(|&i| chosen[i]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: usize = 1 << 17;

    fn sizes(live: &[usize]) -> Vec<SegmentSize> {
        live.iter().map(|&l| SegmentSize { rows: l, live: l }).collect()
    }

    #[test]
    fn tiers_are_a_factor_apart_below_half_a_segment() {
        assert_eq!(tier(FULL, FULL), 0);
        assert_eq!(tier(FULL / 2, FULL), 0);
        assert_eq!(tier(FULL / 2 - 1, FULL), 1);
        assert_eq!(tier(FULL / 8, FULL), 1);
        assert_eq!(tier(FULL / 8 - 1, FULL), 2);
        assert_eq!(tier(0, FULL), TIERS);
    }

    #[test]
    fn full_segments_stay_and_a_tier_merges_at_factor_members() {
        assert!(choose(&sizes(&[FULL; 7]), FULL).is_empty());
        assert!(choose(&sizes(&[FULL, FULL, 100, 200, 300]), FULL).is_empty(), "three in the bottom tier wait");
        assert_eq!(choose(&sizes(&[FULL, 100, 200, 300, 400]), FULL), vec![1, 2, 3, 4]);
        // Different tiers, three each: nothing to do.
        assert!(choose(&sizes(&[20_000, 20_000, 20_000, 5_000, 5_000, 5_000, 100, 100, 100]), FULL).is_empty());
    }

    #[test]
    fn a_merge_can_complete_the_tier_above() {
        // With 131,072-row segments the tiers below full are [16,384, 65,536), [4,096, 16,384),
        // [1,024, 4,096) and below 1,024. Four bottom segments make one of 1,600 rows, which
        // joins three of 3,000: that tier merges too, seven segments into one.
        assert_eq!((tier(3_000, FULL), tier(1_600, FULL), tier(500, FULL)), (3, 3, TIERS));
        let got = choose(&sizes(&[3_000, 3_000, 3_000, 500, 500, 300, 300]), FULL);
        assert_eq!(got, vec![0, 1, 2, 3, 4, 5, 6]);
        // Three bottom ones only: nothing.
        assert!(choose(&sizes(&[3_000, 3_000, 3_000, 500, 500, 300]), FULL).is_empty());
    }

    #[test]
    fn mostly_dead_segments_are_rewritten() {
        let dead_full = SegmentSize { rows: FULL, live: FULL * 3 / 4 };
        let alive_full = SegmentSize { rows: FULL, live: FULL * 9 / 10 };
        assert_eq!(choose(&[alive_full, dead_full], FULL), vec![1], "alone");
        // A small mostly-dead one takes its tier with it, not the others.
        let small_dead = SegmentSize { rows: 100, live: 10 };
        let s = [alive_full, small_dead, SegmentSize { rows: 50, live: 50 }, SegmentSize { rows: 20_000, live: 20_000 }];
        assert_eq!(choose(&s, FULL), vec![1, 2]);
        // A full one whose live rows are no longer half a segment is in the tier below, and, mostly
        // dead, takes that tier with it.
        let shrunk = SegmentSize { rows: FULL, live: FULL / 4 };
        let other = SegmentSize { rows: 20_000, live: 20_000 };
        assert_eq!(choose(&[shrunk, other, other], FULL), vec![0, 1, 2]);
        assert_eq!(choose(&[alive_full, shrunk], FULL), vec![1]);
    }

    #[test]
    fn many_small_runs_keep_the_number_of_segments_logarithmic() {
        // 2,000 runs of 300 rows each, the policy applied after each (merges done as it says).
        let mut segs: Vec<usize> = Vec::new();
        let mut rewritten = 0usize;
        for _ in 0..2_000 {
            segs.push(300);
            let merge = choose(&sizes(&segs), FULL);
            let rows: usize = merge.iter().map(|&i| segs[i]).sum();
            rewritten += rows;
            let mut kept: Vec<usize> = segs.iter().enumerate().filter(|(i, _)| !merge.contains(i)).map(|(_, &l)| l).collect();
            let mut left = rows;
            while left > 0 {
                kept.push(left.min(FULL));
                left -= left.min(FULL);
            }
            segs = kept;
            let small = segs.iter().filter(|&&l| tier(l, FULL) > 0).count();
            assert!(small <= (FACTOR - 1) * TIERS as usize, "{segs:?}");
        }
        let total = 2_000 * 300;
        assert_eq!(segs.iter().sum::<usize>(), total);
        // Each row is rewritten once per tier it climbs, not once per run.
        assert!(rewritten <= total * (TIERS as usize + 1), "{rewritten} rows rewritten for {total}");
    }
}
