//! The adapters against real servers: moto (SES v2, SNS, SQS), an aiosmtpd SMTP server
//! writing a Maildir, an HTTP SMS gateway served by axum inside the test, and the outbox on
//! a temporary directory.
//!
//! `./scripts/test` starts moto and aiosmtpd and exports `AWS_ENDPOINT_URL`,
//! `OUTREACH_TEST_SMTP` and `OUTREACH_TEST_MAILDIR`. Without them the tests that need them
//! fail: they never skip.

mod support;

mod channels;
mod http_gateway;
mod outbox;
mod ses;
mod smtp;
mod sns;
mod sqs;
