//! Where connections come from and how many are served: the listening socket,
//! its backlog, and the limits on connections and their lifetimes.

use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket};

/// How many connections are served at once, and how long one may take over each part of its life.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Connections served at once, so that the process keeps file descriptors for
    /// its own API calls (0: no cap). Beyond it a new connection is still taken and
    /// the oldest is asked to close, so that no client keeps Prometheus out by
    /// holding every slot; accepting pauses only while an eighth more are closing.
    pub max_connections: usize,
    /// Time to receive a request's headers; hyper also runs this clock while a
    /// kept-alive connection waits for its next request, so it is the idle timeout too.
    pub header_read: Duration,
    /// Age after which a connection is asked to close once its current exchange ends.
    pub max_age: Duration,
    /// Time a connection asked to close gets to finish writing before it is dropped,
    /// so a client that never reads its response cannot hold the socket forever.
    pub close_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: default_max_connections(),
            header_read: Duration::from_secs(10),
            max_age: Duration::from_secs(120),
            close_grace: Duration::from_secs(30),
        }
    }
}

/// The most connections served by default: 512, or half the file descriptor limit when
/// that is lower, so that a flood of connections leaves descriptors for polling the API.
pub fn default_max_connections() -> usize {
    cap_for(half_the_file_limit())
}

fn cap_for(half_the_file_limit: Option<usize>) -> usize {
    half_the_file_limit.map_or(512, |half| half.clamp(1, 512))
}

/// Half the soft limit on open files, the most connections that leave enough for the
/// rest of the process; `None` when unlimited.
pub fn half_the_file_limit() -> Option<usize> {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    limit.map(|n| usize::try_from(n / 2).unwrap_or(usize::MAX))
}

/// The listen backlog: the system's `net.core.somaxconn`, as Go uses, so that a burst of
/// connections waits in the kernel instead of costing clients a SYN retry.
fn listen_backlog() -> u32 {
    let configured = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|text| text.trim().parse::<u32>().ok());
    // Kernels before 4.1 keep the backlog in 16 bits.
    configured.map_or(4096, |n| n.clamp(1, u32::from(u16::MAX)))
}

/// Binds `address` (`host:port`) with the system's listen backlog; the first address
/// the name resolves to that binds wins.
pub async fn bind(address: &str) -> std::io::Result<TcpListener> {
    let backlog = listen_backlog();
    let mut last_error = None;
    for candidate in tokio::net::lookup_host(address).await? {
        let socket = if candidate.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        };
        let bound = socket.and_then(|socket| {
            socket.set_reuseaddr(true)?;
            socket.bind(candidate)?;
            socket.listen(backlog)
        });
        match bound {
            Ok(listener) => return Ok(listener),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolves to nothing",
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_cap_leaves_half_the_descriptors() {
        assert_eq!(cap_for(Some(64)), 64);
        assert_eq!(cap_for(Some(512)), 512);
        assert_eq!(cap_for(Some(524_288)), 512);
        assert_eq!(cap_for(None), 512);
        assert_eq!(cap_for(Some(0)), 1);
        let half = half_the_file_limit();
        assert_eq!(default_max_connections(), cap_for(half));
    }

    #[tokio::test]
    async fn the_listener_takes_the_system_backlog() {
        let backlog = listen_backlog();
        let expected = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
            .map_or(4096, |text| text.trim().parse::<u32>().unwrap().min(65535));
        assert_eq!(backlog, expected);
        assert!(bind("127.0.0.1:0").await.is_ok());
        assert!(bind("[::1]:0").await.is_ok() || std::net::TcpListener::bind("[::1]:0").is_err());
    }
}
