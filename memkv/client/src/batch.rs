//! Pure batch planning: grouping keys by server, splitting groups into frames that respect the
//! key-count and frame-size limits, and stitching per-frame results back into input order.

use std::ops::Range;

use crate::hrw::Rendezvous;

/// Bytes of the frame body reserved for what a frame carries besides the values and keys it is
/// sized for (a ctrl section's count prefix and the like).
pub(crate) const FRAME_SLACK: usize = 64;

/// The input indexes owned by each server, in input order: `result[s]` lists the positions of
/// the keys that `ring` places on server `s`.
pub(crate) fn group_by_server<'a, I>(keys: I, ring: &Rendezvous) -> Vec<Vec<usize>>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let keys = keys.into_iter();
    if ring.len() == 1 {
        return vec![(0..keys.count()).collect()];
    }
    // Room for an even share and a half, so that most groups never grow.
    let share = keys.size_hint().0.div_ceil(ring.len().max(1));
    let mut groups: Vec<Vec<usize>> = (0..ring.len())
        .map(|_| Vec::with_capacity(share + share / 2))
        .collect();
    for (i, key) in keys.enumerate() {
        groups[ring.server_for(key)].push(i);
    }
    groups
}

/// Splits a run of `sizes.len()` items into consecutive frames. A frame holds at most
/// `max_items` items and at most `max_bytes` bytes, counting `base` bytes per frame plus each
/// item's size. An item that exceeds `max_bytes` on its own gets a frame of its own; callers
/// detect that with [`frame_fits`] and send the item another way.
pub(crate) fn split_frames(
    sizes: &[usize],
    base: usize,
    max_items: usize,
    max_bytes: usize,
) -> Vec<Range<usize>> {
    let max_items = max_items.max(1);
    let mut frames = Vec::new();
    let mut start = 0;
    let mut bytes = base;
    for (i, &size) in sizes.iter().enumerate() {
        let count = i - start;
        if count > 0 && (count == max_items || bytes.saturating_add(size) > max_bytes) {
            frames.push(start..i);
            start = i;
            bytes = base;
        }
        bytes = bytes.saturating_add(size);
    }
    if start < sizes.len() {
        frames.push(start..sizes.len());
    }
    frames
}

/// Whether a frame of `base` bytes plus `sizes` fits in `max_bytes`.
pub(crate) fn frame_fits(sizes: &[usize], base: usize, max_bytes: usize) -> bool {
    sizes
        .iter()
        .try_fold(base, |acc, s| acc.checked_add(*s))
        .is_some_and(|total| total <= max_bytes)
}

/// Places `values[j]` at `out[indexes[j]]`.
pub(crate) fn scatter<T>(out: &mut [Option<T>], indexes: &[usize], values: Vec<T>) {
    debug_assert_eq!(indexes.len(), values.len());
    for (&i, v) in indexes.iter().zip(values) {
        out[i] = Some(v);
    }
}

/// Unwraps a fully scattered result. Every slot must have been filled.
pub(crate) fn gather<T>(out: Vec<Option<T>>) -> Vec<T> {
    out.into_iter()
        .map(|v| v.expect("every input position is answered exactly once"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_keep_input_order_and_cover_every_key() {
        let ring = Rendezvous::new(["a:1", "b:2", "c:3"]);
        let keys: Vec<Vec<u8>> = (0..1000).map(|i| format!("k{i}").into_bytes()).collect();
        let groups = group_by_server(keys.iter().map(Vec::as_slice), &ring);
        let mut seen = vec![false; keys.len()];
        for (s, g) in groups.iter().enumerate() {
            assert!(g.windows(2).all(|w| w[0] < w[1]), "not in input order");
            for &i in g {
                assert_eq!(ring.server_for(&keys[i]), s);
                assert!(!seen[i]);
                seen[i] = true;
            }
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn one_server_owns_every_position_in_order() {
        let ring = Rendezvous::new(["a:1"]);
        let keys: Vec<&[u8]> = vec![b"x", b"y", b"z"];
        assert_eq!(group_by_server(keys, &ring), vec![vec![0, 1, 2]]);
        assert_eq!(
            group_by_server(Vec::<&[u8]>::new(), &ring),
            vec![Vec::<usize>::new()]
        );
    }

    #[test]
    fn split_by_count() {
        let sizes = vec![1; 10];
        assert_eq!(split_frames(&sizes, 0, 4, 1000), vec![0..4, 4..8, 8..10]);
        assert_eq!(split_frames(&sizes, 0, 10, 1000), vec![0..10]);
        assert_eq!(split_frames(&[], 0, 4, 1000), Vec::<Range<usize>>::new());
    }

    #[test]
    fn split_by_bytes() {
        // base 10, limit 100: 10 + 40 + 40 = 90 fits, the third 40 does not.
        assert_eq!(
            split_frames(&[40, 40, 40, 40], 10, 100, 100),
            vec![0..2, 2..4]
        );
        // Exactly at the limit still fits.
        assert_eq!(split_frames(&[45, 45], 10, 100, 100), vec![0..2]);
        // An oversized item is alone in its frame, and its neighbours are not dragged along.
        let frames = split_frames(&[10, 500, 10, 10], 10, 100, 100);
        assert_eq!(frames, vec![0..1, 1..2, 2..4]);
        assert!(!frame_fits(&[500], 10, 100));
        assert!(frame_fits(&[10, 10], 10, 100));
    }

    #[test]
    fn split_frames_never_exceed_limits() {
        let sizes: Vec<usize> = (0..5000).map(|i| (i * 7919) % 300 + 1).collect();
        let frames = split_frames(&sizes, 20, 64, 4096);
        let mut next = 0;
        for f in &frames {
            assert_eq!(f.start, next, "frames must be consecutive");
            next = f.end;
            assert!(f.len() <= 64);
            assert!(frame_fits(&sizes[f.clone()], 20, 4096));
        }
        assert_eq!(next, sizes.len());
    }

    #[test]
    fn stitching_restores_input_order() {
        let ring = Rendezvous::new(["a:1", "b:2", "c:3", "d:4"]);
        let keys: Vec<Vec<u8>> = (0..500).map(|i| format!("k{i}").into_bytes()).collect();
        let groups = group_by_server(keys.iter().map(Vec::as_slice), &ring);
        let mut out: Vec<Option<Vec<u8>>> = (0..keys.len()).map(|_| None).collect();
        // Answer each group frame by frame, in reverse frame order, as parallel sends might.
        for g in groups.iter().rev() {
            let frames = split_frames(&vec![1; g.len()], 0, 7, usize::MAX);
            for f in frames.into_iter().rev() {
                let idx = &g[f];
                let vals = idx.iter().map(|&i| keys[i].clone()).collect();
                scatter(&mut out, idx, vals);
            }
        }
        assert_eq!(gather(out), keys);
    }
}
