//! The HTTP server: accepts connections (plain or TLS), serves HTTP/1.1 and
//! HTTP/2 with hyper, closes connections whose client stops reading, and
//! shuts down gracefully (stop accepting, drain in-flight requests) — on
//! one thread per core, each with its own single-threaded runtime and
//! `SO_REUSEPORT` listener, or on one work-stealing runtime
//! ([`ServingModel`]).

use crate::app::App;
use crate::common::settings::{HttpLimits, ServingModel};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::watch;
use tokio_io_timeout::TimeoutStream;
use tokio_rustls::TlsAcceptor;

/// Serves `app` on `listener` (over TLS when `tls` is given) until
/// `shutdown` completes, then drains in-flight requests for up to
/// `limits.drain_timeout_ms`.
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    limits: &HttpLimits,
    tls: Option<TlsAcceptor>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_millis(limits.header_read_timeout_ms))
        .max_headers(limits.max_headers);
    builder.http2().timer(TokioTimer::new());
    let drain_timeout = Duration::from_millis(limits.drain_timeout_ms);
    // A TLS handshake gets as long as a client has to send its headers.
    let handshake_timeout = Duration::from_millis(limits.header_read_timeout_ms);
    let send_timeout = Duration::from_millis(limits.send_timeout_ms);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and similar: back off, keep serving.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let stream = with_send_timeout(stream, send_timeout);
        let app = app.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let app = app.clone();
                async move { Ok::<_, std::convert::Infallible>(app.handle(request).await) }
            });
            let result = match tls {
                None => {
                    let connection =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(connection.into_owned()).await
                }
                Some(tls) => {
                    match tokio::time::timeout(handshake_timeout, tls.accept(stream)).await {
                        Ok(Ok(stream)) => {
                            let connection = builder
                                .serve_connection_with_upgrades(TokioIo::new(stream), service);
                            watcher.watch(connection.into_owned()).await
                        }
                        Ok(Err(e)) => Err(e.into()),
                        Err(_) => Err("TLS handshake timed out".into()),
                    }
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        });
    }
    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    if tokio::time::timeout(drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("drain timed out after {drain_timeout:?}; closing remaining connections");
    }
    Ok(())
}

/// `stream`, whose writes fail once one has waited `limit` on a client that
/// reads nothing: hyper then drops the connection, and with it the response
/// body (a guest still writing it sees its stream closed).
fn with_send_timeout(stream: TcpStream, limit: Duration) -> Pin<Box<TimeoutStream<TcpStream>>> {
    let mut stream = TimeoutStream::new(stream);
    stream.set_write_timeout(Some(limit));
    Box::pin(stream)
}

/// The runtimes the server runs on, by [`ServingModel`].
pub enum Runtimes {
    /// One current-thread runtime per serving thread; the first also runs
    /// start-up.
    ThreadPerCore(Vec<Runtime>),
    /// One multi-threaded runtime.
    WorkStealing(Runtime),
}

impl Runtimes {
    /// Builds the runtimes `limits` asks for.
    pub fn build(limits: &HttpLimits) -> std::io::Result<Self> {
        Ok(match limits.serving {
            ServingModel::ThreadPerCore => Self::ThreadPerCore(
                (0..limits.serving_threads())
                    .map(|_| {
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                    })
                    .collect::<Result<_, _>>()?,
            ),
            ServingModel::WorkStealing => Self::WorkStealing(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(limits.serving_threads())
                    .enable_all()
                    .build()?,
            ),
        })
    }

    /// The runtime start-up runs in (and whose tasks it spawns live on).
    pub fn primary(&self) -> &Runtime {
        match self {
            Self::ThreadPerCore(runtimes) => &runtimes[0],
            Self::WorkStealing(runtime) => runtime,
        }
    }

    /// Listens on `addr`, calls `on_listening` with the bound address, and
    /// serves `app` on every runtime until `shutdown` completes; returns
    /// once every thread has drained.
    pub fn serve(
        self,
        addr: SocketAddr,
        app: Arc<App>,
        limits: &HttpLimits,
        tls: Option<TlsAcceptor>,
        on_listening: impl FnOnce(SocketAddr),
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let runtimes = match self {
            Self::WorkStealing(runtime) => {
                return runtime.block_on(async {
                    let listener = TcpListener::bind(addr).await?;
                    on_listening(listener.local_addr()?);
                    serve(listener, app, limits, tls, shutdown).await
                });
            }
            Self::ThreadPerCore(runtimes) => runtimes,
        };
        // SO_REUSEPORT would let a second server of the same user share a
        // busy port silently: a plain bind first proves it free.
        if addr.port() != 0 {
            drop(std::net::TcpListener::bind(addr)?);
        }
        // Every listener must exist before the port is announced; with port
        // 0 the first one picks it and the others join it.
        let mut listeners = Vec::with_capacity(runtimes.len());
        let mut bound = addr;
        for runtime in &runtimes {
            let listener = runtime.block_on(async { bind_shared(bound) })?;
            bound = listener.local_addr()?;
            listeners.push(listener);
        }
        on_listening(bound);
        let (stop, stopped) = watch::channel(false);
        let mut runtimes = runtimes.into_iter().zip(listeners);
        let (primary, first) = runtimes.next().expect("at least one serving thread");
        let threads: Vec<_> = runtimes
            .enumerate()
            .map(|(index, (runtime, listener))| {
                let (app, limits, tls) = (app.clone(), limits.clone(), tls.clone());
                let stopped = stopped.clone();
                std::thread::Builder::new()
                    .name(format!("berth-serve-{}", index + 1))
                    .spawn(move || {
                        runtime.block_on(serve(listener, app, &limits, tls, until_stopped(stopped)))
                    })
            })
            .collect::<Result<_, _>>()?;
        let served = primary.block_on(async {
            let signal = async {
                shutdown.await;
                let _ = stop.send(true);
            };
            let (served, ()) = tokio::join!(
                serve(first, app, limits, tls, until_stopped(stopped)),
                signal
            );
            served
        });
        for thread in threads {
            thread
                .join()
                .map_err(|_| std::io::Error::other("a serving thread panicked"))??;
        }
        served
    }
}

/// A listener on `addr` that other listeners may share (`SO_REUSEPORT`).
fn bind_shared(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4()?,
        SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Resolves once `stopped` says so (or its sender is gone).
async fn until_stopped(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}
