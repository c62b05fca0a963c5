//! A client-streaming gRPC call written on the `h2` crate directly: every message goes in
//! a DATA frame of its own.
//!
//! tonic's client encodes a stream's messages into one buffer and hands hyper large DATA
//! frames holding many messages; a real backend streaming records one at a time sends one
//! small frame per message, which costs the server a frame and a wake-up each. To measure
//! (or test) that, [`client_stream`] frames each message with the gRPC prefix and sends it
//! with one `send_data` call — h2 may split a frame to fit the window, never merge two —
//! after waiting for enough send capacity, so it never buffers past what HTTP/2 flow
//! control allows. It returns the single answer, or why there was none: the gRPC status,
//! a GOAWAY or a reset, with how many messages had been handed to h2 by then.
//!
//! Plaintext HTTP/2 with prior knowledge only (the server's plaintext port).

use std::{
    fmt,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use bytes::{BufMut, Bytes, BytesMut};
use pin_proto::v1::{UpsertPersonsRequest, UpsertPersonsResponse};
use prost::Message;

/// The path of `RegistryService/UpsertPersons`.
pub const UPSERT_PERSONS: &str = "/inps.pin.v1.RegistryService/UpsertPersons";

/// Capacity asked for at a time: many small messages per wait for the window.
const RESERVE: usize = 64 * 1024;

/// How long to wait for the server's answer after the send side failed, to learn why.
const STATUS_WAIT: Duration = Duration::from_secs(5);

/// Why a stream produced no answer.
#[derive(Debug)]
pub struct StreamFailure {
    /// Messages handed to h2 before the failure (not all of them necessarily reached the
    /// server).
    pub sent: u64,
    /// What happened.
    pub cause: Cause,
}

/// The cause of a [`StreamFailure`].
#[derive(Debug)]
pub enum Cause {
    /// The server answered with a non-OK gRPC status.
    Status(tonic::Status),
    /// The server closed the connection with GOAWAY: its reason, and h2's description
    /// (with the debug data, e.g. `too_many_data_frames`).
    GoAway(h2::Reason, String),
    /// The stream was reset.
    Reset(h2::Reason),
    /// The connection could not be made or broke.
    Connection(String),
    /// The answer was not a well-formed gRPC answer.
    Protocol(String),
    /// The server answered OK (this message) and stopped the stream before every
    /// message was sent.
    AnsweredEarly(Bytes),
}

impl fmt::Display for StreamFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.cause {
            Cause::Status(status) => write!(f, "status {:?}: {}", status.code(), status.message())?,
            Cause::GoAway(reason, detail) => write!(f, "GOAWAY {reason:?}: {detail}")?,
            Cause::Reset(reason) => write!(f, "stream reset ({reason})")?,
            Cause::Connection(what) => write!(f, "connection: {what}")?,
            Cause::Protocol(what) => write!(f, "protocol: {what}")?,
            Cause::AnsweredEarly(_) => write!(f, "answered OK before the stream ended")?,
        }
        write!(f, " after {} messages sent", self.sent)
    }
}

impl std::error::Error for StreamFailure {}

impl Cause {
    fn from_h2(error: h2::Error) -> Cause {
        match error.reason() {
            Some(reason) if error.is_go_away() => Cause::GoAway(reason, error.to_string()),
            Some(reason) if error.is_reset() => Cause::Reset(reason),
            _ => Cause::Connection(error.to_string()),
        }
    }
}

/// The protobuf encoding of `message`, ready for [`client_stream`].
pub fn encode(message: &impl Message) -> Bytes {
    Bytes::from(message.encode_to_vec())
}

/// Sends `requests` (protobuf-encoded `UpsertPersonsRequest`s, e.g. from [`encode`]) on
/// one `UpsertPersons` stream, one DATA frame each, and decodes the answer.
pub async fn upsert_persons(
    addr: SocketAddr,
    token: &str,
    requests: impl IntoIterator<Item = Bytes>,
) -> Result<UpsertPersonsResponse, StreamFailure> {
    let (answer, sent) = client_stream(addr, UPSERT_PERSONS, Some(token), requests).await?;
    UpsertPersonsResponse::decode(answer).map_err(|error| StreamFailure {
        sent,
        cause: Cause::Protocol(format!("the answer does not decode: {error}")),
    })
}

/// Encodes persons as the requests of an `UpsertPersons` stream.
pub fn person_requests(
    persons: impl IntoIterator<Item = pin_proto::v1::Person>,
) -> impl Iterator<Item = Bytes> {
    persons.into_iter().map(|person| {
        encode(&UpsertPersonsRequest {
            person: Some(person),
        })
    })
}

/// Sends `messages` (each an encoded protobuf message, without the gRPC prefix) on one
/// client-streaming call to `path`, one DATA frame per message, the last one ending the
/// stream; returns the answer's message bytes and how many messages were sent.
pub async fn client_stream(
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    messages: impl IntoIterator<Item = Bytes>,
) -> Result<(Bytes, u64), StreamFailure> {
    let failed = |sent: u64, cause: Cause| StreamFailure { sent, cause };
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|error| failed(0, Cause::Connection(format!("connect {addr}: {error}"))))?;
    tcp.set_nodelay(true)
        .map_err(|error| failed(0, Cause::Connection(error.to_string())))?;
    let (client, connection) = h2::client::handshake(ReadOnClose::new(tcp))
        .await
        .map_err(|error| failed(0, Cause::from_h2(error)))?;
    let mut driver = tokio::spawn(connection);
    let mut outcome = call(client, addr, path, token, messages).await;
    if let Err(failure) = &mut outcome
        && matches!(failure.cause, Cause::Connection(_) | Cause::Reset(_))
    {
        // A stream the server's GOAWAY did not refuse dies with the connection, as a
        // broken pipe: the connection's own end says why it ended — when it read the
        // GOAWAY before the server's close reset the socket.
        match tokio::time::timeout(STATUS_WAIT, &mut driver).await {
            Ok(Ok(Err(error))) if error.is_go_away() && error.reason().is_some() => {
                let reason = error.reason().unwrap_or(h2::Reason::NO_ERROR);
                failure.cause = Cause::GoAway(reason, error.to_string());
            }
            Ok(Ok(Err(error))) => {
                if let Cause::Connection(what) = &mut failure.cause {
                    what.push_str(&format!("; the connection ended: {error}"));
                }
            }
            _ => {}
        }
    }
    driver.abort();
    outcome
}

/// The socket under h2. A server that sends GOAWAY and closes while the client is still
/// writing makes the next write fail (broken pipe, reset) before h2 has read the GOAWAY,
/// and h2 would end the connection with that write error. Once a write fails, this
/// wrapper drops later writes instead, so h2 goes on reading what the server sent before
/// it closed — the GOAWAY and its reason — until the read side ends too.
struct ReadOnClose {
    inner: tokio::net::TcpStream,
    write_failed: bool,
}

impl ReadOnClose {
    fn new(inner: tokio::net::TcpStream) -> Self {
        ReadOnClose {
            inner,
            write_failed: false,
        }
    }

    /// Whether `error` says the peer closed the connection.
    fn closed(error: &std::io::Error) -> bool {
        use std::io::ErrorKind;
        matches!(
            error.kind(),
            ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
        )
    }

    /// `result` of a write, with a closed connection turned into `written` bytes
    /// accepted (and remembered).
    fn tolerate<T>(
        &mut self,
        result: Poll<std::io::Result<T>>,
        written: T,
    ) -> Poll<std::io::Result<T>> {
        match result {
            Poll::Ready(Err(error)) if Self::closed(&error) => {
                self.write_failed = true;
                Poll::Ready(Ok(written))
            }
            other => other,
        }
    }
}

impl tokio::io::AsyncRead for ReadOnClose {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ReadOnClose {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.write_failed {
            return Poll::Ready(Ok(buf.len()));
        }
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.tolerate(result, buf.len())
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        if self.write_failed {
            return Poll::Ready(Ok(()));
        }
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        self.tolerate(result, ())
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_shutdown(cx);
        self.tolerate(result, ())
    }
}

async fn call(
    client: h2::client::SendRequest<Bytes>,
    addr: SocketAddr,
    path: &str,
    token: Option<&str>,
    messages: impl IntoIterator<Item = Bytes>,
) -> Result<(Bytes, u64), StreamFailure> {
    let failed = |sent: u64, cause: Cause| StreamFailure { sent, cause };
    let mut request = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("http://{addr}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let request = request
        .body(())
        .map_err(|error| failed(0, Cause::Protocol(error.to_string())))?;
    let mut client = client
        .ready()
        .await
        .map_err(|error| failed(0, Cause::from_h2(error)))?;
    let (response, mut send) = client
        .send_request(request, false)
        .map_err(|error| failed(0, Cause::from_h2(error)))?;

    let mut sent = 0u64;
    let mut messages = messages.into_iter().peekable();
    let sending: Result<(), h2::Error> = async {
        if messages.peek().is_none() {
            return send.send_data(Bytes::new(), true);
        }
        while let Some(message) = messages.next() {
            let frame = grpc_frame(&message);
            wait_for_capacity(&mut send, frame.len()).await?;
            send.send_data(frame, messages.peek().is_none())?;
            sent += 1;
        }
        Ok(())
    }
    .await;
    if let Err(error) = sending {
        // The server may have answered already (refused the call, or failed it part-way):
        // its answer says more than the broken send side.
        let cause = match tokio::time::timeout(STATUS_WAIT, read_answer(response)).await {
            Ok(Err(Cause::Status(status))) => Cause::Status(status),
            Ok(Ok(answer)) => Cause::AnsweredEarly(answer),
            Ok(Err(answer)) => Cause::Connection(format!(
                "sending: {:?}; the answer: {answer:?}",
                Cause::from_h2(error)
            )),
            Err(_) => Cause::Connection(format!(
                "sending: {:?}; no answer within {STATUS_WAIT:?}",
                Cause::from_h2(error)
            )),
        };
        return Err(failed(sent, cause));
    }
    read_answer(response)
        .await
        .map(|answer| (answer, sent))
        .map_err(|cause| failed(sent, cause))
}

/// Waits until the stream may send `needed` bytes without buffering past the window.
async fn wait_for_capacity(
    send: &mut h2::SendStream<Bytes>,
    needed: usize,
) -> Result<(), h2::Error> {
    if send.capacity() >= needed {
        return Ok(());
    }
    send.reserve_capacity(needed.max(RESERVE));
    while send.capacity() < needed {
        match std::future::poll_fn(|cx| send.poll_capacity(cx)).await {
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error),
            None => return Err(h2::Error::from(h2::Reason::STREAM_CLOSED)),
        }
    }
    Ok(())
}

/// A message with the gRPC prefix: no compression, its length on four bytes.
fn grpc_frame(message: &Bytes) -> Bytes {
    let mut frame = BytesMut::with_capacity(5 + message.len());
    frame.put_u8(0);
    frame.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    frame.extend_from_slice(message);
    frame.freeze()
}

/// Reads the answer of a unary-response call: its one message, or its status.
async fn read_answer(response: h2::client::ResponseFuture) -> Result<Bytes, Cause> {
    let response = response.await.map_err(Cause::from_h2)?;
    let (head, mut body) = response.into_parts();
    if head.status != http::StatusCode::OK {
        return Err(Cause::Protocol(format!("HTTP status {}", head.status)));
    }
    // A trailers-only answer carries its status in the headers.
    if let Some(status) = grpc_status(&head.headers)
        && status.code() != tonic::Code::Ok
    {
        return Err(Cause::Status(status));
    }
    let mut data = BytesMut::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.map_err(Cause::from_h2)?;
        data.extend_from_slice(&chunk);
        let _ = body.flow_control().release_capacity(chunk.len());
    }
    let trailers = body.trailers().await.map_err(Cause::from_h2)?;
    match trailers.as_ref().and_then(grpc_status) {
        Some(status) if status.code() == tonic::Code::Ok => {}
        Some(status) => return Err(Cause::Status(status)),
        None if grpc_status(&head.headers).is_some() => {}
        None => return Err(Cause::Protocol("no grpc-status".to_owned())),
    }
    if data.len() < 5 {
        return Err(Cause::Protocol(format!(
            "{} bytes of answer, not a gRPC message",
            data.len()
        )));
    }
    if data[0] != 0 {
        return Err(Cause::Protocol("a compressed answer".to_owned()));
    }
    let length = u32::from_be_bytes([data[1], data[2], data[3], data[4]]) as usize;
    let data = data.freeze();
    data.get(5..5 + length)
        .map(|message| data.slice_ref(message))
        .ok_or_else(|| Cause::Protocol("the answer's message is cut short".to_owned()))
}

/// The gRPC status in `headers`, if there is one.
fn grpc_status(headers: &http::HeaderMap) -> Option<tonic::Status> {
    let code = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .parse::<i32>()
        .ok()?;
    let message = headers
        .get("grpc-message")
        .and_then(|value| value.to_str().ok())
        .map(percent_decode)
        .unwrap_or_default();
    Some(tonic::Status::new(tonic::Code::from_i32(code), message))
}

/// Undoes the percent-encoding of `grpc-message`.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&high), Some(&low)) if hex(high).is_some() && hex(low).is_some() => {
                let value = hex(high).unwrap_or(0) * 16 + hex(low).unwrap_or(0);
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_messages_are_percent_decoded() {
        assert_eq!(percent_decode("a%20b%25c"), "a b%c");
        assert_eq!(percent_decode("caf%C3%A8 100%"), "cafè 100%");
    }

    #[test]
    fn a_frame_is_the_message_behind_a_five_byte_prefix() {
        let frame = grpc_frame(&Bytes::from_static(b"abc"));
        assert_eq!(&frame[..], &[0, 0, 0, 0, 3, b'a', b'b', b'c']);
    }
}
