//! The caller's deadline, read from the `grpc-timeout` request metadata.
//!
//! A gRPC client sends how long it is willing to wait as `grpc-timeout`: one to eight ASCII
//! digits followed by a unit, `H` (hours), `M` (minutes), `S` (seconds), `m` (milliseconds),
//! `u` (microseconds) or `n` (nanoseconds). Handlers turn it into an instant so that slow
//! work (hashing) can be refused at once when it could not finish in time.

use std::time::{Duration, Instant};

use tonic::Request;

/// The metadata key of the caller's timeout.
pub const GRPC_TIMEOUT: &str = "grpc-timeout";

/// The instant by which the caller wants its answer: now plus its `grpc-timeout`.
///
/// `None` when the request carries no timeout, when the value is malformed (the gRPC
/// wire format is 1-8 ASCII digits and one unit of `H`, `M`, `S`, `m`, `u`, `n`), or
/// when the instant would not be representable.
pub fn deadline_of<T>(request: &Request<T>) -> Option<Instant> {
    let timeout = timeout_of(request.metadata())?;
    Instant::now().checked_add(timeout)
}

/// The caller's timeout as a duration, if present and well formed.
fn timeout_of(metadata: &tonic::metadata::MetadataMap) -> Option<Duration> {
    let value = metadata.get(GRPC_TIMEOUT)?.to_str().ok()?;
    parse_grpc_timeout(value)
}

/// Parses a `grpc-timeout` value: 1-8 ASCII digits then one unit character.
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // At most 99 999 999: no overflow in any unit below.
    let amount: u64 = digits.parse().ok()?;
    match unit {
        "H" => Some(Duration::from_secs(amount * 3600)),
        "M" => Some(Duration::from_secs(amount * 60)),
        "S" => Some(Duration::from_secs(amount)),
        "m" => Some(Duration::from_millis(amount)),
        "u" => Some(Duration::from_micros(amount)),
        "n" => Some(Duration::from_nanos(amount)),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use tonic::metadata::AsciiMetadataValue;

    fn request_with(value: &str) -> Request<()> {
        let mut request = Request::new(());
        let value: AsciiMetadataValue = value.parse().unwrap();
        request.metadata_mut().insert(GRPC_TIMEOUT, value);
        request
    }

    /// The deadline lies between "before + timeout" and "after + timeout".
    fn assert_deadline(request: &Request<()>, timeout: Duration) {
        let before = Instant::now();
        let deadline = deadline_of(request).expect("a deadline");
        let after = Instant::now();
        assert!(deadline >= before + timeout, "deadline too early");
        assert!(deadline <= after + timeout, "deadline too late");
    }

    #[test]
    fn every_unit_is_understood() {
        let cases = [
            ("2H", Duration::from_secs(2 * 3600)),
            ("3M", Duration::from_secs(180)),
            ("4S", Duration::from_secs(4)),
            ("250m", Duration::from_millis(250)),
            ("1500u", Duration::from_micros(1500)),
            ("999n", Duration::from_nanos(999)),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_grpc_timeout(value), Some(expected), "{value}");
            assert_deadline(&request_with(value), expected);
        }
    }

    #[test]
    fn eight_digits_and_zero_are_accepted() {
        assert_eq!(
            parse_grpc_timeout("99999999H"),
            Some(Duration::from_secs(99_999_999 * 3600))
        );
        assert_eq!(
            parse_grpc_timeout("00000001S"),
            Some(Duration::from_secs(1))
        );
        assert_eq!(parse_grpc_timeout("0m"), Some(Duration::ZERO));
        assert_deadline(&request_with("0n"), Duration::ZERO);
    }

    #[test]
    fn malformed_values_give_no_deadline() {
        for value in [
            "",
            "S",
            "m",
            "5",
            "12345",
            "123456789S",
            "000000001S",
            "1s",
            "1h",
            "1U",
            "1N",
            "1x",
            "1SS",
            "+1S",
            "-1S",
            "1.5S",
            " 1S",
            "1 S",
            "1S ",
            "1_000m",
            "0x1S",
            "１S",
            "1é",
        ] {
            assert_eq!(parse_grpc_timeout(value), None, "{value:?}");
        }
        for value in ["", "S", "123456789S", "1x", "-1S", "1 S"] {
            assert_eq!(deadline_of(&request_with(value)), None, "{value:?}");
        }
    }

    #[test]
    fn a_value_that_is_not_ascii_gives_no_deadline() {
        let mut request = Request::new(());
        let value = tonic::metadata::MetadataValue::try_from(&b"1\xffS"[..]).unwrap();
        request.metadata_mut().insert(GRPC_TIMEOUT, value);
        assert_eq!(deadline_of(&request), None);
    }

    #[test]
    fn a_request_without_a_timeout_has_no_deadline() {
        assert_eq!(deadline_of(&Request::new(())), None);
    }

    #[test]
    fn the_timeout_a_tonic_client_sets_is_read_back() {
        let mut request = Request::new(());
        request.set_timeout(Duration::from_millis(1500));
        assert_deadline(&request, Duration::from_millis(1500));
        let mut request = Request::new(());
        request.set_timeout(Duration::from_secs(3600));
        assert_deadline(&request, Duration::from_secs(3600));
    }
}
