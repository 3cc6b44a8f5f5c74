//! A real SMTP server on loopback that keeps what it receives. It speaks enough of RFC 5321
//! for lettre (EHLO, MAIL, RCPT, DATA with dot-unstuffing, RSET, NOOP, QUIT) and can be told,
//! at runtime, to answer RCPT with a permanent (5xx) or transient (4xx) failure, to hang, to
//! answer slowly (a tarpit), to hold the reply after DATA, to be slow for some recipients, or to
//! drop connections. A refused connection is [`unused_port`] (or a sink started later).
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Debug)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    pub data: Vec<u8>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Accept,
    /// `550` to every RCPT: a permanent failure.
    RejectPermanently,
    /// `451` to every RCPT: a transient failure.
    RejectTemporarily,
    /// Accepts the connection and never says a word.
    Hang,
    /// Waits this long before every reply, the greeting included.
    Tarpit(Duration),
    /// Receives the whole message, then waits this long before confirming it.
    HoldAfterData(Duration),
    /// Waits this long before answering RCPT for recipients containing the text.
    SlowFor(&'static str, Duration),
    /// Closes each new connection at once.
    Drop,
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    received: Arc<Mutex<Vec<Received>>>,
    mode: Arc<Mutex<Mode>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if Arc::strong_count(&self.task) == 1 {
            self.task.abort();
        }
    }
}

/// A loopback port nothing listens on (yet): connections to it are refused.
pub async fn unused_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr").port()
}

impl SmtpSink {
    pub async fn start() -> SmtpSink {
        Self::start_on(0).await
    }

    pub async fn start_on(port: u16) -> SmtpSink {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind sink");
        let port = listener.local_addr().expect("addr").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let mode = Arc::new(Mutex::new(Mode::Accept));
        let (r, m) = (received.clone(), mode.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (r, m) = (r.clone(), m.clone());
                tokio::spawn(async move {
                    let _ = session(stream, r, m).await;
                });
            }
        });
        SmtpSink { port, received, mode, task: Arc::new(task) }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Forgets every message received so far.
    pub fn clear(&self) {
        self.received.lock().unwrap().clear();
    }

    /// How many messages arrived.
    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Waits for the first message to `recipient` (case-insensitive) and takes it out of the
    /// sink, so a long run does not rescan what it has seen; `None` after the timeout.
    pub async fn take_for(&self, recipient: &str, timeout: Duration) -> Option<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            {
                let mut got = self.received.lock().unwrap();
                if let Some(i) = got.iter().position(|m| {
                    m.rcpt_to.iter().any(|r| r.trim_matches(['<', '>']).eq_ignore_ascii_case(recipient))
                }) {
                    return Some(got.swap_remove(i));
                }
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until at least `n` messages arrived (or the timeout passed) and returns them all.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        // Counts while waiting: copying every message on each poll made long waits quadratic.
        while self.count() < n && Instant::now() <= deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.received()
    }
}

async fn session(
    stream: TcpStream,
    received: Arc<Mutex<Vec<Received>>>,
    mode: Arc<Mutex<Mode>>,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mode_now = || *mode.lock().unwrap();
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    match mode_now() {
        Mode::Drop => return Ok(()),
        Mode::Hang => {
            // Say nothing; read (and ignore) until the client gives up.
            let mut sink = Vec::new();
            let _ = tokio::io::AsyncReadExt::read_to_end(&mut reader, &mut sink).await;
            return Ok(());
        }
        _ => {}
    }
    // The tarpit is checked before each reply, so switching modes affects a running session.
    let tarpit = || async {
        if let Mode::Tarpit(delay) = mode_now() {
            tokio::time::sleep(delay).await;
        }
    };
    tarpit().await;
    write.write_all(b"220 sink.test ESMTP ready\r\n").await?;
    let mut from = String::new();
    let mut rcpt = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-sink.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("HELO") {
            b"250 sink.test\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            from = line[10..].trim().to_string();
            rcpt.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            match mode_now() {
                Mode::RejectPermanently => b"550 5.1.1 No such user here\r\n",
                Mode::RejectTemporarily => b"451 4.3.0 Try again later\r\n",
                other => {
                    if let Mode::SlowFor(text, delay) = other
                        && line.contains(text)
                    {
                        tokio::time::sleep(delay).await;
                    }
                    rcpt.push(line[8..].trim().to_string());
                    b"250 OK\r\n"
                }
            }
        } else if upper.starts_with("DATA") {
            if rcpt.is_empty() {
                b"554 No valid recipients\r\n"
            } else {
                tarpit().await;
                write.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n").await?;
                let mut data = Vec::new();
                loop {
                    let mut chunk = Vec::new();
                    if reader.read_until(b'\n', &mut chunk).await? == 0 {
                        return Ok(());
                    }
                    if chunk == b".\r\n" || chunk == b".\n" {
                        break;
                    }
                    // Dot-unstuffing (RFC 5321 4.5.2).
                    let chunk = if chunk.starts_with(b"..") { chunk[1..].to_vec() } else { chunk };
                    data.extend_from_slice(&chunk);
                }
                received.lock().unwrap().push(Received {
                    mail_from: from.clone(),
                    rcpt_to: rcpt.clone(),
                    data,
                });
                rcpt.clear();
                if let Mode::HoldAfterData(delay) = mode_now() {
                    tokio::time::sleep(delay).await;
                }
                b"250 OK queued\r\n"
            }
        } else if upper.starts_with("RSET") {
            rcpt.clear();
            b"250 OK\r\n"
        } else if upper.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if upper.starts_with("QUIT") {
            write.write_all(b"221 Bye\r\n").await?;
            return Ok(());
        } else {
            b"502 Command not implemented\r\n"
        };
        tarpit().await;
        write.write_all(reply).await?;
    }
}
