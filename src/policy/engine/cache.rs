//! [`BoundedCache`]: the one cache type of the engine, shared by its three caches — the pairs of
//! a caller and a model version, the slices of per-call rules, and the decision memo
//! (`docs/ARCHITECTURE.md`, "The policy module"; DESIGN.md "Policies" asks for a decision per
//! call, and these only make it cheaper).
//!
//! A map of at most `max` entries behind a lock, read by every worker. When it is full the next
//! insert empties it first: what the engine caches is rebuilt from the facts in a few Cedar
//! evaluations, so starting again is cheaper than keeping an eviction order on every hit. A
//! poisoned lock makes a miss, and an insert that does nothing: the caller judges afresh.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, RwLock};

/// A map from `K` to shared `V` that never holds more than its bound.
pub(super) struct BoundedCache<K, V> {
    max: usize,
    map: RwLock<HashMap<K, Arc<V>>>,
}

impl<K: Hash + Eq, V> BoundedCache<K, V> {
    /// An empty cache that holds at most `max` entries (at least one).
    pub(super) fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            map: RwLock::new(HashMap::new()),
        }
    }

    /// The value under `key`, if it is kept.
    pub(super) fn get<Q>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.map.read().ok()?.get(key).cloned()
    }

    /// Keeps `value` under `key`; a full cache is emptied first.
    pub(super) fn insert(&self, key: K, value: Arc<V>) {
        if let Ok(mut map) = self.map.write() {
            if map.len() >= self.max {
                map.clear();
            }
            map.insert(key, value);
        }
    }

    /// How many entries are kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.read().map_or(0, |m| m.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filled(max: usize, n: u32) -> BoundedCache<u32, u32> {
        let cache = BoundedCache::new(max);
        for k in 0..n {
            cache.insert(k, Arc::new(k * 10));
        }
        cache
    }

    #[test]
    fn what_is_inserted_is_found_until_the_bound() {
        let cache = filled(4, 4);
        assert_eq!(cache.len(), 4);
        for k in 0..4 {
            assert_eq!(cache.get(&k).as_deref(), Some(&(k * 10)));
        }
        assert!(cache.get(&4).is_none());
    }

    #[test]
    fn it_never_holds_more_than_its_bound() {
        let cache = BoundedCache::new(3);
        for k in 0..100u32 {
            cache.insert(k, Arc::new(k));
            assert!(cache.len() <= 3, "{} entries after {k}", cache.len());
            // The entry just inserted is always kept.
            assert_eq!(cache.get(&k).as_deref(), Some(&k));
        }
    }

    #[test]
    fn a_full_cache_starts_again_on_the_next_insert() {
        let cache = filled(4, 4);
        cache.insert(9, Arc::new(90));
        assert_eq!(cache.len(), 1);
        assert!((0..4).all(|k| cache.get(&k).is_none()));
        assert_eq!(cache.get(&9).as_deref(), Some(&90));
        // Replacing a key while full empties it too, as inserting a new one does.
        let cache = filled(2, 2);
        cache.insert(1, Arc::new(11));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(&1).as_deref(), Some(&11));
    }

    #[test]
    fn replacing_a_key_below_the_bound_keeps_the_others() {
        let cache = filled(4, 3);
        cache.insert(1, Arc::new(11));
        assert_eq!(cache.len(), 3);
        assert_eq!(cache.get(&1).as_deref(), Some(&11));
        assert_eq!(cache.get(&2).as_deref(), Some(&20));
    }

    #[test]
    fn keys_are_looked_up_by_their_borrowed_form() {
        let cache: BoundedCache<Vec<usize>, &str> = BoundedCache::new(2);
        cache.insert(vec![1, 2], Arc::new("slice"));
        assert_eq!(cache.get([1, 2].as_slice()).as_deref(), Some(&"slice"));
    }

    #[test]
    fn a_bound_of_zero_still_keeps_the_last_entry() {
        let cache = filled(0, 3);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get(&2).as_deref(), Some(&20));
    }
}
