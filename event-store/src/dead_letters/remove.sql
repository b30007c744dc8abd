-- A parked event that was run again successfully.
DELETE FROM dead_letters WHERE id = $1
