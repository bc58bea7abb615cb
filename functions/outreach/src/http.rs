//! The laptop's HTTP server: axum's router on hyper's HTTP/1 connections, with a deadline
//! for each request head. `axum::serve` installs no timer, so hyper's header-read timeout
//! never fires there and a client that opens connections and sends nothing (or half a
//! head) holds each one for as long as it likes: 800 such connections were all still held
//! after 35 s.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// How long requests under way may take to finish once shutdown begins.
const DRAIN: Duration = Duration::from_secs(30);

/// Serve `router` on `listener` until `shutdown` resolves, then let the requests under way
/// finish (up to 30 s). A connection whose request line and headers have not all arrived
/// `header_timeout` after it opened (or after its previous response) is closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let (stopping_tx, stopping_rx) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(error.message = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let watcher = graceful.watcher();
        let mut stopping = stopping_rx.clone();
        tokio::spawn(async move {
            // A fresh connection that sends nothing is closed at the header-read deadline,
            // and at once when shutdown begins: an idle preconnect must not hold it up.
            tokio::select! {
                first = tokio::time::timeout(header_timeout, stream.readable()) => match first {
                    Ok(Ok(())) => {}
                    Ok(Err(_)) => return,
                    Err(_) => {
                        tracing::debug!("connection closed: nothing sent within the header-read timeout");
                        return;
                    }
                },
                _ = stopping.changed() => return,
            }
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(error.message = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = stopping_tx.send(true);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!(
            "requests still under way {} s after shutdown began: dropped",
            DRAIN.as_secs()
        );
    }
    Ok(())
}
