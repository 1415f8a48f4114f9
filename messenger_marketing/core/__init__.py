"""Plain Python parts of Messenger Marketing: providers, pacing, signed payloads.

Nothing in this package imports an Odoo model, so it can be read and tested on its own.
"""
