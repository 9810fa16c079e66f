//! A response body that keeps a guard alive until the body is finished, so
//! per-org slots stay held while a plugin is still streaming its response.

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

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
