//! Ids of new rows.

/// A fresh nanoid: 21 characters of the URL-safe alphabet, 126 random bits.
///
/// The bytes come from the thread's cryptographically secure generator
/// (`rand::rng()`: ChaCha12, seeded and periodically reseeded from the
/// operating system). nanoid's default seeds a new generator from the
/// operating system for every id, a system call on every insert.
pub fn new_id() -> String {
    nanoid::nanoid!(21, &nanoid::alphabet::SAFE, random_bytes)
}

fn random_bytes(size: usize) -> Vec<u8> {
    let mut bytes = vec![0; size];
    rand::Rng::fill(&mut rand::rng(), &mut bytes[..]);
    bytes
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn ids_are_nanoids_and_distinct() {
        let ids: HashSet<String> = (0..10_000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 10_000);
        for id in &ids {
            assert_eq!(id.len(), 21, "{id}");
            assert!(
                id.chars().all(|c| nanoid::alphabet::SAFE.contains(&c)),
                "{id}"
            );
        }
        // Every character of the alphabet turns up: the bytes are not stuck.
        let used: HashSet<char> = ids.iter().flat_map(|id| id.chars()).collect();
        assert_eq!(used.len(), nanoid::alphabet::SAFE.len());
    }
}
