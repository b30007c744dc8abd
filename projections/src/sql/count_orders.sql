SELECT (SELECT count(*) FROM {detail}) AS detail,
       (SELECT count(*) FROM {archive}) AS archive
