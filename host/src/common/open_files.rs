//! The process's open-file limit. Every client connection, outbound
//! request, stored file and database handle takes a descriptor, and a
//! shell's soft limit (often 1,024) is far below what one busy server
//! holds, while the hard limit is the ceiling the operator actually set.
//! So `berth serve` raises the soft limit to the hard one at start, as Go's
//! runtime and most servers do.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Where Linux keeps its cap on any process's open files, which applies
/// when the hard limit is unlimited.
const KERNEL_CEILING: &str = "/proc/sys/fs/nr_open";

/// Raises this process's soft open-file limit to its hard limit. Returns
/// the limit before and after when it changed, `None` when it already was
/// as high as it may go.
pub fn raise_open_file_limit() -> std::io::Result<Option<(u64, u64)>> {
    let limit = getrlimit(Resource::Nofile);
    let ceiling = limit.maximum.or_else(kernel_ceiling);
    let (Some(current), Some(ceiling)) = (limit.current, ceiling) else {
        return Ok(None);
    };
    if current >= ceiling {
        return Ok(None);
    }
    let raised = Rlimit {
        current: Some(ceiling),
        maximum: limit.maximum,
    };
    setrlimit(Resource::Nofile, raised)?;
    Ok(Some((current, ceiling)))
}

/// The kernel's cap on any process's open files (`fs.nr_open`).
fn kernel_ceiling() -> Option<u64> {
    std::fs::read_to_string(KERNEL_CEILING)
        .ok()?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_ends_at_the_hard_one_and_a_second_call_changes_nothing() {
        raise_open_file_limit().expect("raising within the hard limit");
        let limit = getrlimit(Resource::Nofile);
        let ceiling = limit.maximum.or_else(kernel_ceiling);
        assert_eq!(limit.current, ceiling);
        assert_eq!(raise_open_file_limit().unwrap(), None);
    }
}
