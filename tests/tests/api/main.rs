//! Black-box tests of the command API: the real application on port 0, over HTTP.
//! `postgres` tests run against a fresh PostgreSQL database each; `embedded` tests run the
//! same scenarios' core against a fresh SQLite store; `sharded` tests run them on three fresh
//! PostgreSQL databases with the genes spread over them (ADR 42).
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod admission;
mod archive;
mod callbacks;
mod campaigns;
mod docs;
mod faults;
mod helpers;
mod limits;
mod metrics;
mod nats;
mod openapi;
mod ops;
mod payments;
mod read_side;
mod request_ids;
mod resharding;
mod resharding_relay;
mod scenarios;
mod sharded_cli;
mod sharded_sellers;
mod sharding;

/// Each scenario of module `$module` as a test on PostgreSQL (in module `$postgres`), on
/// SQLite (in `$embedded`) and on three PostgreSQL databases, the genes spread over them by a
/// shard map (in `$sharded`); without a module, the scenarios of `scenarios`.
macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {
        on_both_stores!(scenarios => postgres, embedded, sharded: $($scenario),*);
    };
    ($module:ident => $postgres:ident, $embedded:ident, $sharded:ident: $($scenario:ident),* $(,)?) => {
        mod $postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    crate::$module::$scenario(crate::helpers::spawn_app().await).await;
                }
            )*
        }
        mod $embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    crate::$module::$scenario(crate::helpers::spawn_embedded_app().await).await;
                }
            )*
        }
        mod $sharded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    crate::$module::$scenario(crate::helpers::spawn_sharded_app().await).await;
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
    a_retried_stock_addition_answers_the_first_result,
    an_idempotency_key_reused_for_another_request_is_refused,
    a_transaction_id_pays_one_order_only,
    the_status_shows_each_follower_caught_up_and_held,
);

on_both_stores!(
    campaigns => campaigns_postgres, campaigns_embedded, campaigns_sharded:
    a_buyer_never_gets_more_than_the_limit_under_concurrent_retries,
    a_campaign_refuses_orders_before_its_start_and_after_its_end,
    many_buyers_never_oversell_a_campaign,
    a_sold_out_campaign_refuses_a_buyer_without_writing,
    a_cancelled_campaign_order_gives_its_unit_back_to_the_running_campaign,
    ending_a_campaign_returns_the_rest_to_the_sku,
    the_limit_holds_after_a_restart,
    a_campaign_ends_by_itself_and_its_rest_returns_to_the_sku_once,
    a_bot_replaying_a_campaign_placement_is_refused_429_and_writes_nothing,
);

mod sharded_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_shards_followers_and_leases_have_their_own_series_on_the_metrics() {
        crate::metrics::each_shards_followers_and_leases_have_their_own_series(
            crate::helpers::spawn_sharded_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_relay_publishes_every_shards_log_once_in_order_through_a_move() {
        crate::resharding_relay::one_relay_publishes_every_shards_log_once_in_order_through_a_move(
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_move_waits_for_the_source_relay_before_switching_writes() {
        crate::resharding_relay::a_move_waits_for_the_source_relay_before_switching_writes(
            crate::helpers::spawn_sharded_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_move_under_place_pay_load_loses_fails_and_doubles_nothing() {
        crate::resharding::a_move_under_place_pay_load_loses_fails_and_doubles_nothing(
            crate::helpers::spawn_sharded_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_move_killed_at_each_step_resumes_and_completes() {
        crate::resharding::a_move_killed_at_each_step_resumes_and_completes(
            crate::helpers::spawn_sharded_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_seller_lists_orders_from_every_shard() {
        crate::sharding::a_seller_lists_orders_from_every_shard(
            crate::helpers::spawn_sharded_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_order_and_its_skus_on_other_shards_place_and_compensate() {
        crate::sharding::an_order_and_its_skus_on_other_shards_place_and_compensate(
            crate::helpers::spawn_sharded_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_node_with_a_stale_map_is_fenced_off_and_writes_on_the_new_shard() {
        crate::sharding::a_node_with_a_stale_map_is_fenced_off_and_writes_on_the_new_shard(
            crate::helpers::spawn_sharded_app().await,
        )
        .await;
    }
}

mod postgres_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_held_append_shows_on_the_metrics_as_its_age_and_the_views_lag() {
        crate::faults::a_held_append_shows_on_the_metrics_as_its_age_and_the_views_lag(
            crate::helpers::spawn_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lost_database_is_answered_503_with_retry_after_and_readyz_says_so() {
        crate::faults::a_lost_database_is_answered_503_with_retry_after_and_readyz_says_so(
            crate::helpers::spawn_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_price_changed_on_another_node_is_in_force_here_once_seen() {
        crate::scenarios::a_price_changed_on_another_node_is_in_force_here_once_seen(
            crate::helpers::spawn_app_with(|s| s.product_staleness_ms = 3_600_000).await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_placement_repeated_on_another_node_changes_no_stock() {
        crate::scenarios::a_placement_repeated_on_another_node_changes_no_stock(
            crate::helpers::spawn_app().await,
        )
        .await;
    }

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

mod embedded_only {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_operation_documents_the_answers_its_machinery_gives() {
        crate::openapi::every_operation_documents_the_answers_its_machinery_gives(
            crate::helpers::spawn_embedded_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn error_answers_are_documented_with_their_media_type() {
        crate::openapi::error_answers_are_documented_with_their_media_type(
            crate::helpers::spawn_embedded_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_error_answer_is_the_one_problem_type() {
        crate::archive::every_error_answer_is_the_one_problem_type(
            crate::helpers::spawn_embedded_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn requests_are_counted_by_route_pattern() {
        crate::scenarios::requests_are_counted_by_route_pattern(
            crate::helpers::spawn_embedded_app().await,
        )
        .await;
    }
}

mod payments_postgres {
    use crate::helpers::{spawn_app, spawn_app_with};
    use crate::payments::{self, SHORT_TIMEOUT_SECS, Step};

    async fn short_deadlines() -> crate::helpers::TestApp {
        spawn_app_with(|s| s.payment_timeout_secs = SHORT_TIMEOUT_SECS).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unpaid_order_is_cancelled_and_its_stock_released_within_a_second_of_its_deadline() {
        payments::an_unpaid_order_is_cancelled_and_its_stock_released_within_a_second_of_its_deadline(
            short_deadlines().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_callback_is_aligned_from_the_provider_at_the_deadline() {
        let app = spawn_app_with(|s| {
            s.payment_timeout_secs = SHORT_TIMEOUT_SECS;
            s.simulator_callback_drop_permille = 1_000;
        })
        .await;
        payments::a_dropped_callback_is_aligned_from_the_provider_at_the_deadline(app).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_order_is_payable_at_the_simulator_as_soon_as_it_is_placed() {
        payments::an_order_is_payable_at_the_simulator_as_soon_as_it_is_placed(spawn_app().await)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_payment_at_the_simulator_pays_the_order_through_its_callback() {
        let app = spawn_app_with(|s| s.simulator_callback_duplicate_permille = 1_000).await;
        payments::a_payment_at_the_simulator_pays_the_order_through_its_callback(app).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deadlines_pending_across_a_restart_still_fire() {
        let app = spawn_app_with(|s| s.payment_timeout_secs = 5).await;
        payments::deadlines_pending_across_a_restart_still_fire(app).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn item_refunds_are_paid_out_by_the_provider_and_never_exceed_what_was_paid() {
        payments::item_refunds_are_paid_out_by_the_provider_and_never_exceed_what_was_paid(
            spawn_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn several_timers_never_claim_one_deadline_twice() {
        payments::several_timers_never_claim_one_deadline_twice(spawn_app().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_recorded_deadline_is_kept_as_it_is() {
        payments::a_recorded_deadline_is_kept_as_it_is(spawn_app().await).await;
    }

    /// `cargo nextest run -p tests --run-ignored only lateness` (or set `LATENESS_ORDERS`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "a measurement that takes minutes: run by hand"]
    async fn lateness_of_many_deadlines_due_together() {
        let orders = std::env::var("LATENESS_ORDERS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(10_000);
        let app = spawn_app_with(|s| s.payment_timeout_secs = 3_600).await;
        payments::measure_deadline_lateness(app, orders, 60).await;
    }

    macro_rules! races {
        ($($name:ident: $a:ident, $b:ident, $c:ident;)*) => {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    payments::race(short_deadlines().await, [Step::$a, Step::$b, Step::$c]).await;
                }
            )*
        };
    }

    races! {
        race_notify_then_timeout_then_cancel: Notify, Timeout, BuyerCancel;
        race_notify_then_cancel_then_timeout: Notify, BuyerCancel, Timeout;
        race_timeout_then_notify_then_cancel: Timeout, Notify, BuyerCancel;
        race_timeout_then_cancel_then_notify: Timeout, BuyerCancel, Notify;
        race_cancel_then_notify_then_timeout: BuyerCancel, Notify, Timeout;
        race_cancel_then_timeout_then_notify: BuyerCancel, Timeout, Notify;
    }
}

mod payments_embedded {
    use crate::helpers::{spawn_embedded_app, spawn_embedded_app_clocked, spawn_embedded_app_with};
    use crate::payments::{self, SHORT_TIMEOUT_SECS};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deadline_fires_when_the_clock_is_moved_past_it() {
        let now_ms = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap();
        let clock = std::sync::Arc::new(ids::ManualClock::new(now_ms));
        let app =
            spawn_embedded_app_clocked(clock.clone(), |s| s.payment_sweep_interval_secs = 1).await;
        payments::a_deadline_fires_when_the_clock_is_moved_past_it(app, clock).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_recorded_deadline_is_kept_as_it_is() {
        payments::a_recorded_deadline_is_kept_as_it_is(spawn_embedded_app().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_unpaid_order_is_cancelled_and_its_stock_released_within_a_second_of_its_deadline() {
        let app = spawn_embedded_app_with(|s| s.payment_timeout_secs = SHORT_TIMEOUT_SECS).await;
        payments::an_unpaid_order_is_cancelled_and_its_stock_released_within_a_second_of_its_deadline(
            app,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_callback_is_aligned_from_the_provider_at_the_deadline() {
        let app = spawn_embedded_app_with(|s| {
            s.payment_timeout_secs = SHORT_TIMEOUT_SECS;
            s.simulator_callback_drop_permille = 1_000;
        })
        .await;
        payments::a_dropped_callback_is_aligned_from_the_provider_at_the_deadline(app).await;
    }
}

mod callbacks_tests {
    use command_api::config::PaymentProvider;

    use crate::callbacks;
    use crate::helpers::{spawn_app, spawn_embedded_app, spawn_embedded_app_with};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_notification_without_a_valid_signature_is_refused_and_records_nothing() {
        callbacks::a_notification_without_a_valid_signature_is_refused_and_records_nothing(
            spawn_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_notification_without_a_valid_signature_is_refused_embedded() {
        callbacks::a_notification_without_a_valid_signature_is_refused_and_records_nothing(
            spawn_embedded_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_signed_body_that_is_not_a_notification_is_a_bad_request() {
        callbacks::a_signed_body_that_is_not_a_notification_is_a_bad_request(
            spawn_embedded_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_openapi_document_says_notifications_are_signed() {
        callbacks::the_openapi_document_says_notifications_are_signed(spawn_embedded_app().await)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_the_simulator_configured_its_pay_route_is_absent() {
        let app = spawn_embedded_app_with(|s| {
            s.payment_provider = Some(PaymentProvider::Disabled);
        })
        .await;
        callbacks::without_the_simulator_configured_its_pay_route_is_absent(app).await;
    }
}

mod read_side_tests {
    macro_rules! on_both_stores {
        ($($scenario:ident),* $(,)?) => {
            mod postgres {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $scenario() {
                        crate::read_side::$scenario(crate::helpers::spawn_app().await).await;
                    }
                )*
            }
            mod embedded {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $scenario() {
                        crate::read_side::$scenario(crate::helpers::spawn_embedded_app().await)
                            .await;
                    }
                )*
            }
            mod sharded {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $scenario() {
                        crate::read_side::$scenario(crate::helpers::spawn_sharded_app().await)
                            .await;
                    }
                )*
            }
        };
    }

    on_both_stores!(
        buyers_and_sellers_see_their_own_orders,
        a_list_with_min_version_reflects_the_callers_write,
        the_buyer_list_paginates_stably_while_orders_arrive,
        the_stock_view_follows_the_sku,
        projection_lag_is_exported,
        another_callers_order_answers_as_a_never_issued_id,
    );
}

mod archive_tests {
    mod postgres {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn an_archived_order_is_answered_and_its_id_never_used_again() {
            let app = crate::helpers::spawn_app_with(crate::archive::archive_at_once).await;
            crate::archive::an_archived_order_is_answered_and_its_id_never_used_again(app).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn orders_archive_moves_settled_orders_in_batches_on_demand() {
            crate::archive::orders_archive_moves_settled_orders_in_batches_on_demand(
                crate::helpers::spawn_app().await,
            )
            .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn the_list_parameters_are_in_the_openapi_document() {
            crate::archive::the_list_parameters_are_in_the_openapi_document(
                crate::helpers::spawn_app().await,
            )
            .await;
        }
    }

    mod embedded {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn an_archived_order_is_answered_and_its_id_never_used_again() {
            let app =
                crate::helpers::spawn_embedded_app_with(crate::archive::archive_at_once).await;
            crate::archive::an_archived_order_is_answered_and_its_id_never_used_again(app).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn orders_archive_moves_settled_orders_in_batches_on_demand() {
            crate::archive::orders_archive_moves_settled_orders_in_batches_on_demand(
                crate::helpers::spawn_embedded_app().await,
            )
            .await;
        }
    }

    mod sharded {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn an_archived_order_is_answered_and_its_id_never_used_again() {
            let app = crate::helpers::spawn_sharded_app_with(crate::archive::archive_at_once).await;
            crate::archive::an_archived_order_is_answered_and_its_id_never_used_again(app).await;
        }
    }
}

mod limits_tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hostile_inputs_are_4xx_problems_and_write_nothing_embedded() {
        crate::limits::hostile_inputs_are_4xx_problems_and_write_nothing(
            crate::helpers::spawn_embedded_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hostile_inputs_are_4xx_problems_and_write_nothing_postgres() {
        crate::limits::hostile_inputs_are_4xx_problems_and_write_nothing(
            crate::helpers::spawn_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_price_beyond_the_limit_names_the_field() {
        crate::limits::a_price_beyond_the_limit_names_the_field(
            crate::helpers::spawn_embedded_app().await,
        )
        .await;
    }
}

/// `X-Request-Id` in and out; on both stores where it reaches the log.
mod request_id_tests {
    use crate::helpers::{spawn_app, spawn_embedded_app};
    use crate::request_ids;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sane_request_id_is_answered_as_given_on_success_and_on_error() {
        request_ids::a_sane_request_id_is_answered_as_given_on_success_and_on_error(
            spawn_embedded_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_missing_or_malformed_request_id_is_replaced_by_a_new_one() {
        request_ids::a_missing_or_malformed_request_id_is_replaced_by_a_new_one(
            spawn_embedded_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_request_id_of_a_placement_is_in_its_events_metadata_postgres() {
        request_ids::the_request_id_of_a_placement_is_in_its_events_metadata(spawn_app().await)
            .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_request_id_of_a_placement_is_in_its_events_metadata_embedded() {
        request_ids::the_request_id_of_a_placement_is_in_its_events_metadata(
            spawn_embedded_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_documented_answer_carries_the_request_id() {
        request_ids::every_documented_answer_carries_the_request_id(spawn_embedded_app().await)
            .await;
    }
}

/// The Swagger UI, the problem types' pages, unknown routes and the document's enums: the
/// same on either store.
mod docs_tests {
    macro_rules! embedded {
        ($($test:ident),* $(,)?) => {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    crate::docs::$test(crate::helpers::spawn_embedded_app().await).await;
                }
            )*
        };
    }

    embedded!(
        the_swagger_ui_loads_everything_from_this_server,
        every_problem_type_resolves_to_its_page,
        an_unknown_route_is_a_404_problem_whatever_the_method,
        order_statuses_are_a_documented_enum,
    );
}

/// `/metrics`: the process, the build, the pool and the followers, on both stores.
mod metrics_tests {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_metrics_show_the_process_the_build_the_pool_and_the_followers_postgres() {
        crate::metrics::the_metrics_show_the_process_the_build_the_pool_and_the_followers(
            crate::helpers::spawn_app().await,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_metrics_show_the_process_the_build_the_pool_and_the_followers_embedded() {
        crate::metrics::the_metrics_show_the_process_the_build_the_pool_and_the_followers(
            crate::helpers::spawn_embedded_app().await,
        )
        .await;
    }
}

/// With NATS (a throwaway `nats-server` per test) and PostgreSQL.
mod with_nats {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_relay_publishes_every_event_once_in_log_order() {
        crate::nats::the_relay_publishes_every_event_once_in_log_order().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_nats_outage_under_load_fails_no_command_and_loses_no_event() {
        crate::nats::a_nats_outage_under_load_fails_no_command_and_loses_no_event().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_consumer_clears_the_cart_once_however_often_delivered() {
        crate::nats::the_consumer_clears_the_cart_once_however_often_delivered().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_placement_that_always_fails_goes_to_the_dead_letters() {
        crate::nats::a_placement_that_always_fails_goes_to_the_dead_letters().await;
    }
}

/// Admission control, the risk rule and the filter of known ids, on both stores.
mod admission_tests {
    macro_rules! on_both_stores {
        ($($scenario:ident: $configure:expr;)*) => {
            mod postgres {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $scenario() {
                        let app = crate::helpers::spawn_app_with($configure).await;
                        crate::admission::$scenario(app).await;
                    }
                )*
            }
            mod embedded {
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $scenario() {
                        let app = crate::helpers::spawn_embedded_app_with($configure).await;
                        crate::admission::$scenario(app).await;
                    }
                )*
            }
        };
    }

    on_both_stores! {
        a_burst_by_one_buyer_is_refused_429_and_writes_nothing:
            crate::admission::buyer_limited;
        a_burst_over_many_buyers_meets_the_global_limit: crate::admission::globally_limited;
        the_risk_rule_refuses_a_buyers_third_placement_in_a_minute:
            crate::admission::risk_rule_on;
        with_the_risk_rule_off_a_buyers_third_placement_is_placed: |_| {};
        made_up_ids_are_answered_404_without_a_database_read: |_| {};
        ids_created_after_start_are_found_here_on_another_node_and_after_a_restart: |_| {};
    }
}
