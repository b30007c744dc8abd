-- The newest version of an owner's order that the read side holds, in {list} or archived:
-- what a list request with min_version waits for.
SELECT max(version) AS version
FROM (SELECT version FROM {list} WHERE {owner} = $1 AND order_id = $2
      UNION ALL
      SELECT version FROM {archive} WHERE {owner} = $1 AND order_id = $2) AS copies
