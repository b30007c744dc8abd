//! Who is asking: the query API's caller, as the server's authentication establishes it.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::problem::QueryProblem;

/// The roles the query API tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewerRole {
    /// Sees their own orders.
    Buyer,
    /// Sees the orders of their products.
    Seller,
    /// Sees every order.
    Ops,
    /// Sees no orders (e.g. the payment provider); may read stock.
    Other,
}

/// The authenticated caller of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    /// Buyer id, seller id, operator or other name.
    pub subject: String,
    /// Role.
    pub role: ViewerRole,
}

impl Viewer {
    /// Whether the caller may see an order of `buyer_id` sold by `seller_id`: the same rule as
    /// the command side's.
    pub fn may_see(&self, buyer_id: &str, seller_id: &str) -> bool {
        match self.role {
            ViewerRole::Ops => true,
            ViewerRole::Buyer => self.subject == buyer_id,
            ViewerRole::Seller => self.subject == seller_id,
            ViewerRole::Other => false,
        }
    }
}

type Authenticate = dyn Fn(&HttpRequest) -> Option<Viewer> + Send + Sync;

/// How the server turns a request into a [`Viewer`] (its bearer tokens); registered as app
/// data by the server so that this crate needs no knowledge of tokens.
pub struct Authenticator(Box<Authenticate>);

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Authenticator")
    }
}

impl Authenticator {
    /// An authenticator from a function of the request.
    pub fn new(
        authenticate: impl Fn(&HttpRequest) -> Option<Viewer> + Send + Sync + 'static,
    ) -> Self {
        Self(Box::new(authenticate))
    }
}

impl FromRequest for Viewer {
    type Error = QueryProblem;
    type Future = Ready<Result<Self, QueryProblem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let viewer = req
            .app_data::<web::Data<Authenticator>>()
            .and_then(|auth| (auth.0)(req));
        ready(viewer.ok_or_else(QueryProblem::unauthorized))
    }
}
