SELECT txid, position FROM projection_checkpoints WHERE projection = $1
