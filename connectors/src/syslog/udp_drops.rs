//! The kernel's drop counter for one UDP socket, from `/proc/net/udp` and `/proc/net/udp6`
//! (last column), found by the socket's inode.

use std::os::fd::AsRawFd;

/// The inode of a socket (from `/proc/self/fd/N` -> `socket:[INODE]`).
pub fn socket_inode<S: AsRawFd>(s: &S) -> Option<u64> {
    let link = std::fs::read_link(format!("/proc/self/fd/{}", s.as_raw_fd())).ok()?;
    let t = link.to_str()?;
    t.strip_prefix("socket:[")?.strip_suffix(']')?.parse().ok()
}

/// Parses one `/proc/net/udp*` table: the `drops` of the row whose inode matches.
pub fn drops_in_table(table: &str, inode: u64) -> Option<u64> {
    table.lines().skip(1).find_map(|l| {
        let cols: Vec<&str> = l.split_whitespace().collect();
        // sl local rem st tx:rx tr:tm retrnsmt uid timeout inode ref pointer drops
        (cols.len() >= 13 && cols[9].parse::<u64>().ok() == Some(inode)).then(|| cols[12].parse().ok()).flatten()
    })
}

/// The socket's current kernel drop count.
pub fn drops_for_inode(inode: u64) -> Option<u64> {
    ["/proc/net/udp", "/proc/net/udp6"].iter().find_map(|p| std::fs::read_to_string(p).ok().and_then(|t| drops_in_table(&t, inode)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_proc_table() {
        let t = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n  123: 0100007F:8AE3 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 17\n";
        assert_eq!(drops_in_table(t, 4242), Some(17));
        assert_eq!(drops_in_table(t, 1), None);
    }

    #[test]
    fn finds_a_live_socket() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let inode = socket_inode(&s).expect("inode");
        assert_eq!(drops_for_inode(inode), Some(0));
    }
}
