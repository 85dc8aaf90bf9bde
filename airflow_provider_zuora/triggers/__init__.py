"""Triggers of the Zuora provider (run in the triggerer)."""
