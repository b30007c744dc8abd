-- The log's commit hint leaves the appends' transactions (ADR 44). A NOTIFY queued by a
-- transaction takes, at its commit, a lock of the whole server (every database's notifying
-- transactions queue behind it) and holds it through the commit's WAL flush: every append of
-- every shard on one server committed one at a time. The appending process now sends one
-- NOTIFY on 'orders_events' after its appends have committed, a few appends to one NOTIFY under
-- load (event_store's postgres backend).
DROP TRIGGER events_notify ON events;
DROP FUNCTION events_notify();
