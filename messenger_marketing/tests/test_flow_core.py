from datetime import datetime

from odoo.tests import BaseCase

from ..core.flow import button_payload, clean_email, parse_button_payload, parse_callback_time


class TestFlowCore(BaseCase):
    def test_button_payloads(self):
        payload = button_payload(123456789012, "99999999999")
        self.assertLessEqual(len(payload.encode()), 64)
        self.assertEqual(parse_button_payload(payload), (123456789012, "99999999999"))
        self.assertEqual(parse_button_payload("flow:12:asap"), (12, "asap"))
        for junk in ("", None, "flow:", "flow:x:1", "flow:1:", "flow:1:a b", "unsub", "flow:1:2:3", "xflow:1:2"):
            self.assertIsNone(parse_button_payload(junk), junk)
        with self.assertRaises(ValueError):
            button_payload(1, "has:colon")

    def test_emails(self):
        self.assertEqual(clean_email(" Olga.P@Example.COM. "), "olga.p@example.com")
        for wrong in ("", "olga@", "@example.com", "olga@example", "olga at example.com", "a b@c.de", "x@y.z"):
            self.assertIsNone(clean_email(wrong), wrong)

    def test_callback_times(self):
        now = datetime(2026, 3, 2, 10, 0)  # a Monday morning
        expected = {
            "15:30": datetime(2026, 3, 2, 15, 30),
            "9:00": datetime(2026, 3, 3, 9, 0),  # passed today: tomorrow
            "tomorrow 10:00": datetime(2026, 3, 3, 10, 0),
            "Завтра в 9": datetime(2026, 3, 3, 9, 0),
            "послезавтра 18.00": datetime(2026, 3, 4, 18, 0),
            "3 pm": datetime(2026, 3, 2, 15, 0),
            "at 7am": datetime(2026, 3, 3, 7, 0),
            "25.12 14:00": datetime(2026, 12, 25, 14, 0),
            "01.03 10:00": datetime(2027, 3, 1, 10, 0),  # the 1st of March has passed this year
            "2026-03-05 10:00": datetime(2026, 3, 5, 10, 0),
            "asap": now,
            "today 9:00": None,  # passed, and the day was said
            "2026-02-05 10:00": None,
            "32.01 10:00": None,
            "в 25": None,
            "whenever": None,
            "": None,
        }
        for text, when in expected.items():
            self.assertEqual(parse_callback_time(text, now), when, text)
