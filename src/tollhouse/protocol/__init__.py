"""The protocol core: RFC rules on typed requests, returning typed results.

Nothing here imports Starlette, SQLAlchemy or redis; storage arrives through the ports.
"""
