-- Craft Jobs schema, version 7: one-shot annotations (jobs.craft.dev/trigger,
-- jobs.craft.dev/requeue) taken by the operator. A row is written in the
-- transaction that stores the fire or requeue, before the annotation is
-- removed, and deleted once it is: a replica, a retry or a restarted operator
-- that sees the same annotation finds the row and does not act again.
CREATE TABLE __schema__.kube_one_shots (
    resource_uid  text NOT NULL,
    annotation    text NOT NULL,
    value         text NOT NULL,
    taken_at      timestamptz NOT NULL,
    PRIMARY KEY (resource_uid, annotation, value)
);
