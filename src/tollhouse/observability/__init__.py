"""What operators watch: Prometheus metrics (:mod:`.metrics`) and the JSON audit trail
(:mod:`.audit`). Knows nothing of HTTP: the web layer feeds it request measurements,
the protocol feeds it security events through :class:`tollhouse.protocol.events.Events`.
"""
