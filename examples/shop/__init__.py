"""A small client project of the kind apiharness is for: code that calls a third-party API."""
