"""Chat-archive media: the md5-keyed file store and the decoders that read it."""
