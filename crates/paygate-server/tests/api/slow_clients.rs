//! docs/api.md section 14, slow clients and floods: time limits on every phase of
//! a connection and caps on connections per client IP.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::{spawn_with, tls_connect};

async fn connect_from(local: &str, server: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(local.parse::<IpAddr>().expect("ip"), 0))?;
    socket.connect(server).await
}

/// Reads until the server closes; returns how long that took.
async fn time_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(started.elapsed()),
            Ok(Ok(_)) => continue,
            Err(_) => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_trickling_connections_leave_a_normal_client_fast() {
    let app = spawn_with(|config| {
        config.connections.header_timeout_secs = 30;
        config.connections.handshake_timeout_secs = 30;
    })
    .await;
    let server = app.running.local_addr;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut attackers = Vec::new();
    for i in 0..1000u32 {
        // Ten source addresses, a hundred connections each (under the per-IP cap).
        let local = format!("127.0.0.{}", 2 + i % 10);
        let mut stop = stop_rx.clone();
        attackers.push(tokio::spawn(async move {
            let Ok(mut stream) = connect_from(&local, server).await else {
                return false;
            };
            // Half start a TLS handshake, half a plain request; both one byte a second.
            let bytes: &[u8] = if i % 2 == 0 {
                &[0x16, 0x03, 0x01, 0x00, 0xa0, 0x01]
            } else {
                b"GET / HTTP/1.1\r\n"
            };
            for byte in bytes.iter().cycle() {
                if stream.write_all(&[*byte]).await.is_err() {
                    return true;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.changed() => return true,
                }
            }
            true
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let client = app.http();
    let mut latencies = Vec::new();
    for _ in 0..200 {
        let started = Instant::now();
        let response = client
            .get(app.url("/healthz"))
            .send()
            .await
            .expect("normal client is served");
        assert_eq!(response.status(), 200);
        latencies.push(started.elapsed());
    }
    let _ = stop_tx.send(true);
    let connected = futures_count(attackers).await;
    assert!(
        connected >= 900,
        "the attack really opened its connections ({connected})"
    );
    latencies.sort();
    let p99 = latencies[latencies.len() * 99 / 100 - 1];
    assert!(
        p99 < Duration::from_millis(100),
        "p99 {p99:?} with 1,000 trickling connections"
    );
}

async fn futures_count(handles: Vec<tokio::task::JoinHandle<bool>>) -> usize {
    let mut connected = 0;
    for handle in handles {
        if handle.await.unwrap_or(false) {
            connected += 1;
        }
    }
    connected
}

#[tokio::test]
async fn silent_trickling_and_idle_connections_are_closed() {
    let app = spawn_with(|config| {
        config.connections.handshake_timeout_secs = 1;
        config.connections.header_timeout_secs = 1;
        config.connections.idle_timeout_secs = 2;
    })
    .await;
    let server = app.running.local_addr;

    // Says nothing at all.
    let mut silent = connect_from("127.0.0.1", server).await.expect("connect");
    let closed = time_until_closed(&mut silent, Duration::from_secs(5)).await;
    assert!(closed.is_some(), "a silent connection is closed");

    // Starts a TLS handshake and never finishes it.
    let mut stalled = connect_from("127.0.0.1", server).await.expect("connect");
    stalled.write_all(&[0x16, 0x03, 0x01]).await.expect("write");
    assert!(
        time_until_closed(&mut stalled, Duration::from_secs(5)).await.is_some(),
        "a stalled handshake is closed"
    );

    // Trickles a plain request's headers forever.
    let mut trickler = connect_from("127.0.0.1", server).await.expect("connect");
    let trickle = tokio::spawn(async move {
        for byte in b"GET / HTTP/1.1\r\nX-Slow: "
            .iter()
            .chain(std::iter::repeat(&b'a'))
            .take(60)
        {
            if trickler.write_all(&[*byte]).await.is_err() {
                return Some(());
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        None
    });
    let cut = tokio::time::timeout(Duration::from_secs(10), trickle)
        .await
        .expect("in time")
        .expect("join");
    assert!(cut.is_some(), "a trickling client is cut off before it finishes");

    // A TLS client that goes quiet after its request is closed after the idle timeout.
    let client = app.http();
    assert_eq!(client.get(app.url("/healthz")).send().await.expect("req").status(), 200);
    let mut tls = tls_connect(&app.ca_pem, server).await;
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let started = Instant::now();
    let mut buf = vec![0u8; 4096];
    let mut saw_response = false;
    loop {
        match tokio::time::timeout(Duration::from_secs(8), tls.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => saw_response |= buf[..n].starts_with(b"HTTP/1.1 200"),
            Err(_) => panic!("an idle keep-alive connection stayed open"),
        }
    }
    assert!(saw_response);
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "kept alive for a while first"
    );
}

#[tokio::test]
async fn connections_per_ip_are_capped() {
    let app = spawn_with(|config| config.connections.max_per_ip = 3).await;
    let server = app.running.local_addr;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(connect_from("127.0.0.3", server).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fourth = connect_from("127.0.0.3", server).await.expect("connect");
    let closed = time_until_closed(&mut fourth, Duration::from_secs(2)).await;
    assert!(
        closed.is_some_and(|d| d < Duration::from_secs(1)),
        "the fourth connection from one IP is closed at once"
    );
    // Another address is unaffected.
    let mut other = connect_from("127.0.0.4", server).await.expect("connect");
    assert!(
        time_until_closed(&mut other, Duration::from_millis(500))
            .await
            .is_none(),
        "another IP keeps its connection"
    );
    drop(held);
}
