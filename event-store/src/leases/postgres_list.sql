-- Every lease with how long it has left (negative once expired), in ms.
SELECT name, holder,
       (extract(epoch FROM (expires_at - now())) * 1000)::bigint AS expires_in_ms
FROM leases
ORDER BY name
