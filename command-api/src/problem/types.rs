//! Every kind of problem the API answers, in one table: its `type` URI, status, title and
//! what it means. [`Problem::new`](super::Problem::new) takes one, so no answer can carry a
//! `type` that is not here; the OpenAPI document lists them as the enum of `Problem.type`, and
//! `GET /problems/{type}` answers each one's page, so that the relative `type` URI of every
//! answer resolves on the server that sent it (RFC 7807 §3.1).

use actix_web::http::StatusCode;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, Type};

/// Where the pages of the problem types live: a problem's `type` is this and its slug.
pub const PROBLEM_TYPES_PATH: &str = "/problems";

/// Defines [`ProblemType`] from its table, so that [`ProblemType::ALL`] cannot leave one out.
macro_rules! problem_types {
    ($($kind:ident = ($slug:literal, $status:ident, $title:literal, $about:literal);)*) => {
        /// A kind of problem: a stable `type` URI (`/problems/<slug>`), the status it is
        /// answered with and a title that does not change from one occurrence to the next;
        /// the occurrence's own words go in `detail`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum ProblemType {
            $(
                #[doc = $title]
                $kind,
            )*
        }

        impl ProblemType {
            /// Every kind, in the order of the table.
            pub const ALL: &'static [Self] = &[$(Self::$kind),*];

            /// Slug, status, title and meaning.
            const fn describe(self) -> (&'static str, StatusCode, &'static str, &'static str) {
                match self {
                    $(Self::$kind => ($slug, StatusCode::$status, $title, $about),)*
                }
            }
        }
    };
}

problem_types! {
    BadRequest = ("bad-request", BAD_REQUEST, "Malformed request",
        "The body is not JSON of the expected shape, or a parameter or header \
         (X-Correlation-Id, If-Match, Idempotency-Key, X-Min-Version) is malformed. \
         The same request fails again: fix it first.");
    InvalidField = ("invalid-field", UNPROCESSABLE_ENTITY, "Invalid field",
        "A field is outside its rules (an id's characters, a quantity, a price, a \
         line count). `field` names it and `detail` says why; nothing was written.");
    Unauthorized = ("unauthorized", UNAUTHORIZED, "A valid bearer token is required",
        "The request has no bearer token, or one that is malformed, badly signed or \
         expired. Send `Authorization: Bearer <JWT>` with a current token.");
    BadSignature = ("bad-signature", UNAUTHORIZED, "A valid Orders-Signature is required",
        "A payment notification without a valid `Orders-Signature` (t=<unix \
         seconds>,v1=<hex HMAC-SHA256 of \"t.body\">, within 300 s of the server's \
         clock). Nothing was recorded.");
    Forbidden = ("forbidden", FORBIDDEN, "Forbidden",
        "The token's role may not do this (a buyer creating a product, a seller \
         filling a cart), its subject is not a valid id, or a checkout token is \
         forged, expired or for another buyer.");
    NotFound = ("not-found", NOT_FOUND, "Not found",
        "No such resource or route. An order, cart or product the caller may not see \
         answers exactly as one that never existed.");
    OrderConflict = ("order-conflict", CONFLICT, "The order id is taken by another order",
        "The order id was placed, or is being placed, with other content. The same \
         content again answers the first order; other content needs a new checkout.");
    PlacementRejected = ("placement-rejected", CONFLICT, "This order id's placement failed; check out again",
        "An earlier placement of this order id failed and claimed the id, so that it \
         can never be placed on stock that was released. Check out again for a new id.");
    NotCancellable = ("not-cancellable", CONFLICT, "The order can no longer be cancelled",
        "Only an order awaiting payment can be cancelled; a paid order is refunded \
         instead.");
    WrongStatus = ("wrong-status", CONFLICT, "Not possible in the order's current status",
        "The order's status does not allow this (shipping an unpaid order, confirming \
         receipt before shipping). `detail` names the status.");
    RefundConflict = ("refund-conflict", CONFLICT, "Refund not possible",
        "The refund does not fit what the order holds: a refund id used before, or a \
         refund the order does not know.");
    SkuExists = ("sku-exists", CONFLICT, "The SKU already exists",
        "A SKU is created once; add stock to the existing one instead.");
    OutOfStock = ("out-of-stock", CONFLICT, "Not enough stock",
        "A line asks for more units than the SKU has available. Nothing was reserved.");
    ProductExists = ("product-exists", CONFLICT, "The product already exists",
        "A product is created once; change its price instead.");
    ProductConflict = ("product-conflict", CONFLICT, "Product version overflow",
        "The product has changed as often as its version can count.");
    ProductChanged = ("product-changed", CONFLICT, "The product changed, refresh",
        "A line names a product version older than the product's current one: the \
         buyer saw an old price or title. `field` names the line; read the product \
         again and place with its current `product_version`.");
    TxnOfAnotherOrder = ("txn-of-another-order", CONFLICT, "This transaction paid another order",
        "A payment transaction id pays one order only. Nothing was recorded.");
    TradeClosed = ("trade-closed", CONFLICT, "The trade is closed",
        "The payment simulator's trade of the order is closed: the order was \
         cancelled or its payment deadline passed.");
    VersionMismatch = ("version-mismatch", PRECONDITION_FAILED, "The resource has changed",
        "`If-Match` names a version that is no longer current. Nothing changed: read \
         the resource again and decide on its current version (`detail` names it).");
    PayloadTooLarge = ("payload-too-large", PAYLOAD_TOO_LARGE, "The request body is too large",
        "Bodies are at most 256 KiB.");
    IdempotencyKeyReused = ("idempotency-key-reused", UNPROCESSABLE_ENTITY, "This Idempotency-Key was used for another request",
        "A retry must repeat the first request exactly to get its answer; a new \
         request needs a new key. Nothing changed.");
    IfMatchRequired = ("if-match-required", PRECONDITION_REQUIRED, "If-Match is required",
        "Updates of an order send its current version (its ETag) in `If-Match`, so \
         that a stale retry cannot overwrite a newer update.");
    Internal = ("internal", INTERNAL_SERVER_ERROR, "Internal error",
        "Something failed inside the server. The answer says no more; the server's \
         log has the cause under the answer's X-Request-Id.");
    Busy = ("busy", SERVICE_UNAVAILABLE, "Too much contention, retry shortly",
        "Concurrent writers to the same aggregate outlasted the bounded retries. \
         Nothing was written; retry the same request.");
    CampaignNotFound = ("campaign-not-found", NOT_FOUND, "No such campaign",
        "The order names a campaign that does not exist (or the id is misspelt).");
    CampaignExists = ("campaign-exists", CONFLICT, "The campaign exists",
        "A campaign with this id was created before; a retry with the same \
         Idempotency-Key answers the first campaign.");
    CampaignNotStarted = ("campaign-not-started", CONFLICT, "The campaign has not started",
        "The campaign's window opens later (`detail` says when). Nothing was written.");
    CampaignEnded = ("campaign-ended", CONFLICT, "The campaign has ended",
        "The campaign's window has closed, or its seller ended it. Nothing was written.");
    CampaignSoldOut = ("campaign-sold-out", CONFLICT, "The campaign is sold out",
        "Every unit of the campaign's stock is held by an order. A cancelled or expired \
         order gives its unit back while the campaign runs.");
    CampaignLimitReached = ("campaign-limit-reached", CONFLICT, "The buyer holds the campaign's limit",
        "The buyer's orders in this campaign already hold the units its per-buyer \
         limit allows, however they were retried. A cancelled order gives its claim back.");
    TooManyRequests = ("too-many-requests", TOO_MANY_REQUESTS, "Too many requests, retry later",
        "Admission control refused the placement before it read or wrote anything: the \
         node's placement rate, the placements it runs at once, or the buyer's rate is \
         at its limit. Retry after `Retry-After` seconds.");
    RiskRefused = ("risk-refused", TOO_MANY_REQUESTS, "The placement was refused by a risk rule",
        "A risk rule refused the placement (`detail` names the rule, such as too many \
         placements by one buyer within a minute). Nothing was written; it lifts with \
         time: retry after `Retry-After` seconds.");
    ViewBehind = ("view-behind", SERVICE_UNAVAILABLE, "The view has not caught up yet",
        "A read asked for `min_version` (or `X-Min-Version`) and the view did not reach \
         it within the wait. Retry after `Retry-After` seconds.");
    GeneMoving = ("gene-moving", SERVICE_UNAVAILABLE, "The stream's partition is moving to another database, retry shortly",
        "The order, cart or SKU belongs to a partition gene whose writes are moving to \
         another shard database, and this node did not see the new shard map within the \
         bounded wait (5 s). Nothing was written. Retry after `Retry-After` seconds.");
    Unavailable = ("unavailable", SERVICE_UNAVAILABLE, "The service cannot reach its database, retry shortly",
        "The database does not answer. Retry after `Retry-After` seconds.");
}

impl ProblemType {
    /// The last segment of its `type` URI, e.g. `product-changed`.
    pub const fn slug(self) -> &'static str {
        self.describe().0
    }

    /// The status it is answered with.
    pub const fn status(self) -> StatusCode {
        self.describe().1
    }

    /// Its short summary, the same on every occurrence.
    pub const fn title(self) -> &'static str {
        self.describe().2
    }

    /// What it means and what a client does about it: the body of its page.
    pub const fn about(self) -> &'static str {
        self.describe().3
    }

    /// Its `type` URI, relative to the server: `/problems/<slug>`.
    pub fn uri(self) -> String {
        format!("{PROBLEM_TYPES_PATH}/{}", self.slug())
    }

    /// The kind whose slug is `slug`.
    pub fn from_slug(slug: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|kind| kind.slug() == slug)
    }

    /// The OpenAPI schema of a problem's `type`: one of the URIs of [`ProblemType::ALL`].
    pub fn uri_schema() -> Object {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Self::ALL.iter().map(|kind| kind.uri())))
            .description(Some(format!(
                "The kind of problem: a URI relative to the server, whose page \
                 (`GET {PROBLEM_TYPES_PATH}/{{type}}`) says what it means"
            )))
            .build()
    }
}

/// In the document a kind is its slug (the path parameter of its page).
impl utoipa::PartialSchema for ProblemType {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(Self::ALL.iter().map(|kind| kind.slug())))
            .description(Some(
                "The slug of a problem type: the last segment of its URI",
            ))
            .into()
    }
}

impl utoipa::ToSchema for ProblemType {}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn every_kind_has_its_own_slug_and_is_found_by_it() {
        let slugs: HashSet<&str> = ProblemType::ALL.iter().map(|k| k.slug()).collect();
        assert_eq!(slugs.len(), ProblemType::ALL.len());
        for &kind in ProblemType::ALL {
            assert_eq!(ProblemType::from_slug(kind.slug()), Some(kind));
            assert!(kind.status().is_client_error() || kind.status().is_server_error());
        }
        assert_eq!(ProblemType::from_slug("no-such-problem"), None);
    }
}
