"""The system of record: what visitors said about the model's answers (their votes, the predictions they
judged, the screenshots they chose to share) and what a moderator decided, in SQLite by default and in
PostgreSQL where replicas share it. Redis is a cache that evicts; corrections must not be lost.

Imports nothing of the project but ``inference`` (the labels); the gateway and the operator's tools
import it, the handler and training never do.
"""
