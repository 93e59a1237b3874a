-- Craft Jobs schema, version 6: the secret of this installation. The operator
-- signs the Kubernetes Jobs and Secrets it creates with a key derived from it
-- and adopts only objects that carry that signature: a name anyone can
-- predict proves nothing. One row; a recreated database makes a new one.
CREATE TABLE __schema__.installation (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    id           text NOT NULL,
    signing_key  text NOT NULL,
    created_at   timestamptz NOT NULL
);
