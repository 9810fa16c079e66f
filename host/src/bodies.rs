//! Body wrappers on the plugin request path: size caps on what a client
//! sends and what a plugin answers (enforced while streaming, nothing is
//! buffered), and a guard that stays alive until a response is finished, so
//! per-org slots stay held while a plugin is still streaming.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use wasmtime_wasi_http::Error as HttpError;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// A request body that fails once more than `max` bytes arrive.
pub fn limit_request(
    body: Incoming,
    max: u64,
) -> impl Body<Data = Bytes, Error = HttpError> + Send + 'static {
    Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX)).map_err(move |e| {
        match e.downcast::<hyper::Error>() {
            Ok(hyper) => HttpError::Hyper(*hyper),
            Err(_) => HttpError::HttpRequestBodySize(Some(max)),
        }
    })
}

/// A response body that is cut off (the connection aborted) once the plugin
/// has sent more than `max` bytes.
pub fn limit_response(body: HyperOutgoingBody, max: u64) -> HyperOutgoingBody {
    Limited::new(body, usize::try_from(max).unwrap_or(usize::MAX))
        .map_err(move |e| match e.downcast::<HttpError>() {
            Ok(inner) => *inner,
            Err(_) => HttpError::HttpResponseBodySize(Some(max)),
        })
        .boxed_unsync()
}

/// Wraps `body` so that `guard` is dropped only when the body is.
pub fn hold_until_done<G: Send + Unpin + 'static>(
    body: HyperOutgoingBody,
    guard: G,
) -> HyperOutgoingBody {
    HyperOutgoingBody::new(Guarded {
        body,
        _guard: guard,
    })
}

struct Guarded<G> {
    body: HyperOutgoingBody,
    _guard: G,
}

impl<G: Unpin> Body for Guarded<G> {
    type Data = Bytes;
    type Error = wasmtime_wasi_http::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}
