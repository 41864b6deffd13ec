"""Stripe: refunds of the payments Stripe took, through the official SDK (`refunds.py`)."""
