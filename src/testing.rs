//! Test support shared by the unit tests: a small seedable generator and
//! the seed every randomised test prints (`LOGMON_TEST_SEED` replays it).

/// splitmix64: small, any seed works, enough to pick test inputs.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let z = (self.0 ^ (self.0 >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (not 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// `LOGMON_TEST_SEED`, else one from the clock; printed with `test`'s name
/// so a failure can be replayed.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("LOGMON_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(crate::sys::monotonic_usec);
    eprintln!("{test}: seed {seed} (replay: LOGMON_TEST_SEED={seed})");
    seed
}
