//! Pure business logic of the order platform: aggregates, commands, events and value types.
//!
//! Nothing here performs I/O, reads a clock or generates an id: time and ids arrive in the
//! commands, so every decision is a pure function of state and command. Each aggregate has
//! `decide(&self, command) -> Result<Vec<Event>, Error>` and an exhaustive `apply`; its
//! cqrs-es [`Aggregate::handle`](cqrs_es::Aggregate::handle) only writes `decide`'s events to
//! the sink. A command that changes nothing (a duplicate, a retry) decides no events.
//!
//! | module | owns |
//! | --- | --- |
//! | [`ids`] | [`OrderId`] (a positive `u64`, a decimal string in JSON) and the text ids [`BuyerId`], [`SellerId`], [`SkuId`], [`TxnId`], [`RefundId`], [`TrackingNumber`] |
//! | [`quantity`] | [`Quantity`]: 1 to 10 000 units |
//! | [`money`] | [`Money`] in integer minor units; [`allocate`] (largest remainder) and [`refund_share`] |
//! | [`product`] | the `Product` aggregate: title, price and snapshot version of one SKU |
//! | [`sku`] | the `Sku` aggregate: stock of one SKU, reservations keyed by order id |
//! | [`order`] | the `Order` aggregate: placement, payment, cancellation, shipping, refunds |
//! | [`campaign`] | flash sales: the `Campaign` aggregate, its stock's `CampaignBucket`s and each buyer's `CampaignBuyer` record of the per-buyer limit |
//! | [`cart`] | the `Cart` aggregate: a buyer's cart, cleared after an order is placed |
//! | [`timestamp`] | times written and read as chrono writes and reads them, without its per-character formatting and general parser |
//! | [`upcast`] | [`upcasters`]: older versions of events, as the log keeps them, read as today's |
//!
//! Aggregate types (`Aggregate::TYPE`): `"Order"`, `"Sku"`, `"Product"`, `"Cart"`, `"Campaign"`,
//! `"CampaignBucket"`, `"CampaignBuyer"`, `"SellerCampaigns"`; their ids are the order id, the SKU id,
//! the SKU id, the buyer id, the campaign id, [`bucket_stream_id`], [`buyer_stream_id`] and the
//! seller id. Event types are the variant names
//! (e.g. `"OrderPlaced"`), each at its own version (`"1.0"`, but `"2.0"` for `RefundRequested`);
//! [`upcasters`] read the older versions the log keeps as today's.
#![warn(missing_docs)]

pub mod campaign;
pub mod cart;
pub mod ids;
pub mod money;
pub mod order;
pub mod product;
pub mod quantity;
pub mod sku;
pub mod timestamp;
pub mod upcast;

pub use campaign::bucket::{
    BucketClosed, BucketCommand, BucketError, BucketEvent, BucketMovement, BucketOpened,
    BucketReleased, CampaignBucket, bucket_stream_id, parse_bucket_stream_id,
};
pub use campaign::buyer::{
    BuyerCommand, BuyerError, BuyerEvent, CampaignBuyer, LimitMovement, buyer_stream_id,
    parse_buyer_stream_id,
};
pub use campaign::seller::{
    CampaignListed, ListCampaign, SellerCampaigns, SellerCampaignsError, SellerCampaignsEvent,
};
pub use campaign::{
    CAMPAIGN_BUCKETS_MAX, Campaign, CampaignCommand, CampaignCreated, CampaignEnded, CampaignError,
    CampaignEvent, CampaignStatus, CreateCampaign, EndCampaign,
};
pub use cart::{
    AddToCart, CART_ITEMS_MAX, Cart, CartCleared, CartCommand, CartError, CartEvent, CartItemAdded,
    CartItemRemoved, ClearCart, RemoveFromCart,
};
pub use ids::{
    BuyerId, CampaignId, ID_LEN_MAX, IdError, OrderId, RefundId, SellerId, SkuId, TrackingNumber,
    TxnId,
};
pub use money::{AllocationError, Money, MoneyError, allocate, refund_share};
pub use order::{
    AbandonPlacement, AfterClosePayment, CampaignLine, CancelOrder, CancelReason, CompleteRefund,
    ConfirmPayment, ConfirmReceipt, ItemRequest, LogisticsUpdated, ORDER_ITEMS_MAX, Order,
    OrderCancelled, OrderCommand, OrderCompleted, OrderError, OrderEvent, OrderItem, OrderPlaced,
    OrderShipped, OrderSnapshot, OrderStatus, PaidAfterClose, Payment, PaymentConfirmed,
    PlaceOrder, PlacedOrder, PlacementRejected, Refund, RefundCompleted, RefundItem, RefundKind,
    RefundLine, RefundPaidAfterClose, RefundRequested, RejectPlacement, RejectionReason,
    RequestRefund, ShipOrder, UpdateLogistics,
};
pub use product::{
    ChangePrice, CreateProduct, PriceChanged, Product, ProductCommand, ProductCreated,
    ProductError, ProductEvent, ProductSnapshot, ProductTitle, TITLE_LEN_MAX, TitleError,
    UNIT_PRICE_MAX_CENTS, unit_price,
};
pub use quantity::{Quantity, QuantityError};
pub use sku::{
    AddStock, CampaignStock, CampaignStockMoved, CreateSku, DeductStock, ReleaseStock, Reservation,
    ReservationStatus, ReserveStock, SETTLED_RESERVATION_KEPT_SECS, Sku, SkuCommand, SkuCreated,
    SkuError, SkuEvent, StockAdded, StockDeducted, StockReleased, StockReserved,
};
pub use upcast::upcasters;
