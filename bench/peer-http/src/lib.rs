//! The request shape of the flash-sale benchmark's two peers, served over whichever store a
//! peer brings: the same routes and bodies as `orders serve` (products, campaigns, checkout,
//! placement, payment notification), so that `loadgen` drives a peer exactly as it drives the
//! order platform, and the peers differ only in how they keep stock and orders.
//!
//! A peer is a baseline, not a product: it reads the buyer from the bearer token's subject
//! without verifying the token, hands out checkout tokens it never checks, and accepts payment
//! notifications without their signature. Each of those skips makes a peer a little faster
//! than the platform it is compared with, never slower.
//!
//! Modules: `bodies` (what the routes read and answer), `error` (the one table from a peer's
//! error to its RFC 7807 answer), `routes` (the handlers, generic over [`Peer`]), `testing`
//! (feature `testing`: the checks every peer's tests run).
#![warn(missing_docs)]

pub mod bodies;
pub mod error;
pub mod routes;
#[cfg(feature = "testing")]
pub mod testing;

use std::future::Future;
use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

pub use bodies::{Campaign, NewCampaign, NewProduct, Order, Payment, Placement, PlacementLine};
pub use error::PeerError;

/// How a placement ended when it succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// A new order (201).
    New(Order),
    /// The order this id already names: a replayed request (200).
    Again(Order),
}

/// Where a peer keeps stock, campaigns and orders. Every method is one use case of the
/// contract; the routes parse, call one of them and answer.
pub trait Peer: Send + Sync + 'static {
    /// Sets up a SKU with its stock and price (a SKU that exists keeps what it has).
    fn create_product(&self, product: NewProduct) -> impl Future<Output = Result<(), PeerError>>;

    /// Sets up a campaign under `campaign_id`: on a peer, a campaign is just its stock, its
    /// price and its limit per buyer.
    fn create_campaign(
        &self,
        campaign_id: &str,
        campaign: &NewCampaign,
    ) -> impl Future<Output = Result<(), PeerError>>;

    /// The campaign's stock as it stands.
    fn campaign(&self, campaign_id: &str) -> impl Future<Output = Result<Campaign, PeerError>>;

    /// Places `buyer`'s order: reserves its stock (of the campaign when it names one), once
    /// per order id.
    fn place(
        &self,
        buyer: &str,
        placement: &Placement,
    ) -> impl Future<Output = Result<Placed, PeerError>>;

    /// Records an order's payment: the order paid, its reserved stock sold.
    fn notify(&self, payment: &Payment) -> impl Future<Output = Result<(), PeerError>>;
}

/// Serves `peer` on `http_addr` until stopped, logging to stderr (`RUST_LOG` filters): what
/// a peer's `main` does once it has its store.
pub async fn run_at<P: Peer>(http_addr: &str, peer: P) -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    serve(TcpListener::bind(http_addr)?, peer)?.await
}

/// Largest JSON body a peer reads (the platform's limit for a placement is of this order).
const JSON_BODY_SIZE_MAX_BYTES: usize = 64 * 1024;

/// Serves `peer` on `listener` (port 0 works in tests); the server runs when awaited or
/// spawned, and stops through its handle.
pub fn serve<P: Peer>(listener: TcpListener, peer: P) -> std::io::Result<Server> {
    let peer = web::Data::new(peer);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(peer.clone())
            .app_data(
                web::JsonConfig::default()
                    .limit(JSON_BODY_SIZE_MAX_BYTES)
                    .error_handler(|err, _| PeerError::BadBody(err.to_string()).into()),
            )
            .configure(routes::configure::<P>)
    })
    .listen(listener)?
    .run();
    Ok(server)
}
