-- Asks the follower of a parked event to run it again.
UPDATE dead_letters SET retry_requested = TRUE WHERE id = $1
