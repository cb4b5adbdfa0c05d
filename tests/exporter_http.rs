//! The mock-exporter's HTTP edge under malformed and hostile requests (issue 15, point 5): an
//! unknown path is a 404, a wrong method a 405, an oversized header block or too many headers are a 431
//! (hyper's answer; the connection is then closed) without taking the server down, and a slow client sending its header a byte
//! at a time (slowloris) does not stall another scraper, and one that never finishes its headers
//! is closed after the header read timeout instead of being held open.
//!
//! Raw TCP, so the requests are exactly what a broken or hostile client sends.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_mock-exporter");

/// A mock-exporter child that is killed when dropped.
struct Exporter {
    child: Child,
    addr: String,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Exporter {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(BIN)
        .args(["--listen", &addr, "--seed", "1"])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let e = Exporter { child, addr };
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(
        &e.addr,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .is_none()
    {
        assert!(Instant::now() < deadline, "exporter did not become ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    e
}

/// Sends `request` on a new connection and reads the answer until the server closes it: the
/// status code, or None when the connection closed without a status line.
fn status(addr: &str, request: &str) -> Option<u16> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    // The server may answer and close before it has read everything (an oversized header):
    // a failed write is then not an error of the test.
    let _ = s.write_all(request.as_bytes());
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
}

#[test]
fn unknown_paths_are_404() {
    let e = start();
    for path in [
        "/nope",
        "/metrics/extra",
        "/metricsx",
        "/../etc/passwd",
        "/%00",
    ] {
        assert_eq!(status(&e.addr, &get(path)), Some(404), "{path}");
    }
}

#[test]
fn wrong_methods_are_405() {
    let e = start();
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        for path in ["/metrics", "/healthz"] {
            let req = format!(
                "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
            assert_eq!(status(&e.addr, &req), Some(405), "{method} {path}");
        }
    }
}

#[test]
fn garbage_is_400_and_the_server_survives() {
    let e = start();
    assert_eq!(status(&e.addr, "NOT HTTP AT ALL\r\n\r\n"), Some(400));
    assert_eq!(status(&e.addr, &get("/healthz")), Some(200));
}

#[test]
fn oversized_headers_are_refused_and_the_server_survives() {
    let e = start();
    // 1 MiB of header: beyond hyper's HTTP/1 read buffer limit (about 400 KiB).
    let big = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\nConnection: close\r\n\r\n",
        "a".repeat(1 << 20)
    );
    assert_eq!(status(&e.addr, &big), Some(431), "an oversized header");
    // Ten thousand small headers: too many for hyper's header table.
    let many = format!(
        "GET /metrics HTTP/1.1\r\nHost: x\r\n{}Connection: close\r\n\r\n",
        (0..10_000)
            .map(|i| format!("X-H{i}: v\r\n"))
            .collect::<String>()
    );
    assert_eq!(status(&e.addr, &many), Some(431), "too many headers");
    assert_eq!(status(&e.addr, &get("/metrics")), Some(200));
}

#[test]
fn a_slow_client_does_not_stall_other_scrapers() {
    let e = start();
    // Slowloris: a few connections each sending its request line and headers one byte per
    // second, never finishing.
    let slow: Vec<_> = (0..4)
        .map(|_| {
            let addr = e.addr.clone();
            std::thread::spawn(move || {
                let Ok(mut s) = TcpStream::connect(&addr) else {
                    return;
                };
                for b in "GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: "
                    .bytes()
                    .chain(std::iter::repeat(b'a'))
                    .take(8)
                {
                    if s.write_all(&[b]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_secs(1));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    // Meanwhile, normal scrapes answer promptly, one after another.
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(status(&e.addr, &get("/metrics")), Some(200));
        let took = t.elapsed();
        assert!(
            took < Duration::from_secs(2),
            "a scrape took {took:?} while slow clients trickle their headers"
        );
    }
    for t in slow {
        t.join().unwrap();
    }
}

#[test]
fn a_connection_that_never_finishes_its_headers_is_closed() {
    let e = start();
    let mut s = TcpStream::connect(&e.addr).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        .unwrap();
    // The server's header read timeout is 10 s; give it 10 s more before calling it held open.
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let held = t.elapsed();
    assert!(
        held < Duration::from_secs(19),
        "a connection with unfinished headers was held open for {held:?}"
    );
    assert!(
        held >= Duration::from_secs(9),
        "closed after {held:?}, before the header read timeout"
    );
}
