//! Body wrappers on the plugin request path: size caps on what a client
//! sends and what a plugin answers (enforced while streaming, nothing is
//! buffered); the collapse of a body the plugin already finished into one
//! sized buffer; and a body fed from a channel, for responses the host
//! streams itself.

use crate::common::error::ApiError;
use bytes::Bytes;
use bytes::BytesMut;
use http::Request;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Frame, Incoming};
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use wasmtime_wasi_http::Error as HttpError;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

/// Most body bytes read and thrown away before an early refusal.
const DISCARD_MAX_BYTES: usize = 64 * 1024;
/// Longest wait for them.
const DISCARD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Reads and drops the body of a request the server refuses without using
/// it (e.g. 401, 429), so the client reads the refusal instead of a reset
/// connection. Bounded by size and time; a larger or slower body is left
/// unread and the connection closes. An HTTP/1.1 client waiting for
/// `100 Continue` (`Expect: 100-continue`, as curl sends with bodies over
/// 1 MiB) has sent no body yet: it gets the refusal without being asked
/// for its body.
pub async fn discard(request: Request<Incoming>) {
    if request.version() == http::Version::HTTP_11 && expects_continue(request.headers()) {
        return;
    }
    let _ = tokio::time::timeout(
        DISCARD_TIMEOUT,
        Limited::new(request.into_body(), DISCARD_MAX_BYTES).collect(),
    )
    .await;
}

/// `request`, with what `check` gave, when the check passed; otherwise the
/// refusal, after the request's body is dealt with as [`discard`] does.
pub async fn unless_refused<T>(
    check: Result<T, ApiError>,
    request: Request<Incoming>,
) -> Result<(T, Request<Incoming>), ApiError> {
    match check {
        Ok(passed) => Ok((passed, request)),
        Err(refusal) => {
            discard(request).await;
            Err(refusal)
        }
    }
}

/// Whether a request waits for `100 Continue` before sending its body.
fn expects_continue(headers: &http::HeaderMap) -> bool {
    (headers.get(http::header::EXPECT))
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

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

/// Takes every frame `body` has ready without waiting. When that reaches
/// the end — a plugin that finished before its response was returned — the
/// whole body becomes one buffer of known length, so the client gets a
/// `Content-Length` instead of chunked encoding and the response goes out
/// in one write. Otherwise the frames taken so far are replayed ahead of
/// the rest of the stream.
pub fn collapse_if_complete(mut body: HyperOutgoingBody) -> HyperOutgoingBody {
    let mut context = Context::from_waker(Waker::noop());
    let mut data = BytesMut::new();
    let mut taken = VecDeque::new();
    let mut ended = false;
    loop {
        match Pin::new(&mut body).poll_frame(&mut context) {
            Poll::Ready(None) if taken.is_empty() => {
                return Full::new(data.freeze())
                    .map_err(|never| match never {})
                    .boxed_unsync();
            }
            Poll::Ready(Some(Ok(frame))) if taken.is_empty() && frame.is_data() => {
                data.extend_from_slice(&frame.into_data().unwrap_or_default());
            }
            Poll::Ready(Some(Ok(frame))) => taken.push_back(Ok(frame)),
            Poll::Ready(Some(Err(error))) => {
                taken.push_back(Err(error));
                break;
            }
            Poll::Ready(None) => {
                ended = true;
                break;
            }
            Poll::Pending => break,
        }
    }
    if !data.is_empty() {
        taken.push_front(Ok(Frame::data(data.freeze())));
    }
    let rest = (!ended).then_some(body);
    HyperOutgoingBody::new(Replayed { taken, rest })
}

/// Frames already taken from `rest`, yielded before it (`None` once it ended).
struct Replayed {
    taken: VecDeque<Result<Frame<Bytes>, HttpError>>,
    rest: Option<HyperOutgoingBody>,
}

impl Body for Replayed {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if let Some(frame) = self.taken.pop_front() {
            return Poll::Ready(Some(frame));
        }
        match self.rest.as_mut() {
            Some(rest) => Pin::new(rest).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }
}

/// A response body whose chunks a task sends through the returned sender;
/// it ends when the sender is dropped. The sender's `send` fails once the
/// client is gone (the body dropped), which tells the task to stop. The
/// body keeps `held` until the server drops it — a stream the task gave
/// up on may stay open until its connection ends.
pub fn channel_body<H: Send + Sync + Unpin + 'static>(
    buffered: usize,
    held: H,
) -> (tokio::sync::mpsc::Sender<Bytes>, HyperOutgoingBody) {
    let (sender, receiver) = tokio::sync::mpsc::channel(buffered);
    let body = Channel {
        receiver,
        _held: held,
    };
    (sender, HyperOutgoingBody::new(body))
}

/// The receiving end of [`channel_body`].
struct Channel<H> {
    receiver: tokio::sync::mpsc::Receiver<Bytes>,
    _held: H,
}

impl<H: Unpin> Body for Channel<H> {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.receiver
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body that answers each poll from a script.
    struct Scripted(VecDeque<Poll<Option<&'static str>>>);

    impl Body for Scripted {
        type Data = Bytes;
        type Error = HttpError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            match self.0.pop_front() {
                Some(step) => step.map(|chunk| chunk.map(|c| Ok(Frame::data(Bytes::from(c))))),
                None => Poll::Ready(None),
            }
        }
    }

    fn scripted(steps: Vec<Poll<Option<&'static str>>>) -> HyperOutgoingBody {
        HyperOutgoingBody::new(Scripted(steps.into()))
    }

    #[tokio::test]
    async fn a_finished_body_becomes_one_sized_buffer() {
        let body = collapse_if_complete(scripted(vec![
            Poll::Ready(Some("hello, ")),
            Poll::Ready(Some("world")),
        ]));
        assert_eq!(body.size_hint().exact(), Some(12));
        let bytes = body.collect().await.expect("body").to_bytes();
        assert_eq!(bytes, "hello, world");
    }

    #[tokio::test]
    async fn a_body_still_streaming_replays_what_was_taken_then_the_rest() {
        let mut body = collapse_if_complete(scripted(vec![
            Poll::Ready(Some("first ")),
            Poll::Pending,
            Poll::Ready(Some("second")),
        ]));
        assert_eq!(body.size_hint().exact(), None, "length not known yet");
        // The scripted Pending registers no waker, so poll by hand.
        let mut seen = Vec::new();
        let mut context = Context::from_waker(Waker::noop());
        loop {
            match Pin::new(&mut body).poll_frame(&mut context) {
                Poll::Ready(Some(frame)) => {
                    seen.push(frame.expect("frame").into_data().expect("data"))
                }
                Poll::Ready(None) => break,
                Poll::Pending => continue,
            }
        }
        assert_eq!(seen, ["first ", "second"]);
    }
}
