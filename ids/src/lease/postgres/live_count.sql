-- How many worker ids are leased right now: tells "lost a race" from "none left".
SELECT count(*) AS live FROM id_worker_leases WHERE expires_at >= now()
