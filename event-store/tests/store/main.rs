//! Storage tests of the event store: one conformance suite run on both backends (each test
//! name says which: `postgres::…` on a fresh PostgreSQL database per test, `sqlite::…` on a
//! fresh file), and postgres-es's own behaviour on our migrated schema.
#![allow(clippy::unwrap_used, clippy::expect_used, unreachable_pub)]

mod counter;
mod execute;
mod harness;
mod leases;
mod postgres_es_compat;
mod postgres_fences;
mod postgres_group_commit;
mod postgres_notify;
mod postgres_ordering;
mod postgres_plans;
mod slots;
mod suite;

macro_rules! conformance {
    ($($test:ident),* $(,)?) => {
        mod postgres {
            $(
                #[sqlx::test(migrator = "event_store::MIGRATOR")]
                async fn $test(pool: sqlx::PgPool) {
                    crate::suite::$test(crate::harness::Harness::postgres(pool)).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    crate::suite::$test(crate::harness::Harness::sqlite().await).await;
                }
            )*
        }
    };
}

conformance!(
    append_load_round_trip,
    a_kept_state_is_looked_at_in_place_and_checked_against_the_logs_versions,
    a_checked_version_is_served_from_memory_and_moved_on_by_the_tail,
    concurrent_appends_at_the_same_version_exactly_one_wins,
    a_reused_dedup_key_appends_nothing_and_finds_the_original,
    concurrent_duplicates_are_duplicates_not_conflicts,
    a_stale_version_with_a_new_dedup_key_is_a_conflict,
    the_subscription_waits_for_an_earlier_writer_instead_of_skipping_it,
    concurrent_writers_are_read_once_each_in_stream_order,
    a_subscription_resumes_from_its_checkpoint_after_a_restart,
    a_waiting_subscription_wakes_on_a_new_commit,
    an_old_event_version_is_upcast_on_read,
    a_named_checkpoint_survives_a_restart,
    catching_up_applies_only_what_was_appended_since,
    several_streams_load_in_one_read_as_each_alone,
    pending_counts_what_a_reader_would_read_without_reading_it,
    a_rebuild_reads_every_stream_once_up_to_the_head,
    subscriptions_at_one_checkpoint_share_one_read,
    subscriptions_at_different_paces_read_the_same_log,
    a_subscription_behind_the_shared_part_reads_up_to_it,
    a_subscription_ahead_of_the_others_makes_them_skip_nothing,
    a_checked_state_is_served_from_memory_while_the_tail_reads_the_head,
    a_checked_state_moved_on_by_another_process_is_read_again_once_the_tail_sees_it,
    a_checked_state_this_process_wrote_is_never_served_older,
    a_checked_state_is_read_again_when_the_tail_has_not_read_the_head_lately,
    a_gap_in_the_tails_reads_drops_every_checked_state,
    a_lease_has_one_holder_until_it_expires,
    a_released_lease_is_taken_at_once,
);
