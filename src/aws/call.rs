//! The bound of one AWS call: classified, and cancelled past the SDK's own operation timeout
//! plus a slack, so that nothing awaits AWS forever.

use std::error::Error as StdError;
use std::time::Duration;

use aws_sdk_datasync::error::{ProvideErrorMetadata, SdkError};

use super::classify::classify;
use super::error::AwsError;

/// Runs one AWS call under its own bound (the SDK's operation timeout, which covers its
/// retries, plus [`CALL_SLACK`]): a call that overruns is cancelled and reported as
/// [`AwsError::Timeout`], never left to hang the caller.
pub(crate) async fn bounded<T>(
    op: &'static str,
    call: impl std::future::Future<Output = Result<T, AwsError>>,
) -> Result<T, AwsError> {
    let after = CALL_BOUND;
    crate::support::liveness::step(after, call)
        .await
        .unwrap_or(Err(AwsError::Timeout { op, after }))
}

/// An SDK call, classified and bounded: `.send().classified("ec2:DescribeSubnets").await`.
pub(crate) trait Classified<O, E>:
    std::future::Future<Output = Result<O, SdkError<E>>> + Sized
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    /// Awaits the call under [`CALL_BOUND`], classifying its failure as the IAM action `op`.
    ///
    /// The SDK's `send()` future is large (its whole orchestrator state): boxed here, once,
    /// so that the layers around it (the bound, its timeout, the task-local promise) move a
    /// pointer instead of copying it at each layer. callgrind counted those copies as most
    /// of what a DescribeAgent poll cost the daemon beyond the SDK call (bench/report.sh).
    fn classified(
        self,
        op: &'static str,
    ) -> impl std::future::Future<Output = Result<O, AwsError>> {
        let call = Box::pin(self);
        bounded(op, async move { call.await.map_err(|e| classify(op, e)) })
    }
}

impl<F, O, E> Classified<O, E> for F
where
    F: std::future::Future<Output = Result<O, SdkError<E>>>,
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
}

/// The next item of a paginated SDK stream, classified and bounded like one call.
pub(crate) async fn next_item<T, E>(
    op: &'static str,
    next: impl std::future::Future<Output = Option<Result<T, SdkError<E>>>>,
) -> Result<Option<T>, AwsError>
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    bounded(op, async {
        next.await.transpose().map_err(|e| classify(op, e))
    })
    .await
}

/// Slack over the SDK's own operation timeout: identity resolution (IMDS, AssumeRole) and
/// the response body, which the SDK may not count.
pub(crate) const CALL_SLACK: Duration = Duration::from_secs(10);
/// The bound of one AWS call, SDK retries and credential resolution included.
pub(crate) const CALL_BOUND: Duration =
    Duration::from_secs(crate::aws::OPERATION_TIMEOUT.as_secs() + CALL_SLACK.as_secs());
