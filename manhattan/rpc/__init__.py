"""gRPC plumbing shared by the node's and the social service's servicers: who is calling
(``Authenticator``), the request scope (``request_context``), and registering servicers
whose failures become precise statuses (``add_servicer``, ``add_unary_servicer``,
``rpc_errors``). Neutral: it knows nothing of the node that uses it."""

from manhattan.rpc.auth import Authenticator, bearer_token
from manhattan.rpc.servicers import add_servicer, add_unary_servicer, rpc_errors

__all__ = ["Authenticator", "add_servicer", "add_unary_servicer", "bearer_token", "rpc_errors"]
