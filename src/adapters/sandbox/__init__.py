"""The sandbox payment gateway of the embedded mode: refunds recorded, no money moved."""
