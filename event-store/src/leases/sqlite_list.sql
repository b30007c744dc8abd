-- Every lease with how long it has left (negative once expired), in ms.
SELECT name, holder,
       CAST(round((julianday(expires_at) - julianday('now')) * 86400000) AS INTEGER) AS expires_in_ms
FROM leases
ORDER BY name
