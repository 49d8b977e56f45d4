"""Discovery's gRPC servicers: protobuf in, domain and store calls, protobuf out."""
