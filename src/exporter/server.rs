//! The mock-exporter's HTTP server: one page computed per second, served to every scraper.
//!
//! A background task renders the page for each new second (on a blocking thread, since a
//! 100k-series page takes tens of milliseconds) and swaps it in; `GET /metrics` clones an `Arc`
//! and writes the cached bytes. Scrape latency therefore does not depend on the page's size
//! beyond copying it, and five scrapers cost one rendering.
//!
//! `GET /metrics?region=NAME` serves the same page unless an incident is limited to that region:
//! then that region's page is rendered on the first request of each second and cached for the
//! rest of it.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use bytes::Bytes;
use tokio::net::TcpListener;
use warp::http::{header, Response, StatusCode};
use warp::Filter;

use super::exposition;
use super::fleet::Model;

/// Header carrying the Unix second a page was computed for: two exporters with the same seed
/// serve identical bodies when this header is equal.
pub const TIME_HEADER: &str = "x-mock-exporter-time";

/// A rendered page.
#[derive(Debug, Clone)]
pub struct Page {
    pub time: u64,
    pub body: Bytes,
}

/// The current page, shared between the renderer and the handlers.
#[derive(Clone)]
pub struct PageCache(Arc<RwLock<Arc<Page>>>);

impl PageCache {
    fn new(page: Page) -> PageCache {
        PageCache(Arc::new(RwLock::new(Arc::new(page))))
    }

    pub fn current(&self) -> Arc<Page> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn replace(&self, page: Page) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(page);
    }
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn render(model: &Model, time: u64) -> Page {
    Page {
        time,
        body: Bytes::from(exposition::render(model, time)),
    }
}

/// Binds `addr`, with an error that names it.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))
}

/// Serves `model` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    model: Model,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let model = Arc::new(model);
    let first = {
        let model = model.clone();
        tokio::task::spawn_blocking(move || render(&model, unix_now())).await?
    };
    let cache = PageCache::new(first);
    let model_for_pages = model.clone();
    let renderer = tokio::spawn(refresh(model, cache.clone()));

    let regional = Regional::default();
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(warp::query::<HashMap<String, String>>())
        .and(with(cache.clone()))
        .and(warp::any().map(move || (model_for_pages.clone(), regional.clone())))
        .then(
            |q: HashMap<String, String>,
             cache: PageCache,
             (model, regional): (Arc<Model>, Regional)| async move {
                let page = match q.get("region") {
                    Some(r) if model.has_regional_incident(r) => {
                        regional.page(model, r.clone()).await
                    }
                    _ => cache.current(),
                };
                Response::builder()
                    .header(header::CONTENT_TYPE, exposition::content_type())
                    .header(TIME_HEADER, page.time.to_string())
                    .body(page.body.clone())
                    .expect("static headers are valid")
            },
        );
    let healthz = warp::path!("healthz").and(warp::get()).map(|| "ok\n");
    let index = warp::path::end().and(warp::get()).map(|| {
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .body(Bytes::from_static(
                b"<html><body><h1>mock-exporter</h1><p><a href=\"/metrics\">/metrics</a> \xc2\xb7 <a href=\"/healthz\">/healthz</a></p></body></html>\n",
            ))
            .expect("static headers are valid")
    });
    let routes = metrics.or(healthz).or(index);
    accept(listener, warp::service(routes), shutdown).await;
    renderer.abort();
    Ok(())
}

/// How long a client may take to send its request headers. A connection that trickles them
/// (slowloris) is closed after this, instead of holding a file descriptor for ever: warp's own
/// server sets no timer, so hyper's header timeout would never fire.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts HTTP/1.1 connections until `shutdown`, then lets requests in flight finish.
pub async fn accept<S>(listener: TcpListener, service: S, shutdown: impl Future<Output = ()>)
where
    S: tower_service::Service<
            warp::http::Request<hyper::body::Incoming>,
            Response = warp::reply::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let io = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((io, _)) => io,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT)
            .serve_connection(
                hyper_util::rt::TokioIo::new(io),
                hyper_util::service::TowerToHyperService::new(service.clone()),
            );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

fn with(
    cache: PageCache,
) -> impl Filter<Extract = (PageCache,), Error = std::convert::Infallible> + Clone {
    warp::any().map(move || cache.clone())
}

/// The pages of regions with an incident of their own, one per region, for the current second.
#[derive(Clone, Default)]
struct Regional(Arc<tokio::sync::Mutex<HashMap<String, Arc<Page>>>>);

impl Regional {
    /// The page for `region` at this second, rendered if the cached one is older.
    async fn page(&self, model: Arc<Model>, region: String) -> Arc<Page> {
        let time = unix_now();
        let mut pages = self.0.lock().await;
        if let Some(p) = pages.get(&region).filter(|p| p.time == time) {
            return p.clone();
        }
        let r = region.clone();
        let page = tokio::task::spawn_blocking(move || Page {
            time,
            body: Bytes::from(exposition::render_for(&model, time, Some(&r))),
        })
        .await
        .expect("rendering a page does not panic");
        let page = Arc::new(page);
        pages.insert(region, page.clone());
        page
    }
}

/// Renders a new page at the start of every second.
async fn refresh(model: Arc<Model>, cache: PageCache) {
    loop {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let next = Duration::from_secs(now.as_secs() + 1) - now;
        tokio::time::sleep(next + Duration::from_millis(1)).await;
        let time = unix_now();
        if cache.current().time == time {
            continue;
        }
        let m = model.clone();
        match tokio::task::spawn_blocking(move || render(&m, time)).await {
            Ok(page) => cache.replace(page),
            Err(e) => tracing::error!(error = %e, "rendering the page failed"),
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
