"""The xds service's gRPC side: the ADS servicer, its two protocol variants over one stream
core, and the encoding of responses from stored bytes."""
