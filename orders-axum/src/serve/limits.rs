//! The default bound on open connections, from the process's file
//! descriptor limit.

/// The bound when the descriptor limit cannot be read (not Linux, or
/// `/proc` is not mounted) or is unlimited.
pub(crate) const FALLBACK_MAX_CONNECTIONS: usize = 512;

/// The fewest connections the default allows, however low the limit.
const MIN_MAX_CONNECTIONS: usize = 16;

/// The process's soft limit on open files (`RLIMIT_NOFILE`), read from
/// `/proc/self/limits`; `None` when unknown or unlimited.
pub fn open_files_limit() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_soft_limit(&text)
}

/// The soft limit of the `Max open files` line of a `/proc/<pid>/limits`
/// text.
pub(crate) fn parse_soft_limit(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// The descriptors kept back from connections: a quarter of the limit, at
/// least 64 and at most 1,024 (the database pool, its files, the listener,
/// the runtime's own descriptors, logs).
pub(crate) fn reserve(limit: u64) -> u64 {
    (limit / 4).clamp(64, 1024)
}

/// The default bound for a soft limit of `limit` descriptors (`None`:
/// unknown).
pub(crate) fn default_for(limit: Option<u64>) -> usize {
    match limit {
        Some(limit) => {
            let bound = limit.saturating_sub(reserve(limit));
            usize::try_from(bound)
                .unwrap_or(usize::MAX)
                .max(MIN_MAX_CONNECTIONS)
        }
        None => FALLBACK_MAX_CONNECTIONS,
    }
}

/// The default connection bound of this process: its soft open-files
/// limit ([`open_files_limit`]) less a reserve of a quarter of it (at least
/// 64, at most 1,024) for the database pool and its files, the listener,
/// the runtime and the logs; at least 16. When the limit is unknown or
/// unlimited, 512.
pub fn default_max_connections() -> usize {
    default_for(open_files_limit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str = "Limit                     Soft Limit           Hard Limit           Units     \n\
        Max cpu time              unlimited            unlimited            seconds   \n\
        Max open files            200                  1048576              files     \n\
        Max locked memory         8388608              8388608              bytes     \n";

    #[test]
    fn the_soft_limit_is_read_from_proc_limits() {
        assert_eq!(parse_soft_limit(LIMITS), Some(200));
        assert_eq!(
            parse_soft_limit(&LIMITS.replace("200   ", "unlimited")),
            None
        );
        assert_eq!(parse_soft_limit("garbage"), None);
    }

    #[test]
    fn the_default_keeps_a_reserve_for_everything_else() {
        assert_eq!(default_for(Some(200)), 136);
        assert_eq!(default_for(Some(1024)), 768);
        assert_eq!(default_for(Some(1_048_576)), 1_047_552);
        assert_eq!(default_for(Some(40)), MIN_MAX_CONNECTIONS);
        assert_eq!(default_for(None), FALLBACK_MAX_CONNECTIONS);
    }

    #[test]
    fn this_process_has_a_bound() {
        assert!(default_max_connections() >= MIN_MAX_CONNECTIONS);
    }
}
