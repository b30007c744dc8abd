//! The routes, generic over the peer's store: each parses, calls one [`Peer`] method and
//! answers with the platform's status for the case.

use actix_web::http::header::AUTHORIZATION;
use actix_web::{HttpRequest, HttpResponse, web};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::bodies::Checkout;
use crate::{NewCampaign, NewProduct, Payment, Peer, PeerError, Placed, Placement};

/// Mounts the contract's routes for the peer `P`.
pub fn configure<P: Peer>(cfg: &mut web::ServiceConfig) {
    cfg.route("/healthz", web::get().to(HttpResponse::Ok))
        .route("/v1/products", web::post().to(create_product::<P>))
        .route("/v1/campaigns", web::post().to(create_campaign::<P>))
        .route("/v1/campaigns/{id}", web::get().to(campaign::<P>))
        .route("/v1/checkout", web::post().to(checkout))
        .route("/v1/orders", web::post().to(place::<P>))
        .route("/v1/payments/notify", web::post().to(notify::<P>));
}

/// What a peer reads of a bearer token.
#[derive(Deserialize)]
struct Claims {
    sub: String,
}

/// The bearer token's subject, read without verifying the token: a peer is a baseline, and
/// trusting the caller only makes it faster than the platform it is compared with.
fn subject(request: &HttpRequest) -> Result<String, PeerError> {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(PeerError::Unauthorized)?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.insecure_disable_signature_validation();
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_secret(&[]), &validation)
        .map(|data| data.claims.sub)
        .map_err(|_| PeerError::Unauthorized)
}

async fn create_product<P: Peer>(
    peer: web::Data<P>,
    body: web::Json<NewProduct>,
) -> Result<HttpResponse, PeerError> {
    let product = body.into_inner();
    let answer = serde_json::json!({ "sku": product.sku, "product_version": 1 });
    peer.create_product(product).await?;
    Ok(HttpResponse::Created().json(answer))
}

async fn create_campaign<P: Peer>(
    peer: web::Data<P>,
    body: web::Json<NewCampaign>,
) -> Result<HttpResponse, PeerError> {
    if body.limit_per_buyer == 0 {
        return Err(PeerError::invalid("limit_per_buyer", "at least 1"));
    }
    let campaign_id = format!("c{}", uuid::Uuid::new_v4().simple());
    peer.create_campaign(&campaign_id, &body).await?;
    Ok(HttpResponse::Created().json(peer.campaign(&campaign_id).await?))
}

async fn campaign<P: Peer>(
    peer: web::Data<P>,
    id: web::Path<String>,
) -> Result<HttpResponse, PeerError> {
    Ok(HttpResponse::Ok().json(peer.campaign(&id).await?))
}

async fn checkout(request: HttpRequest) -> Result<HttpResponse, PeerError> {
    subject(&request)?;
    Ok(HttpResponse::Created().json(Checkout::issue()))
}

async fn place<P: Peer>(
    peer: web::Data<P>,
    request: HttpRequest,
    body: web::Json<Placement>,
) -> Result<HttpResponse, PeerError> {
    let buyer = subject(&request)?;
    Ok(match peer.place(&buyer, &body).await? {
        Placed::New(order) => HttpResponse::Created().json(order),
        Placed::Again(order) => HttpResponse::Ok().json(order),
    })
}

/// Payment notifications are accepted without their signature (see the crate's docs).
async fn notify<P: Peer>(
    peer: web::Data<P>,
    body: web::Json<Payment>,
) -> Result<HttpResponse, PeerError> {
    peer.notify(&body).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "order_id": body.order_id })))
}
