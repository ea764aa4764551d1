//! The seekable sender-key ratchet: a binary tree of keys over the 2^32
//! message indices (docs/PROTOCOL.md §12.2).
//!
//! A node at depth `d` with prefix `p` (the top `d` bits of the indices it
//! covers) derives its children with HMAC-SHA256 under the `TREE_LEFT` and
//! `TREE_RIGHT` labels; a leaf (depth 32) is the key of one index. A state
//! holds the smallest set of subtree nodes covering exactly the indices it
//! may still use. Using index `k` replaces the node covering `k` by the
//! siblings along the path down to `k`'s leaf, so afterwards nothing in
//! the state derives `k`'s key (forward secrecy), any later index is at
//! most 32 steps away (seeking in O(log n)), and earlier unread indices
//! stay readable (out-of-order delivery).

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::labels;
use crate::primitives::kdf::hmac_sha256_pair;

/// Depth of the tree: indices are `u32`.
pub(crate) const TREE_DEPTH: u8 = 32;

/// One subtree: its position and key. Zeroized on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub(crate) struct Node {
    pub(crate) depth: u8,
    pub(crate) prefix: u32,
    pub(crate) key: [u8; 32],
}

impl Node {
    /// A root node (depth 0) covering every index.
    pub(crate) fn root(key: [u8; 32]) -> Self {
        Self { depth: 0, prefix: 0, key }
    }

    /// Whether the position is valid: depth at most 32 and a prefix of
    /// exactly `depth` bits.
    pub(crate) fn is_valid(&self) -> bool {
        self.depth <= TREE_DEPTH && (u64::from(self.prefix) >> self.depth) == 0
    }

    /// First index covered.
    pub(crate) fn first(&self) -> u64 {
        u64::from(self.prefix) << (TREE_DEPTH - self.depth.min(TREE_DEPTH))
    }

    /// Last index covered.
    pub(crate) fn last(&self) -> u64 {
        let span = 1u64 << (TREE_DEPTH - self.depth.min(TREE_DEPTH));
        self.first().saturating_add(span).saturating_sub(1)
    }

    fn covers(&self, index: u32) -> bool {
        (self.first()..=self.last()).contains(&u64::from(index))
    }

    /// Both children: (left, right).
    fn children(&self) -> (Box<Node>, Box<Node>) {
        let (left, right) = hmac_sha256_pair(&self.key, labels::TREE_LEFT, labels::TREE_RIGHT);
        let depth = self.depth.saturating_add(1);
        let prefix = self.prefix << 1;
        (Box::new(Node { depth, prefix, key: *left }), Box::new(Node { depth, prefix: prefix | 1, key: *right }))
    }
}

/// What using one index yields: its leaf key, and the siblings that
/// replace the node it came from.
pub(crate) struct Descent {
    /// Position in the cover of the node that covered the index.
    position: usize,
    pub(crate) leaf: Box<Node>,
    /// Sorted by first index.
    #[allow(clippy::vec_box, reason = "moving a box moves a pointer, not the key bytes")]
    siblings: Vec<Box<Node>>,
}

/// The nodes a state can still derive keys from: disjoint, sorted by
/// first index. Nodes are boxed so removing one drops (and wipes) it in
/// place.
#[derive(Clone, Default)]
pub(crate) struct Cover {
    #[allow(clippy::vec_box, reason = "moving a box moves a pointer, not the key bytes")]
    nodes: Vec<Box<Node>>,
}

impl Cover {
    pub(crate) fn from_root(key: [u8; 32]) -> Self {
        Self { nodes: vec![Box::new(Node::root(key))] }
    }

    /// Builds a cover from nodes read from the wire or a pickle, refusing
    /// invalid positions, overlaps, disorder and more than `max` nodes.
    #[allow(clippy::vec_box, reason = "moving a box moves a pointer, not the key bytes")]
    pub(crate) fn from_nodes(nodes: Vec<Box<Node>>, max: usize) -> Option<Self> {
        if nodes.len() > max || !nodes.iter().all(|n| n.is_valid()) {
            return None;
        }
        if !nodes.windows(2).all(|w| matches!(w, [a, b] if a.last() < b.first())) {
            return None;
        }
        Some(Self { nodes })
    }

    pub(crate) fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.nodes.iter().map(|n| &**n)
    }

    /// Boxed copies of the nodes (for a record).
    #[allow(clippy::vec_box, reason = "moving a box moves a pointer, not the key bytes")]
    pub(crate) fn boxed_nodes(&self) -> Vec<Box<Node>> {
        self.nodes.clone()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The lowest index still covered.
    pub(crate) fn first_index(&self) -> Option<u32> {
        self.nodes.first().and_then(|n| u32::try_from(n.first()).ok())
    }

    fn position(&self, index: u32) -> Option<usize> {
        let i = self.nodes.partition_point(|n| n.last() < u64::from(index));
        self.nodes.get(i).filter(|n| n.covers(index)).map(|_| i)
    }

    /// Derives `index`'s leaf without changing the cover: at most 32
    /// HMAC-pair steps. `None` if the index is not covered (used,
    /// evicted, or before the state's start).
    pub(crate) fn descend(&self, index: u32) -> Option<Descent> {
        let position = self.position(index)?;
        let mut current = Box::new((**self.nodes.get(position)?).clone());
        let mut siblings = Vec::with_capacity(usize::from(TREE_DEPTH - current.depth));
        while current.depth < TREE_DEPTH {
            let shift = TREE_DEPTH - current.depth - 1;
            let (left, right) = current.children();
            if (index >> shift) & 1 == 0 {
                siblings.push(right);
                current = left;
            } else {
                siblings.push(left);
                current = right;
            }
        }
        siblings.sort_by_key(|n| n.first());
        Some(Descent { position, leaf: current, siblings })
    }

    /// Applies a descent from this same cover: the covering node is
    /// replaced by the siblings, so the index's key is gone.
    pub(crate) fn puncture(&mut self, descent: Descent) {
        let Descent { position, siblings, .. } = descent;
        if position < self.nodes.len() {
            self.nodes.splice(position..=position, siblings);
        }
    }

    /// Deletes every key of an index below `index`: the nodes that lie
    /// entirely below it are dropped, and the one node that straddles it
    /// (if any) is split down to it (at most 32 HMAC pairs), so that
    /// afterwards nothing derives a key below `index`.
    pub(crate) fn drop_below(&mut self, index: u32) {
        self.restrict(u64::from(index), u64::from(u32::MAX));
    }

    /// Deletes every key of an index above `index` (closing a state at its
    /// final index): the mirror of [`Cover::drop_below`].
    pub(crate) fn drop_above(&mut self, index: u32) {
        self.restrict(0, u64::from(index));
    }

    /// Keeps only the keys of indices in `[lo, hi]`.
    fn restrict(&mut self, lo: u64, hi: u64) {
        let nodes = core::mem::take(&mut self.nodes);
        let mut kept = Vec::with_capacity(nodes.len());
        for node in nodes {
            clip(node, lo, hi, &mut kept);
        }
        self.nodes = kept;
    }

    /// Drops the lowest nodes until at most `max` remain.
    pub(crate) fn cap(&mut self, max: usize) {
        if self.nodes.len() > max {
            let excess = self.nodes.len() - max;
            self.nodes.drain(..excess);
        }
    }

    /// The cover of the indices in `[lo, hi]` that this cover holds: nodes
    /// inside are copied, a node straddling either end is split down to
    /// it (at most 32 HMAC pairs per end).
    pub(crate) fn within(&self, lo: u64, hi: u64) -> Cover {
        let first = self.nodes.partition_point(|n| n.last() < lo);
        let mut out = Vec::new();
        for node in self.nodes.iter().skip(first).take_while(|n| n.first() <= hi) {
            clip(node.clone(), lo, hi, &mut out);
        }
        Cover { nodes: out }
    }

    /// The cover of the indices at or above `start` that this cover holds.
    pub(crate) fn suffix_from(&self, start: u32) -> Cover {
        self.within(u64::from(start), u64::from(u32::MAX))
    }

    /// Appends the nodes of `other`, which must all lie above this cover's
    /// (callers build covers range by range, in increasing order).
    pub(crate) fn extend(&mut self, other: Cover) {
        self.nodes.extend(other.nodes);
    }
}

/// Appends to `out`, in increasing order, the nodes covering exactly the
/// indices of `node` that lie in `[lo, hi]`: `node` itself if it lies
/// inside, nothing if it lies outside (it is dropped and wiped), else its
/// two children clipped in turn. Only a node straddling `lo` or `hi` is
/// split, and of its two children at most one straddles each end, so a
/// clip costs at most 32 HMAC pairs per end.
#[allow(clippy::vec_box, reason = "moving a box moves a pointer, not the key bytes")]
fn clip(node: Box<Node>, lo: u64, hi: u64, out: &mut Vec<Box<Node>>) {
    if node.last() < lo || node.first() > hi {
        return;
    }
    if (node.first() >= lo && node.last() <= hi) || node.depth >= TREE_DEPTH {
        out.push(node);
        return;
    }
    let (left, right) = node.children();
    clip(left, lo, hi, out);
    clip(right, lo, hi, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys_of(cover: &Cover, indices: impl Iterator<Item = u32>) -> Vec<Option<[u8; 32]>> {
        indices.map(|i| cover.descend(i).map(|d| d.leaf.key)).collect()
    }

    #[test]
    fn every_index_has_one_key_and_puncturing_removes_only_it() {
        let mut cover = Cover::from_root([7; 32]);
        let before = keys_of(&cover, 0..64);
        let d = cover.descend(5).unwrap();
        let k5 = d.leaf.key;
        cover.puncture(d);
        let after = keys_of(&cover, 0..64);
        for i in 0..64usize {
            if i == 5 {
                assert_eq!(after[i], None);
                assert_eq!(before[i], Some(k5));
            } else {
                assert_eq!(after[i], before[i], "index {i}");
            }
        }
        // Far indices keep their keys too, and a node count near 32.
        assert_eq!(
            cover.descend(u32::MAX).map(|d| d.leaf.key),
            Cover::from_root([7; 32]).descend(u32::MAX).map(|d| d.leaf.key)
        );
        assert!(cover.len() <= 32);
    }

    #[test]
    fn in_order_use_keeps_the_cover_small() {
        let mut cover = Cover::from_root([1; 32]);
        for i in 0..5_000u32 {
            let d = cover.descend(i).unwrap();
            cover.puncture(d);
            assert!(cover.len() <= 32, "{} nodes after {i}", cover.len());
            assert_eq!(cover.first_index(), Some(i + 1));
        }
    }

    #[test]
    fn the_cover_from_an_index_derives_exactly_the_later_keys() {
        let root = Cover::from_root([3; 32]);
        for start in [0u32, 1, 2, 3, 1000, 1024, 65_535, u32::MAX - 1, u32::MAX] {
            let sub = root.suffix_from(start);
            assert!(sub.len() <= 32, "start {start}: {} nodes", sub.len());
            assert_eq!(sub.first_index(), Some(start));
            if start > 0 {
                assert!(sub.descend(start - 1).is_none());
            }
            for i in [start, start.saturating_add(1), start.saturating_add(77), u32::MAX] {
                assert_eq!(sub.descend(i).map(|d| d.leaf.key), root.descend(i).map(|d| d.leaf.key));
            }
        }
    }

    #[test]
    fn dropping_below_an_index_deletes_every_key_below_it_and_keeps_the_rest() {
        let root = Cover::from_root([5; 32]);
        // A cover with holes: 3000 and 17 used, so nodes of many sizes,
        // several of them straddling the boundaries below.
        let mut holed = root.clone();
        for used in [3000u32, 17] {
            let d = holed.descend(used).unwrap();
            holed.puncture(d);
        }
        for start in [0u32, 1, 16, 17, 18, 999, 1000, 1001, 2048, 2999, 3000, 3001, u32::MAX] {
            for base in [&root, &holed] {
                let mut cover = base.clone();
                let ((), work) = crate::work::measure(|| cover.drop_below(start));
                assert!(work.hmac <= 2 * 32, "start {start}: {} HMACs", work.hmac);
                // Nothing below `start` is left, in any node.
                assert!(cover.nodes().all(|n| n.first() >= u64::from(start)), "start {start}");
                assert!(cover.nodes().zip(cover.nodes().skip(1)).all(|(a, b)| a.last() < b.first()));
                if start > 0 {
                    assert!(cover.descend(start - 1).is_none());
                }
                // Every key from `start` on is unchanged.
                for i in [start, start.saturating_add(1), start.saturating_add(999), 3000, 3001, u32::MAX] {
                    let expected = if i >= start { base.descend(i).map(|d| d.leaf.key) } else { None };
                    assert_eq!(cover.descend(i).map(|d| d.leaf.key), expected, "start {start}, index {i}");
                }
            }
        }
    }

    #[test]
    fn dropping_above_an_index_deletes_every_key_above_it_and_keeps_the_rest() {
        let root = Cover::from_root([6; 32]);
        let mut holed = root.clone();
        for used in [3000u32, 17] {
            let d = holed.descend(used).unwrap();
            holed.puncture(d);
        }
        for last in [0u32, 1, 16, 17, 18, 999, 1023, 1024, 2999, 3000, 3001, u32::MAX - 1, u32::MAX] {
            for base in [&root, &holed] {
                let mut cover = base.clone();
                let ((), work) = crate::work::measure(|| cover.drop_above(last));
                assert!(work.hmac <= 2 * 32, "last {last}: {} HMACs", work.hmac);
                assert!(cover.nodes().all(|n| n.last() <= u64::from(last)), "last {last}");
                assert!(cover.nodes().zip(cover.nodes().skip(1)).all(|(a, b)| a.last() < b.first()));
                if last < u32::MAX {
                    assert!(cover.descend(last + 1).is_none());
                }
                for i in [0, 16, 17, last.saturating_sub(1), last, 3000] {
                    let expected = if i <= last { base.descend(i).map(|d| d.leaf.key) } else { None };
                    assert_eq!(cover.descend(i).map(|d| d.leaf.key), expected, "last {last}, index {i}");
                }
            }
        }
    }

    #[test]
    fn a_cover_within_a_range_holds_exactly_its_keys_in_that_range() {
        let root = Cover::from_root([8; 32]);
        for (lo, hi) in [(0u64, 0u64), (5, 5), (3, 1000), (1024, 2047), (7, u64::from(u32::MAX))] {
            let part = root.within(lo, hi);
            assert!(part.len() <= 64, "[{lo}, {hi}]: {} nodes", part.len());
            for i in [0u32, 2, 3, 4, 5, 6, 999, 1000, 1001, 1023, 1024, 2047, 2048, u32::MAX] {
                let inside = (lo..=hi).contains(&u64::from(i));
                let expected = if inside { root.descend(i).map(|d| d.leaf.key) } else { None };
                assert_eq!(part.descend(i).map(|d| d.leaf.key), expected, "[{lo}, {hi}], index {i}");
            }
        }
    }

    #[test]
    fn invalid_or_overlapping_nodes_are_refused() {
        let n = |depth, prefix| Box::new(Node { depth, prefix, key: [0; 32] });
        assert!(Cover::from_nodes(vec![n(33, 0)], 40).is_none());
        assert!(Cover::from_nodes(vec![n(1, 2)], 40).is_none());
        assert!(Cover::from_nodes(vec![n(1, 0), n(2, 1)], 40).is_none());
        assert!(Cover::from_nodes(vec![n(1, 1), n(1, 0)], 40).is_none());
        assert!(Cover::from_nodes(vec![n(1, 0), n(1, 1)], 1).is_none());
        assert!(Cover::from_nodes(vec![n(1, 0), n(1, 1)], 2).is_some());
        assert!(Cover::from_nodes(vec![n(32, u32::MAX)], 2).is_some());
    }
}
