//! Connections: the accept loop with its connection cap, one task per connection served by
//! hyper's HTTP/1.1 server, and each connection's deadlines.
//!
//! A connection is in one of three states, which its task watches:
//! - **handling**: a request has been read and its handler runs or its answer is being
//!   written. No connection deadline applies (the predict routes have their own timeout);
//!   an answer that makes no progress towards the client is bounded by the idle timeout.
//! - **reading a head**: bytes of a request have arrived but not its whole head, or the
//!   connection is new and has sent no request yet. The head must be complete within the
//!   header-read timeout of its first byte (of the connection's acceptance, for the first
//!   request): slow clients that trickle headers, and clients that connect and send
//!   nothing, are closed at that deadline.
//! - **idle**: a kept-alive connection after its answer, nothing in progress. It is closed
//!   once nothing has been read or written for the idle timeout.
//!
//! On shutdown, a connection that is not handling a request is closed at once; one that is
//! finishes its request, answered with `Connection: close`.

use crate::State;
use axum::body::Body;
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// The largest request head, and the most a connection buffers for reading or writing.
pub(crate) const MAX_BUF: usize = 64 * 1024;

/// What a connection is doing, shared by its task, its I/O and its requests.
struct Track {
    /// When the connection was accepted: the times below count from it, in microseconds.
    epoch: Instant,
    /// Requests read and not yet fully handed to the connection.
    handling: AtomicUsize,
    /// When the first byte of a request head arrived (0: none pending). A new connection
    /// starts with its first head pending from its acceptance: a client opens a connection
    /// to send a request.
    head_since: AtomicU64,
    /// Last time a byte was read or written.
    last_io: AtomicU64,
    /// Of those, the ones whose handler has answered: their answer is being written.
    answering: AtomicUsize,
    /// Woken when the state changes, so the task recomputes its deadline.
    changed: Notify,
}

impl Track {
    fn new() -> Track {
        Track {
            epoch: Instant::now(),
            handling: AtomicUsize::new(0),
            head_since: AtomicU64::new(1),
            last_io: AtomicU64::new(0),
            answering: AtomicUsize::new(0),
            changed: Notify::new(),
        }
    }

    /// Microseconds since the epoch, at least 1 (0 means "none").
    fn now(&self) -> u64 {
        (self.epoch.elapsed().as_micros() as u64).max(1)
    }

    fn at(&self, us: u64) -> Instant {
        self.epoch + Duration::from_micros(us)
    }

    fn read(&self, n: usize) {
        if n == 0 {
            return;
        }
        let now = self.now();
        self.last_io.store(now, Ordering::Relaxed);
        if self.handling.load(Ordering::SeqCst) == 0
            && self
                .head_since
                .compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
        {
            self.changed.notify_one();
        }
    }

    fn wrote(&self, n: usize) {
        if n > 0 {
            self.last_io.store(self.now(), Ordering::Relaxed);
        }
    }

    fn begin(self: &Arc<Self>) -> Handling {
        self.handling.fetch_add(1, Ordering::SeqCst);
        self.head_since.store(0, Ordering::SeqCst);
        self.changed.notify_one();
        Handling {
            track: self.clone(),
            answering: false,
        }
    }

    /// When the connection must be closed if nothing changes, and which deadline that is:
    /// `None` while a handler runs; while answers are written, when they stop making
    /// progress.
    fn deadline(
        &self,
        header_timeout: Duration,
        idle_timeout: Duration,
    ) -> Option<(Instant, Timeout)> {
        let handling = self.handling.load(Ordering::SeqCst);
        if handling > self.answering.load(Ordering::SeqCst) {
            return None;
        }
        let idle = self.at(self.last_io.load(Ordering::Relaxed)) + idle_timeout;
        if handling > 0 {
            return Some((idle, Timeout::Idle));
        }
        match self.head_since.load(Ordering::SeqCst) {
            0 => Some((idle, Timeout::Idle)),
            since => {
                let head = self.at(since) + header_timeout;
                Some(if head <= idle {
                    (head, Timeout::HeaderRead)
                } else {
                    (idle, Timeout::Idle)
                })
            }
        }
    }
}

/// The deadline that closes a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timeout {
    HeaderRead,
    Idle,
}

impl Timeout {
    fn label(self) -> &'static str {
        match self {
            Timeout::HeaderRead => "header_read",
            Timeout::Idle => "idle",
        }
    }
}

/// A request being handled; dropped with its answer's body (or with the request, if the
/// connection goes first).
struct Handling {
    track: Arc<Track>,
    answering: bool,
}

impl Handling {
    /// The handler has answered; the answer is being written.
    fn answered(&mut self) {
        if !self.answering {
            self.answering = true;
            self.track.answering.fetch_add(1, Ordering::SeqCst);
            self.track.changed.notify_one();
        }
    }
}

impl Drop for Handling {
    fn drop(&mut self) {
        let t = &self.track;
        t.last_io.store(t.now(), Ordering::Relaxed);
        if self.answering {
            t.answering.fetch_sub(1, Ordering::SeqCst);
        }
        t.handling.fetch_sub(1, Ordering::SeqCst);
        t.changed.notify_one();
    }
}

/// An answer's body that keeps its request counted as handled until the body is done.
struct Tracked {
    inner: Body,
    _handling: Handling,
}

impl hyper::body::Body for Tracked {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, reporting its reads and writes to the connection's [`Track`].
struct Watched {
    inner: TcpStream,
    track: Arc<Track>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = r {
            self.track.read(buf.filled().len() - before);
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = r {
            self.track.wrote(n);
        }
        r
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = r {
            self.track.wrote(n);
        }
        r
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Accepts connections until `shutdown` completes, then closes the listener, tells every
/// connection to drain and waits for them, up to the shutdown timeout.
pub(crate) async fn serve<F>(
    state: Arc<State>,
    router: Router,
    listener: TcpListener,
    shutdown: F,
) -> io::Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let cap = state.config.max_connections;
    let slots = Arc::new(Semaphore::new(cap));
    let (drain, draining) = watch::channel(false);
    let hyper_service = TowerToHyperService::new(router);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors or memory: the listener still works, the process
                // is at a limit. Wait a moment instead of spinning on it.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // At the cap: closed at once, so a flood cannot use up the file descriptors.
            state.metrics.connection_refused();
            drop(stream);
            continue;
        };
        let conn = connection(
            state.clone(),
            hyper_service.clone(),
            stream,
            slot,
            draining.clone(),
        );
        tokio::spawn(conn);
    }
    drop(listener);
    state.draining.store(true, Ordering::SeqCst);
    tracing::info!(
        in_flight = state.in_flight.load(Ordering::SeqCst),
        connections = cap - slots.available_permits(),
        "shutting down: refusing new connections, draining in-flight requests"
    );
    let _ = drain.send(true);
    let grace = state.config.shutdown_timeout;
    let all = u32::try_from(cap).unwrap_or(u32::MAX);
    tokio::select! {
        _ = slots.acquire_many(all) => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(
                in_flight = state.in_flight.load(Ordering::SeqCst),
                timeout_ms = grace.as_millis() as u64,
                "shutdown timeout: abandoning in-flight requests"
            );
        }
    }
    Ok(())
}

async fn connection(
    state: Arc<State>,
    service: TowerToHyperService<Router>,
    stream: TcpStream,
    slot: OwnedSemaphorePermit,
    mut draining: watch::Receiver<bool>,
) {
    let _slot = slot;
    state.metrics.connections(1.0);
    let _open = OpenConnection(&state);
    let _ = stream.set_nodelay(true);
    let track = Arc::new(Track::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        track: track.clone(),
    });
    let svc = {
        let track = track.clone();
        hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            let mut handling = track.begin();
            let call = hyper::service::Service::call(&service, req);
            async move {
                let resp = call.await?;
                handling.answered();
                Ok::<_, std::convert::Infallible>(resp.map(|inner| {
                    Body::new(Tracked {
                        inner,
                        _handling: handling,
                    })
                }))
            }
        })
    };
    let conn = http1::Builder::new()
        .keep_alive(true)
        .max_buf_size(MAX_BUF)
        .max_header_size(MAX_BUF)
        .serve_connection(io, svc);
    tokio::pin!(conn);
    let header_timeout = state.config.header_read_timeout;
    let idle_timeout = state.config.idle_timeout;
    // On shutdown, a connection with no request in flight is closed at once: no answer is
    // owed on it. One with a request finishes it: keep-alive is off, so hyper closes the
    // connection once the answer is flushed (waiting for that, not for the handler alone,
    // so the tail of a large answer is not cut off).
    let mut shutting_down = *draining.borrow();
    if shutting_down {
        conn.as_mut().graceful_shutdown();
        if track.handling.load(Ordering::SeqCst) == 0 {
            return;
        }
    }
    loop {
        let deadline = track.deadline(header_timeout, idle_timeout).map(|(d, _)| d);
        tokio::select! {
            r = conn.as_mut() => {
                if let Err(e) = r {
                    tracing::debug!(error = %e, "connection error");
                }
                return;
            }
            () = track.changed.notified() => {}
            () = sleep_until(deadline) => {
                if let Some((d, which)) = track.deadline(header_timeout, idle_timeout) {
                    if d <= Instant::now() {
                        let timeout = which.label();
                        state.metrics.connection_timed_out(timeout);
                        tracing::debug!(timeout, "closing connection");
                        return;
                    }
                }
            }
            r = draining.changed(), if !shutting_down => {
                // An error: the server is gone (its shutdown timed out).
                if r.is_err() || *draining.borrow() {
                    shutting_down = true;
                    conn.as_mut().graceful_shutdown();
                    if track.handling.load(Ordering::SeqCst) == 0 {
                        return;
                    }
                }
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Lowers the open-connections gauge when the connection ends.
struct OpenConnection<'a>(&'a State);

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.metrics.connections(-1.0);
    }
}
