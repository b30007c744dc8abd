SELECT changed_at_us, order_id, batches, orders, ran_at_us FROM archive_progress WHERE archive = $1
