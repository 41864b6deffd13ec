"""Razorpay: refunds of the payments Razorpay took, over its REST API (docs/adr/0053)."""
