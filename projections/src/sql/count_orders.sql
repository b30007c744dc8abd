SELECT (SELECT count(*) FROM {detail}) AS detail,
       (SELECT count(*) FROM {buyer}) AS buyer,
       (SELECT count(*) FROM {seller}) AS seller,
       (SELECT count(*) FROM {archive}) AS archive
