//! Splitting the jobs among replicas: each polls the jobs whose stable hash
//! of (account, job ID) falls in its shard, and takes its share of the rate.

/// This replica's shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Which shard, from 0.
    pub index: u32,
    /// How many shards there are.
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

/// Why a shard setting was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ShardError(String);

impl Shard {
    /// Resolves the shard from the flags (or their variables) and, failing an index, from a
    /// StatefulSet-style host name ending in `-N`.
    pub fn resolve(
        index: Option<u32>,
        count: u32,
        hostname: Option<&str>,
    ) -> Result<Self, ShardError> {
        if count == 0 {
            return Err(ShardError("--shard.count must be at least 1".into()));
        }
        let (index, from) = match index {
            Some(index) => (index, format!("--shard.index {index}")),
            None if count == 1 => (0, "--shard.index".to_owned()),
            None => {
                let name = hostname.unwrap_or("");
                let index = name
                    .rsplit_once('-')
                    .and_then(|(_, n)| n.parse::<u32>().ok())
                    .ok_or_else(|| {
                        ShardError(format!(
                            "--shard.count is {count} but no --shard.index was given, and the host name {name:?} does not end in -N as a StatefulSet pod's does; set --shard.index"
                        ))
                    })?;
                (
                    index,
                    format!("the shard index {index} taken from the host name {name:?}"),
                )
            }
        };
        if index >= count {
            return Err(ShardError(format!(
                "{from} is out of range for --shard.count {count}: use 0 to {}",
                count - 1
            )));
        }
        Ok(Self { index, count })
    }

    /// Whether this replica polls `job_id` of `account`.
    pub fn owns(&self, account: &str, job_id: u64) -> bool {
        if self.count <= 1 {
            return true;
        }
        // XXH3 is a specified algorithm: the split is the same on every machine and release.
        let mut key = Vec::with_capacity(account.len() + 9);
        key.extend_from_slice(account.as_bytes());
        key.push(0xff);
        key.extend_from_slice(&job_id.to_le_bytes());
        xxhash_rust::xxh3::xxh3_64(&key) % u64::from(self.count) == u64::from(self.index)
    }

    /// This replica's share of an account's rate.
    pub fn share(&self, per_second: f64) -> f64 {
        per_second / f64::from(self.count.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_belongs_to_exactly_one_shard_and_the_split_is_even() {
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        let mut sizes = [0_u32; 3];
        for job in 1..=3000_u64 {
            let owners: Vec<u32> = shards
                .iter()
                .filter(|s| s.owns("prod", job))
                .map(|s| s.index)
                .collect();
            assert_eq!(owners.len(), 1, "job {job}");
            sizes[owners[0] as usize] += 1;
        }
        assert!(sizes.iter().all(|n| (900..=1100).contains(n)), "{sizes:?}");
        // Stable: the same answer on every machine and release.
        let fixed: Vec<bool> = (1..=8)
            .map(|job| Shard { index: 0, count: 2 }.owns("default", job))
            .collect();
        assert_eq!(
            fixed,
            vec![false, true, false, false, false, false, false, false]
        );
    }

    #[test]
    fn resolves_flags_and_statefulset_names() {
        assert_eq!(Shard::resolve(None, 1, None), Ok(Shard::default()));
        assert_eq!(
            Shard::resolve(Some(1), 2, None),
            Ok(Shard { index: 1, count: 2 })
        );
        assert_eq!(
            Shard::resolve(None, 3, Some("cas-exporter-2")),
            Ok(Shard { index: 2, count: 3 })
        );
        assert!(
            Shard::resolve(None, 3, Some("laptop"))
                .unwrap_err()
                .0
                .contains("set --shard.index")
        );
        assert_eq!(
            Shard::resolve(Some(3), 3, None).unwrap_err().0,
            "--shard.index 3 is out of range for --shard.count 3: use 0 to 2"
        );
        assert!(Shard::resolve(None, 0, None).is_err());
        assert_eq!(
            Shard::resolve(None, 2, Some("cas-exporter-4"))
                .unwrap_err()
                .0,
            "the shard index 4 taken from the host name \"cas-exporter-4\" is out of range for --shard.count 2: use 0 to 1"
        );
        assert_eq!(Shard { index: 0, count: 4 }.share(10.0), 2.5);
    }
}
