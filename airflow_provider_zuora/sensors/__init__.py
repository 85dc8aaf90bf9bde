"""Sensors of the Zuora provider."""
