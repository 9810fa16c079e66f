//! Sending one outgoing request over a connection to an address already
//! checked by the policy, so a second DNS answer can never redirect it
//! (no DNS-rebinding window). HTTPS verifies the server's certificate for
//! the requested host name against the Mozilla roots (`webpki-roots`).

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, WasiBody};

/// The connection's I/O future, driven by `wasi:http` after the head arrives.
pub type ConnectionTask = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// How long each phase of a request may take.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// When resolving, connecting and the TLS handshake must be done.
    pub connect_by: Instant,
    /// From sending the request to the response head.
    pub first_byte: Duration,
    /// Between two chunks of the response body.
    pub between_bytes: Duration,
}

/// Where a checked request goes.
pub struct Destination {
    /// The address the policy approved.
    pub addr: SocketAddr,
    /// The host name for TLS (SNI and certificate verification).
    pub host: String,
    /// Whether to speak TLS.
    pub tls: bool,
}

/// A TLS client verifying servers against the Mozilla roots.
pub(crate) static TLS_CLIENT: LazyLock<tokio_rustls::TlsConnector> = LazyLock::new(|| {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.into(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
});

/// Connects to `to.addr`, sends `request` and returns the response head
/// with a body capped at `max_response_bytes`.
pub async fn send(
    mut request: http::Request<WasiBody>,
    to: Destination,
    timeouts: Timeouts,
    max_response_bytes: u64,
) -> Result<(http::Response<WasiBody>, ConnectionTask), Error> {
    let tcp = tokio::time::timeout_at(timeouts.connect_by, TcpStream::connect(to.addr))
        .await
        .map_err(|_| Error::ConnectionTimeout)?
        .map_err(Error::Connect)?;
    let stream: Box<dyn Stream> = if to.tls {
        let name = rustls::pki_types::ServerName::try_from(to.host)
            .map_err(|_| Error::TlsCertificateError)?;
        let tls = tokio::time::timeout_at(timeouts.connect_by, TLS_CLIENT.connect(name, tcp))
            .await
            .map_err(|_| Error::ConnectionTimeout)?
            .map_err(Error::Tls)?;
        Box::new(tls)
    } else {
        Box::new(tcp)
    };
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .handshake::<_, WasiBody>(TokioIo::new(stream))
        .await?;

    // The request line carries only the path: scheme and authority are for proxies.
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    *request.uri_mut() = path.parse().map_err(|_| Error::HttpRequestUriInvalid)?;

    // Drive the connection while waiting for the head. A server that closes
    // right after answering may finish the connection first; the response
    // is then already queued (or the send fails on its own).
    let mut connection = Box::pin(connection);
    let mut send = Box::pin(tokio::time::timeout(
        timeouts.first_byte,
        sender.send_request(request),
    ));
    let (response, connection_done) = tokio::select! {
        biased;
        response = &mut send => (response, false),
        ended = &mut connection => {
            ended?;
            (send.await, true)
        }
    };
    let response = response.map_err(|_| Error::ConnectionReadTimeout)??;
    let response = response.map(|incoming| {
        CappedBody {
            incoming,
            remaining: max_response_bytes,
            limit: max_response_bytes,
            idle: Box::pin(tokio::time::sleep(timeouts.between_bytes)),
            between_bytes: timeouts.between_bytes,
        }
        .boxed_unsync()
    });
    let task: ConnectionTask = Box::new(async move {
        if !connection_done {
            connection.await?;
        }
        Ok(())
    });
    Ok((response, task))
}

/// A plain or TLS connection.
pub(crate) trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}

impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

/// A response body that fails once more than `limit` bytes arrive, or when
/// no chunk arrives for `between_bytes`.
struct CappedBody {
    incoming: Incoming,
    remaining: u64,
    limit: u64,
    idle: Pin<Box<tokio::time::Sleep>>,
    between_bytes: Duration,
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let frame = match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => frame,
            Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(Error::from(e)))),
            Poll::Ready(None) => return Poll::Ready(None),
            Poll::Pending => {
                return match self.idle.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Error::ConnectionReadTimeout))),
                    Poll::Pending => Poll::Pending,
                };
            }
        };
        let next_deadline = Instant::now() + self.between_bytes;
        self.idle.as_mut().reset(next_deadline);
        if let Some(data) = frame.data_ref() {
            let len = data.len() as u64;
            if len > self.remaining {
                return Poll::Ready(Some(Err(Error::HttpResponseBodySize(Some(self.limit)))));
            }
            self.remaining -= len;
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}
