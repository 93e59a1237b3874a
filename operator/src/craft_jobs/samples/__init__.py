"""Sample jobs and resources for `craft-jobs dev --samples`."""
