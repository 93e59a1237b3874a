"""`make proofs`: fault scenarios on both executors, counted from what really happened.

Each scenario runs real processes (PostgreSQL, an engine or an operator
against the local Kubernetes control plane), injects one kind of fault and
then compares three independent sources: what the job processes themselves
wrote (work.py), the jobs and their history in PostgreSQL (truth.py) and,
on the Kubernetes path, each BackgroundJob's status. See __main__.py.
"""
