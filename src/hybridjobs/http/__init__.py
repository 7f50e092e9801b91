"""The HTTP edge of the service: bounds on what a request may send, and who sent it.

Everything here runs before a service sees a request: :mod:`.limits` (sizes and timeouts),
:mod:`.protocol` (uvicorn's HTTP protocol with header limits), :mod:`.body` (reading a
body within its limits), :mod:`.authenticate` (SigV4 policy) and :mod:`.refusals` (the
errors, in each protocol's own shape).
"""
