-- The newest version of an owner's order that the read side holds, hot or archived: what a
-- list request with min_version waits for.
SELECT max(version) AS version
FROM (SELECT version FROM {detail} WHERE order_id = $2 AND {owner} = $1
      UNION ALL
      SELECT version FROM {archive} WHERE order_id = $2 AND {owner} = $1) AS copies
