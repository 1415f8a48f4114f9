from odoo.tests import BaseCase

from ..core import signing


class TestSigning(BaseCase):
    def test_round_trip_and_tampering(self):
        payload = signing.sign("s3cret", "p42")
        self.assertEqual(signing.verify("s3cret", payload), "p42")
        self.assertIsNone(signing.verify("other", payload))
        self.assertIsNone(signing.verify("s3cret", payload.replace("p42", "p43")))
        self.assertIsNone(signing.verify("s3cret", payload[:-1]))
        for junk in ("", "p42", "-", "p42-", None, "p 42-abc"):
            self.assertIsNone(signing.verify("s3cret", junk))
        with self.assertRaises(ValueError):
            signing.sign("s3cret", "has-dash")
