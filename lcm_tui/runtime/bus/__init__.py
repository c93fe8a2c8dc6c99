"""The message bus past one machine: collectors publish to NATS JetStream, viewers and the recorder read it.

See ``docs/nats.md`` for the subjects, streams, payloads and permissions. Nothing here is imported by
local mode; ``nats`` is imported only when a bus command runs.
"""
