"""Remote write 1.0 / remote read protobuf messages (gogo-free .proto files written for sru).

The *_pb2.py modules are generated once and committed, so grpcio-tools is no runtime dependency.
Regenerate from the repository root after editing a .proto file::

    python -m venv /tmp/protoc && /tmp/protoc/bin/pip install grpcio-tools
    /tmp/protoc/bin/python -m grpc_tools.protoc -I. --python_out=. --pyi_out=. \\
        remote_write_adapter/prompb/types.proto remote_write_adapter/prompb/remote.proto
"""
