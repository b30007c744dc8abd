//! Black-box tests of the command API: the real application on port 0, over HTTP.
//! `postgres` tests run against a fresh PostgreSQL database each; `embedded` tests run the
//! same scenarios' core against a fresh SQLite store.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod helpers;
mod scenarios;

macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    crate::scenarios::$scenario(crate::helpers::spawn_app().await).await;
                }
            )*
        }
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    crate::scenarios::$scenario(crate::helpers::spawn_embedded_app().await).await;
                }
            )*
        }
    };
}

on_both_stores!(
    concurrent_identical_placements_make_one_order,
    a_retried_stale_update_cannot_overwrite_a_newer_one,
    many_buyers_on_scarce_stock_never_oversell,
    a_stale_product_version_is_refused_and_reserves_nothing,
    the_same_payment_notified_three_times_is_recorded_once,
    the_cart_is_cleared_after_the_order_is_placed,
    the_same_order_id_with_other_content_is_a_conflict,
    cancelling_an_unpaid_order_releases_its_stock,
);

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_buyer_cannot_see_or_touch_another_buyers_order() {
        crate::scenarios::a_buyer_cannot_see_or_touch_another_buyers_order(
            crate::helpers::spawn_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_forged_or_expired_checkout_token_is_forbidden() {
        crate::scenarios::a_forged_or_expired_checkout_token_is_forbidden(
            crate::helpers::spawn_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn client_mistakes_are_4xx_problems_naming_the_field() {
        crate::scenarios::client_mistakes_are_4xx_problems_naming_the_field(
            crate::helpers::spawn_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_paid_order_ships_and_completes_and_refunds_what_was_paid() {
        crate::scenarios::a_paid_order_ships_and_completes_and_refunds_what_was_paid(
            crate::helpers::spawn_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_openapi_document_covers_every_route() {
        crate::scenarios::the_openapi_document_covers_every_route(
            crate::helpers::spawn_app().await,
        )
        .await;
    }
}
