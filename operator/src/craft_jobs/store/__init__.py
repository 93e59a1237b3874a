"""The only code of Craft Jobs that talks SQL."""
